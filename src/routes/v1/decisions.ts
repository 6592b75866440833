// POST /v1/decisions: the hot path for ED, OOH and MIU systems. The decision is the decisions
// service's (src/services/decisions.ts); this file is its HTTP shape.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { decisionResponseSchema, pointOfCareSchema } from '../../http/decision-schema.ts'
import { problemResponses } from '../../plugins/problems.ts'
import { callerOf, dateOrDateTime, endUserSchema, nhsNumberOrThrow, security } from '../../http/common.ts'

export default async function decisionRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.withTypeProvider<JsonSchemaToTsProvider>().post(
    '/decisions',
    {
      // audit:read for replays (asOf earlier than now, SPEC §2 rule 8); the service says which a request needs.
      onRequest: fastify.requireScope(['consent:check', 'audit:read']),
      schema: {
        tags: ['decisions'],
        summary: "May this patient's record be shared for this purpose, by this caller, now?",
        description:
          "Applies the decision rules of SPEC §2 (hierarchy, defaults, the caller's exemptions, permission to view " +
          'and emergency access) and audits the decision before answering. For purposes that require permission ' +
          'to view (summary-care-record), send pointOfCare, and with it endUser (the person at the keyboard). ' +
          'asOf earlier than now is a replay for an investigation: it needs audit:read (consent:check is not ' +
          'enough), may name any purpose, cannot carry pointOfCare, raises no alert, is audited as decision.replay ' +
          'and answers replay: true. A future asOf (consent:check) answers what will apply on that date. Any other ' +
          'decision needs consent:check.',
        security,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['nhsNumber', 'purpose'],
          properties: {
            nhsNumber: { type: 'string', maxLength: 40, description: '10 digits, or 3-3-4 with spaces or hyphens' },
            purpose: { type: 'string', maxLength: 100, description: 'A purpose code, e.g. summary-care-record' },
            pointOfCare: pointOfCareSchema,
            asOf: {
              ...dateOrDateTime,
              description:
                'Decide as at this time (a date or a date-time) instead of now. Earlier than now is a replay ' +
                '(audit:read only, never an authorisation); later than now answers what will apply then.'
            },
            endUser: endUserSchema
          },
          example: {
            nhsNumber: '943 476 5919',
            purpose: 'summary-care-record',
            pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Patient unconscious on arrival' },
            endUser: { id: '555021935107', name: 'Dr Jane Example', role: 'R8000', organisation: 'RBA' }
          }
        },
        response: { 200: decisionResponseSchema, ...problemResponses(400, 401, 403, 503) }
      }
    },
    async request => {
      const body = request.body
      const nhsNumber = nhsNumberOrThrow(body.nhsNumber, '/nhsNumber')
      return await fastify.services.decisions.decide(callerOf(request), { ...body, nhsNumber })
    }
  )
}
