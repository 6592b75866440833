// Emergency-access alerts: raised when a record is opened because the patient could not be asked
// (SPEC §2 rule 5), reviewed by the privacy officer. The queue is the alerts service's
// (src/services/alerts.ts); this file is its HTTP shape.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { ALERT_STATUSES, type Alert } from '../../domain/alerts.ts'
import { invalidField } from '../../domain/problems.ts'
import { problemResponses } from '../../plugins/problems.ts'
import type { AlertPosition } from '../../services/alerts.ts'
import { callerOf, decodeCursor, encodeCursor, security, type JsonOf } from '../../http/common.ts'

const DEFAULT_LIMIT = 100

const alertSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    auditId: { type: 'string' },
    nhsNumber: { type: 'string' },
    purpose: { type: 'string' },
    clientId: { type: 'string' },
    reason: { type: 'string' },
    raisedAt: { type: 'string', format: 'date-time' },
    status: { type: 'string', enum: ALERT_STATUSES },
    reviewedBy: { type: ['string', 'null'] },
    reviewNote: { type: ['string', 'null'] },
    reviewedAt: { type: ['string', 'null'], format: 'date-time' }
  },
  required: ['id', 'auditId', 'nhsNumber', 'purpose', 'clientId', 'reason', 'raisedAt', 'status'],
  example: {
    id: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e44',
    auditId: 'a3c1f0de-6b2e-4f7a-8d91-2c4e5f6a7b80',
    nhsNumber: '9434765919',
    purpose: 'summary-care-record',
    clientId: '2f1e0d9c-8b7a-4654-a3b2-c1d0e9f8a7b6',
    reason: 'Patient unconscious on arrival',
    raisedAt: '2026-11-25T10:00:00.000Z',
    status: 'open',
    reviewedBy: null,
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
      const { status, cursor, limit } = request.query
      // The schema's default has already been applied; the derived type cannot know that.
      const page = await fastify.services.alerts.list({
        status,
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
        security,
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] },
        body: {
          type: 'object',
          additionalProperties: false,
          description: 'The review note, as note (or reviewNote, the name it has on the alert)',
          properties: {
            note: { type: 'string', minLength: 1, maxLength: 4000, pattern: '\\S' },
            reviewNote: { type: 'string', minLength: 1, maxLength: 4000, pattern: '\\S' }
          },
          minProperties: 1,
          maxProperties: 1,
          example: { note: 'Clinically justified: patient unconscious, ED consultant confirmed.' }
        },
        response: { 200: alertSchema, ...problemResponses(400, 401, 403, 404, 409, 503) }
      }
    },
    async request => {
      // The schema lets exactly one of the two through; this only satisfies the type.
      const note = request.body.note ?? request.body.reviewNote
      if (note === undefined) throw invalidField('/note', 'is required')
      const alert = await fastify.services.alerts.review(callerOf(request), request.params.id, note, request.id)
      return alertJson(alert)
    }
  )
}
