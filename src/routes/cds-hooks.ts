// CDS Hooks (https://cds-hooks.org): discovery, and the patient-consent-consult service that consent
// decision services such as LEAP answer. The decision is POST /v1/decisions' own (the decisions service):
// same rules, same scope (consent:check), same purposes the caller is registered for, same audit.
import type { FastifyInstance } from 'fastify'
import { PERMISSION_TO_VIEW } from '../domain/decision.ts'
import { CONSULT_HOOK, consultCard, consultQuestion, type ConsultRequest } from '../fhir/cds-hooks.ts'
import { ownSystems } from '../fhir/terminology.ts'
import { problemResponses } from '../plugins/problems.ts'
import { invalidFields } from '../domain/problems.ts'
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

const systemValue = {
  type: 'object',
  additionalProperties: false,
  required: ['value'],
  properties: { system: { type: 'string', maxLength: 200 }, value: { type: 'string', maxLength: 200 } }
} as const

export default async function cdsHooksRoutes (fastify: FastifyInstance): Promise<void> {
  const own = ownSystems(fastify.runtime.config.publicUrl)
  const source = { label: 'Consent Check Service', url: `${own.base}/docs` }

  fastify.get(
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
            properties: {
              services: {
                type: 'array',
                items: {
                  type: 'object',
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

  fastify.post<{ Body: ConsultRequest }>(
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
          'POST /v1/decisions; context.actor is recorded with it.',
        security,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['hook', 'hookInstance', 'context'],
          properties: {
            hook: { type: 'string', maxLength: 100 },
            hookInstance: { type: 'string', minLength: 1, maxLength: 200 },
            fhirServer: { type: 'string', maxLength: 2000 },
            fhirAuthorization: { type: 'object' },
            prefetch: { type: 'object' },
            context: {
              type: 'object',
              additionalProperties: false,
              required: ['patientId'],
              properties: {
                patientId: { type: 'array', minItems: 1, maxItems: 10, items: systemValue },
                purposeOfUse: {
                  anyOf: [
                    { type: 'string', maxLength: 100 },
                    { type: 'array', minItems: 1, maxItems: 10, items: { type: 'string', maxLength: 100 } }
                  ]
                },
                actor: { type: 'array', maxItems: 10, items: systemValue },
                scope: { type: 'string', maxLength: 100 },
                category: {
                  type: 'array',
                  maxItems: 10,
                  items: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['system', 'code'],
                    properties: { system: { type: 'string', maxLength: 200 }, code: { type: 'string', maxLength: 100 } }
                  }
                },
                pointOfCare: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['permissionToView'],
                  properties: {
                    permissionToView: { type: 'string', enum: PERMISSION_TO_VIEW },
                    reason: { type: 'string', maxLength: 1000 }
                  }
                }
              }
            }
          },
          example: {
            hook: CONSULT_HOOK,
            hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
            context: {
              patientId: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }],
              purposeOfUse: ['HRESCH'],
              actor: [{ system: 'https://fhir.nhs.uk/Id/sds-user-id', value: '555021935107' }],
              category: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research' }]
            }
          }
        },
        response: {
          200: {
            type: 'object',
            properties: {
              cards: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    uuid: { type: 'string', description: 'The audit event id of the decision' },
                    summary: { type: 'string', enum: ['CONSENT_PERMIT', 'CONSENT_DENY', 'NO_CONSENT'] },
                    indicator: { type: 'string', enum: ['info', 'warning', 'critical'] },
                    detail: { type: 'string' },
                    source: {
                      type: 'object',
                      properties: { label: { type: 'string' }, url: { type: 'string' } },
                      required: ['label', 'url']
                    },
                    extension: {
                      type: 'object',
                      properties: {
                        decision: { type: 'string', enum: ['CONSENT_PERMIT', 'CONSENT_DENY', 'NO_CONSENT'] },
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
      const body = request.body
      const caller = callerOf(request)
      const asked = consultQuestion(fastify.runtime.registry.catalog, body)
      if (!asked.ok) throw invalidFields(asked.problems)
      const { question } = asked
      const answer = await fastify.services.decisions.decide(caller, question, request.id, {
        paths: {
          purpose: '/context/purposeOfUse',
          pointOfCareReason: '/context/pointOfCare/reason',
          asOf: '/context/asOf'
        },
        auditDetails: {
          cdsHooks: {
            hookInstance: body.hookInstance,
            purposeOfUse: [body.context.purposeOfUse ?? []].flat(),
            actor: body.context.actor ?? []
          }
        }
      })
      return { cards: [consultCard(answer, source, id => `${own.base}/fhir/Consent/${id}`)] }
    }
  )
}
