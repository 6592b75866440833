// CDS Hooks patient-consent-consult, as the LEAP Consent Decision Service answers it: the request's
// context is turned into this service's question (NHS number, purpose, point of care), and its
// decision into one card. Pure; the decision itself is the decisions service's.
import type { PointOfCare } from '../domain/decision.ts'
import { parseNhsNumber } from '../domain/nhs-number.ts'
import type { PurposeCatalog } from '../domain/purposes.ts'
import { SYSTEMS, consentCategories, consentScope, resolvePurposeOfUse } from './terminology.ts'

export const CONSULT_HOOK = 'patient-consent-consult'

export interface SystemValue {
  system?: string
  value: string
}

export interface ConsultContext {
  patientId: SystemValue[]
  purposeOfUse?: string | string[]
  actor?: SystemValue[]
  scope?: string
  category?: Array<{ system: string; code: string }>
  /** This service's addition: what happened at the point of care (SPEC §2 rule 5), as in POST /v1/decisions. */
  pointOfCare?: PointOfCare
}

export interface ConsultRequest {
  hook: string
  hookInstance: string
  context: ConsultContext
}

export interface ConsultQuestion {
  nhsNumber: string
  purpose: string
  pointOfCare?: PointOfCare
}

export type FieldProblem = { path: string; message: string }

/**
 * The question a consult asks, or what is wrong with it. The patient is the one NHS number among
 * context.patientId (other identifiers of the same patient may come along and are ignored); the
 * purpose is the one purpose that every purposeOfUse code resolves to; scope and category, when
 * sent, must be those of that purpose's Consents (a research question is not a privacy one).
 */
export function consultQuestion (
  catalog: PurposeCatalog,
  request: ConsultRequest
): { ok: true; question: ConsultQuestion } | { ok: false; problems: FieldProblem[] } {
  const problems: FieldProblem[] = []
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
  if (problems.length > 0 || purpose === undefined) return { ok: false, problems }
  return {
    ok: true,
    question: {
      nhsNumber: [...numbers][0],
      purpose: purpose.code,
      ...(ctx.pointOfCare !== undefined ? { pointOfCare: ctx.pointOfCare } : {})
    }
  }
}

export type ConsultSummary = 'CONSENT_PERMIT' | 'CONSENT_DENY' | 'NO_CONSENT'

const INDICATOR: Record<ConsultSummary, 'info' | 'warning' | 'critical'> = {
  CONSENT_PERMIT: 'info',
  NO_CONSENT: 'warning',
  CONSENT_DENY: 'critical'
}

/** The decision fields the card needs; the whole POST /v1/decisions answer travels in its extension. */
export interface DecisionLike {
  decision: 'permit' | 'deny'
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
  indicator: 'info' | 'warning' | 'critical'
  detail: string
  source: { label: string; url: string }
  extension: { decision: ConsultSummary; basedOn?: string; consentDecision: D }
}
