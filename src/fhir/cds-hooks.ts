// CDS Hooks patient-consent-consult, as the LEAP Consent Decision Service answers it: the request's
// context (LEAP's current shape, with arrays, or its older one, with single objects) is turned into
// this service's question (NHS number, purpose, point of care), and its decision into one card.
// Pure; the decision itself is the decisions service's.
import type { FromSchema } from 'json-schema-to-ts'
import type { PointOfCare } from '../domain/decision.ts'
import { isSdsUserId, type EndUser } from '../domain/end-user.ts'
import { parseNhsNumber } from '../domain/nhs-number.ts'
import type { FieldError } from '../domain/problems.ts'
import type { Decision, PurposeCatalog } from '../domain/purposes.ts'
import { pointOfCareSchema } from '../http/decision-schema.ts'
import { SYSTEMS, consentCategories, consentScope, resolvePurposeOfUse } from './terminology.ts'

export const CONSULT_HOOK = 'patient-consent-consult'
export const CONSULT_DECISIONS = ['CONSENT_PERMIT', 'CONSENT_DENY', 'NO_CONSENT'] as const
export type ConsultDecision = (typeof CONSULT_DECISIONS)[number]
/**
 * A card's summary: LEAP's decision code, and for NO_CONSENT which way the purpose's default went
 * (NO_CONSENT alone would leave a clinician to guess whether the record may be shared).
 */
export const CONSULT_SUMMARIES = [
  'CONSENT_PERMIT',
  'CONSENT_DENY',
  'NO_CONSENT: default permit',
  'NO_CONSENT: default deny'
] as const
export type ConsultSummary = (typeof CONSULT_SUMMARIES)[number]
export const CARD_INDICATORS = ['info', 'warning', 'critical'] as const
export type CardIndicator = (typeof CARD_INDICATORS)[number]

const systemValue = {
  type: 'object',
  additionalProperties: false,
  required: ['value'],
  properties: { system: { type: 'string', maxLength: 200 }, value: { type: 'string', maxLength: 200 } }
} as const

const systemCode = {
  type: 'object',
  additionalProperties: false,
  required: ['system', 'code'],
  properties: { system: { type: 'string', maxLength: 200 }, code: { type: 'string', maxLength: 100 } }
} as const

/** Identifiers as LEAP sends them now (an array) or did at first (one object). */
const systemValues = (maxItems: number, minItems = 0) =>
  ({ anyOf: [{ type: 'array', minItems, maxItems, items: systemValue }, systemValue] }) as const

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
        patientId: systemValues(10, 1),
        purposeOfUse: {
          description:
            "One of this service's purpose codes or an HL7 PurposeOfUse code (a string or an array). TREAT, or " +
            'none at all (LEAP allows that), is the direct-care purpose the deployment configured ' +
            '(LEAP_TREAT_PURPOSE).',
          anyOf: [
            { type: 'string', maxLength: 100 },
            { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 100 } }
          ]
        },
        actor: systemValues(10),
        userId: {
          type: 'string',
          maxLength: 200,
          description:
            'The user at the keyboard, as CDS Hooks names it: Practitioner/<SDS user ID> (or the SDS user ID alone: ' +
            'the 12-digit smartcard number or the CIS2 UUID). Recorded as the end user of the decision; required ' +
            'with pointOfCare and for clients registered with requireEndUser.'
        },
        scope: {
          type: 'string',
          maxLength: 100,
          description: 'As older LEAP clients send it: patient-privacy for every purpose (research too, for research)'
        },
        category: { type: 'array', maxItems: 10, items: systemCode },
        class: {
          type: 'array',
          maxItems: 50,
          items: systemCode,
          description:
            'Accepted and not evaluated: this service decides per purpose, for the whole record; the card says so'
        },
        content: {
          type: 'object',
          description:
            'Accepted and not evaluated: nothing is labelled, redacted or returned; the card says so. Not recorded.'
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
  /** How the question was read where the request left it open (TREAT, no purpose): said on the card. */
  notes: string[]
  /** The context fields that were accepted and not evaluated (LEAP's class and content). */
  notEvaluated: NotEvaluated
}

/** What the card echoes of the fields it did not evaluate: class as sent; content only as what it was. */
export interface NotEvaluated {
  class?: Array<{ system: string; code: string }>
  content?: { resourceType: string; entries: number }
}

export interface ConsultOptions {
  /** The purpose TREAT, or a request naming none, is decided for (LEAP_TREAT_PURPOSE). */
  treatPurpose: string
}

/** LEAP_TREAT_PURPOSE's default. */
export const DEFAULT_CONSULT_OPTIONS: ConsultOptions = { treatPurpose: 'planned-care' }

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

/** The identifiers of an array-or-object field (LEAP's current and older shapes) as an array. */
export function identifiers<T> (value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

/** The privacy consent scope: every purpose of this service is a choice about sharing the patient's data. */
const PRIVACY_SCOPE = 'patient-privacy'

/**
 * TREAT (or no purpose at all) read as the configured direct-care purpose, or why it cannot be:
 * the configuration names a purpose the catalogue lacks, or one that is not direct care.
 */
function treatPurpose (
  catalog: PurposeCatalog,
  configured: string
): { ok: true; purpose: string } | { ok: false; message: string } {
  const purpose = catalog.get(configured)
  if (purpose === undefined || purpose.category !== 'direct-care') {
    return {
      ok: false,
      message:
        `PurposeOfUse TREAT (or no purposeOfUse) is configured to mean '${configured}' (LEAP_TREAT_PURPOSE), ` +
        "which is not a direct-care purpose of this service; send the service's purpose code instead"
    }
  }
  return { ok: true, purpose: purpose.code }
}

/**
 * The question a consult asks, or what is wrong with it. The patient is the one NHS number among
 * context.patientId (other identifiers of the same patient may come along and are ignored); the
 * purpose is the one purpose that every purposeOfUse code resolves to, TREAT and a missing purpose
 * being the configured direct-care purpose; scope and category, when sent, must be ones the
 * purpose's Consents carry or patient-privacy (every purpose here is a privacy choice).
 */
export function consultQuestion (
  catalog: PurposeCatalog,
  request: ConsultRequest,
  options: ConsultOptions = DEFAULT_CONSULT_OPTIONS
): { ok: true; question: ConsultQuestion } | { ok: false; problems: FieldError[] } {
  const problems: FieldError[] = []
  const notes: string[] = []
  const ctx = request.context
  if (request.hook !== CONSULT_HOOK) {
    problems.push({ path: '/hook', message: `this service answers the ${CONSULT_HOOK} hook only` })
  }

  const numbers = new Set<string>()
  let invalid = 0
  const patientIds = identifiers(ctx.patientId)
  const valuePath = (i: number): string =>
    Array.isArray(ctx.patientId) ? `/context/patientId/${i}/value` : '/context/patientId/value'
  patientIds.forEach((id, i) => {
    if (id.system !== SYSTEMS.nhsNumber) return
    const parsed = parseNhsNumber(id.value)
    if (parsed.ok) numbers.add(parsed.value)
    else {
      invalid++
      problems.push({ path: valuePath(i), message: parsed.error })
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

  const codes = identifiers(ctx.purposeOfUse)
  const purposes = new Set<string>()
  const treat = (): void => {
    const r = treatPurpose(catalog, options.treatPurpose)
    if (r.ok) purposes.add(r.purpose)
    else problems.push({ path: '/context/purposeOfUse', message: r.message })
  }
  if (codes.length === 0) {
    treat()
    notes.push(
      `No purposeOfUse was sent: decided for ${options.treatPurpose}, this deployment's direct-care default ` +
        '(LEAP_TREAT_PURPOSE).'
    )
  }
  for (const code of codes) {
    if (code === 'TREAT') {
      treat()
      notes.push(
        `PurposeOfUse TREAT was decided as ${options.treatPurpose}, this deployment's direct-care default ` +
          '(LEAP_TREAT_PURPOSE); send unplanned-care or ETREAT for unplanned care.'
      )
      continue
    }
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
    // Every choice here is a privacy consent (consentScope); `research` is still understood for a
    // secondary-use purpose, as requests written before that was settled send it.
    const research =
      purpose.category === 'direct-care'
        ? []
        : [{ system: SYSTEMS.consentScope, code: 'research', display: 'Research' }]
    const scopes = [...new Set([consentScope(purpose).code ?? PRIVACY_SCOPE, ...research.map(r => r.code)])]
    if (ctx.scope !== undefined && !scopes.includes(ctx.scope)) {
      problems.push({
        path: '/context/scope',
        message: `purpose ${purpose.code} is about consent scope ${scopes.join(' or ')}, not ${ctx.scope}`
      })
    }
    const codings = [
      consentScope(purpose),
      ...research,
      ...consentCategories(purpose)
    ].filter((k, i, all) => all.findIndex(o => o.system === k.system && o.code === k.code) === i)
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
      ...(user?.ok === true ? { endUser: user.endUser } : {}),
      notes,
      notEvaluated: notEvaluated(ctx)
    }
  }
}

function notEvaluated (ctx: ConsultRequest['context']): NotEvaluated {
  const content = ctx.content as { resourceType?: unknown; entry?: unknown } | undefined
  return {
    ...(ctx.class !== undefined && ctx.class.length > 0 ? { class: ctx.class.map(c => ({ ...c })) } : {}),
    ...(content !== undefined
      ? {
          content: {
            resourceType: typeof content.resourceType === 'string' ? content.resourceType.slice(0, 50) : 'unknown',
            entries: Array.isArray(content.entry) ? content.entry.length : 0
          }
        }
      : {})
  }
}

const INDICATOR: Record<ConsultDecision, CardIndicator> = {
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

/** A value with every null member left out, at any depth (CDS Hooks cards carry no nulls). */
export type WithoutNulls<T> =
  T extends Array<infer I>
    ? Array<WithoutNulls<I>>
    : T extends object
      ? { [K in keyof T as null extends T[K] ? never : K]: WithoutNulls<T[K]> } & {
        [K in keyof T as null extends T[K] ? K : never]?: WithoutNulls<Exclude<T[K], null>>
      }
      : T

export function withoutNulls<T> (value: T): WithoutNulls<T> {
  if (Array.isArray(value)) return value.map(withoutNulls) as WithoutNulls<T>
  if (typeof value !== 'object' || value === null) return value as WithoutNulls<T>
  const kept = Object.entries(value).filter(([, v]) => v !== null && v !== undefined)
  return Object.fromEntries(kept.map(([k, v]) => [k, withoutNulls(v)])) as WithoutNulls<T>
}

/** What the card says beyond the decision: how the question was read, and what was not evaluated. */
export interface CardContext {
  notes: string[]
  notEvaluated: NotEvaluated
}

const NOT_EVALUATED =
  'context.class and context.content were not evaluated: this service decides per purpose, for the whole record; ' +
  'nothing was labelled or redacted.'

/**
 * One card, LEAP style: extension.decision is LEAP's code, NO_CONSENT when no recorded choice or
 * point-of-care answer applied (the purpose's default decided); the summary adds which way that
 * default went. obligations is LEAP's list, always empty here (nothing to redact: a decision covers
 * the purpose). No member is ever null.
 */
export function consultCard<D extends DecisionLike> (
  d: D,
  source: { label: string; url: string },
  consentUrl: (id: string) => string,
  context: CardContext = { notes: [], notEvaluated: {} }
): ConsultCard<D> {
  const decision: ConsultDecision =
    d.basis === 'default' ? 'NO_CONSENT' : d.decision === 'permit' ? 'CONSENT_PERMIT' : 'CONSENT_DENY'
  const summary: ConsultSummary = decision === 'NO_CONSENT' ? `NO_CONSENT: default ${d.decision}` : decision
  const notEvaluated = Object.keys(context.notEvaluated).length > 0
  return {
    uuid: d.auditId,
    summary,
    indicator: INDICATOR[decision],
    detail: [d.reason, ...context.notes, ...(notEvaluated ? [NOT_EVALUATED] : [])].join(' '),
    source,
    extension: {
      decision,
      ...(decision === 'NO_CONSENT' ? { defaultDecision: d.decision } : {}),
      obligations: [],
      ...(d.preference !== null ? { basedOn: consentUrl(d.preference.id) } : {}),
      ...(notEvaluated ? { notEvaluated: context.notEvaluated } : {}),
      consentDecision: withoutNulls(d)
    }
  }
}

export interface ConsultCard<D> {
  uuid: string
  summary: ConsultSummary
  indicator: CardIndicator
  detail: string
  source: { label: string; url: string }
  extension: {
    decision: ConsultDecision
    defaultDecision?: Decision
    obligations: never[]
    basedOn?: string
    notEvaluated?: NotEvaluated
    consentDecision: WithoutNulls<D>
  }
}
