// The audit trail for privacy officers and Caldicott Guardians: who asked about whose record, for
// what, and with what answer; and a verification of the hash chains.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { AUDIT_TYPES, type AuditType } from '../../domain/audit.ts'
import type { EndUser } from '../../domain/end-user.ts'
import type { StoredEvent } from '../../services/audit-trail.ts'
import { problemResponses } from '../../plugins/problems.ts'
import {
  dateOrDateTime,
  encodeCursor,
  instantOrThrow,
  nhsNumberOrThrow,
  security,
  seqCursorOrThrow
} from '../../http/common.ts'

const auditEventSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    at: { type: 'string', format: 'date-time' },
    type: { type: 'string', enum: AUDIT_TYPES },
    clientId: { type: ['string', 'null'] },
    requestId: { type: ['string', 'null'] },
    nhsNumber: { type: ['string', 'null'] },
    purpose: { type: ['string', 'null'] },
    outcome: { type: ['string', 'null'] },
    details: { type: 'object', additionalProperties: true },
    clientName: {
      type: ['string', 'null'],
      description: "The client's name when the event was written (it may have been renamed since)"
    },
    clientOdsCode: { type: ['string', 'null'], description: "The client's ODS code when the event was written" },
    endUser: {
      type: ['object', 'null'],
      additionalProperties: false,
      description: 'The person at the keyboard, as the client named them (SPEC §2 "Who asked")',
      properties: {
        id: { type: 'string', description: 'SDS user ID' },
        name: { type: 'string' },
        role: { type: 'string', description: 'National RBAC role code' },
        organisation: { type: 'string', description: 'ODS code' }
      },
      required: ['id']
    },
    correlationId: { type: ['string', 'null'], description: "The caller's X-Correlation-ID" },
    chain: { type: 'string' },
    chainSeq: { type: 'integer' },
    prevHash: { type: 'string' },
    hash: { type: 'string' }
  },
  required: [
    'id',
    'at',
    'type',
    'clientId',
    'requestId',
    'details',
    'clientName',
    'clientOdsCode',
    'endUser',
    'correlationId',
    'prevHash',
    'hash'
  ],
  example: {
    id: 'a3c1f0de-6b2e-4f7a-8d91-2c4e5f6a7b80',
    at: '2026-11-25T10:00:00.000Z',
    type: 'decision',
    clientId: '2f1e0d9c-8b7a-4654-a3b2-c1d0e9f8a7b6',
    requestId: '6f1c9a52-7f0e-4a8e-9a44-1d1a3c0f9b21',
    nhsNumber: '9434765919',
    purpose: 'summary-care-record',
    outcome: 'permit',
    details: { basis: 'emergency-access' },
    clientName: 'Dorset County Hospital ED',
    clientOdsCode: 'RBD',
    endUser: { id: '555021935107', name: 'Dr Jane Example', role: 'R8000', organisation: 'RBD' },
    correlationId: 'ed-visit-20261125-0042',
    chain: 'c0ffee00-1111-4222-8333-444455556666',
    chainSeq: 41,
    prevHash: '9f…',
    hash: '3b…'
  }
} as const

function auditJson (e: StoredEvent) {
  return {
    id: e.id,
    at: e.at.toISOString(),
    // Only the audit writer writes events, and only with these types.
    type: e.type as AuditType,
    clientId: e.clientId,
    requestId: e.requestId,
    nhsNumber: e.nhsNumber,
    purpose: e.purpose,
    outcome: e.outcome,
    details: JSON.parse(e.details) as Record<string, unknown>,
    clientName: e.clientName,
    clientOdsCode: e.clientOdsCode,
    endUser: e.endUser === null ? null : (JSON.parse(e.endUser) as EndUser),
    correlationId: e.correlationId,
    chain: e.chain,
    chainSeq: e.chainSeq,
    prevHash: e.prevHash,
    hash: e.hash
  }
}

export default async function auditRoutes (fastify: FastifyInstance): Promise<void> {
  const { auditTrail } = fastify.services
  const typed = fastify.withTypeProvider<JsonSchemaToTsProvider>()

  typed.get(
    '/audit',
    {
      onRequest: fastify.requireScope('audit:read'),
      schema: {
        tags: ['audit'],
        summary: 'Audit events, newest first',
        description:
          'Filter by patient, client, type and time; page with nextCursor. ' +
          "?nhsNumber= is the patient's whole trail (SPEC §3): every event naming them, including refused " +
          'requests (access.refused), and the start event of every import that loaded one of their choices. ' +
          'Each event names the client as it was then (clientName, clientOdsCode), the end user when there ' +
          'was one, the request id and the X-Correlation-ID. ' +
          'A subject access request ("who looked at my record") is ?nhsNumber=….',
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            nhsNumber: { type: 'string', maxLength: 40 },
            clientId: { type: 'string', maxLength: 64 },
            type: { type: 'string', enum: AUDIT_TYPES },
            from: { ...dateOrDateTime, description: 'Events at or after this time (a date is its midnight UTC)' },
            to: { ...dateOrDateTime, description: 'Events at or before this time (a date is its midnight UTC)' },
            cursor: { type: 'string', maxLength: 200 },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 }
          }
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: {
              items: { type: 'array', items: auditEventSchema },
              nextCursor: { type: ['string', 'null'] }
            },
            required: ['items', 'nextCursor']
          },
          ...problemResponses(400, 401, 403, 503)
        }
      }
    },
    async request => {
      const q = request.query
      const beforeSeq = seqCursorOrThrow(q.cursor, 'querystring:/cursor')
      const page = await auditTrail.page({
        nhsNumber: q.nhsNumber === undefined ? undefined : nhsNumberOrThrow(q.nhsNumber, 'querystring:/nhsNumber'),
        clientId: q.clientId,
        type: q.type,
        from: instantOrThrow(q.from, 'querystring:/from'),
        to: instantOrThrow(q.to, 'querystring:/to'),
        beforeSeq,
        limit: q.limit
      })
      return {
        items: page.events.map(auditJson),
        nextCursor: page.nextBeforeSeq === null ? null : encodeCursor(page.nextBeforeSeq)
      }
    }
  )

  typed.get(
    '/audit/verify',
    {
      onRequest: fastify.requireScope('audit:read'),
      schema: {
        tags: ['audit'],
        summary: 'Verify the audit hash chains',
        description:
          "Recomputes every event's hash and link; " +
          'reports the first broken link (an edited, deleted or reordered event).',
        security,
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: {
              valid: { type: 'boolean' },
              checkedEvents: { type: 'integer' },
              chains: { type: 'integer' },
              firstBrokenLink: {
                type: ['object', 'null'],
                additionalProperties: false,
                properties: {
                  eventId: { type: ['string', 'null'] },
                  chain: { type: 'string' },
                  reason: { type: 'string' }
                }
              }
            },
            required: ['valid', 'checkedEvents', 'chains', 'firstBrokenLink'],
            example: {
              valid: false,
              checkedEvents: 1204,
              chains: 3,
              firstBrokenLink: {
                eventId: 'a3c1f0de-6b2e-4f7a-8d91-2c4e5f6a7b80',
                chain: 'c0ffee00-1111-4222-8333-444455556666',
                reason: "hash does not match the event's content (the event was edited)"
              }
            }
          },
          ...problemResponses(401, 403, 503)
        }
      }
    },
    async () => await auditTrail.verify()
  )
}
