// Request counters shared by every instance (rate limits across a fleet, SPEC §7). A database
// round trip per request would cost more than a decision, so each instance counts locally and adds
// its counts to the `rate_limits` table every FLUSH_MS, reading back the fleet-wide totals. A
// client spread over N instances can exceed its limit by at most what N instances see in FLUSH_MS.
// If the store is unreachable the local counts still apply.
import type { Database } from './database.ts'

const FLUSH_MS = 200

interface Counter {
  windowStart: number
  windowMs: number
  shared: number
  unflushed: number
}

export interface Count {
  current: number
  ttlMs: number
}

export class SharedCounters {
  private readonly counters = new Map<string, Counter>()
  private readonly timer: NodeJS.Timeout
  private flushing: Promise<void> | null = null
  private nextFlush: Promise<void> | null = null
  private lastSweep = 0

  constructor (private readonly db: Database) {
    this.timer = setInterval(() => {
      // A tick while a flush is under way is skipped: the next tick takes its counts.
      if (this.flushing === null) this.startFlush().catch(() => {})
    }, FLUSH_MS)
    this.timer.unref()
  }

  /** Adds one to key's count in the current fixed window and returns the fleet-wide estimate. */
  incr (key: string, windowMs: number): Count {
    const c = this.counter(key, windowMs)
    c.unflushed++
    return { current: c.shared + c.unflushed, ttlMs: c.windowStart + windowMs - Date.now() }
  }

  read (key: string, windowMs: number): Count {
    const c = this.counter(key, windowMs)
    return { current: c.shared + c.unflushed, ttlMs: c.windowStart + windowMs - Date.now() }
  }

  private counter (key: string, windowMs: number): Counter {
    const windowStart = Math.floor(Date.now() / windowMs) * windowMs
    let c = this.counters.get(key)
    if (c === undefined || c.windowStart !== windowStart) {
      c = { windowStart, windowMs, shared: 0, unflushed: 0 }
      this.counters.set(key, c)
    }
    return c
  }

  /**
   * Adds every count made so far to the shared table and reads back the totals (also used by tests).
   * A flush already under way may have taken its counts before the caller's last ones, so the
   * caller then waits for the next, which starts when that one ends (shared by all who wait).
   */
  flush (): Promise<void> {
    if (this.flushing === null) return this.startFlush()
    this.nextFlush ??= this.flushing.then(async () => {
      this.nextFlush = null
      await this.startFlush()
    })
    return this.nextFlush
  }

  private startFlush (): Promise<void> {
    this.flushing = this.flushOnce()
      .catch(() => {})
      .finally(() => {
        this.flushing = null
      })
    return this.flushing
  }

  async close (): Promise<void> {
    clearInterval(this.timer)
    await this.flush()
  }

  private async flushOnce (): Promise<void> {
    const now = Date.now()
    const pending = [...this.counters.entries()].filter(([, c]) => c.unflushed > 0)
    for (const [key, c] of this.counters) if (c.windowStart + c.windowMs <= now) this.counters.delete(key)
    if (pending.length === 0) return
    const p = this.db.param
    const values: unknown[] = []
    const rows = pending.map(([key, c], i) => {
      values.push(key, BigInt(c.windowStart), c.unflushed)
      return `(${p(3 * i + 1)}, ${p(3 * i + 2)}, ${p(3 * i + 3)})`
    })
    const sent = pending.map(([, c]) => c.unflushed)
    const totals = await this.db.prisma.$queryRawUnsafe<
      Array<{ key: string; windowStart: bigint | number; count: number }>
    >(
      `INSERT INTO "rate_limits" ("key", "windowStart", "count") VALUES ${rows.join(', ')} ` +
        'ON CONFLICT ("key", "windowStart") DO UPDATE SET "count" = "rate_limits"."count" + excluded."count" ' +
        'RETURNING "key", "windowStart", "count"',
      ...values
    )
    pending.forEach(([, c], i) => {
      c.unflushed -= sent[i]
    })
    for (const t of totals) {
      const c = this.counters.get(t.key)
      if (c !== undefined && c.windowStart === Number(t.windowStart)) c.shared = Number(t.count)
    }
    if (now - this.lastSweep > 60_000) {
      this.lastSweep = now
      await this.db.prisma.rateLimit.deleteMany({ where: { windowStart: { lt: BigInt(now - 3_600_000) } } })
    }
  }
}
