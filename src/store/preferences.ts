// Recording choices, reading a patient's history and voiding mistakes. Append-only: the only
// change to a stored choice is status -> entered-in-error, which needs a reason and is audited
// (SPEC §2).
import { randomUUID } from 'node:crypto'
import type { Decision } from '../domain/purposes.ts'
import type { RecordedBy, Source } from '../domain/preferences.ts'
import { appendChange, type AuditInput, type AuditWriter } from './audit-writer.ts'
import type { Database } from './database.ts'
import { toPreference, type StoredPreference } from './rows.ts'

export interface NewPreference {
  nhsNumber: string
  purpose: string
  decision: Decision
  effectiveFrom: Date
  source: Source
  recordedBy: RecordedBy
  note: string | null
  /** The GP Read v2 code the choice was given as, if it was. */
  sourceCode: string | null
}

/** Who caused a write, as its audit event records it (askedBy in src/services/types.ts). */
export type Actor = Pick<AuditInput, 'clientId' | 'requestId' | 'correlationId' | 'endUser'> & { clientId: string }

/**
 * A patient's recorded choices, newest first (recordedAt, then id), including those entered in
 * error: the history every surface shows (/v1 and FHIR Consent alike).
 */
export async function patientHistory (db: Database, nhsNumber: string): Promise<StoredPreference[]> {
  const rows = await db.prisma.preference.findMany({
    where: { nhsNumber },
    orderBy: [{ recordedAt: 'desc' }, { id: 'desc' }]
  })
  return rows.map(toPreference)
}

export async function findPreference (db: Database, id: string): Promise<StoredPreference | undefined> {
  const row = await db.prisma.preference.findUnique({ where: { id } })
  return row === null ? undefined : toPreference(row)
}

export async function recordPreference (
  db: Database,
  audit: AuditWriter,
  input: NewPreference,
  actor: Actor
): Promise<StoredPreference> {
  const id = randomUUID()
  const { result } = await audit.commit(
    async tx => {
      const row = await tx.preference.create({
        data: {
          id,
          nhsNumber: input.nhsNumber,
          purpose: input.purpose,
          decision: input.decision,
          effectiveFrom: input.effectiveFrom,
          recordedAt: new Date(),
          source: input.source,
          recordedBy: JSON.stringify(input.recordedBy),
          clientId: actor.clientId,
          note: input.note,
          sourceCode: input.sourceCode,
          status: 'active'
        }
      })
      await appendChange(tx, db, 'preference', id)
      return toPreference(row)
    },
    p => ({
      ...actor,
      type: 'preference.recorded',
      nhsNumber: p.nhsNumber,
      purpose: p.purpose,
      outcome: p.decision,
      details: {
        preferenceId: p.id,
        effectiveFrom: p.effectiveFrom.toISOString(),
        source: p.source,
        recordedBy: p.recordedBy,
        ...(p.sourceCode !== null ? { sourceCode: p.sourceCode } : {})
      }
    })
  )
  return result
}

export type VoidResult =
  | { kind: 'voided'; record: StoredPreference }
  | { kind: 'not-found' }
  | { kind: 'already-voided'; record: StoredPreference }
  | { kind: 'not-allowed'; record: StoredPreference }

/**
 * Voids a record. `mayChange` says whether the caller may change choices for the record's purpose
 * (the same rule as recording one), so a client cannot void choices outside its purposes.
 */
export async function markEnteredInError (
  db: Database,
  audit: AuditWriter,
  nhsNumber: string,
  id: string,
  reason: string,
  actor: Actor,
  mayChange: (purpose: string) => boolean
): Promise<VoidResult> {
  const { result } = await audit.commit(
    async (tx): Promise<VoidResult> => {
      const row = await tx.preference.findUnique({ where: { id } })
      if (row === null || row.nhsNumber !== nhsNumber) return { kind: 'not-found' }
      if (!mayChange(row.purpose)) return { kind: 'not-allowed', record: toPreference(row) }
      if (row.status === 'entered-in-error') return { kind: 'already-voided', record: toPreference(row) }
      const updated = await tx.preference.update({
        where: { id },
        data: {
          status: 'entered-in-error',
          enteredInErrorReason: reason,
          enteredInErrorAt: new Date(),
          enteredInErrorBy: actor.clientId
        }
      })
      await appendChange(tx, db, 'preference', id)
      return { kind: 'voided', record: toPreference(updated) }
    },
    r => ({
      ...actor,
      type: 'preference.entered-in-error',
      nhsNumber,
      purpose: r.kind === 'not-found' ? null : r.record.purpose,
      outcome: r.kind,
      details: { preferenceId: id, reason }
    })
  )
  return result
}
