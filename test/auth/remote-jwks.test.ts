// Clients registered with a JWKS URL (SPEC §4, §7): keys fetched under a deadline, cached as the
// response's Cache-Control says (at least 10 s, no-store included), failures remembered for 30 s,
// one fetch in flight per URL, fetched again (after a cooldown) when the client rotates to a kid the
// cache lacks. The bounds on a hostile JWKS host are in test/security/jwks-fetch-bounds.test.ts.
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { JWK } from 'jose'
import type { LightMyRequestResponse } from 'fastify'
import { RemoteJwks, RemoteJwksError } from '../../src/auth/remote-jwks.ts'
import {
  clientWithToken,
  newKeyPair,
  registerJwksUrlClient,
  requestTokenSignedBy,
  useTestApp,
  type Auth
} from '../helpers/app.ts'

/** A clock the tests move by hand: cache lifetimes and cooldowns without waiting. */
function manualClock (): { now: () => number; advance: (ms: number) => void } {
  let at = Date.parse('2026-12-01T10:00:00Z')
  return { now: () => at, advance: ms => (at += ms) }
}

describe('clients with a JWKS URL', () => {
  let server: Server
  let base: string
  let served: { keys: JWK[] } = { keys: [] }
  let cacheControl: string | null = 'max-age=60'
  let status = 200
  let delayMs = 0
  let hits = 0
  /** While set, answers wait until it resolves (to hold a fetch in flight). */
  let gate: Promise<void> | null = null
  const t = useTestApp()
  let admin: Auth

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++
      if (req.url === '/moved.json') {
        res.writeHead(302, { location: `${base}/cached.json` })
        res.end()
        return
      }
      if (req.url === '/huge.json') {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ keys: [{ kty: 'oct', kid: 'x', k: 'a'.repeat(70_000) }] }))
        return
      }
      const answer = (): void => {
        setTimeout(() => {
          res.statusCode = req.url?.includes('/always-500/') === true ? 500 : status
          res.setHeader('content-type', 'application/json')
          if (cacheControl !== null) res.setHeader('cache-control', cacheControl)
          res.end(JSON.stringify(served))
        }, delayMs)
      }
      if (gate === null) answer()
      else gate.then(answer, () => {})
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    admin = (await clientWithToken(t.app)).auth
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  beforeEach(() => {
    hits = 0
    cacheControl = 'max-age=60'
    status = 200
    delayMs = 0
    gate = null
  })

  /** A URL no other test has fetched (the service's cache is keyed by URL). */
  const fresh = (name: string): string => `/${randomUUID()}/${name}`

  const register = async (path: string): Promise<string> => await registerJwksUrlClient(t.app, admin, `${base}${path}`)

  const token = async (
    clientId: string,
    key: Awaited<ReturnType<typeof newKeyPair>>
  ): Promise<LightMyRequestResponse> => await requestTokenSignedBy(t.app, clientId, key)

  it('fetches the keys once and serves later assertions from the cache while Cache-Control allows', async () => {
    const key = await newKeyPair('ES256')
    served = { keys: [key.publicJwk] }
    const clientId = await register(fresh('cached.json'))
    expect((await token(clientId, key)).statusCode).toBe(200)
    expect((await token(clientId, key)).statusCode).toBe(200)
    expect(hits).toBe(1)
  })

  it('a no-store or max-age=0 key set is still used for 10 s: assertions do not make one fetch each', async () => {
    const key = await newKeyPair('ES256')
    served = { keys: [key.publicJwk] }
    for (const header of ['no-store', 'max-age=0']) {
      hits = 0
      cacheControl = header
      const clientId = await register(fresh('nostore.json'))
      for (let i = 0; i < 5; i++) expect((await token(clientId, key)).statusCode).toBe(200)
      expect(hits, header).toBe(1)
    }
  })

  it('keeps a key set as long as max-age says, a no-store one for the 10 s minimum, then fetches again', async () => {
    const key = await newKeyPair('ES256')
    served = { keys: [key.publicJwk] }
    const clock = manualClock()
    const remote = new RemoteJwks({ now: clock.now })
    const url = `${base}${fresh('ttl.json')}`
    await remote.keySet(url, key.kid)
    clock.advance(59_000)
    await remote.keySet(url, key.kid)
    expect(remote.fetches).toBe(1)
    clock.advance(2_000)
    await remote.keySet(url, key.kid)
    expect(remote.fetches).toBe(2)

    cacheControl = 'no-store'
    const noStore = `${base}${fresh('nostore.json')}`
    await remote.keySet(noStore, key.kid)
    clock.advance(9_000)
    await remote.keySet(noStore, key.kid)
    expect(remote.fetches).toBe(3)
    clock.advance(2_000)
    await remote.keySet(noStore, key.kid)
    expect(remote.fetches).toBe(4)
  })

  it('refuses an assertion signed by a key the client does not publish', async () => {
    const published = await newKeyPair('ES256')
    const stranger = await newKeyPair('ES256')
    served = { keys: [published.publicJwk] }
    const clientId = await register(fresh('strict.json'))
    const res = await token(clientId, stranger)
    expect(res.statusCode).toBe(401)
    expect(res.json()).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/kid/) })
  })

  it('RemoteJwks refetches early for an unknown kid (after a cooldown) and times out a slow server', async () => {
    const first = await newKeyPair('ES256')
    const rotated = await newKeyPair('ES256')
    served = { keys: [first.publicJwk] }
    const remote = new RemoteJwks({ timeoutMs: 200, refetchCooldownMs: 0 })
    const url = `${base}${fresh('rotate.json')}`
    await remote.keySet(url, first.kid)
    await remote.keySet(url, first.kid)
    expect(remote.fetches).toBe(1)
    served = { keys: [first.publicJwk, rotated.publicJwk] }
    await remote.keySet(url, rotated.kid)
    expect(remote.fetches).toBe(2)
    delayMs = 500
    await expect(new RemoteJwks({ timeoutMs: 200 }).keySet(`${base}${fresh('slow.json')}`)).rejects.toThrow(
      /did not answer within 200 ms/
    )
  })

  it('a kid-miss refetch keeps its cooldown: unknown kids fetch at most once per 30 s, failed ones too', async () => {
    const first = await newKeyPair('ES256')
    const clock = manualClock()
    served = { keys: [first.publicJwk] }
    cacheControl = 'max-age=3600'
    const remote = new RemoteJwks({ now: clock.now })
    const url = `${base}${fresh('cooldown.json')}`
    await remote.keySet(url, first.kid)
    // A stranger's assertions naming unknown kids: no fetch within the cooldown.
    for (let i = 0; i < 10; i++) await remote.keySet(url, `unknown-${i}`)
    expect(remote.fetches).toBe(1)
    clock.advance(30_000)
    await remote.keySet(url, 'unknown-a')
    expect(remote.fetches).toBe(2)
    await remote.keySet(url, 'unknown-b')
    expect(remote.fetches).toBe(2)
    // A refetch that fails leaves the cached set in use and starts the cooldown again.
    status = 500
    clock.advance(30_000)
    const stillFresh = await remote.keySet(url, 'unknown-c')
    expect(remote.fetches).toBe(3)
    expect(remote.failures).toBe(1)
    expect(typeof stillFresh).toBe('function')
    await remote.keySet(url, 'unknown-d')
    expect(remote.fetches).toBe(3)
  })

  it('remembers a failed fetch for 30 s (negative cache), then tries again', async () => {
    const key = await newKeyPair('ES256')
    served = { keys: [key.publicJwk] }
    status = 503
    const clock = manualClock()
    const remote = new RemoteJwks({ now: clock.now })
    const url = `${base}${fresh('failing.json')}`
    for (let i = 0; i < 10; i++) {
      await expect(remote.keySet(url, key.kid)).rejects.toThrow(/answered HTTP 503.*not fetched again for 30 s/)
    }
    expect(remote.fetches).toBe(1)
    expect(remote.failures).toBe(1)
    expect(hits).toBe(1)
    status = 200
    clock.advance(29_000)
    await expect(remote.keySet(url, key.kid)).rejects.toBeInstanceOf(RemoteJwksError)
    expect(hits).toBe(1)
    clock.advance(2_000)
    await remote.keySet(url, key.kid)
    expect(remote.fetches).toBe(2)
    expect(hits).toBe(2)
  })

  it("a failing JWKS URL is fetched once, however many strangers' assertions name its client", async () => {
    const key = await newKeyPair('ES256')
    status = 500
    const clientId = await register(fresh('down.json'))
    for (let i = 0; i < 10; i++) {
      const res = await token(clientId, await newKeyPair('ES256'))
      expect(res.statusCode).toBe(401)
      expect(res.json()).toMatchObject({ error: 'invalid_client' })
    }
    // The client's own assertions too, until the failure is forgotten.
    expect((await token(clientId, key)).statusCode).toBe(401)
    expect(hits).toBe(1)
  })

  it('one fetch in flight per URL: 20 concurrent lookups share it, whether it succeeds or fails', async () => {
    const key = await newKeyPair('ES256')
    served = { keys: [key.publicJwk] }
    let open: () => void = () => {}
    gate = new Promise<void>(resolve => (open = resolve))
    const remote = new RemoteJwks()
    const up = `${base}${fresh('inflight.json')}`
    const ok = Array.from({ length: 20 }, async () => await remote.keySet(up, key.kid))
    const down = `${base}/always-500${fresh('inflight.json')}`
    const failing = Array.from({ length: 20 }, async () => await remote.keySet(down, key.kid))
    open()
    const sets = await Promise.all(ok)
    expect(new Set(sets).size).toBe(1)
    const outcomes = await Promise.allSettled(failing)
    expect(outcomes.every(o => o.status === 'rejected' && o.reason instanceof RemoteJwksError)).toBe(true)
    expect(remote.fetches).toBe(2)
    expect(hits).toBe(2)
  })

  it('does not follow redirects and refuses a JWKS over 64 KiB', async () => {
    const remote = new RemoteJwks({ timeoutMs: 1000 })
    await expect(remote.keySet(`${base}/moved.json`)).rejects.toThrow(/could not be fetched/)
    await expect(remote.keySet(`${base}/huge.json`)).rejects.toThrow(/larger than 64 KiB/)
  })

  it('never sends credentials: a stored URL with user:password@ is refused without a request', async () => {
    const remote = new RemoteJwks()
    const withCredentials = base.replace('http://', 'http://user:secret@') + fresh('creds.json')
    await expect(remote.keySet(withCredentials)).rejects.toThrow(/holds credentials/)
    expect(hits).toBe(0)
  })

  it('a JWKS URL that does not answer in time gives invalid_client saying so, not a hang or a 5xx', async () => {
    const key = await newKeyPair('ES256')
    served = { keys: [key.publicJwk] }
    delayMs = 3500
    const clientId = await register(fresh('timeout.json'))
    const started = Date.now()
    const res = await token(clientId, key)
    expect(res.statusCode).toBe(401)
    expect(res.json()).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringMatching(/did not answer/)
    })
    expect(Date.now() - started).toBeLessThan(3400)
  })
})
