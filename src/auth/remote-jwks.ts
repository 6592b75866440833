// Public keys published by a client at its JWKS URL (SPEC §4). Fetched with a timeout and a size
// limit, cached for as long as the response's Cache-Control allows (http-cache-semantics; 5 min when
// it says nothing, at most a day), and fetched again early, at most every 30 s, when an assertion
// names a kid the cached set lacks (the client rotated its key).
import CachePolicy from 'http-cache-semantics'
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'

const MAX_BYTES = 65_536
const DEFAULT_TTL_MS = 300_000
const MAX_TTL_MS = 86_400_000
const REFETCH_COOLDOWN_MS = 30_000

interface Entry {
  keys: JSONWebKeySet
  keySet: JWTVerifyGetKey
  expiresAt: number
  fetchedAt: number
}

export class RemoteJwksError extends Error {}

export class RemoteJwks {
  private readonly cache = new Map<string, Entry>()
  private readonly inFlight = new Map<string, Promise<Entry>>()
  fetches = 0

  constructor (
    private readonly timeoutMs = 3000,
    private readonly refetchCooldownMs = REFETCH_COOLDOWN_MS
  ) {}

  /** The key set for url: cached while fresh; refreshed early when `kid` is not in it. */
  async keySet (url: string, kid?: string): Promise<JWTVerifyGetKey> {
    const now = Date.now()
    const cached = this.cache.get(url)
    const missingKid = cached !== undefined && kid !== undefined && !cached.keys.keys.some(k => k.kid === kid)
    if (
      cached !== undefined &&
      cached.expiresAt > now &&
      !(missingKid && now - cached.fetchedAt >= this.refetchCooldownMs)
    ) {
      return cached.keySet
    }
    let pending = this.inFlight.get(url)
    if (pending === undefined) {
      pending = this.fetch(url).finally(() => this.inFlight.delete(url))
      this.inFlight.set(url, pending)
    }
    return (await pending).keySet
  }

  private async fetch (url: string): Promise<Entry> {
    this.fetches++
    let res: Response
    try {
      res = await fetch(url, {
        signal: AbortSignal.timeout(this.timeoutMs),
        headers: { accept: 'application/json' },
        redirect: 'error'
      })
    } catch (err) {
      const timedOut = (err as Error).name === 'TimeoutError'
      throw new RemoteJwksError(
        timedOut
          ? `the client's JWKS URL did not answer within ${this.timeoutMs} ms`
          : "the client's JWKS URL could not be fetched"
      )
    }
    if (!res.ok) throw new RemoteJwksError(`the client's JWKS URL answered HTTP ${res.status}`)
    const text = await res.text()
    if (text.length > MAX_BYTES) throw new RemoteJwksError("the client's JWKS is larger than 64 KiB")
    let keys: JSONWebKeySet
    try {
      keys = JSON.parse(text) as JSONWebKeySet
      if (!Array.isArray(keys.keys)) throw new Error('no keys')
    } catch {
      throw new RemoteJwksError("the client's JWKS URL did not return a JSON Web Key Set")
    }
    // Only public keys are ever used, whatever the URL serves.
    keys = { keys: keys.keys.filter(k => k.d === undefined && typeof k.kid === 'string') }
    const policy = new CachePolicy(
      { url, method: 'GET', headers: {} },
      { status: res.status, headers: Object.fromEntries(res.headers) },
      { shared: true }
    )
    const explicit = res.headers.has('cache-control') || res.headers.has('expires')
    const ttl = !policy.storable() ? 0 : explicit ? Math.min(policy.timeToLive(), MAX_TTL_MS) : DEFAULT_TTL_MS
    const now = Date.now()
    const entry: Entry = { keys, keySet: createLocalJWKSet(keys), expiresAt: now + ttl, fetchedAt: now }
    this.cache.set(url, entry)
    return entry
  }
}
