// Tails the change sequence so that every instance sees what any other instance, or the CLI,
// committed: preferences into the PreferenceIndex, clients and purposes into the registry.
// Bounded staleness: one poll interval. If polling keeps failing, `fresh` turns false and the
// decisions and the bulk filter (DecisionService, FilterService) answer 503 rather than decide
// on a stale view (fail closed).
import type { Database } from './database.ts'
import type { PreferenceIndex } from './preference-index.ts'
import type { Registry } from './registry.ts'
import { loadPreferences } from './preference-loader.ts'
import { toIndexed, toPreference } from './rows.ts'

// A sequence number below the highest seen may still commit (PostgreSQL hands out sequence
// values before commit). Such a gap is re-read until it fills or this long has passed (a
// rolled-back transaction leaves a gap for ever).
const GAP_PATIENCE_MS = 10_000
// An import's change rows name up to 1 000 choices each: a page stays within a few tens of MB.
const PAGE = 500

export class ChangeFeed {
  private cursor = 0n
  private readonly seenAbove = new Set<bigint>()
  private gapSince: number | null = null
  private timer: NodeJS.Timeout | null = null
  private lastSuccess = Date.now()
  private running: Promise<void> | null = null
  private readonly listeners = new Set<() => void>()

  constructor (
    private readonly db: Database,
    private readonly index: PreferenceIndex,
    private readonly registry: Registry,
    private readonly pollMs: number,
    private readonly staleAfterMs: number,
    private readonly onError: (err: unknown) => void = () => {}
  ) {}

  /** Loads everything, then starts tailing from the sequence value read before the load. */
  async start (): Promise<void> {
    const head = await this.db.prisma.change.findFirst({ orderBy: { seq: 'desc' }, select: { seq: true } })
    this.cursor = head?.seq ?? 0n
    await this.registry.load()
    await loadPreferences(this.db, this.index)
    this.lastSuccess = Date.now()
    this.timer = setInterval(() => {
      // poll() reports its own failures through onError and never rejects.
      this.poll().catch(() => {})
    }, this.pollMs)
    this.timer.unref()
  }

  /**
   * How far this instance has applied the change sequence: every change at or below it is in the
   * index (a PostgreSQL gap below it has filled, or was given up on). GET /v1/changes answers
   * nothing above it, so that an item's decision never comes from a view that lacks its change.
   */
  get position (): bigint {
    return this.cursor
  }

  /** Calls `listener` after each poll that moved position on (long polls wait on it); returns the unsubscribe. */
  onAdvance (listener: () => void): () => void {
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  get fresh (): boolean {
    return Date.now() - this.lastSuccess < this.staleAfterMs
  }

  async stop (): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    if (this.running !== null) await this.running
  }

  /** One poll now (also used by tests and after a write to skip the wait). */
  poll (): Promise<void> {
    if (this.running === null) {
      const before = this.cursor
      this.running = this.pollOnce()
        .then(
          () => {
            this.lastSuccess = Date.now()
            if (this.cursor !== before) this.notify()
          },
          err => {
            this.onError(err)
          }
        )
        .finally(() => {
          this.running = null
        })
    }
    return this.running
  }

  private async pollOnce (): Promise<void> {
    for (;;) {
      const changes = await this.db.prisma.change.findMany({
        where: { seq: { gt: this.cursor } },
        orderBy: { seq: 'asc' },
        take: PAGE
      })
      // Our own writes were applied when they committed.
      const fresh = changes.filter(c => !this.seenAbove.has(c.seq) && c.origin !== this.db.instanceId)
      // 'preferences' rows name a whole import batch (a JSON array of ids) in one change.
      const preferenceIds = [
        ...new Set(
          fresh.flatMap(c =>
            c.kind === 'preference' ? [c.ref] : c.kind === 'preferences' ? (JSON.parse(c.ref) as string[]) : []
          )
        )
      ]
      for (let i = 0; i < preferenceIds.length; i += 5000) {
        const rows = await this.db.prisma.preference.findMany({
          where: { id: { in: preferenceIds.slice(i, i + 5000) } }
        })
        for (const row of rows) this.index.apply(toIndexed(toPreference(row)))
      }
      for (const c of fresh) {
        if (c.kind === 'client') await this.registry.reloadClient(c.ref)
        else if (c.kind === 'purpose') await this.registry.reloadPurposes()
      }
      this.advance(changes.map(c => c.seq))
      if (changes.length < PAGE) return
    }
  }

  private notify (): void {
    for (const listener of [...this.listeners]) {
      try {
        listener()
      } catch (err) {
        this.onError(err)
      }
    }
  }

  private advance (seqs: bigint[]): void {
    for (const s of seqs) this.seenAbove.add(s)
    while (this.seenAbove.has(this.cursor + 1n)) {
      this.seenAbove.delete(this.cursor + 1n)
      this.cursor++
    }
    if (this.seenAbove.size === 0) {
      this.gapSince = null
      return
    }
    this.gapSince ??= Date.now()
    if (Date.now() - this.gapSince > GAP_PATIENCE_MS) {
      // Give up on the oldest gap: skip to the lowest seen value and keep going from there.
      const lowest = [...this.seenAbove].reduce((a, b) => (a < b ? a : b))
      this.cursor = lowest - 1n
      this.gapSince = null
      this.advance([])
    }
  }
}
