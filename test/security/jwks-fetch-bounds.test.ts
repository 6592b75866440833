// A client's JWKS host is not trusted (SECURITY.md T13/T14): whoever controls it, or anyone who can
// send an assertion naming the client, makes the service fetch it. An endless, huge or trickling
// body costs at most 64 KiB and 3 s, and every failure is invalid_client, never a 500. Each case runs
// against a real local HTTP server that counts what it managed to send before the service hung up.
import { randomUUID } from 'node:crypto'
import { createServer, type Server, type ServerResponse } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import { MAX_JWKS_BYTES, RemoteJwks, RemoteJwksError } from '../../src/auth/remote-jwks.ts'
import {
  clientWithToken,
  newKeyPair,
  registerJwksUrlClient,
  requestTokenSignedBy,
  useTestApp,
  type Auth
} from '../helpers/app.ts'

/**
 * What the server sent on one request, and when the other side closed the connection. Written only
 * as fast as the socket takes it, so `sent` is what the service's side accepted (plus one chunk).
 */
interface Served {
  sent: number
  closed: Promise<void>
}

/** Past this the server stops on its own, so that a run without the cap cannot exhaust the machine. */
const SERVER_LIMIT = 256 * 1024 * 1024
/** What the service may cost the host beyond its 64 KiB: socket buffers on both sides of the loopback. */
const ALLOWED_SENT = 16 * 1024 * 1024

describe('JWKS fetching is bounded in bytes and time', () => {
  const t = useTestApp()
  let server: Server
  let base: string
  let refusedBase: string
  let admin: Auth
  const served = new Map<string, Served>()

  /** Writes chunks as fast as the socket drains, until the limit or the connection closes. */
  function pour (res: ServerResponse, record: Served, chunk: Buffer): void {
    const more = (): void => {
      while (!res.destroyed && record.sent < SERVER_LIMIT) {
        record.sent += chunk.length
        if (!res.write(chunk)) {
          res.once('drain', more)
          return
        }
      }
      if (!res.destroyed) res.end()
    }
    more()
  }

  beforeAll(async () => {
    server = createServer((req, res) => {
      const record: Served = {
        sent: 0,
        closed: new Promise(resolve => res.on('close', () => resolve()))
      }
      served.set(req.url ?? '', record)
      const kind = (req.url ?? '').split('/')[2]
      res.setHeader('content-type', 'application/json')
      switch (kind) {
        case 'endless': {
          // No Content-Length: only reading tells how much is coming.
          res.write('{"keys":[')
          pour(res, record, Buffer.alloc(16_384, ' '))
          return
        }
        case 'declared': {
          res.setHeader('content-length', String(600 * 1024 * 1024))
          res.flushHeaders()
          record.sent = 1024
          res.write(Buffer.alloc(1024, ' '))
          return
        }
        case 'trickle': {
          res.flushHeaders()
          const timer = setInterval(() => {
            record.sent += 1
            res.write(' ')
          }, 20)
          res.on('close', () => clearInterval(timer))
          return
        }
        case 'status-500':
          res.statusCode = 500
          res.end('{"error":"down"}')
          return
        case 'not-json':
          res.end('<html>keys</html>')
          return
        case 'no-keys':
          res.end('{"jwks":[]}')
          return
        case 'odd-keys':
          res.end('{"keys":[null,5,"x",[],{"kid":7},{"kid":"k","kty":"EC","x":{"nested":{"deep":[1]}}}]}')
          return
        case 'deep': {
          const depth = 30_000
          res.end(`{"keys":[{"kid":"k","kty":"EC","x5c":${'['.repeat(depth)}${']'.repeat(depth)}}]}`)
          return
        }
        default:
          res.statusCode = 404
          res.end()
      }
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    // A port that was just free: nothing listens there, so a connection is refused.
    const probe = createServer()
    await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
    refusedBase = `http://127.0.0.1:${(probe.address() as { port: number }).port}`
    await new Promise(resolve => probe.close(resolve))
    admin = (await clientWithToken(t.app)).auth
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })

  /** A path of this kind that no other request has used (the service caches by URL). */
  const path = (kind: string): string => `/${randomUUID()}/${kind}/jwks.json`

  const registerAt = async (url: string): Promise<string> =>
    await registerJwksUrlClient(t.app, admin, url, 'Hostile JWKS host')

  /** A token request signed by a key no JWKS publishes: what matters is how the fetch fails. */
  const tokenRequest = async (clientId: string): Promise<LightMyRequestResponse> =>
    await requestTokenSignedBy(t.app, clientId, await newKeyPair('ES256'))

  it('an endless body: invalid_client past 64 KiB, the connection closed: megabytes, not gigabytes', async () => {
    const p = path('endless')
    const res = await tokenRequest(await registerAt(`${base}${p}`))
    expect(res.statusCode, res.body).toBe(401)
    expect(res.json()).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringMatching(/larger than 64 KiB/)
    })
    const record = served.get(p) as Served
    await record.closed
    expect(record.sent).toBeGreaterThan(MAX_JWKS_BYTES)
    expect(record.sent).toBeLessThan(ALLOWED_SENT)
  })

  it('a Content-Length over 64 KiB is refused from the headers, before any body is awaited', async () => {
    const p = path('declared')
    // A deadline far longer than the test: only the header can have ended it.
    const remote = new RemoteJwks({ timeoutMs: 60_000 })
    await expect(remote.keySet(`${base}${p}`)).rejects.toThrow(/larger than 64 KiB \(Content-Length\)/)
    const record = served.get(p) as Served
    await record.closed
    expect(record.sent).toBe(1024)
  })

  it('a trickling body is cut at the deadline, which covers the body and not only the headers', async () => {
    const p = path('trickle')
    const remote = new RemoteJwks({ timeoutMs: 300 })
    const err = await remote.keySet(`${base}${p}`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RemoteJwksError)
    expect((err as Error).message).toMatch(/did not answer within 300 ms/)
    await (served.get(p) as Served).closed
  })

  it('a trickling body at the token endpoint: invalid_client within the 3 s deadline, not a 500', async () => {
    const p = path('trickle')
    const res = await tokenRequest(await registerAt(`${base}${p}`))
    expect(res.statusCode, res.body).toBe(401)
    expect(res.json()).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringMatching(/did not answer within 3000 ms/)
    })
    await (served.get(p) as Served).closed
  })

  it('every fetch failure is a RemoteJwksError, counted, and invalid_client at the token endpoint', async () => {
    const urls = [
      `${refusedBase}/jwks.json`,
      ...['status-500', 'not-json', 'no-keys'].map(kind => `${base}${path(kind)}`)
    ]
    const remote = new RemoteJwks()
    for (const url of urls) {
      const err = await remote.keySet(url).catch((e: unknown) => e)
      expect(err, url).toBeInstanceOf(RemoteJwksError)
    }
    expect(remote.fetches).toBe(urls.length)
    expect(remote.failures).toBe(urls.length)
    for (const kind of ['status-500', 'not-json', 'no-keys']) {
      const res = await tokenRequest(await registerAt(`${base}${path(kind)}`))
      expect(res.statusCode, `${kind}: ${res.body}`).toBe(401)
      expect(res.json().error).toBe('invalid_client')
    }
    const refused = await tokenRequest(await registerAt(`${refusedBase}/${randomUUID()}/jwks.json`))
    expect(refused.statusCode, refused.body).toBe(401)
    expect(refused.json()).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringMatching(/could not be fetched/)
    })
    // Counted where an operator sees them: the app's own fetcher, published in /metrics.
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' })
    const count = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics.body)?.[1])
    expect(count('consent_jwks_fetch_failures_total')).toBeGreaterThanOrEqual(4)
    expect(count('consent_jwks_fetches_total')).toBeGreaterThanOrEqual(count('consent_jwks_fetch_failures_total'))
  })

  it('a key set of non-objects or deep nesting is read without failing: no usable key, invalid_client', async () => {
    for (const kind of ['odd-keys', 'deep']) {
      const res = await tokenRequest(await registerAt(`${base}${path(kind)}`))
      expect(res.statusCode, `${kind}: ${res.body}`).toBe(401)
      expect(res.json().error).toBe('invalid_client')
    }
  })
})
