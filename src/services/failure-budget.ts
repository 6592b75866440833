// Failed authentications (bad, expired or revoked bearer tokens, and failed token requests) share
// one budget per IP (SPEC §7). A failed token request also spends from a budget per claimed client
// *and* IP: a client is slowed where it fails, while a stranger's failures in its name elsewhere
// cannot touch it. A budget is consulted only once a request has failed: valid credentials are
// never refused because of failures, so a shared address (a NAT, or a proxy when TRUST_PROXY does
// not name it) cannot be used to lock valid callers out. What the budget bounds is how many failures
// an address is answered in detail and audited; beyond it they are answered 429. Credentials are
// signatures, so the budget was never what stops them being guessed. Counted through SharedCounters,
// so the budget is the fleet's, not one instance's.
import type { SharedCounters } from '../store/shared-counters.ts'

const WINDOW_MS = 60_000
/** Claimed client ids are unverified input: only this much of one keys a counter. */
export const CLAIMED_ID_LENGTH = 64

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

  /**
   * Counts a failure of `source`, or, when one of its budgets is already spent, returns the seconds
   * until it may fail again (the failure is then answered 429 and not counted: the window is full).
   * Reading and counting happen with no await between them, so concurrent failures cannot all slip
   * under the limit at one instance.
   */
  fail (source: FailureSource): number | null {
    const budgets = this.budgets(source)
    for (const [key, limit] of budgets) {
      const seen = this.counters.read(key, WINDOW_MS)
      if (seen.current >= limit) return Math.max(1, Math.ceil(seen.ttlMs / 1000))
    }
    for (const [key] of budgets) this.counters.incr(key, WINDOW_MS)
    return null
  }

  private budgets (source: FailureSource): Array<[key: string, limit: number]> {
    const perIp: [string, number] = [`authfail:ip:${source.ip}`, this.perIp]
    if (source.claimedClient === undefined) return [perIp]
    const claimed = source.claimedClient.slice(0, CLAIMED_ID_LENGTH)
    return [perIp, [`tokenfail:client:${claimed}:${source.ip}`, this.perClientAndIp]]
  }
}
