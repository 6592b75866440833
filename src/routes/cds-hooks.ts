// CDS Hooks (https://cds-hooks.org): discovery, and the patient-consent-consult service that consent
// decision services such as LEAP answer. The decision is POST /v1/decisions' own (the decisions service):
// same rules, same scope (consent:check), same purposes the caller is registered for, same audit.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import {
  CARD_INDICATORS,
  CONSULT_HOOK,
  CONSULT_SUMMARIES,
  consultCard,
  consultRequestSchema
} from '../fhir/cds-hooks.ts'
import { ownSystems } from '../fhir/terminology.ts'
import { problemResponses } from '../plugins/problems.ts'
import { callerOf, security } from '../http/common.ts'
import { decisionResponseSchema } from '../http/decision-schema.ts'

const SERVICE = {
  hook: CONSULT_HOOK,
  id: CONSULT_HOOK,
  title: 'Patient consent consult',
  description:
    "May this patient's record be shared for this purpose, by this caller, now? Answers one card: CONSENT_PERMIT, " +
    "CONSENT_DENY or NO_CONSENT (no recorded choice applies; the purpose's default decided), with the decision, " +
    "its basis and the choice it rests on in the card's extension.",
  usageRequirements:
    'A bearer token with scope consent:check from POST /oauth2/token; the caller may ask only about purposes it ' +
    'is registered for.'
}

export default async function cdsHooksRoutes (fastify: FastifyInstance): Promise<void> {
  const own = ownSystems(fastify.runtime.config.publicUrl)
  const source = { label: 'Consent Check Service', url: `${own.base}/docs` }

  const typed = fastify.withTypeProvider<JsonSchemaToTsProvider>()
  typed.get(
    '/cds-services',
    {
      config: { public: true },
      schema: {
        tags: ['cds-hooks'],
        summary: 'CDS Hooks discovery',
        description: 'The CDS services offered here. No token needed.',
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: {
              services: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    hook: { type: 'string' },
                    id: { type: 'string' },
                    title: { type: 'string' },
                    description: { type: 'string' },
                    usageRequirements: { type: 'string' }
                  },
                  required: ['hook', 'id', 'description']
                }
              }
            },
            required: ['services'],
            example: { services: [SERVICE] }
          }
        }
      }
    },
    async () => ({ services: [SERVICE] })
  )

  typed.post(
    `/cds-services/${CONSULT_HOOK}`,
    {
      onRequest: fastify.requireScope('consent:check'),
      schema: {
        tags: ['cds-hooks'],
        summary: 'patient-consent-consult: one consent decision as a CDS Hooks card',
        description:
          'context.patientId must include the NHS number (system https://fhir.nhs.uk/Id/nhs-number). ' +
          "context.purposeOfUse is one of this service's purpose codes or an HL7 PurposeOfUse code that maps to " +
          'exactly one purpose (ETREAT: unplanned-care; HRESCH, HOPERAT, PUBHLTH: planning-research; TREAT is ' +
          'ambiguous and refused). ' +
          "context.scope / context.category, when sent, must be those of the purpose's Consents. " +
          'context.pointOfCare is as in POST /v1/decisions. fhirServer, fhirAuthorization and prefetch are ' +
          "accepted and not used: the decision is made from this service's store. The decision is audited like " +
          'POST /v1/decisions; context.actor is recorded with it, and context.userId (Practitioner/<SDS user ID>) ' +
          'as its end user: required with context.pointOfCare and for clients registered with requireEndUser. ' +
          'A consult is always about now: its context has no asOf, so it can never replay (SPEC §2 rule 8).',
        security,
        body: consultRequestSchema,
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: {
              cards: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    uuid: { type: 'string', description: 'The audit event id of the decision' },
                    summary: { type: 'string', enum: CONSULT_SUMMARIES },
                    indicator: { type: 'string', enum: CARD_INDICATORS },
                    detail: { type: 'string' },
                    source: {
                      type: 'object',
                      additionalProperties: false,
                      properties: { label: { type: 'string' }, url: { type: 'string' } },
                      required: ['label', 'url']
                    },
                    extension: {
                      type: 'object',
                      additionalProperties: false,
                      properties: {
                        decision: { type: 'string', enum: CONSULT_SUMMARIES },
                        basedOn: {
                          type: 'string',
                          description: 'The FHIR Consent the decision rests on, when a recorded choice decided'
                        },
                        consentDecision: {
                          ...decisionResponseSchema,
                          description: 'The same answer as POST /v1/decisions'
                        }
                      },
                      required: ['decision', 'consentDecision']
                    }
                  },
                  required: ['uuid', 'summary', 'indicator', 'detail', 'source', 'extension']
                }
              }
            },
            required: ['cards']
          },
          ...problemResponses(400, 401, 403, 503)
        }
      }
    },
    async request => {
      const answer = await fastify.services.decisions.consult(callerOf(request), request.body)
      return { cards: [consultCard(answer, source, id => `${own.base}/fhir/Consent/${id}`)] }
    }
  )
}
