// The decision engine (SPEC §2 "Decision rules"). Pure: everything it needs is passed in, so the
// same function answers single decisions, bulk filters, FHIR and CDS Hooks, and is unit-tested
// without a server or a database. Rule numbers below are SPEC §2's.
import { unusablePurpose, type Decision, type PurposeCatalog } from './purposes.ts'
import type { Exemption } from './exemptions.ts'
import { forbidden, invalidField, type Problem } from './problems.ts'
import {
  effectiveRecord,
  inForce,
  summarisePreference,
  type PreferenceRecord,
  type PreferenceSummary
} from './preferences.ts'

export const BASES = ['patient-preference', 'default', 'exemption', 'point-of-care', 'emergency-access'] as const
export type Basis = (typeof BASES)[number]

export const PERMISSION_TO_VIEW = ['granted', 'refused', 'unable-to-ask'] as const
export interface PointOfCare {
  permissionToView: (typeof PERMISSION_TO_VIEW)[number]
  reason?: string
}

export interface DecisionContext {
  catalog: PurposeCatalog
  purpose: string
  /** The patient's records for any purpose and status; the engine picks what applies. */
  records: readonly PreferenceRecord[]
  /** The caller's registered exemptions. */
  exemptions: readonly Exemption[]
  pointOfCare?: PointOfCare
  at: Date
}

export interface PendingChange extends PreferenceSummary {
  /** The decision the request would get once this record takes effect. */
  outcome: Decision
}

export interface ConsentDecision {
  decision: Decision
  basis: Basis
  reason: string
  preference: PreferenceSummary | null
  exemption: Exemption | null
  /** True when the answer is an emergency access that must raise an alert (rule 5). */
  emergencyAccess: boolean
  pendingChange: PendingChange | null
}

/**
 * Rule 1 (the purpose half; the NHS number is checked by parseNhsNumber and the scope by the
 * auth layer): the purpose exists, is active and the caller is allowed it. `path` is where the
 * purpose was in the caller's request, so the problem names the field the caller sent.
 */
export function checkPurposeRequest (
  catalog: PurposeCatalog,
  allowedPurposes: readonly string[],
  code: string,
  path = '/purpose'
): Problem | null {
  const unusable = unusablePurpose(catalog, code)
  if (unusable !== null) return invalidField(path, unusable)
  if (!catalog.isAllowed(allowedPurposes, code)) {
    return forbidden(`this client is not registered for purpose '${code}'`, path)
  }
  return null
}

/**
 * Rule 5's one input rule: `unable-to-ask` must say why the patient cannot be asked, on any
 * purpose (it is the justification the privacy officer reviews). A request without it is
 * malformed (a 400 at `path`), not a deny: the caller's system must collect the reason.
 */
export function checkPointOfCare (pointOfCare: PointOfCare | undefined, path = '/pointOfCare/reason'): Problem | null {
  if (pointOfCare?.permissionToView !== 'unable-to-ask') return null
  if ((pointOfCare.reason ?? '').trim() !== '') return null
  return invalidField(
    path,
    'a reason is required when permissionToView is unable-to-ask (why the patient cannot be asked)'
  )
}

/** The answer before it is dressed for callers: the deciding record itself, not its summary. */
type Outcome = Omit<ConsentDecision, 'pendingChange' | 'preference'> & { record: PreferenceRecord | null }

/**
 * Rules 2-5 at the context's time, then pendingChange. Assumes checkPurposeRequest passed; throws
 * checkPointOfCare's problem rather than decide on a point of care it refuses (never a permit).
 */
export function decideConsent (ctx: DecisionContext): ConsentDecision {
  const problem = checkPointOfCare(ctx.pointOfCare)
  if (problem !== null) throw problem
  const at = ctx.at.getTime()
  const { record, ...outcome } = evaluate(ctx, at)
  return {
    ...outcome,
    preference: record === null ? null : summarisePreference(record),
    pendingChange: findPendingChange(ctx, at, outcome.decision)
  }
}

/**
 * Just the decision and its basis, by the same rules: for the bulk filter, which answers millions
 * of numbers and reports neither the deciding record nor pending changes.
 */
export function decideOutcome (ctx: DecisionContext): { decision: Decision; basis: Basis } {
  const problem = checkPointOfCare(ctx.pointOfCare)
  if (problem !== null) throw problem
  const outcome = evaluate(ctx, ctx.at.getTime())
  return { decision: outcome.decision, basis: outcome.basis }
}

function evaluate (ctx: DecisionContext, at: number): Outcome {
  const chain = ctx.catalog.chain(ctx.purpose)
  const purpose = chain[0]
  const patientOutcome = evaluatePreferences(ctx, at)
  // Rule 5: point of care. A recorded dissent is never overridden, not even in an emergency.
  if (patientOutcome.basis === 'patient-preference' && patientOutcome.decision === 'deny') return patientOutcome
  const poc = ctx.pointOfCare
  const base = { record: patientOutcome.record, exemption: null, emergencyAccess: false }
  // On any purpose, a refusal told to a clinician is the patient's dissent at that moment.
  if (poc?.permissionToView === 'refused') {
    return {
      ...base,
      decision: 'deny',
      basis: 'point-of-care',
      reason: 'Patient refused permission to view at the point of care'
    }
  }
  if (!purpose.requiresPermissionToView) return patientOutcome
  if (poc === undefined) {
    return {
      ...base,
      decision: 'deny',
      basis: 'point-of-care',
      reason:
        `Permission to view must be asked at the point of care for ${purpose.code}: ` +
        'send pointOfCare.permissionToView (granted, refused, or unable-to-ask with a reason)'
    }
  }
  switch (poc.permissionToView) {
    case 'granted':
      return {
        ...base,
        decision: 'permit',
        basis: 'point-of-care',
        reason: 'Patient gave permission to view at the point of care'
      }
    case 'unable-to-ask':
      if (purpose.emergencyAccess !== 'when-unable-to-ask') {
        return {
          ...base,
          decision: 'deny',
          basis: 'point-of-care',
          reason: `Emergency access is not allowed for ${purpose.code}; permission to view must be given`
        }
      }
      return {
        ...base,
        decision: 'permit',
        basis: 'emergency-access',
        reason: 'Patient unable to give permission to view; emergency access recorded',
        emergencyAccess: true
      }
  }
}

/** Rules 2-4: the patient's recorded choices along the hierarchy, the default, and exemptions. */
function evaluatePreferences (ctx: DecisionContext, at: number): Outcome {
  const chain = ctx.catalog.chain(ctx.purpose)
  const purpose = chain[0]
  // Rule 2: the effective record per level, most specific first.
  const effective = chain.map(level => ({ level, record: effectiveRecord(ctx.records, level.code, at) }))
  // Rule 3: any deny up the chain denies; the most specific one is reported.
  const denies = effective.filter(e => e.record?.decision === 'deny')
  if (denies.length > 0) {
    // Rule 4: an exemption for purpose P lifts the denies recorded at P only; never on direct care.
    if (purpose.category === 'secondary-use') {
      const lifting = denies.map(d => ctx.exemptions.find(x => x.purpose === d.level.code))
      if (lifting.every(x => x !== undefined)) {
        // Every deny is lifted: the rest of rule 3 decides as if they were not there. Lifting an
        // opt-out never opts a patient in to an opt-in programme they did not join.
        const exemption = lifting[0] as Exemption
        const without = ownPermitOrDefault(ctx, effective[0].record)
        if (without.decision === 'deny') return without
        return {
          decision: 'permit',
          basis: 'exemption',
          reason:
            `Patient's opt-out of ${denies.map(d => d.level.code).join(' and ')} is lifted ` +
            `by the caller's ${exemption.basis} exemption (${exemption.reference})`,
          record: denies[0].record,
          exemption: { purpose: exemption.purpose, basis: exemption.basis, reference: exemption.reference },
          emergencyAccess: false
        }
      }
      const unlifted = denies.find((d, i) => lifting[i] === undefined) as (typeof denies)[number]
      return denyByPreference(purpose.code, unlifted.level.code, unlifted.record as PreferenceRecord)
    }
    return denyByPreference(purpose.code, denies[0].level.code, denies[0].record as PreferenceRecord)
  }
  return ownPermitOrDefault(ctx, effective[0].record)
}

/** Rule 3 without denies: a permit recorded at the purpose itself, else the purpose's default. */
function ownPermitOrDefault (ctx: DecisionContext, own: PreferenceRecord | null): Outcome {
  const purpose = ctx.catalog.chain(ctx.purpose)[0]
  if (own !== null && own.decision === 'permit') {
    return {
      decision: 'permit',
      basis: 'patient-preference',
      reason: `Patient's recorded choice permits ${purpose.code}`,
      record: own,
      exemption: null,
      emergencyAccess: false
    }
  }
  const byDefault = ctx.catalog.defaultDecision(purpose.code)
  return {
    decision: byDefault,
    basis: 'default',
    reason:
      byDefault === 'permit'
        ? `No recorded choice applies; ${purpose.code} is shared unless the patient opts out`
        : `No recorded choice applies; ${purpose.code} is opt-in and the patient has not opted in`,
    record: null,
    exemption: null,
    emergencyAccess: false
  }
}

function denyByPreference (asked: string, at: string, record: PreferenceRecord): Outcome {
  return {
    decision: 'deny',
    basis: 'patient-preference',
    reason: asked === at ? `Patient opted out of ${asked}` : `Patient opted out of ${at}, which covers ${asked}`,
    record,
    exemption: null,
    emergencyAccess: false
  }
}

/**
 * The next record effective after T, on the purpose or an ancestor, that would change the outcome
 * (SPEC §2: never a cancelled or voided one). Of the records taking effect at that instant, the one
 * that then decides is named, else the most specific one then in effect: the same whatever the order
 * of the records, full ties included.
 */
function findPendingChange (ctx: DecisionContext, at: number, current: Decision): PendingChange | null {
  const chain = ctx.catalog.chain(ctx.purpose)
  const codes = new Set(chain.map(p => p.code))
  const instants = new Set<number>()
  for (const r of ctx.records) {
    const from = r.effectiveFrom.getTime()
    if (from > at && codes.has(r.purpose) && inForce(ctx.records, r)) instants.add(from)
  }
  for (const when of [...instants].sort((a, b) => a - b)) {
    const later = evaluate(ctx, when)
    if (later.decision === current) continue
    const taking = chain
      .map(level => effectiveRecord(ctx.records, level.code, when))
      .filter((r): r is PreferenceRecord => r !== null && r.effectiveFrom.getTime() === when)
    const deciding = taking.find(r => r === later.record) ?? taking[0]
    return { ...summarisePreference(deciding), outcome: later.decision }
  }
  return null
}
