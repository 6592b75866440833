// The purpose catalogue's writes (administrators). Each commits with its audit event and a
// change-sequence row, so every instance reloads its catalogue within one poll.
import type { Purpose, PurposePatch } from '../domain/purposes.ts'
import { appendChange, type AuditWriter } from './audit-writer.ts'
import type { Database } from './database.ts'
import { toPurpose } from './rows.ts'
import { changedBy, type Actor } from './clients.ts'

/** Whether a purpose with this code was ever stored: codes are never reused, even once deactivated. */
export async function purposeExists (db: Database, code: string): Promise<boolean> {
  return (await db.prisma.purpose.findUnique({ where: { code }, select: { code: true } })) !== null
}

export async function createPurpose (
  db: Database,
  audit: AuditWriter,
  purpose: Purpose,
  actor: Actor
): Promise<Purpose> {
  const now = new Date()
  const { result } = await audit.commit(
    async tx => {
      const row = await tx.purpose.create({ data: { ...purpose, createdAt: now, updatedAt: now } })
      await appendChange(tx, db, 'purpose', purpose.code)
      return toPurpose(row)
    },
    p => ({
      type: 'purpose.created',
      ...changedBy(actor),
      purpose: p.code,
      outcome: 'created',
      details: { ...p }
    })
  )
  return result
}

/** Applies a patch already checked against `before` (checkPurposeUpdate). */
export async function updatePurpose (
  db: Database,
  audit: AuditWriter,
  before: Purpose,
  patch: PurposePatch,
  actor: Actor
): Promise<Purpose> {
  const { result } = await audit.commit(
    async tx => {
      const row = await tx.purpose.update({
        where: { code: before.code },
        data: { ...patch, updatedAt: new Date() }
      })
      await appendChange(tx, db, 'purpose', before.code)
      return toPurpose(row)
    },
    p => ({
      type: 'purpose.updated',
      ...changedBy(actor),
      purpose: p.code,
      outcome: 'updated',
      details: { changed: patch, before }
    })
  )
  return result
}
