// CDS Hooks (https://cds-hooks.org): discovery, the patient-consent-consult service that consent
// decision services such as LEAP answer, and its feedback. The decision is POST /v1/decisions' own
// (the decisions service): same rules, same scope (consent:check), same purposes the caller is
// registered for, same audit. A caller authenticates with an access token from POST /oauth2/token
// or, as CDS Hooks 2.0 has EHRs do, with a JWT it signs itself (auth/cds-client-jwt.ts). Browsers
// may call every route here from any origin (CORS): credentials are bearer tokens, never cookies.
import cors from '@fastify/cors'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { CdsJwtError, looksLikeCdsClientJwt, verifyCdsClientJwt } from '../auth/cds-client-jwt.ts'
import {
  CARD_INDICATORS,
  CONSULT_DECISIONS,
  CONSULT_HOOK,
  CONSULT_SUMMARIES,
  consultCard,
  consultRequestSchema
} from '../fhir/cds-hooks.ts'
import { ownSystems } from '../fhir/terminology.ts'
import { Problem, unauthenticated } from '../domain/problems.ts'
import { DECISIONS } from '../domain/purposes.ts'
import { problemResponses } from '../plugins/problems.ts'
import { callerOf, security } from '../http/common.ts'
import { decisionResponseSchema } from '../http/decision-schema.ts'
import { recordCdsFeedback } from '../services/cds-feedback.ts'

const SERVICE = {
  hook: CONSULT_HOOK,
  id: CONSULT_HOOK,
  title: 'Patient consent consult',
  description:
    "May this patient's record be shared for this purpose, by this caller, now? Answers one card: CONSENT_PERMIT, " +
    "CONSENT_DENY or NO_CONSENT (no recorded choice applies; the purpose's default decided), with the decision, " +
    "its basis and the choice it rests on in the card's extension.",
  usageRequirements:
    'Authorization: Bearer <token>, the token either an access token with scope consent:check from POST ' +
    '/oauth2/token, or a JWT the EHR signs (CDS Hooks 2.0: iss its base URL, sub its client id here, aud this ' +
    "service's endpoint URL, exp at most 5 minutes ahead, a unique jti, kid one of its registered keys). The " +
    'caller may ask only about purposes it is registered for.'
}

const { properties: d } = decisionResponseSchema
/**
 * POST /v1/decisions' answer as a card carries it: the same members, with those that would be null
 * left out (CDS Hooks cards carry no nulls).
 */
const cardDecisionSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'The same answer as POST /v1/decisions, members that would be null left out',
  properties: {
    ...d,
    preference: { ...d.preference, type: 'object' },
    pendingChange: { ...d.pendingChange, type: 'object' },
    exemption: { ...d.exemption, type: 'object' },
    alertId: { type: 'string' },
    asOf: { type: 'string', format: 'date-time' }
  },
  required: ['nhsNumber', 'purpose', 'decision', 'basis', 'reason', 'decidedAt', 'auditId', 'replay']
} as const

const systemCodeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { system: { type: 'string' }, code: { type: 'string' } },
  required: ['system', 'code']
} as const

const cardSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    uuid: { type: 'string', description: 'The audit event id of the decision' },
    summary: {
      type: 'string',
      enum: CONSULT_SUMMARIES,
      description: "LEAP's decision code; for NO_CONSENT, which way the purpose's default decided"
    },
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
        decision: { type: 'string', enum: CONSULT_DECISIONS, description: "LEAP's decision code" },
        defaultDecision: {
          type: 'string',
          enum: DECISIONS,
          description: "With NO_CONSENT: the purpose's default, which decided"
        },
        obligations: {
          type: 'array',
          maxItems: 0,
          items: { type: 'object' },
          description: "LEAP's obligations: none (a decision covers the whole record for its purpose)"
        },
        basedOn: {
          type: 'string',
          description: 'The FHIR Consent the decision rests on, when a recorded choice decided'
        },
        notEvaluated: {
          type: 'object',
          additionalProperties: false,
          description: 'The context fields accepted and not evaluated',
          properties: {
            class: { type: 'array', items: systemCodeSchema },
            content: {
              type: 'object',
              additionalProperties: false,
              properties: { resourceType: { type: 'string' }, entries: { type: 'integer' } },
              required: ['resourceType', 'entries']
            }
          }
        },
        consentDecision: cardDecisionSchema
      },
      required: ['decision', 'obligations', 'consentDecision']
    }
  },
  required: ['uuid', 'summary', 'indicator', 'detail', 'source', 'extension']
} as const

/** CDS Hooks 2.0 feedback on the cards a service returned. */
const feedbackRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['feedback'],
  properties: {
    feedback: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['card', 'outcome', 'outcomeTimestamp'],
        properties: {
          card: { type: 'string', format: 'uuid', description: "The card's uuid (the decision's audit id)" },
          outcome: { type: 'string', enum: ['accepted', 'overridden'] },
          outcomeTimestamp: { type: 'string', format: 'date-time' },
          acceptedSuggestions: {
            type: 'array',
            maxItems: 20,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['id'],
              properties: { id: { type: 'string', maxLength: 200 } }
            }
          },
          overrideReason: {
            type: 'object',
            additionalProperties: false,
            properties: {
              reason: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  system: { type: 'string', maxLength: 200 },
                  code: { type: 'string', maxLength: 100 },
                  display: { type: 'string', maxLength: 200 }
                }
              },
              userComment: { type: 'string', maxLength: 2000, description: 'Accepted and never recorded' }
            }
          }
        }
      }
    }
  },
  example: {
    feedback: [
      {
        card: 'a3c1f0de-6b2e-4f7a-8d91-2c4e5f6a7b80',
        outcome: 'accepted',
        outcomeTimestamp: '2026-11-25T10:00:05.000Z'
      }
    ]
  }
} as const

/** CORS for browsers: any origin (bearer tokens, never cookies); a request without Origin is not a CORS one. */
function corsOptions (
  request: FastifyRequest,
  cb: (error: Error | null, options: Record<string, unknown>) => void
): void {
  if (request.headers.origin === undefined) {
    cb(null, { origin: false })
    return
  }
  cb(null, {
    origin: '*',
    methods: ['GET', 'POST'],
    allowedHeaders: ['Authorization', 'Content-Type', 'X-Correlation-ID'],
    exposedHeaders: ['X-Request-Id', 'X-Correlation-ID', 'Retry-After', 'WWW-Authenticate'],
    maxAge: 600
  })
}

export default async function cdsHooksRoutes (fastify: FastifyInstance): Promise<void> {
  const { runtime } = fastify
  const own = ownSystems(runtime.config.publicUrl)
  const source = { label: 'Consent Check Service', url: `${own.base}/docs` }
  const endpoint = `${own.base}/cds-services/${CONSULT_HOOK}`
  const issOf = new WeakMap<FastifyRequest, string>()

  /**
   * A refused CDS Hooks JWT spends from the same failure budget as a refused access token (a
   * refused bearer check is what spends it): 401 saying why, or 429 once the address has spent it.
   */
  async function refusal (request: FastifyRequest, err: CdsJwtError): Promise<Problem> {
    request.log.info({ cdsJwtRefused: err.reason }, 'CDS Hooks JWT refused')
    try {
      await fastify.services.tokens.authenticate(undefined, request.ip)
    } catch (spent) {
      if (spent instanceof Problem && spent.kind === 'too-many-requests') return spent
    }
    return unauthenticated(err.message)
  }

  /**
   * CDS Hooks 2.0 client authentication, before the bearer check: a Bearer JWT that is not one of
   * this service's access tokens is verified as the EHR's own (auth/cds-client-jwt.ts) and then
   * stands for the client it names; any other token is left to the bearer check.
   */
  const cdsClientAuth = (audiences: string[]): onRequestHookHandler =>
    async function cdsClientAuth (request) {
      const token = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(request.headers.authorization ?? '')?.[1]
      if (token === undefined || !looksLikeCdsClientJwt(token, runtime.keys.verificationKeys)) return
      let verified
      try {
        verified = await verifyCdsClientJwt(token, {
          allowedAlgorithms: runtime.config.assertionAlgorithms,
          audiences,
          loadClient: async id => await runtime.registry.reloadClient(id),
          rememberJti: async (clientId, jti, expiresAt) =>
            await runtime.usedAssertions.remember(clientId, jti, expiresAt),
          remoteJwks: fastify.services.tokens.remoteJwks
        })
      } catch (err) {
        if (err instanceof CdsJwtError) throw await refusal(request, err)
        throw err
      }
      issOf.set(request, verified.iss)
      // The EHR is the client its JWT names, as if it had sent an access token carrying
      // consent:check (when it holds it): requireScope then checks the scope and audits a refusal alike.
      const { client } = verified
      request.caller = {
        client,
        scopes: client.scopes.filter(scope => scope === 'consent:check'),
        requestId: request.id,
        correlationId: request.correlationId
      }
    }
  const requireCheck = fastify.requireScope('consent:check')

  await fastify.register(
    async function cdsServices (cds) {
      // @fastify/cors answers a preflight in its onRequest hook; its catch-all OPTIONS route is
      // reached only by an OPTIONS that is not a CORS preflight, which must authenticate like any route.
      cds.addHook('onRoute', route => {
        if (route.method === 'OPTIONS') route.onRequest = [...[route.onRequest ?? []].flat(), fastify.requireAuth]
      })
      await cds.register(cors, { delegator: corsOptions })
      const typed = cds.withTypeProvider<JsonSchemaToTsProvider>()
      typed.get(
        '',
        {
          config: { public: true },
          schema: {
            tags: ['cds-hooks'],
            summary: 'CDS Hooks discovery',
            description: 'The CDS services offered here. No token needed; any origin may read it (CORS).',
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
        `/${CONSULT_HOOK}`,
        {
          onRequest: [cdsClientAuth([endpoint]), requireCheck],
          schema: {
            tags: ['cds-hooks'],
            summary: 'patient-consent-consult: one consent decision as a CDS Hooks card',
            description:
              'Takes LEAP CDS requests as LEAP sends them: its current shape (patientId and actor arrays) and its ' +
              'older one (single objects). context.patientId must include the NHS number (system ' +
              "https://fhir.nhs.uk/Id/nhs-number). context.purposeOfUse is one of this service's purpose codes or an " +
              'HL7 PurposeOfUse code that maps to exactly one purpose (ETREAT: unplanned-care; HRESCH, HOPERAT, ' +
              'PUBHLTH: planning-research); TREAT, and a request with no purposeOfUse, are decided for the ' +
              "deployment's direct-care default (LEAP_TREAT_PURPOSE, planned-care unless set), and the card says so. " +
              'context.scope / context.category, when sent, must be patient-privacy (every purpose here is a ' +
              "privacy choice) or those of the purpose's Consents. context.class and context.content are accepted " +
              'and not evaluated (the card says so; content is neither returned nor recorded). ' +
              'context.pointOfCare is as in POST /v1/decisions. fhirServer, fhirAuthorization and prefetch are ' +
              "accepted and not used: the decision is made from this service's store. The decision is audited like " +
              "POST /v1/decisions; context.actor is recorded with it, the EHR's iss when it signed a CDS Hooks JWT, " +
              'and context.userId (Practitioner/<SDS user ID>) as its end user: required with context.pointOfCare ' +
              'and for clients registered with requireEndUser. ' +
              'A consult is always about now: its context has no asOf, so it can never replay (SPEC §2 rule 8). ' +
              'The card carries no nulls.',
            security,
            body: consultRequestSchema,
            response: {
              200: {
                type: 'object',
                additionalProperties: false,
                properties: { cards: { type: 'array', items: cardSchema } },
                required: ['cards']
              },
              ...problemResponses(400, 401, 403, 503)
            }
          }
        },
        async request => {
          const iss = issOf.get(request)
          const { answer, card } = await fastify.services.decisions.consult(
            callerOf(request),
            request.body,
            iss === undefined ? {} : { iss }
          )
          return { cards: [consultCard(answer, source, id => `${own.base}/fhir/Consent/${id}`, card)] }
        }
      )

      typed.post(
        `/${CONSULT_HOOK}/feedback`,
        {
          onRequest: [cdsClientAuth([endpoint, `${endpoint}/feedback`]), requireCheck],
          schema: {
            tags: ['cds-hooks'],
            summary: 'patient-consent-consult feedback (CDS Hooks 2.0)',
            description:
              'What the clinician did with the cards: accepted or overridden. Recorded in the audit trail as ' +
              'cds.feedback (the caller, the counts and the card ids; never a comment). Authenticated like the ' +
              'consult.',
            security,
            body: feedbackRequestSchema,
            response: {
              200: { type: 'object', additionalProperties: false, properties: {} },
              ...problemResponses(400, 401, 403, 503)
            }
          }
        },
        async request => {
          const iss = issOf.get(request)
          await recordCdsFeedback(
            runtime,
            callerOf(request),
            CONSULT_HOOK,
            request.body.feedback,
            iss === undefined ? {} : { iss }
          )
          return {}
        }
      )
    },
    { prefix: '/cds-services' }
  )
}
