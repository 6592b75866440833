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

/**
 * Events matching the query, newest first. A patient's events are those that name them and the
 * import start events their choices name (preferences.auditId: an import is one event, not one a
 * line). Two index-ordered reads merged, rather than one OR, so that each keeps to its index
 * (audit_events(nhsNumber, seq); the unique id) and the page stays cheap on both stores.
 */
export async function listAuditEvents (db: Database, q: AuditQuery): Promise<StoredEvent[]> {
  const common = {
    ...(q.clientId !== undefined ? { clientId: q.clientId } : {}),
    ...(q.type !== undefined ? { type: q.type } : {}),
    ...(q.from !== undefined || q.to !== undefined
      ? { at: { ...(q.from !== undefined ? { gte: q.from } : {}), ...(q.to !== undefined ? { lte: q.to } : {}) } }
      : {}),
    ...(q.beforeSeq !== undefined ? { seq: { lt: q.beforeSeq } } : {})
  }
  const page = { orderBy: { seq: 'desc' as const }, take: q.limit }
  if (q.nhsNumber === undefined) return await db.prisma.auditEvent.findMany({ where: common, ...page })
  const imports = await importEventIds(db, q.nhsNumber)
  const [named, imported] = await Promise.all([
    db.prisma.auditEvent.findMany({ where: { ...common, nhsNumber: q.nhsNumber }, ...page }),
    imports.length === 0
      ? []
      : db.prisma.auditEvent.findMany({ where: { ...common, id: { in: imports } }, ...page })
  ])
  if (imported.length === 0) return named
  const seen = new Set(named.map(e => e.id))
  return [...named, ...imported.filter(e => !seen.has(e.id))]
    .sort((a, b) => (a.seq < b.seq ? 1 : a.seq > b.seq ? -1 : 0))
    .slice(0, q.limit)
}

/** The audit events that loaded a patient's choices (through the index on preferences.nhsNumber). */
async function importEventIds (db: Database, nhsNumber: string): Promise<string[]> {
  const rows = await db.prisma.preference.findMany({
    where: { nhsNumber, auditId: { not: null } },
    select: { auditId: true }
  })
  return [...new Set(rows.map(r => r.auditId as string))]
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

/**
 * An event and the later events of its chain that continue it (same type and request, and
 * `continues` says so), in chain order, up to the first that `ends` it or the chain's current head:
 * how a multi-event operation such as a bulk filter run (SPEC §5) is read back. One writer per
 * process means one chain, so the run's events are there; they are read in windows of chain
 * positions (the chain's own index) so that a long chain after the run is never scanned whole.
 * Null when there is no event with this id.
 */
export async function auditEventAndSequel (
  db: Database,
  id: string,
  continues: (e: StoredEvent) => boolean,
  ends: (e: StoredEvent) => boolean,
  window = 5000
): Promise<StoredEvent[] | null> {
  const first = await db.prisma.auditEvent.findUnique({ where: { id } })
  if (first === null) return null
  const head = await db.prisma.auditEvent.findFirst({
    where: { chain: first.chain },
    orderBy: { chainSeq: 'desc' },
    select: { chainSeq: true }
  })
  const last = head?.chainSeq ?? first.chainSeq
  const events: StoredEvent[] = [first]
  for (let from = first.chainSeq; from < last; from += window) {
    const page = await db.prisma.auditEvent.findMany({
      where: {
        chain: first.chain,
        chainSeq: { gt: from, lte: from + window },
        type: first.type,
        requestId: first.requestId
      },
      orderBy: { chainSeq: 'asc' }
    })
    for (const e of page) {
      if (!continues(e)) continue
      events.push(e)
      if (ends(e)) return events
    }
  }
  return events
}
