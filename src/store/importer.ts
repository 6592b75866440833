// Bulk load of existing choices (SPEC §3 import), idempotent by externalId: ON CONFLICT DO NOTHING
// tells which rows were new. Each batch commits with its change-sequence rows, so other instances
// pick the choices up like any other write. The rows go through the drivers (driver-writer.ts):
// Prisma's createMany costs ~80 µs a row (SPEC §6).
// Time-ordered ids (UUIDv7): new rows go to the end of the primary-key index instead of random
// pages, which keeps bulk inserts fast on both stores.
import { v7 as uuidv7 } from 'uuid'
import type { ImportChoice } from '../domain/import-line.ts'
import type { DriverWriter } from './driver-writer.ts'
import type { Database } from './database.ts'
import type { StoredPreference } from './rows.ts'

/**
 * Inserts a batch; returns the records that were new (others had an externalId already loaded).
 * Each row names the import's start event (`auditId`): how a patient's trail finds the import that
 * loaded their choice without one audit event a line (SPEC §3 "Audit").
 */
export async function insertImportBatch (
  db: Database,
  writer: DriverWriter,
  choices: ImportChoice[],
  clientId: string,
  auditId: string
): Promise<StoredPreference[]> {
  const now = new Date()
  const records: StoredPreference[] = choices.map(c => ({
    id: uuidv7(),
    nhsNumber: c.nhsNumber,
    purpose: c.purpose,
    decision: c.decision,
    effectiveFrom: c.effectiveFrom ?? now,
    recordedAt: now,
    source: c.source,
    status: 'active',
    recordedBy: { ...c.recordedBy, clientId },
    clientId,
    note: c.note,
    externalId: c.externalId,
    sourceCode: c.sourceCode,
    auditId,
    enteredInErrorReason: null,
    enteredInErrorAt: null,
    enteredInErrorBy: null
  }))
  const inserted = await writer.importPreferences(records, db.instanceId)
  return records.filter(r => inserted.has(r.id))
}
