// Failed authentications (bad, expired or revoked bearer tokens, and failed token requests) share
// one budget per IP, so tokens and keys cannot be guessed or replayed at speed (SPEC §7). A failed
// token request also spends from a budget per claimed client *and* IP: a client is slowed where it
// fails, while a stranger's failures in its name elsewhere cannot lock a clinical system out.
// Counted through SharedCounters, so the budget is the fleet's, not one instance's.
import type { SharedCounters } from '../store/shared-counters.ts'

const WINDOW_MS = 60_000
/** Claimed client ids are unverified input: only this much of one keys a counter. */
const CLAIMED_ID_LENGTH = 64

/** Where a failure came from: the caller's address and, for a token request, the client it claimed to be. */
export interface FailureSource {
  ip: string
  claimedClient?: string
}

export class FailureBudget {
  private readonly perIp: number

  /** `perClientAndIp` failures a minute for one claimed client from one address; five times that per address. */
  constructor (
    private readonly counters: SharedCounters,
    private readonly perClientAndIp: number
  ) {
    this.perIp = perClientAndIp * 5
  }

  /** Seconds until `source` may try again, or null while it has failures to spare. */
  exhaustedFor (source: FailureSource): number | null {
    for (const [key, limit] of this.budgets(source)) {
      const seen = this.counters.read(key, WINDOW_MS)
      if (seen.current >= limit) return Math.max(1, Math.ceil(seen.ttlMs / 1000))
    }
    return null
  }

  spend (source: FailureSource): void {
    for (const [key] of this.budgets(source)) this.counters.incr(key, WINDOW_MS)
  }

  private budgets (source: FailureSource): Array<[key: string, limit: number]> {
    const perIp: [string, number] = [`authfail:ip:${source.ip}`, this.perIp]
    if (source.claimedClient === undefined) return [perIp]
    const claimed = source.claimedClient.slice(0, CLAIMED_ID_LENGTH)
    return [perIp, [`tokenfail:client:${claimed}:${source.ip}`, this.perClientAndIp]]
  }
}
