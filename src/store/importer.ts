// Bulk load of existing choices (SPEC §3 import). Rows go in multi-row INSERT statements (one
// statement for many rows is ~20x cheaper per row than Prisma's createMany, SPEC §6), idempotent by
// externalId: ON CONFLICT DO NOTHING RETURNING tells which rows were new. Each batch commits with
// its change-sequence rows, so other instances pick the choices up like any other write.
import { randomUUID } from 'node:crypto'
import type { ImportChoice } from '../domain/import-line.ts'
import { insertSql } from './audit-writer.ts'
import type { Database } from './database.ts'
import type { StoredPreference } from './rows.ts'

const COLUMNS = ['id', 'nhsNumber', 'purpose', 'decision', 'effectiveFrom', 'recordedAt', 'source', 'recordedBy', 'clientId', 'note', 'status', 'externalId']
const ROWS_PER_STATEMENT = 1000

/** Inserts a batch; returns the records that were new (others had an externalId already loaded). */
export async function insertImportBatch (db: Database, choices: ImportChoice[], clientId: string): Promise<StoredPreference[]> {
  const now = new Date()
  const records: StoredPreference[] = choices.map(c => ({
    id: randomUUID(),
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
    enteredInErrorReason: null,
    enteredInErrorAt: null,
    enteredInErrorBy: null
  }))
  const inserted: StoredPreference[] = []
  await db.prisma.$transaction(async tx => {
    for (let start = 0; start < records.length; start += ROWS_PER_STATEMENT) {
      const chunk = records.slice(start, start + ROWS_PER_STATEMENT)
      const values: unknown[] = []
      for (const r of chunk) {
        values.push(r.id, r.nhsNumber, r.purpose, r.decision, db.date(r.effectiveFrom), db.date(r.recordedAt), r.source, JSON.stringify(r.recordedBy), r.clientId, r.note, r.status, r.externalId)
      }
      const sql = `${insertSql(db, 'preferences', COLUMNS, chunk.length)} ON CONFLICT ("externalId") DO NOTHING RETURNING "id"`
      const rows = await tx.$queryRawUnsafe<Array<{ id: string }>>(sql, ...values)
      const ids = new Set(rows.map(r => r.id))
      const fresh = chunk.filter(r => ids.has(r.id))
      inserted.push(...fresh)
      if (fresh.length > 0) {
        const changeValues: unknown[] = []
        for (const r of fresh) changeValues.push('preference', r.id, db.date(now))
        await tx.$executeRawUnsafe(insertSql(db, 'changes', ['kind', 'ref', 'at'], fresh.length), ...changeValues)
      }
    }
  }, { timeout: 60_000, maxWait: 10_000 })
  return inserted
}
