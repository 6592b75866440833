// Patients' choices: record (GP practice systems, practice staff), read with full history, and
// mark a mistaken record entered-in-error. The rules are the preferences service's
// (src/services/preferences.ts); this file is their HTTP shape.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { ODS_CODE_PATTERN } from '../../domain/clients.ts'
import { GP_CODES, PREFERENCE_STATUSES, PROXY_ROLES, SOURCES } from '../../domain/preferences.ts'
import { DECISIONS } from '../../domain/purposes.ts'
import { problemResponses } from '../../plugins/problems.ts'
import type { HistoryRecord, StoredPreference } from '../../services/preferences.ts'
import {
  callerOf,
  dateOrDateTime,
  endUserSchema,
  nhsNumberOrThrow,
  nhsNumberParam,
  security,
  type JsonOf
} from '../../http/common.ts'

const READ_CODES = Object.entries(GP_CODES)
  .map(([code, c]) => `${code} (${c.purpose} ${c.decision})`)
  .join(', ')

const preferenceRecordSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    nhsNumber: { type: 'string' },
    purpose: { type: 'string' },
    decision: { type: 'string', enum: DECISIONS },
    effectiveFrom: { type: 'string', format: 'date-time' },
    recordedAt: { type: 'string', format: 'date-time' },
    source: { type: 'string', enum: SOURCES },
    recordedBy: {
      type: 'object',
      additionalProperties: false,
      properties: {
        odsCode: { type: 'string' },
        name: { type: 'string' },
        proxyRole: { type: 'string' },
        clientId: { type: 'string' },
        endUser: {
          type: 'object',
          additionalProperties: false,
          description: 'The person at the keyboard who recorded it, when the client named one',
          properties: {
            id: { type: 'string' },
            name: { type: 'string' },
            role: { type: 'string' },
            organisation: { type: 'string' }
          },
          required: ['id']
        }
      },
      required: ['clientId']
    },
    note: { type: ['string', 'null'] },
    status: { type: 'string', enum: PREFERENCE_STATUSES },
    externalId: { type: ['string', 'null'] },
    sourceCode: {
      type: ['string', 'null'],
      description: 'The GP Read v2 code the choice was recorded or imported as (e.g. 9Ndm), else null'
    },
    enteredInError: {
      type: ['object', 'null'],
      additionalProperties: false,
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
    sourceCode: null,
    enteredInError: null
  }
} as const

/** A record in the history: with rule 2's cancellation. */
const historyRecordSchema = {
  ...preferenceRecordSchema,
  properties: {
    ...preferenceRecordSchema.properties,
    cancelledBy: {
      type: ['string', 'null'],
      description:
        'The id of the later-recorded choice that cancelled this one while it was still waiting to take effect ' +
        '(SPEC §2 rule 2): a cancelled choice never decides. Null when not cancelled.'
    }
  },
  required: [...preferenceRecordSchema.required, 'cancelledBy'],
  example: { ...preferenceRecordSchema.example, cancelledBy: null }
} as const

type PreferenceJson = JsonOf<typeof preferenceRecordSchema>

function preferenceJson (p: StoredPreference): PreferenceJson {
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
    sourceCode: p.sourceCode,
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

const patientParams = { type: 'object', properties: { nhsNumber: nhsNumberParam }, required: ['nhsNumber'] } as const

export default async function preferenceRoutes (fastify: FastifyInstance): Promise<void> {
  const routes = fastify.withTypeProvider<JsonSchemaToTsProvider>()
  const preferences = fastify.services.preferences

  routes.get(
    '/patients/:nhsNumber/preferences',
    {
      onRequest: fastify.requireScope('consent:read'),
      schema: {
        tags: ['preferences'],
        summary: "A patient's current choice per purpose and full history",
        description:
          'current: the record in force now for each purpose with a recorded choice. history: every record, ' +
          'newest first, including those entered in error and those cancelled (cancelledBy). Only the purposes ' +
          'the client is registered for (and those below them) are shown. Every read is audited ' +
          "(preference.read, in the patient's trail) before the answer is sent.",
        security,
        params: patientParams,
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: {
              nhsNumber: { type: 'string' },
              current: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    purpose: { type: 'string' },
                    decision: { type: 'string', enum: DECISIONS },
                    effectiveFrom: { type: 'string', format: 'date-time' },
                    preferenceId: { type: 'string' }
                  },
                  required: ['purpose', 'decision', 'effectiveFrom', 'preferenceId']
                }
              },
              history: { type: 'array', items: historyRecordSchema }
            },
            required: ['nhsNumber', 'current', 'history']
          },
          ...problemResponses(400, 401, 403, 503)
        }
      }
    },
    async request => {
      const nhsNumber = nhsNumberOrThrow(request.params.nhsNumber, 'params:/nhsNumber')
      const { current, history } = await preferences.choices(callerOf(request), nhsNumber)
      return {
        nhsNumber,
        current: current.map(r => ({
          purpose: r.purpose,
          decision: r.decision,
          effectiveFrom: r.effectiveFrom.toISOString(),
          preferenceId: r.id
        })),
        history: history.map((r: HistoryRecord) => ({ ...preferenceJson(r), cancelledBy: r.cancelledBy }))
      }
    }
  )

  routes.post(
    '/patients/:nhsNumber/preferences',
    {
      onRequest: fastify.requireScope('consent:write'),
      schema: {
        tags: ['preferences'],
        summary: "Record a patient's choice",
        description:
          'Append-only: a change of mind is a new record. effectiveFrom defaults to now; back-date it to when ' +
          'the form was signed, or future-date it. Send purpose + decision, or a GP Read v2 code in code ' +
          '(kept as sourceCode). A newer choice cancels any still waiting to take effect (SPEC §2 rule 2). ' +
          'endUser is required for clients registered with requireEndUser.',
        security,
        params: patientParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['source'],
          properties: {
            purpose: { type: 'string', maxLength: 100, description: 'Required unless code is sent' },
            decision: {
              type: 'string',
              enum: DECISIONS,
              description: 'permit = opted in / withdrew a dissent; deny = opted out. Required unless code is sent'
            },
            code: {
              type: 'string',
              maxLength: 20,
              description: `A GP Read v2 code in place of purpose + decision: ${READ_CODES}`
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
                  pattern: ODS_CODE_PATTERN,
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
            note: { type: 'string', maxLength: 2000 },
            endUser: endUserSchema
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
      const nhsNumber = nhsNumberOrThrow(request.params.nhsNumber, 'params:/nhsNumber')
      const stored = await preferences.record(callerOf(request), nhsNumber, request.body)
      return reply
        .code(201)
        .header('location', `/v1/patients/${nhsNumber}/preferences/${stored.id}`)
        .send(preferenceJson(stored))
    }
  )

  routes.post(
    '/patients/:nhsNumber/preferences/:id/entered-in-error',
    {
      onRequest: fastify.requireScope('consent:write'),
      schema: {
        tags: ['preferences'],
        summary: 'Mark a record as entered in error',
        description:
          'The record stays in the history with status entered-in-error and no longer takes part in decisions. ' +
          'Needs a reason; audited. endUser is required for clients registered with requireEndUser.',
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
          properties: {
            reason: { type: 'string', minLength: 1, maxLength: 2000, pattern: '\\S' },
            endUser: endUserSchema
          },
          example: { reason: 'Recorded against the wrong patient' }
        },
        response: { 200: preferenceRecordSchema, ...problemResponses(400, 401, 403, 404, 409, 503) }
      }
    },
    async request => {
      const nhsNumber = nhsNumberOrThrow(request.params.nhsNumber, 'params:/nhsNumber')
      const voided = await preferences.markEnteredInError(callerOf(request), nhsNumber, request.params.id, request.body)
      return preferenceJson(voided)
    }
  )
}
