// Deciding (SPEC §2 rules 1-8) as every surface asks for it: POST /v1/decisions and CDS Hooks (and
// later the staff console, SPEC §9). No database read: the decision is made from the in-memory index and
// registry; the only I/O is the audit row's group commit, awaited before the answer (rule 7).
import { randomUUID } from 'node:crypto'
import {
  checkPointOfCare,
  checkPurposeRequest,
  decideConsent,
  type Basis,
  type PendingChange,
  type PointOfCare
} from '../domain/decision.ts'
import type { Exemption } from '../domain/exemptions.ts'
import type { PreferenceSummary } from '../domain/preferences.ts'
import type { Decision, PurposeCatalog } from '../domain/purposes.ts'
import { checkEndUserPresent, type EndUser } from '../domain/end-user.ts'
import { forbidden, invalidField, invalidFields, unavailable, type Problem } from '../domain/problems.ts'
import { consultQuestion, identifiers, type CardContext, type ConsultRequest } from '../fhir/cds-hooks.ts'
import type { Runtime } from '../runtime.ts'
import { askedBy, type Caller, type Observers } from './types.ts'
import { parseInstant } from '../domain/instant.ts'

export interface DecisionRequest {
  /** Already normalised by parseNhsNumber. */
  nhsNumber: string
  purpose: string
  pointOfCare?: PointOfCare
  /** As the caller sent it: a date or a date-time (parsed here, so every surface reads it alike). */
  asOf?: string
  /** The person at the keyboard (SPEC §2 "Who asked"). */
  endUser?: EndUser
}

export interface DecisionAnswer {
  nhsNumber: string
  purpose: string
  decision: Decision
  basis: Basis
  reason: string
  preference: PreferenceSummary | null
  pendingChange: PendingChange | null
  exemption: Exemption | null
  alertId: string | null
  decidedAt: string
  auditId: string
  /** True when asOf was earlier than the decision time: what would have been decided then (rule 8). */
  replay: boolean
  /** The asOf the answer is for (ISO date-time), null for a decision about now. */
  asOf: string | null
}

interface RequestPaths {
  purpose: string
  pointOfCare: string
  pointOfCareReason: string
  asOf: string
}

/** Why a request must name its end user (checkEndUserPresent's reasons). */
interface EndUserRequired {
  pointOfCare: boolean
  requireEndUser: boolean
}

interface DecisionOptions {
  /** Where the purpose, point of care and asOf were in the caller's request, for 400s. */
  paths: RequestPaths
  /** The 400 for a request that must name its end user and did not, in the words of the caller's request. */
  missingEndUser: (endUser: EndUser | undefined, why: EndUserRequired) => Problem | null
  /** Added to the audit event's details (e.g. the CDS Hooks context); never replaces a decision field. */
  auditDetails?: Record<string, unknown>
}

const BODY_OPTIONS: DecisionOptions = {
  paths: { purpose: '/purpose', pointOfCare: '/pointOfCare', pointOfCareReason: '/pointOfCare/reason', asOf: '/asOf' },
  missingEndUser: (endUser, why) => checkEndUserPresent(endUser, why, '/endUser')
}

// A consult's context carries no asOf (the schema refuses one): CDS Hooks asks about now, so it can never replay.
const CONSULT_PATHS: RequestPaths = {
  purpose: '/context/purposeOfUse',
  pointOfCare: '/context/pointOfCare',
  pointOfCareReason: '/context/pointOfCare/reason',
  asOf: '/context/asOf'
}

/** A consult names its user in context.userId: the 400 says so, not "endUser". */
function missingConsultUser (endUser: EndUser | undefined, why: EndUserRequired): Problem | null {
  if (endUser !== undefined) return null
  const form = 'Practitioner/<SDS user ID> or the SDS user ID itself'
  if (why.pointOfCare) {
    return invalidField(
      '/context/userId',
      `context.userId is required with context.pointOfCare: name the person who asked the patient (${form})`
    )
  }
  if (why.requireEndUser) {
    return invalidField(
      '/context/userId',
      `context.userId is required: this client is registered to name the end user on every request (${form})`
    )
  }
  return null
}

export class DecisionService {
  constructor (
    private readonly runtime: Runtime,
    private readonly observers: Observers
  ) {}

  /** POST /v1/decisions: the question as asked, its fields named as in that body. */
  async decide (caller: Caller, request: DecisionRequest): Promise<DecisionAnswer> {
    return await this.decideWith(caller, request, BODY_OPTIONS)
  }

  /**
   * A CDS Hooks patient-consent-consult: the context turned into the same question (a 400 naming
   * each context field that cannot be), decided alike, with the consult's context in the audit
   * (and the EHR's iss when it authenticated with a CDS Hooks JWT). Returns the answer and what the
   * card must say about how the question was read.
   */
  async consult (
    caller: Caller,
    request: ConsultRequest,
    origin: { iss?: string } = {}
  ): Promise<{ answer: DecisionAnswer; card: CardContext }> {
    const asked = consultQuestion(this.runtime.registry.catalog, request, {
      treatPurpose: this.runtime.config.leapTreatPurpose
    })
    if (!asked.ok) throw invalidFields(asked.problems)
    const { notes, notEvaluated } = asked.question
    const answer = await this.decideWith(caller, asked.question, {
      paths: CONSULT_PATHS,
      missingEndUser: missingConsultUser,
      auditDetails: {
        cdsHooks: {
          hookInstance: request.hookInstance,
          purposeOfUse: identifiers(request.context.purposeOfUse),
          actor: identifiers(request.context.actor),
          userId: request.context.userId ?? null,
          ...(notes.length > 0 ? { notes } : {}),
          // Only which fields were not evaluated: content may hold clinical data and is never recorded.
          ...(Object.keys(notEvaluated).length > 0 ? { notEvaluated: Object.keys(notEvaluated) } : {}),
          ...(origin.iss !== undefined ? { iss: origin.iss } : {})
        }
      }
    })
    return { answer, card: { notes, notEvaluated } }
  }

  /**
   * One decision: rule 8's replay or live question and the scope each needs, rule 1's purpose
   * checks, the end user, fail closed on a stale view (rule 6), decideConsent on the in-memory
   * index, the alert for an emergency access, and the audit event committed before the answer is
   * returned (rule 7).
   */
  private async decideWith (
    caller: Caller,
    request: DecisionRequest,
    options: DecisionOptions
  ): Promise<DecisionAnswer> {
    const { registry, index, audit, feed } = this.runtime
    const { paths } = options
    const { nhsNumber, purpose, pointOfCare, endUser } = request
    const catalog = registry.catalog
    const asOf = request.asOf === undefined ? undefined : parseInstant(request.asOf)
    if (asOf !== undefined && !asOf.ok) throw invalidField(paths.asOf, asOf.error)
    const decidedAt = new Date()
    // Rule 8: a past asOf answers "what would have been decided then", never "may I now".
    const replay = asOf !== undefined && asOf.value.getTime() < decidedAt.getTime()
    const problem = replay
      ? replayProblem(catalog, caller, purpose, pointOfCare, paths)
      : liveProblem(catalog, caller, purpose, paths)
    if (problem !== null) throw problem
    const pointOfCareProblem = checkPointOfCare(pointOfCare, paths.pointOfCareReason)
    if (pointOfCareProblem !== null) throw pointOfCareProblem
    const endUserProblem = options.missingEndUser(endUser, {
      pointOfCare: pointOfCare !== undefined,
      requireEndUser: caller.client.requireEndUser
    })
    if (endUserProblem !== null) throw endUserProblem
    if (!feed.fresh) throw unavailable()
    const outcome = decideConsent({
      catalog,
      purpose,
      records: index.recordsFor(nhsNumber),
      exemptions: caller.client.exemptions,
      pointOfCare,
      at: asOf?.value ?? decidedAt
    })
    // A replay has no point of care, so it cannot be an emergency access; the guard keeps it that way.
    const alertId = outcome.emergencyAccess && !replay ? randomUUID() : null
    const event = await audit.record(
      {
        type: replay ? 'decision.replay' : 'decision',
        ...askedBy(caller, endUser),
        nhsNumber,
        purpose,
        outcome: outcome.decision,
        details: {
          ...options.auditDetails,
          basis: outcome.basis,
          reason: outcome.reason,
          preferenceId: outcome.preference?.id ?? null,
          exemption: outcome.exemption,
          pointOfCare: pointOfCare ?? null,
          asOf: asOf?.value.toISOString() ?? null,
          replay,
          alertId
        }
      },
      alertId === null
        ? undefined
        : {
            id: alertId,
            nhsNumber,
            purpose,
            clientId: caller.client.id,
            reason: pointOfCare?.reason ?? '',
            endUser: endUser ?? null
          }
    )
    // Replays release nothing: the decision metrics count what callers were told they may do.
    if (!replay) this.observers.decided(outcome.decision, outcome.basis)
    return {
      nhsNumber,
      purpose,
      decision: outcome.decision,
      basis: outcome.basis,
      reason: outcome.reason,
      preference: outcome.preference,
      pendingChange: outcome.pendingChange,
      exemption: outcome.exemption,
      alertId,
      decidedAt: decidedAt.toISOString(),
      auditId: event.id,
      replay,
      asOf: asOf?.value.toISOString() ?? null
    }
  }
}

/**
 * Rule 8's replay: audit:read whatever else the caller holds (an investigation, not a use of the
 * record), any purpose that exists (the audit already shows every purpose, so being registered
 * for one is not needed), and no point of care (what a clinician was told happens now).
 */
function replayProblem (
  catalog: PurposeCatalog,
  caller: Caller,
  purpose: string,
  pointOfCare: PointOfCare | undefined,
  paths: RequestPaths
): Problem | null {
  if (!caller.scopes.includes('audit:read')) {
    return forbidden(
      'asOf earlier than now is a replay of what would have been decided then, for an investigation: it needs ' +
        'the audit:read scope. asOf is never an authorisation; leave it out to ask about now.',
      paths.asOf
    )
  }
  if (catalog.get(purpose) === undefined) {
    return invalidField(paths.purpose, `unknown purpose '${purpose.slice(0, 100)}'`)
  }
  if (pointOfCare !== undefined) {
    return invalidField(
      paths.pointOfCare,
      'pointOfCare cannot be combined with asOf earlier than now: a replay answers what would have been decided ' +
        'then, and what happens at the point of care happens now'
    )
  }
  return null
}

/** A decision about now or a future asOf: consent:check, and rule 1's purpose checks. */
function liveProblem (catalog: PurposeCatalog, caller: Caller, purpose: string, paths: RequestPaths): Problem | null {
  if (!caller.scopes.includes('consent:check')) {
    return forbidden(
      'a decision about now (or a future asOf) needs the consent:check scope; audit:read allows only a replay ' +
        '(asOf earlier than now)'
    )
  }
  return checkPurposeRequest(catalog, caller.client.purposes, purpose, paths.purpose)
}
