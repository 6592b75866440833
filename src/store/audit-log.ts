// Reading the audit trail: filtered, newest-first pages, and verification of every chain.
import { verifyChain, type BrokenLink, type StoredEvent } from './audit-chain.ts'
import type { Database } from './database.ts'

export interface AuditQuery {
  nhsNumber?: string
  clientId?: string
  type?: string
  from?: Date
  to?: Date
  beforeSeq?: bigint
  limit: number
}

export async function listAuditEvents (db: Database, q: AuditQuery): Promise<StoredEvent[]> {
  return await db.prisma.auditEvent.findMany({
    where: {
      ...(q.nhsNumber !== undefined ? { nhsNumber: q.nhsNumber } : {}),
      ...(q.clientId !== undefined ? { clientId: q.clientId } : {}),
      ...(q.type !== undefined ? { type: q.type } : {}),
      ...(q.from !== undefined || q.to !== undefined ? { at: { ...(q.from !== undefined ? { gte: q.from } : {}), ...(q.to !== undefined ? { lte: q.to } : {}) } } : {}),
      ...(q.beforeSeq !== undefined ? { seq: { lt: q.beforeSeq } } : {})
    },
    orderBy: { seq: 'desc' },
    take: q.limit
  })
}

export interface VerifyReport { valid: boolean, checkedEvents: number, chains: number, firstBrokenLink: BrokenLink | null }

/** Walks every chain in order; reports the first broken link found (chains in order of their first event). */
export async function verifyAuditLog (db: Database): Promise<VerifyReport> {
  const chains = await db.prisma.auditEvent.groupBy({ by: ['chain'], _min: { seq: true }, orderBy: { _min: { seq: 'asc' } } })
  let checkedEvents = 0
  let firstBrokenLink: BrokenLink | null = null
  for (const { chain } of chains) {
    const { checked, broken } = await verifyChain(chain, pagedChain(db, chain))
    checkedEvents += checked
    if (broken !== null && firstBrokenLink === null) firstBrokenLink = broken
  }
  return { valid: firstBrokenLink === null, checkedEvents, chains: chains.length, firstBrokenLink }
}

async function * pagedChain (db: Database, chain: string): AsyncGenerator<StoredEvent> {
  let after = -1
  for (;;) {
    const page = await db.prisma.auditEvent.findMany({ where: { chain, chainSeq: { gt: after } }, orderBy: { chainSeq: 'asc' }, take: 5000 })
    for (const e of page) yield e
    if (page.length < 5000) return
    after = page[page.length - 1].chainSeq
  }
}
