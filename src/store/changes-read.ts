// Read queries behind GET /v1/changes: the change sequence the instances' change feed tails
// (change-feed.ts), and the choices its rows name. Nothing here writes.
import type { Database } from './database.ts'

/** A change-sequence row as the change feed API reads it: the choice ids it names, in their order. */
export interface ChangeEntry {
  seq: bigint
  at: Date
  /** The choices this change recorded or voided: one, an import batch's (up to 1 000), or none. */
  preferenceIds: string[]
}

/** What a change needs of the choice it names: whose, and for which purpose. */
export interface ChangedChoice {
  id: string
  nhsNumber: string
  purpose: string
}

/** The rows after `after` up to and including `through`, oldest first, at most `take`. */
export async function changesBetween (
  db: Database,
  after: bigint,
  through: bigint,
  take: number
): Promise<ChangeEntry[]> {
  if (through <= after) return []
  const rows = await db.prisma.change.findMany({
    where: { seq: { gt: after, lte: through } },
    orderBy: { seq: 'asc' },
    take
  })
  return rows.map(r => ({ seq: r.seq, at: r.at, preferenceIds: preferenceIdsOf(r.kind, r.ref) }))
}

/** The highest sequence value written so far (0 on an empty store). */
export async function changeHead (db: Database): Promise<bigint> {
  const head = await db.prisma.change.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } })
  return head?.seq ?? 0n
}

/** The choices with these ids (voided ones included: a void is a change too), by id. */
export async function changedChoices (db: Database, ids: readonly string[]): Promise<Map<string, ChangedChoice>> {
  const out = new Map<string, ChangedChoice>()
  for (let i = 0; i < ids.length; i += 5000) {
    const rows = await db.prisma.preference.findMany({
      where: { id: { in: ids.slice(i, i + 5000) } },
      select: { id: true, nhsNumber: true, purpose: true }
    })
    for (const r of rows) out.set(r.id, r)
  }
  return out
}

function preferenceIdsOf (kind: string, ref: string): string[] {
  if (kind === 'preference') return [ref]
  if (kind !== 'preferences') return []
  // Written by driver-writer.ts as a JSON array of ids; anything else names no choice.
  try {
    const ids: unknown = JSON.parse(ref)
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : []
  } catch {
    return []
  }
}
