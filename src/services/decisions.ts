// Deciding (SPEC §2 rules 1-7) as every surface asks for it: POST /v1/decisions and CDS Hooks (and
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
import type { Decision } from '../domain/purposes.ts'
import { invalidField, invalidFields, unavailable } from '../domain/problems.ts'
import { consultQuestion, type ConsultRequest } from '../fhir/cds-hooks.ts'
import type { Runtime } from '../runtime.ts'
import type { Caller, Observers } from './types.ts'
import { parseInstant } from '../domain/instant.ts'

export interface DecisionRequest {
  /** Already normalised by parseNhsNumber. */
  nhsNumber: string
  purpose: string
  pointOfCare?: PointOfCare
  /** As the caller sent it: a date or a date-time (parsed here, so every surface reads it alike). */
  asOf?: string
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
}

interface DecisionOptions {
  /** Where the purpose, point-of-care reason and asOf were in the caller's request, for 400s. */
  paths: { purpose: string; pointOfCareReason: string; asOf?: string }
  /** Added to the audit event's details (e.g. the CDS Hooks context); never replaces a decision field. */
  auditDetails?: Record<string, unknown>
}

const BODY_PATHS = { purpose: '/purpose', pointOfCareReason: '/pointOfCare/reason', asOf: '/asOf' }
// A consult's context carries no asOf: CDS Hooks asks about now.
const CONSULT_PATHS = { purpose: '/context/purposeOfUse', pointOfCareReason: '/context/pointOfCare/reason' }

export class DecisionService {
  constructor (
    private readonly runtime: Runtime,
    private readonly observers: Observers
  ) {}

  /** POST /v1/decisions: the question as asked, its fields named as in that body. */
  async decide (caller: Caller, request: DecisionRequest, requestId: string): Promise<DecisionAnswer> {
    return await this.decideWith(caller, request, requestId, { paths: BODY_PATHS })
  }

  /**
   * A CDS Hooks patient-consent-consult: the context turned into the same question (a 400 naming
   * each context field that cannot be), decided alike, with the consult's context in the audit.
   */
  async consult (caller: Caller, request: ConsultRequest, requestId: string): Promise<DecisionAnswer> {
    const asked = consultQuestion(this.runtime.registry.catalog, request)
    if (!asked.ok) throw invalidFields(asked.problems)
    return await this.decideWith(caller, asked.question, requestId, {
      paths: CONSULT_PATHS,
      auditDetails: {
        cdsHooks: {
          hookInstance: request.hookInstance,
          purposeOfUse: [request.context.purposeOfUse ?? []].flat(),
          actor: request.context.actor ?? []
        }
      }
    })
  }

  /**
   * One decision: rule 1's purpose checks, fail closed on a stale view (rule 6), decideConsent on
   * the in-memory index, the alert for an emergency access, and the audit event committed before
   * the answer is returned (rule 7).
   */
  private async decideWith (
    caller: Caller,
    request: DecisionRequest,
    requestId: string,
    options: DecisionOptions
  ): Promise<DecisionAnswer> {
    const { registry, index, audit, feed } = this.runtime
    const { paths } = options
    const { nhsNumber, purpose, pointOfCare } = request
    const catalog = registry.catalog
    const problem = checkPurposeRequest(catalog, caller.client.purposes, purpose, paths.purpose)
    if (problem !== null) throw problem
    const pointOfCareProblem = checkPointOfCare(pointOfCare, paths.pointOfCareReason)
    if (pointOfCareProblem !== null) throw pointOfCareProblem
    const asOf = request.asOf === undefined ? undefined : parseInstant(request.asOf)
    if (asOf !== undefined && !asOf.ok) throw invalidField(paths.asOf ?? BODY_PATHS.asOf, asOf.error)
    if (!feed.fresh) throw unavailable()
    const decidedAt = new Date()
    const outcome = decideConsent({
      catalog,
      purpose,
      records: index.recordsFor(nhsNumber),
      exemptions: caller.client.exemptions,
      pointOfCare,
      at: asOf?.value ?? decidedAt
    })
    const alertId = outcome.emergencyAccess ? randomUUID() : null
    const event = await audit.record(
      {
        type: 'decision',
        clientId: caller.client.id,
        requestId,
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
          asOf: request.asOf ?? null,
          alertId
        }
      },
      alertId === null
        ? undefined
        : { id: alertId, nhsNumber, purpose, clientId: caller.client.id, reason: pointOfCare?.reason ?? '' }
    )
    this.observers.decided(outcome.decision, outcome.basis)
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
      auditId: event.id
    }
  }
}
