// Patients' choices: record (GP practice systems, practice staff), read with full history, and
// mark a mistaken record entered-in-error. Each write is committed with its audit event before the
// answer, then applied to this instance's index at once (read-your-writes).
import type { FastifyInstance } from 'fastify'
import { checkPurposeRequest } from '../../domain/decision.ts'
import { effectiveRecord, PROXY_ROLES, SOURCES, type RecordedBy, type Source } from '../../domain/preferences.ts'
import type { Decision } from '../../domain/purposes.ts'
import { HttpProblem, problemResponses } from '../../plugins/problems.ts'
import { conflict, forbidden, notFound } from '../../domain/problems.ts'
import { markEnteredInError, recordPreference } from '../../store/preferences.ts'
import { toIndexed, toPreference, type StoredPreference } from '../../store/rows.ts'
import {
  callerOf,
  dateOrDateTime,
  instantOrThrow,
  nhsNumberOrThrow,
  nhsNumberParam,
  security
} from '../../http/common.ts'

export const preferenceRecordSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    nhsNumber: { type: 'string' },
    purpose: { type: 'string' },
    decision: { type: 'string', enum: ['permit', 'deny'] },
    effectiveFrom: { type: 'string', format: 'date-time' },
    recordedAt: { type: 'string', format: 'date-time' },
    source: { type: 'string', enum: SOURCES },
    recordedBy: {
      type: 'object',
      properties: {
        odsCode: { type: 'string' },
        name: { type: 'string' },
        proxyRole: { type: 'string' },
        clientId: { type: 'string' }
      },
      required: ['clientId']
    },
    note: { type: ['string', 'null'] },
    status: { type: 'string', enum: ['active', 'entered-in-error'] },
    externalId: { type: ['string', 'null'] },
    enteredInError: {
      type: ['object', 'null'],
      properties: { reason: { type: 'string' }, at: { type: 'string', format: 'date-time' }, by: { type: 'string' } }
    }
  },
  required: ['id', 'nhsNumber', 'purpose', 'decision', 'effectiveFrom', 'recordedAt', 'source', 'recordedBy', 'status'],
  example: {
    id: '5b8a0c1e-2d3f-4a5b-8c6d-7e8f9a0b1c2d',
    nhsNumber: '9434765919',
    purpose: 'planning-research',
    decision: 'deny',
    effectiveFrom: '2026-11-20T00:00:00.000Z',
    recordedAt: '2026-11-25T10:00:00.000Z',
    source: 'paper-form',
    recordedBy: { odsCode: 'B82005', name: 'Practice manager', clientId: '2f1e0d9c-8b7a-4654-a3b2-c1d0e9f8a7b6' },
    note: null,
    status: 'active',
    externalId: null,
    enteredInError: null
  }
} as const

export function preferenceJson (p: StoredPreference): Record<string, unknown> {
  return {
    id: p.id,
    nhsNumber: p.nhsNumber,
    purpose: p.purpose,
    decision: p.decision,
    effectiveFrom: p.effectiveFrom.toISOString(),
    recordedAt: p.recordedAt.toISOString(),
    source: p.source,
    recordedBy: p.recordedBy,
    note: p.note,
    status: p.status,
    externalId: p.externalId,
    enteredInError:
      p.status === 'entered-in-error'
        ? {
            reason: p.enteredInErrorReason ?? '',
            at: (p.enteredInErrorAt ?? p.recordedAt).toISOString(),
            by: p.enteredInErrorBy ?? ''
          }
        : null
  }
}

interface NewPreferenceBody {
  purpose: string
  decision: Decision
  effectiveFrom?: string
  source: Source
  recordedBy?: { odsCode?: string; name?: string; proxyRole?: string }
  note?: string
}

const patientParams = { type: 'object', properties: { nhsNumber: nhsNumberParam }, required: ['nhsNumber'] } as const

export default async function preferenceRoutes (fastify: FastifyInstance): Promise<void> {
  const { db, audit, index, registry } = fastify.runtime

  fastify.get<{ Params: { nhsNumber: string } }>(
    '/patients/:nhsNumber/preferences',
    {
      onRequest: fastify.requireScope('consent:read'),
      schema: {
        tags: ['preferences'],
        summary: "A patient's current choice per purpose and full history",
        description:
          'current: the record in force now for each purpose with a recorded choice. history: every record, newest first, including those entered in error. Only the purposes the client is registered for (and those below them) are shown.',
        security,
        params: patientParams,
        response: {
          200: {
            type: 'object',
            properties: {
              nhsNumber: { type: 'string' },
              current: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    purpose: { type: 'string' },
                    decision: { type: 'string' },
                    effectiveFrom: { type: 'string', format: 'date-time' },
                    preferenceId: { type: 'string' }
                  },
                  required: ['purpose', 'decision', 'effectiveFrom', 'preferenceId']
                }
              },
              history: { type: 'array', items: preferenceRecordSchema }
            },
            required: ['nhsNumber', 'current', 'history']
          },
          ...problemResponses(400, 401, 403, 503)
        }
      }
    },
    async request => {
      const nhsNumber = nhsNumberOrThrow(request.params.nhsNumber, 'params:/nhsNumber')
      const rows = await db.prisma.preference.findMany({
        where: { nhsNumber },
        orderBy: [{ recordedAt: 'desc' }, { id: 'desc' }]
      })
      // Least privilege: a client sees the choices for the purposes it is registered for.
      const allowed = callerOf(request).client.purposes
      const history = rows.map(toPreference).filter(r => registry.catalog.isAllowed(allowed, r.purpose))
      const now = Date.now()
      const purposes = [...new Set(history.map(h => h.purpose))].sort()
      const current = purposes.flatMap(purpose => {
        const r = effectiveRecord(history, purpose, now)
        return r === null
          ? []
          : [{ purpose, decision: r.decision, effectiveFrom: r.effectiveFrom.toISOString(), preferenceId: r.id }]
      })
      return { nhsNumber, current, history: history.map(preferenceJson) }
    }
  )

  fastify.post<{ Params: { nhsNumber: string }; Body: NewPreferenceBody }>(
    '/patients/:nhsNumber/preferences',
    {
      onRequest: fastify.requireScope('consent:write'),
      schema: {
        tags: ['preferences'],
        summary: "Record a patient's choice",
        description:
          'Append-only: a change of mind is a new record. effectiveFrom defaults to now; back-date it to when the form was signed, or future-date it.',
        security,
        params: patientParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['purpose', 'decision', 'source'],
          properties: {
            purpose: { type: 'string', maxLength: 100 },
            decision: {
              type: 'string',
              enum: ['permit', 'deny'],
              description: 'permit = opted in / withdrew a dissent; deny = opted out'
            },
            effectiveFrom: {
              ...dateOrDateTime,
              description: 'When the choice takes effect: a date (midnight UTC) or a date-time; default now'
            },
            source: { type: 'string', enum: SOURCES },
            recordedBy: {
              type: 'object',
              additionalProperties: false,
              properties: {
                odsCode: {
                  type: 'string',
                  pattern: '^[A-Za-z0-9]{3,10}$',
                  description: 'ODS code of the organisation that recorded the choice'
                },
                name: { type: 'string', minLength: 1, maxLength: 200 },
                proxyRole: {
                  type: 'string',
                  enum: PROXY_ROLES,
                  description: 'Set when a proxy made the choice for the patient'
                }
              }
            },
            note: { type: 'string', maxLength: 2000 }
          },
          example: {
            purpose: 'planning-research',
            decision: 'deny',
            effectiveFrom: '2026-11-20T00:00:00Z',
            source: 'paper-form',
            recordedBy: { odsCode: 'B82005', name: 'Reception' }
          }
        },
        response: { 201: preferenceRecordSchema, ...problemResponses(400, 401, 403, 503) }
      }
    },
    async (request, reply) => {
      const caller = callerOf(request)
      const nhsNumber = nhsNumberOrThrow(request.params.nhsNumber, 'params:/nhsNumber')
      const body = request.body
      const problem = checkPurposeRequest(registry.catalog, caller.client.purposes, body.purpose)
      if (problem !== null) throw problem
      const recordedBy: RecordedBy = { ...body.recordedBy, clientId: caller.client.id }
      if (recordedBy.odsCode === undefined && caller.client.odsCode !== null) recordedBy.odsCode = caller.client.odsCode
      const stored = await recordPreference(
        db,
        audit,
        {
          nhsNumber,
          purpose: body.purpose,
          decision: body.decision,
          effectiveFrom: instantOrThrow(body.effectiveFrom, '/effectiveFrom') ?? new Date(),
          source: body.source,
          recordedBy,
          note: body.note ?? null
        },
        { clientId: caller.client.id, requestId: request.id }
      )
      index.apply(toIndexed(stored))
      return reply
        .code(201)
        .header('location', `/v1/patients/${nhsNumber}/preferences/${stored.id}`)
        .send(preferenceJson(stored))
    }
  )

  fastify.post<{ Params: { nhsNumber: string; id: string }; Body: { reason: string } }>(
    '/patients/:nhsNumber/preferences/:id/entered-in-error',
    {
      onRequest: fastify.requireScope('consent:write'),
      schema: {
        tags: ['preferences'],
        summary: 'Mark a record as entered in error',
        description:
          'The record stays in the history with status entered-in-error and no longer takes part in decisions. Needs a reason; audited.',
        security,
        params: {
          type: 'object',
          properties: { nhsNumber: nhsNumberParam, id: { type: 'string', maxLength: 64 } },
          required: ['nhsNumber', 'id']
        },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['reason'],
          properties: { reason: { type: 'string', minLength: 1, maxLength: 2000, pattern: '\\S' } },
          example: { reason: 'Recorded against the wrong patient' }
        },
        response: { 200: preferenceRecordSchema, ...problemResponses(400, 401, 403, 404, 409, 503) }
      }
    },
    async request => {
      const caller = callerOf(request)
      const nhsNumber = nhsNumberOrThrow(request.params.nhsNumber, 'params:/nhsNumber')
      const result = await markEnteredInError(
        db,
        audit,
        nhsNumber,
        request.params.id,
        request.body.reason.trim(),
        { clientId: caller.client.id, requestId: request.id },
        purpose => registry.catalog.isAllowed(caller.client.purposes, purpose)
      )
      if (result.kind === 'not-found') throw notFound('no preference with this id for this patient')
      if (result.kind === 'not-allowed') {
        throw forbidden(
          `this client is not registered for purpose '${result.record.purpose}', so it cannot change that choice`
        )
      }
      if (result.kind === 'already-voided') throw conflict('this preference is already marked entered-in-error')
      index.apply(toIndexed(result.record))
      return preferenceJson(result.record)
    }
  )
}
