// POST /v1/decisions: the hot path for ED, OOH and MIU systems. The decision is the decisions
// service's (src/services/decisions.ts); this file is its HTTP shape.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { decisionResponseSchema, pointOfCareSchema } from '../../http/decision-schema.ts'
import { problemResponses } from '../../plugins/problems.ts'
import { callerOf, dateOrDateTime, nhsNumberOrThrow, security } from '../../http/common.ts'

export default async function decisionRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.withTypeProvider<JsonSchemaToTsProvider>().post(
    '/decisions',
    {
      onRequest: fastify.requireScope('consent:check'),
      schema: {
        tags: ['decisions'],
        summary: "May this patient's record be shared for this purpose, by this caller, now?",
        description:
          "Applies the decision rules of SPEC §2 (hierarchy, defaults, the caller's exemptions, permission to view " +
          'and emergency access) and audits the decision before answering. For purposes that require permission ' +
          'to view (summary-care-record), send pointOfCare.',
        security,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['nhsNumber', 'purpose'],
          properties: {
            nhsNumber: { type: 'string', maxLength: 40, description: '10 digits, or 3-3-4 with spaces or hyphens' },
            purpose: { type: 'string', maxLength: 100, description: 'A purpose code, e.g. summary-care-record' },
            pointOfCare: pointOfCareSchema,
            asOf: { ...dateOrDateTime, description: 'Decide as at this time (a date or a date-time) instead of now' }
          },
          example: {
            nhsNumber: '943 476 5919',
            purpose: 'summary-care-record',
            pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Patient unconscious on arrival' }
          }
        },
        response: { 200: decisionResponseSchema, ...problemResponses(400, 401, 403, 503) }
      }
    },
    async request => {
      const body = request.body
      const nhsNumber = nhsNumberOrThrow(body.nhsNumber, '/nhsNumber')
      return await fastify.services.decisions.decide(callerOf(request), { ...body, nhsNumber }, request.id)
    }
  )
}
