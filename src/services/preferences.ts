// Patients' choices (SPEC §2 "Preferences") as /v1 and FHIR Consent both use them: record one
// (purpose + decision, or a GP Read code), void a mistaken one (entered-in-error), and read a
// patient's history as a caller may see it. Every read is audited here, so no surface can skip it.
// Each write commits with its audit event, then reaches this instance's index at once
// (read-your-writes) and the others through the change feed.
import { checkPurposeRequest } from '../domain/decision.ts'
import { checkEndUserPresent, type EndUser } from '../domain/end-user.ts'
import { parseInstant } from '../domain/instant.ts'
import {
  GP_CODES,
  cancelledBy,
  currentChoices,
  mapGpCode,
  type ProxyRole,
  type RecordedBy,
  type Source
} from '../domain/preferences.ts'
import { conflict, forbidden, invalidField, invalidFields, notFound, type Problem } from '../domain/problems.ts'
import type { Decision } from '../domain/purposes.ts'
import { findPreference, markEnteredInError, patientHistory, recordPreference } from '../store/preferences.ts'
import { toIndexed, type StoredPreference } from '../store/rows.ts'
import type { Runtime } from '../runtime.ts'
import { askedBy, type Caller } from './types.ts'

export type { StoredPreference } from '../store/rows.ts'

export interface ChoiceInput {
  /** purpose + decision, or a GP system's Read v2 code (`code`) in their place (SPEC §2 Read codes). */
  purpose?: string
  decision?: Decision
  code?: string
  /** As the caller sent it (a date or a date-time), parsed here by parseInstant; default now. */
  effectiveFrom?: string
  source: Source
  recordedBy?: { odsCode?: string; name?: string; proxyRole?: ProxyRole }
  note?: string
  endUser?: EndUser
}

export interface VoidInput {
  reason: string
  endUser?: EndUser
}

/** A record as the history shows it: with the record that cancelled it while pending (rule 2), if any. */
export interface HistoryRecord extends StoredPreference {
  cancelledBy: string | null
}

export interface PatientChoices {
  /** The choice in force now for each purpose with one, in purpose-code order. */
  current: StoredPreference[]
  /** Every record the caller may see, newest first, voided and cancelled ones included. */
  history: HistoryRecord[]
}

/** Where a patient's choices were read, as the preference.read event says it. */
export type ReadView = 'history' | 'fhir-consent-search' | 'fhir-consent-read'

export class PreferenceService {
  constructor (private readonly runtime: Runtime) {}

  /**
   * The patient's history as this caller may see it, newest first. Least privilege: a client sees
   * the choices for the purposes it is registered for (and those below them).
   */
  private async visibleHistory (caller: Caller, nhsNumber: string): Promise<HistoryRecord[]> {
    const { catalog } = this.runtime.registry
    const records = (await patientHistory(this.runtime.db, nhsNumber)).filter(r =>
      catalog.isAllowed(caller.client.purposes, r.purpose)
    )
    // Cancellation looks only at records of the same purpose, so the caller's view decides it as the full one would.
    return records.map(r => ({ ...r, cancelledBy: cancelledBy(records, r)?.id ?? null }))
  }

  /**
   * Every read of a patient's choices is in their audit trail (SPEC §3 "Audit"), committed before
   * the answer leaves: if it cannot be, the caller gets a 503, never the choices.
   */
  private async auditRead (
    caller: Caller,
    nhsNumber: string,
    view: ReadView,
    shown: readonly StoredPreference[]
  ): Promise<void> {
    await this.runtime.audit.record({
      ...askedBy(caller),
      type: 'preference.read',
      nhsNumber,
      outcome: 'read',
      details: {
        view,
        records: shown.length,
        ...(view === 'fhir-consent-read' && shown.length === 1 ? { preferenceId: shown[0].id } : {})
      }
    })
  }

  /** The patient's history, audited as a read (`view` says where it is shown). */
  async history (caller: Caller, nhsNumber: string, view: ReadView): Promise<HistoryRecord[]> {
    const history = await this.visibleHistory(caller, nhsNumber)
    await this.auditRead(caller, nhsNumber, view, history)
    return history
  }

  /** The history and what is in force now (audited as a read). */
  async choices (caller: Caller, nhsNumber: string, at = Date.now()): Promise<PatientChoices> {
    const history = await this.history(caller, nhsNumber, 'history')
    return { current: currentChoices(history, at), history }
  }

  /**
   * One record and its patient's history as the caller may see it (its status depends on the
   * other choices for its purpose), audited as a read of that patient's choices; undefined when
   * there is none, or the caller may not see it.
   */
  async find (
    caller: Caller,
    id: string
  ): Promise<{ record: HistoryRecord; history: HistoryRecord[] } | undefined> {
    const found = await findPreference(this.runtime.db, id)
    if (found === undefined || !this.runtime.registry.catalog.isAllowed(caller.client.purposes, found.purpose)) {
      return undefined
    }
    const history = await this.visibleHistory(caller, found.nhsNumber)
    const record = history.find(r => r.id === id) ?? { ...found, cancelledBy: null }
    await this.auditRead(caller, found.nhsNumber, 'fhir-consent-read', [record])
    return { record, history }
  }

  /** Records a choice (append-only: a change of mind is a new record). */
  async record (caller: Caller, nhsNumber: string, input: ChoiceInput): Promise<StoredPreference> {
    const { db, audit, index, registry } = this.runtime
    const choice = choiceOf(input)
    if ('problem' in choice) throw choice.problem
    const problem =
      checkPurposeRequest(registry.catalog, caller.client.purposes, choice.purpose, choice.path) ??
      checkEndUserPresent(input.endUser, { pointOfCare: false, requireEndUser: caller.client.requireEndUser })
    if (problem !== null) throw problem
    let effectiveFrom = new Date()
    if (input.effectiveFrom !== undefined) {
      const parsed = parseInstant(input.effectiveFrom)
      if (!parsed.ok) throw invalidField('/effectiveFrom', parsed.error)
      effectiveFrom = parsed.value
    }
    const recordedBy: RecordedBy = { ...input.recordedBy, clientId: caller.client.id }
    if (recordedBy.odsCode === undefined && caller.client.odsCode !== null) recordedBy.odsCode = caller.client.odsCode
    if (input.endUser !== undefined) recordedBy.endUser = input.endUser
    const stored = await recordPreference(
      db,
      audit,
      {
        nhsNumber,
        purpose: choice.purpose,
        decision: choice.decision,
        effectiveFrom,
        source: input.source,
        recordedBy,
        note: input.note ?? null,
        sourceCode: choice.sourceCode
      },
      askedBy(caller, input.endUser)
    )
    index.apply(toIndexed(stored))
    return stored
  }

  /**
   * Marks a record entered-in-error: it stays in the history and no longer takes part in
   * decisions. Only for a caller that may record choices for the record's purpose.
   */
  async markEnteredInError (
    caller: Caller,
    nhsNumber: string,
    id: string,
    input: VoidInput
  ): Promise<StoredPreference> {
    const { db, audit, index, registry } = this.runtime
    const problem = checkEndUserPresent(input.endUser, {
      pointOfCare: false,
      requireEndUser: caller.client.requireEndUser
    })
    if (problem !== null) throw problem
    const result = await markEnteredInError(
      db,
      audit,
      nhsNumber,
      id,
      input.reason.trim(),
      askedBy(caller, input.endUser),
      purpose => registry.catalog.isAllowed(caller.client.purposes, purpose)
    )
    switch (result.kind) {
      case 'not-found':
        throw notFound('no preference with this id for this patient')
      case 'not-allowed':
        throw forbidden(
          `this client is not registered for purpose '${result.record.purpose}', so it cannot change that choice`
        )
      case 'already-voided':
        throw conflict('this preference is already marked entered-in-error')
    }
    index.apply(toIndexed(result.record))
    return result.record
  }
}

/**
 * The purpose and decision a request records: as sent, or mapped from its Read v2 code (kept as
 * sourceCode, so implied and express SCR consent stay distinguishable). `path` is where a purpose
 * problem points: at the code when the purpose came from one.
 */
function choiceOf (
  input: ChoiceInput
):
  | { purpose: string; decision: Decision; sourceCode: string | null; path: string }
  | { problem: Problem } {
  if (input.code !== undefined) {
    if (input.purpose !== undefined || input.decision !== undefined) {
      return { problem: invalidField('/code', 'send either code or purpose + decision, not both') }
    }
    const mapped = mapGpCode(input.code)
    if (mapped === undefined) {
      return {
        problem: invalidField(
          '/code',
          `unknown GP code '${input.code.slice(0, 20)}'; known codes: ${Object.keys(GP_CODES).join(', ')}`
        )
      }
    }
    return { purpose: mapped.purpose, decision: mapped.decision, sourceCode: input.code, path: '/code' }
  }
  if (input.purpose === undefined || input.decision === undefined) {
    return {
      problem: invalidFields(
        (['purpose', 'decision'] as const)
          .filter(field => input[field] === undefined)
          .map(field => ({ path: `/${field}`, message: `${field} is required (or a GP Read code in code)` }))
      )
    }
  }
  return { purpose: input.purpose, decision: input.decision, sourceCode: null, path: '/purpose' }
}
