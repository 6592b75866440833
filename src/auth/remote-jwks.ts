// Public keys published by a client at its JWKS URL (SPEC §4). Anyone who knows a client id can make
// the service fetch that client's URL (by sending an assertion naming it), so every fetch is bounded:
// - one deadline (3 s) for the whole answer, headers and body, and a 64 KiB cap read as the body
//   streams in (a Content-Length over it is refused before any body is read), so a hostile host
//   serving an endless or trickling body costs at most 64 KiB and 3 s;
// - every failure is a RemoteJwksError (the token endpoint answers invalid_client) and is remembered
//   for 30 s (negative cache), so strangers' assertions cannot make one outbound fetch each;
// - a key set is kept as long as the answer's Cache-Control allows (http-cache-semantics; 5 min when
//   it says nothing, at most a day, and at least 10 s even for no-store, for the same reason);
// - one fetch in flight per URL; an assertion naming a kid the cached set lacks (the client rotated
//   its key) fetches again early, at most once per 30 s cooldown.
import CachePolicy from 'http-cache-semantics'
import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose'

export const MAX_JWKS_BYTES = 65_536
const DEFAULT_TTL_MS = 300_000
const MAX_TTL_MS = 86_400_000

export interface RemoteJwksOptions {
  /** The deadline for one fetch, from the request to the last byte of the body. */
  timeoutMs?: number
  /** The least time between two fetches of one URL made because an assertion named an unknown kid. */
  refetchCooldownMs?: number
  /** How long a failed fetch is answered from memory before the URL is tried again. */
  failureTtlMs?: number
  /** The least time a fetched key set is used, whatever its Cache-Control says (no-store included). */
  minTtlMs?: number
  /** The clock (tests move it instead of waiting). */
  now?: () => number
}

interface Entry {
  keys: JSONWebKeySet
  keySet: JWTVerifyGetKey
  expiresAt: number
  /** The last fetch of this URL, successful or not: the kid-miss cooldown runs from it. */
  attemptedAt: number
}

interface Failure {
  message: string
  until: number
}

export class RemoteJwksError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'RemoteJwksError'
  }
}

export class RemoteJwks {
  private readonly cache = new Map<string, Entry>()
  private readonly failed = new Map<string, Failure>()
  private readonly inFlight = new Map<string, Promise<Entry>>()
  private readonly timeoutMs: number
  private readonly refetchCooldownMs: number
  private readonly failureTtlMs: number
  private readonly minTtlMs: number
  private readonly now: () => number
  /** Outbound fetches started (each a request to a client's host). */
  fetches = 0
  /** Fetches that failed (timeout, refused, HTTP error, oversize, not a JWKS). */
  failures = 0

  constructor (options: RemoteJwksOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 3000
    this.refetchCooldownMs = options.refetchCooldownMs ?? 30_000
    this.failureTtlMs = options.failureTtlMs ?? 30_000
    this.minTtlMs = options.minTtlMs ?? 10_000
    this.now = options.now ?? Date.now
  }

  /** The key set for url: cached while fresh; refreshed early (after the cooldown) when `kid` is not in it. */
  async keySet (url: string, kid?: string): Promise<JWTVerifyGetKey> {
    const now = this.now()
    const cached = this.cache.get(url)
    if (cached !== undefined && cached.expiresAt > now) {
      const missingKid = kid !== undefined && !cached.keys.keys.some(k => k.kid === kid)
      if (!missingKid || now - cached.attemptedAt < this.refetchCooldownMs) return cached.keySet
      // A failed early refetch leaves the fresh set in use: the assertion then fails on its kid alone.
      return await this.fetchShared(url).then(
        e => e.keySet,
        () => cached.keySet
      )
    }
    const failure = this.failed.get(url)
    if (failure !== undefined && failure.until > now) throw new RemoteJwksError(failure.message)
    return (await this.fetchShared(url)).keySet
  }

  private async fetchShared (url: string): Promise<Entry> {
    let pending = this.inFlight.get(url)
    if (pending === undefined) {
      pending = this.fetchAndRemember(url).finally(() => this.inFlight.delete(url))
      this.inFlight.set(url, pending)
    }
    return await pending
  }

  private async fetchAndRemember (url: string): Promise<Entry> {
    this.fetches++
    const started = this.now()
    const cached = this.cache.get(url)
    if (cached !== undefined) cached.attemptedAt = started
    try {
      const { keys, headers, status } = await this.download(url)
      const entry: Entry = {
        keys,
        keySet: createLocalJWKSet(keys),
        expiresAt: started + this.ttl(url, status, headers),
        attemptedAt: started
      }
      this.cache.set(url, entry)
      this.failed.delete(url)
      return entry
    } catch (err) {
      this.failures++
      const message =
        err instanceof RemoteJwksError ? err.message : "the client's JWKS URL did not return a usable JSON Web Key Set"
      const seconds = Math.ceil(this.failureTtlMs / 1000)
      const remembered = `${message} (the URL is not fetched again for ${seconds} s)`
      this.failed.set(url, { message: remembered, until: this.now() + this.failureTtlMs })
      throw new RemoteJwksError(remembered)
    }
  }

  /** How long a fetched set may be used: as Cache-Control says, within [minTtlMs, a day]. */
  private ttl (url: string, status: number, headers: Headers): number {
    const policy = new CachePolicy(
      { url, method: 'GET', headers: {} },
      { status, headers: Object.fromEntries(headers) },
      { shared: true }
    )
    const explicit = headers.has('cache-control') || headers.has('expires')
    const said = !policy.storable() ? 0 : explicit ? policy.timeToLive() : DEFAULT_TTL_MS
    return Math.min(Math.max(said, this.minTtlMs), MAX_TTL_MS)
  }

  /** One GET under one deadline, the body read up to the cap; throws RemoteJwksError for every failure. */
  private async download (url: string): Promise<{ keys: JSONWebKeySet; headers: Headers; status: number }> {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new RemoteJwksError("the client's JWKS URL is not a URL")
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new RemoteJwksError("the client's JWKS URL is not an http(s) URL")
    }
    if (parsed.username !== '' || parsed.password !== '') {
      throw new RemoteJwksError("the client's JWKS URL holds credentials, which are never sent")
    }
    const controller = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      controller.abort()
    }, this.timeoutMs)
    try {
      const res = await fetch(parsed, {
        signal: controller.signal,
        headers: { accept: 'application/json, application/jwk-set+json' },
        redirect: 'error'
      })
      if (!res.ok) throw new RemoteJwksError(`the client's JWKS URL answered HTTP ${res.status}`)
      const declared = Number(res.headers.get('content-length') ?? NaN)
      if (declared > MAX_JWKS_BYTES) {
        throw new RemoteJwksError(`the client's JWKS is larger than ${MAX_JWKS_BYTES / 1024} KiB (Content-Length)`)
      }
      const text = await readCapped(res)
      return { keys: publicKeySet(text), headers: res.headers, status: res.status }
    } catch (err) {
      if (err instanceof RemoteJwksError) throw err
      throw new RemoteJwksError(
        timedOut
          ? `the client's JWKS URL did not answer within ${this.timeoutMs} ms`
          : "the client's JWKS URL could not be fetched"
      )
    } finally {
      clearTimeout(timer)
      // Closes the connection when the body was not read to its end (too large, an HTTP error).
      controller.abort()
    }
  }
}

/** The body as text, read chunk by chunk and given up (the caller aborts the connection) past the cap. */
async function readCapped (res: Response): Promise<string> {
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > MAX_JWKS_BYTES) {
      throw new RemoteJwksError(`the client's JWKS is larger than ${MAX_JWKS_BYTES / 1024} KiB`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The public keys of a JWKS body: members of JWK types only (strings, booleans, arrays of strings). */
function publicKeySet (text: string): JSONWebKeySet {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new RemoteJwksError("the client's JWKS URL did not return JSON")
  }
  const keys = (body as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys)) {
    throw new RemoteJwksError("the client's JWKS URL did not return a JSON Web Key Set (no keys array)")
  }
  const usable: JWK[] = []
  for (const key of keys) {
    if (typeof key !== 'object' || key === null || Array.isArray(key)) continue
    const k = key as Record<string, unknown>
    // Only public keys are ever used, whatever the URL serves.
    if (typeof k.kid !== 'string' || k.d !== undefined || k.k !== undefined) continue
    const flat = Object.entries(k).filter(
      ([, v]) =>
        typeof v === 'string' || typeof v === 'boolean' || (Array.isArray(v) && v.every(i => typeof i === 'string'))
    )
    usable.push(Object.fromEntries(flat) as JWK)
  }
  return { keys: usable }
}
