// CDS Hooks patient-consent-consult, as the LEAP Consent Decision Service answers it: the request's
// context is turned into this service's question (NHS number, purpose, point of care), and its
// decision into one card. Pure; the decision itself is the decisions service's.
import type { FromSchema } from 'json-schema-to-ts'
import type { PointOfCare } from '../domain/decision.ts'
import { isSdsUserId, type EndUser } from '../domain/end-user.ts'
import { parseNhsNumber } from '../domain/nhs-number.ts'
import type { FieldError } from '../domain/problems.ts'
import type { Decision, PurposeCatalog } from '../domain/purposes.ts'
import { pointOfCareSchema } from '../http/decision-schema.ts'
import { SYSTEMS, consentCategories, consentScope, resolvePurposeOfUse } from './terminology.ts'

export const CONSULT_HOOK = 'patient-consent-consult'
export const CONSULT_SUMMARIES = ['CONSENT_PERMIT', 'CONSENT_DENY', 'NO_CONSENT'] as const
export type ConsultSummary = (typeof CONSULT_SUMMARIES)[number]
export const CARD_INDICATORS = ['info', 'warning', 'critical'] as const
export type CardIndicator = (typeof CARD_INDICATORS)[number]

const systemValue = {
  type: 'object',
  additionalProperties: false,
  required: ['value'],
  properties: { system: { type: 'string', maxLength: 200 }, value: { type: 'string', maxLength: 200 } }
} as const

/**
 * The consult request as CDS Hooks clients send it, plus this service's context.pointOfCare (as in
 * POST /v1/decisions). The route validates against it; ConsultRequest is derived from it.
 */
export const consultRequestSchema = {
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
        userId: {
          type: 'string',
          maxLength: 200,
          description:
            'The user at the keyboard, as CDS Hooks names it: Practitioner/<SDS user ID> (or the SDS user ID alone: ' +
            'the 12-digit smartcard number or the CIS2 UUID). Recorded as the end user of the decision; required ' +
            'with pointOfCare and for clients registered with requireEndUser.'
        },
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
        pointOfCare: pointOfCareSchema
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
      userId: 'Practitioner/555021935107',
      category: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research' }]
    }
  }
} as const

export type ConsultRequest = FromSchema<typeof consultRequestSchema>

export interface ConsultQuestion {
  nhsNumber: string
  purpose: string
  pointOfCare?: PointOfCare
  endUser?: EndUser
}

// CDS Hooks' userId is a FHIR reference (Practitioner/123) in most clients; some send the bare id.
const USER_REFERENCE = /^(?:Practitioner\/)?([^/]+)$/

/** The end user a consult's context.userId names, or what is wrong with it. */
export function consultUser (userId: string): { ok: true; endUser: EndUser } | { ok: false; message: string } {
  const id = USER_REFERENCE.exec(userId)?.[1]
  if (id === undefined || !isSdsUserId(id)) {
    return {
      ok: false,
      message:
        'must be Practitioner/<SDS user ID> or the SDS user ID itself (the 12-digit smartcard number or the ' +
        'CIS2 UUID)'
    }
  }
  return { ok: true, endUser: { id } }
}

/**
 * The question a consult asks, or what is wrong with it. The patient is the one NHS number among
 * context.patientId (other identifiers of the same patient may come along and are ignored); the
 * purpose is the one purpose that every purposeOfUse code resolves to; scope and category, when
 * sent, must be those of that purpose's Consents (a research question is not a privacy one).
 */
export function consultQuestion (
  catalog: PurposeCatalog,
  request: ConsultRequest
): { ok: true; question: ConsultQuestion } | { ok: false; problems: FieldError[] } {
  const problems: FieldError[] = []
  const ctx = request.context
  if (request.hook !== CONSULT_HOOK) {
    problems.push({ path: '/hook', message: `this service answers the ${CONSULT_HOOK} hook only` })
  }

  const numbers = new Set<string>()
  let invalid = 0
  ctx.patientId.forEach((id, i) => {
    if (id.system !== SYSTEMS.nhsNumber) return
    const parsed = parseNhsNumber(id.value)
    if (parsed.ok) numbers.add(parsed.value)
    else {
      invalid++
      problems.push({ path: `/context/patientId/${i}/value`, message: parsed.error })
    }
  })
  if (numbers.size === 0 && invalid === 0) {
    problems.push({ path: '/context/patientId', message: `needs an identifier with system ${SYSTEMS.nhsNumber}` })
  }
  if (numbers.size > 1) {
    problems.push({
      path: '/context/patientId',
      message: 'names more than one NHS number; ask about one patient per request'
    })
  }

  const codes =
    ctx.purposeOfUse === undefined ? [] : Array.isArray(ctx.purposeOfUse) ? ctx.purposeOfUse : [ctx.purposeOfUse]
  const purposes = new Set<string>()
  if (codes.length === 0) {
    problems.push({
      path: '/context/purposeOfUse',
      message: 'is required: a purpose code of this service or an HL7 PurposeOfUse code'
    })
  }
  for (const code of codes) {
    const r = resolvePurposeOfUse(catalog, code)
    if (r.ok) purposes.add(r.purpose)
    else problems.push({ path: '/context/purposeOfUse', message: r.message })
  }
  if (purposes.size > 1) {
    problems.push({
      path: '/context/purposeOfUse',
      message: `resolves to more than one purpose (${[...purposes].join(', ')}); ask about one purpose per request`
    })
  }

  const purpose = purposes.size === 1 ? catalog.get([...purposes][0]) : undefined
  if (purpose !== undefined) {
    const scope = consentScope(purpose)
    if (ctx.scope !== undefined && ctx.scope !== scope.code) {
      problems.push({
        path: '/context/scope',
        message: `purpose ${purpose.code} is about consent scope ${scope.code ?? ''}, not ${ctx.scope}`
      })
    }
    const codings = [scope, ...consentCategories(purpose)]
    if (
      ctx.category !== undefined &&
      !ctx.category.some(c => codings.some(k => k.system === c.system && k.code === c.code))
    ) {
      problems.push({
        path: '/context/category',
        message:
          `none of these categories applies to purpose ${purpose.code}; ` +
          `its Consents carry ${codings.map(k => `${k.system ?? ''}|${k.code ?? ''}`).join(', ')}`
      })
    }
  }
  const user = ctx.userId === undefined ? undefined : consultUser(ctx.userId)
  if (user !== undefined && !user.ok) problems.push({ path: '/context/userId', message: user.message })
  if (problems.length > 0 || purpose === undefined) return { ok: false, problems }
  return {
    ok: true,
    question: {
      nhsNumber: [...numbers][0],
      purpose: purpose.code,
      ...(ctx.pointOfCare !== undefined ? { pointOfCare: ctx.pointOfCare } : {}),
      ...(user?.ok === true ? { endUser: user.endUser } : {})
    }
  }
}

const INDICATOR: Record<ConsultSummary, CardIndicator> = {
  CONSENT_PERMIT: 'info',
  NO_CONSENT: 'warning',
  CONSENT_DENY: 'critical'
}

/** The decision fields the card needs; the whole POST /v1/decisions answer travels in its extension. */
export interface DecisionLike {
  decision: Decision
  basis: string
  reason: string
  preference: { id: string } | null
  auditId: string
}

/**
 * One card, LEAP style: the summary is the decision code, NO_CONSENT when no recorded choice or
 * point-of-care answer applied (the purpose's default decided; consentDecision says which way).
 */
export function consultCard<D extends DecisionLike> (
  d: D,
  source: { label: string; url: string },
  consentUrl: (id: string) => string
): ConsultCard<D> {
  const summary: ConsultSummary =
    d.basis === 'default' ? 'NO_CONSENT' : d.decision === 'permit' ? 'CONSENT_PERMIT' : 'CONSENT_DENY'
  return {
    uuid: d.auditId,
    summary,
    indicator: INDICATOR[summary],
    detail: d.reason,
    source,
    extension: {
      decision: summary,
      ...(d.preference !== null ? { basedOn: consentUrl(d.preference.id) } : {}),
      consentDecision: d
    }
  }
}

export interface ConsultCard<D> {
  uuid: string
  summary: ConsultSummary
  indicator: CardIndicator
  detail: string
  source: { label: string; url: string }
  extension: { decision: ConsultSummary; basedOn?: string; consentDecision: D }
}
