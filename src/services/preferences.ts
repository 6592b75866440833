// Patients' choices (SPEC §2 "Preferences") as /v1 and FHIR Consent both use them: record one,
// void a mistaken one (entered-in-error), and read a patient's history as a caller may see it.
// Each write commits with its audit event, then reaches this instance's index at once
// (read-your-writes) and the others through the change feed.
import { checkPurposeRequest } from '../domain/decision.ts'
import { parseInstant } from '../domain/instant.ts'
import { currentChoices, type ProxyRole, type RecordedBy, type Source } from '../domain/preferences.ts'
import { conflict, forbidden, invalidField, notFound } from '../domain/problems.ts'
import type { Decision } from '../domain/purposes.ts'
import { findPreference, markEnteredInError, patientHistory, recordPreference } from '../store/preferences.ts'
import { toIndexed, type StoredPreference } from '../store/rows.ts'
import type { Runtime } from '../runtime.ts'
import type { Caller } from './types.ts'

export type { StoredPreference } from '../store/rows.ts'

export interface ChoiceInput {
  purpose: string
  decision: Decision
  /** As the caller sent it (a date or a date-time), parsed here by parseInstant; default now. */
  effectiveFrom?: string
  source: Source
  recordedBy?: { odsCode?: string; name?: string; proxyRole?: ProxyRole }
  note?: string
}

export interface PatientChoices {
  /** The choice in force now for each purpose with one, in purpose-code order. */
  current: StoredPreference[]
  /** Every record the caller may see, newest first, voided ones included. */
  history: StoredPreference[]
}

export class PreferenceService {
  constructor (private readonly runtime: Runtime) {}

  /**
   * The patient's history as this caller may see it, newest first. Least privilege: a client sees
   * the choices for the purposes it is registered for (and those below them).
   */
  async history (caller: Caller, nhsNumber: string): Promise<StoredPreference[]> {
    const { catalog } = this.runtime.registry
    const records = await patientHistory(this.runtime.db, nhsNumber)
    return records.filter(r => catalog.isAllowed(caller.client.purposes, r.purpose))
  }

  /** The history and what is in force now. */
  async choices (caller: Caller, nhsNumber: string, at = Date.now()): Promise<PatientChoices> {
    const history = await this.history(caller, nhsNumber)
    return { current: currentChoices(history, at), history }
  }

  /**
   * One record and its patient's history as the caller may see it (its status depends on the
   * other choices for its purpose); undefined when there is none, or the caller may not see it.
   */
  async find (
    caller: Caller,
    id: string
  ): Promise<{ record: StoredPreference; history: StoredPreference[] } | undefined> {
    const record = await findPreference(this.runtime.db, id)
    if (record === undefined || !this.runtime.registry.catalog.isAllowed(caller.client.purposes, record.purpose)) {
      return undefined
    }
    return { record, history: await this.history(caller, record.nhsNumber) }
  }

  /** Records a choice (append-only: a change of mind is a new record). */
  async record (
    caller: Caller,
    nhsNumber: string,
    input: ChoiceInput,
    requestId: string | null
  ): Promise<StoredPreference> {
    const { db, audit, index, registry } = this.runtime
    const problem = checkPurposeRequest(registry.catalog, caller.client.purposes, input.purpose)
    if (problem !== null) throw problem
    let effectiveFrom = new Date()
    if (input.effectiveFrom !== undefined) {
      const parsed = parseInstant(input.effectiveFrom)
      if (!parsed.ok) throw invalidField('/effectiveFrom', parsed.error)
      effectiveFrom = parsed.value
    }
    const recordedBy: RecordedBy = { ...input.recordedBy, clientId: caller.client.id }
    if (recordedBy.odsCode === undefined && caller.client.odsCode !== null) recordedBy.odsCode = caller.client.odsCode
    const stored = await recordPreference(
      db,
      audit,
      {
        nhsNumber,
        purpose: input.purpose,
        decision: input.decision,
        effectiveFrom,
        source: input.source,
        recordedBy,
        note: input.note ?? null
      },
      { clientId: caller.client.id, requestId }
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
    reason: string,
    requestId: string | null
  ): Promise<StoredPreference> {
    const { db, audit, index, registry } = this.runtime
    const result = await markEnteredInError(
      db,
      audit,
      nhsNumber,
      id,
      reason.trim(),
      { clientId: caller.client.id, requestId },
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
