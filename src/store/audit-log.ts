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
      ...(q.from !== undefined || q.to !== undefined
        ? { at: { ...(q.from !== undefined ? { gte: q.from } : {}), ...(q.to !== undefined ? { lte: q.to } : {}) } }
        : {}),
      ...(q.beforeSeq !== undefined ? { seq: { lt: q.beforeSeq } } : {})
    },
    orderBy: { seq: 'desc' },
    take: q.limit
  })
}

export interface VerifyReport {
  valid: boolean
  checkedEvents: number
  chains: number
  firstBrokenLink: BrokenLink | null
}

/** A chain's last event, recorded outside the database so that truncation can be detected. */
export interface ChainHead {
  chain: string
  chainSeq: number
  hash: string
}

/** The current head of every chain: store these somewhere the database's administrators cannot edit. */
export async function chainHeads (db: Database): Promise<ChainHead[]> {
  const chains = await db.prisma.auditEvent.groupBy({ by: ['chain'], _max: { chainSeq: true } })
  const heads: ChainHead[] = []
  for (const c of chains) {
    const e = await db.prisma.auditEvent.findFirst({ where: { chain: c.chain, chainSeq: c._max.chainSeq ?? 0 } })
    if (e !== null) heads.push({ chain: e.chain, chainSeq: e.chainSeq, hash: e.hash })
  }
  return heads
}

/**
 * Walks every chain in order; reports the first broken link found (chains in order of their first
 * event). With anchors (heads recorded earlier, outside the database), a chain that no longer
 * reaches its anchored head, or reaches it with another hash, was truncated or rewritten.
 */
export async function verifyAuditLog (db: Database, anchors: ChainHead[] = []): Promise<VerifyReport> {
  const chains = await db.prisma.auditEvent.groupBy({
    by: ['chain'],
    _min: { seq: true },
    orderBy: { _min: { seq: 'asc' } }
  })
  let checkedEvents = 0
  let firstBrokenLink: BrokenLink | null = null
  for (const { chain } of chains) {
    const { checked, broken } = await verifyChain(chain, pagedChain(db, chain))
    checkedEvents += checked
    if (broken !== null && firstBrokenLink === null) firstBrokenLink = broken
  }
  for (const anchor of anchors) {
    if (firstBrokenLink !== null) break
    const e = await db.prisma.auditEvent.findFirst({ where: { chain: anchor.chain, chainSeq: anchor.chainSeq } })
    if (e === null) {
      firstBrokenLink = {
        eventId: null,
        chain: anchor.chain,
        reason: `truncated: the anchored event ${anchor.chainSeq} of the chain is missing`
      }
    } else if (e.hash !== anchor.hash) {
      firstBrokenLink = {
        eventId: e.id,
        chain: anchor.chain,
        reason: 'the anchored event has a different hash (the chain was rewritten)'
      }
    }
  }
  return { valid: firstBrokenLink === null, checkedEvents, chains: chains.length, firstBrokenLink }
}

async function * pagedChain (db: Database, chain: string): AsyncGenerator<StoredEvent> {
  let after = -1
  for (;;) {
    const page = await db.prisma.auditEvent.findMany({
      where: { chain, chainSeq: { gt: after } },
      orderBy: { chainSeq: 'asc' },
      take: 5000
    })
    for (const e of page) yield e
    if (page.length < 5000) return
    after = page[page.length - 1].chainSeq
  }
}
