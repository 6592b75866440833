// Emergency-access alerts: raised when a record is opened because the patient could not be asked
// (SPEC §2 rule 5), reviewed by the privacy officer. The queue is the alerts service's
// (src/services/alerts.ts); this file is its HTTP shape.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { ALERT_STATUSES, type Alert } from '../../domain/alerts.ts'
import { invalidField } from '../../domain/problems.ts'
import { problemResponses } from '../../plugins/problems.ts'
import type { AlertPosition } from '../../services/alerts.ts'
import {
  callerOf,
  dateOrDateTime,
  decodeCursor,
  encodeCursor,
  endUserSchema,
  instantOrThrow,
  security,
  type JsonOf
} from '../../http/common.ts'

const DEFAULT_LIMIT = 100

/** An end user as answers show it (the request schema's fields, without its patterns). */
const endUserJson = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string' },
    organisation: { type: 'string' }
  },
  required: ['id']
} as const

const alertSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    auditId: { type: 'string' },
    nhsNumber: { type: 'string' },
    purpose: { type: 'string' },
    clientId: { type: 'string' },
    endUser: { ...endUserJson, description: 'The person who opened the record (SDS user ID, name, role, ODS code)' },
    reason: { type: 'string' },
    raisedAt: { type: 'string', format: 'date-time' },
    status: { type: 'string', enum: ALERT_STATUSES },
    reviewedBy: { type: ['string', 'null'], description: 'The reviewing client' },
    reviewedByUser: { ...endUserJson, description: 'The reviewing person, when the review named one' },
    reviewNote: { type: ['string', 'null'] },
    reviewedAt: { type: ['string', 'null'], format: 'date-time' }
  },
  required: ['id', 'auditId', 'nhsNumber', 'purpose', 'clientId', 'endUser', 'reason', 'raisedAt', 'status'],
  example: {
    id: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e44',
    auditId: 'a3c1f0de-6b2e-4f7a-8d91-2c4e5f6a7b80',
    nhsNumber: '9434765919',
    purpose: 'summary-care-record',
    clientId: '2f1e0d9c-8b7a-4654-a3b2-c1d0e9f8a7b6',
    endUser: { id: '555021935107', name: 'Dr Jane Example', role: 'R8000', organisation: 'RBA' },
    reason: 'Patient unconscious on arrival',
    raisedAt: '2026-11-25T10:00:00.000Z',
    status: 'open',
    reviewedBy: null,
    reviewedByUser: null,
    reviewNote: null,
    reviewedAt: null
  }
} as const

type AlertJson = JsonOf<typeof alertSchema>

function alertJson (a: Alert): AlertJson {
  return { ...a, raisedAt: a.raisedAt.toISOString(), reviewedAt: a.reviewedAt?.toISOString() ?? null }
}

/** The cursor is the last alert's raisedAt (ms) and id; one whose time does not parse starts from the top. */
function positionOf (cursor: string | undefined): AlertPosition | undefined {
  const raw = decodeCursor(cursor)
  if (raw === undefined) return undefined
  const [raisedAt, id] = raw.split('_')
  const at = new Date(Number(raisedAt))
  return Number.isNaN(at.getTime()) ? undefined : { raisedAt: at, id: id ?? '' }
}

export default async function alertRoutes (fastify: FastifyInstance): Promise<void> {
  const routes = fastify.withTypeProvider<JsonSchemaToTsProvider>()

  routes.get(
    '/alerts',
    {
      onRequest: fastify.requireScope('audit:read'),
      schema: {
        tags: ['audit'],
        summary: 'Emergency-access alerts, newest first',
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: ALERT_STATUSES },
            from: {
              ...dateOrDateTime,
              description: 'Alerts raised at or after this time (a date is its midnight UTC)'
            },
            to: {
              ...dateOrDateTime,
              description: 'Alerts raised at or before this time (a date is its midnight UTC)'
            },
            cursor: { type: 'string', maxLength: 200 },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: DEFAULT_LIMIT }
          }
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: { items: { type: 'array', items: alertSchema }, nextCursor: { type: ['string', 'null'] } },
            required: ['items', 'nextCursor']
          },
          ...problemResponses(400, 401, 403, 503)
        }
      }
    },
    async request => {
      const { status, from, to, cursor, limit } = request.query
      // The schema's default has already been applied; the derived type cannot know that.
      const page = await fastify.services.alerts.list({
        status,
        from: instantOrThrow(from, 'querystring:/from'),
        to: instantOrThrow(to, 'querystring:/to'),
        after: positionOf(cursor),
        limit: limit ?? DEFAULT_LIMIT
      })
      return {
        items: page.items.map(alertJson),
        nextCursor: page.next === null ? null : encodeCursor(`${page.next.raisedAt.getTime()}_${page.next.id}`)
      }
    }
  )

  routes.post(
    '/alerts/:id/review',
    {
      onRequest: fastify.requireScope('audit:review'),
      schema: {
        tags: ['audit'],
        summary: 'Record the review of an emergency-access alert',
        description:
          'An alert is reviewed by someone else than who raised it: a review by the client that raised it, or ' +
          'naming the same endUser.id as the person who opened the record, is refused (403). The review is ' +
          'audited as alert.reviewed with the reviewing client and endUser.',
        security,
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] },
        body: {
          type: 'object',
          additionalProperties: false,
          description:
            'The review note, as note (or reviewNote, the name it has on the alert: one of the two), and the ' +
            'reviewing person as endUser',
          properties: {
            note: { type: 'string', minLength: 1, maxLength: 4000, pattern: '\\S' },
            reviewNote: { type: 'string', minLength: 1, maxLength: 4000, pattern: '\\S' },
            endUser: endUserSchema
          },
          oneOf: [{ required: ['note'] }, { required: ['reviewNote'] }],
          example: {
            note: 'Clinically justified: patient unconscious, ED consultant confirmed.',
            endUser: { id: '555021935108', name: 'Pat Privacy', role: 'R8003', organisation: 'RBA' }
          }
        },
        response: { 200: alertSchema, ...problemResponses(400, 401, 403, 404, 409, 503) }
      }
    },
    async request => {
      // The schema lets exactly one of the two through; this only satisfies the type.
      const note = request.body.note ?? request.body.reviewNote
      if (note === undefined) throw invalidField('/note', 'is required')
      const alert = await fastify.services.alerts.review(
        callerOf(request),
        request.params.id,
        note,
        request.body.endUser
      )
      return alertJson(alert)
    }
  )
}
