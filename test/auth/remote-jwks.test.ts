// Clients registered with a JWKS URL (SPEC §4, §7): keys fetched with a timeout, cached as the
// response's Cache-Control says, fetched again when the client rotates to a kid the cache lacks.
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { JWK } from 'jose'
import { signClientAssertion } from '../../src/auth/client-assertion-signer.ts'
import { RemoteJwks } from '../../src/auth/remote-jwks.ts'
import {
  clientWithToken,
  newKeyPair,
  requestToken,
  tokenForm,
  TOKEN_URL,
  useTestApp,
  type Auth,
  type Json
} from '../helpers/app.ts'

describe('clients with a JWKS URL', () => {
  let server: Server
  let base: string
  let served: { keys: JWK[] } = { keys: [] }
  let cacheControl: string | null = 'max-age=60'
  let delayMs = 0
  let hits = 0
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
      setTimeout(() => {
        res.setHeader('content-type', 'application/json')
        if (cacheControl !== null) res.setHeader('cache-control', cacheControl)
        res.end(JSON.stringify(served))
      }, delayMs)
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
    delayMs = 0
  })

  async function register (path: string): Promise<string> {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: admin,
      payload: {
        name: 'JWKS URL client',
        scopes: ['consent:check'],
        purposes: ['planned-care'],
        jwksUrl: `${base}${path}`
      }
    })
    expect(res.statusCode).toBe(201)
    return res.json().clientId as string
  }

  async function token (
    clientId: string,
    key: Awaited<ReturnType<typeof newKeyPair>>
  ): Promise<{ statusCode: number; json: () => Json }> {
    const assertion = await signClientAssertion({
      clientId,
      key: key.privateKey,
      kid: key.kid,
      alg: 'ES256',
      audience: TOKEN_URL
    })
    return await requestToken(t.app, tokenForm(assertion))
  }

  it('fetches the keys once and serves later assertions from the cache while Cache-Control allows', async () => {
    const key = await newKeyPair('ES256')
    served = { keys: [key.publicJwk] }
    const clientId = await register('/cached.json')
    expect((await token(clientId, key)).statusCode).toBe(200)
    expect((await token(clientId, key)).statusCode).toBe(200)
    expect(hits).toBe(1)
  })

  it('fetches again once max-age has passed, and every time for no-store', async () => {
    const key = await newKeyPair('ES256')
    served = { keys: [key.publicJwk] }
    cacheControl = 'max-age=1'
    const clientId = await register('/short.json')
    expect((await token(clientId, key)).statusCode).toBe(200)
    await new Promise(resolve => setTimeout(resolve, 1100))
    expect((await token(clientId, key)).statusCode).toBe(200)
    expect(hits).toBe(2)
    cacheControl = 'no-store'
    const other = await register('/nostore.json')
    await token(other, key)
    await token(other, key)
    expect(hits).toBe(4)
  })

  it('refuses an assertion signed by a key the client does not publish', async () => {
    const published = await newKeyPair('ES256')
    const stranger = await newKeyPair('ES256')
    served = { keys: [published.publicJwk] }
    const clientId = await register('/strict.json')
    const res = await token(clientId, stranger)
    expect(res.statusCode).toBe(401)
    expect(res.json()).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/kid/) })
  })

  it('RemoteJwks refetches early for an unknown kid (after a cooldown) and times out a slow server', async () => {
    const first = await newKeyPair('ES256')
    const rotated = await newKeyPair('ES256')
    served = { keys: [first.publicJwk] }
    const remote = new RemoteJwks(200, 0)
    await remote.keySet(`${base}/rotate.json`, first.kid)
    await remote.keySet(`${base}/rotate.json`, first.kid)
    expect(remote.fetches).toBe(1)
    served = { keys: [first.publicJwk, rotated.publicJwk] }
    await remote.keySet(`${base}/rotate.json`, rotated.kid)
    expect(remote.fetches).toBe(2)
    delayMs = 500
    await expect(new RemoteJwks(200).keySet(`${base}/slow.json`)).rejects.toThrow(/did not answer within 200 ms/)
  })

  it('does not follow redirects and refuses a JWKS over 64 KiB', async () => {
    const remote = new RemoteJwks(1000)
    await expect(remote.keySet(`${base}/moved.json`)).rejects.toThrow(/could not be fetched/)
    await expect(remote.keySet(`${base}/huge.json`)).rejects.toThrow(/larger than 64 KiB/)
  })

  it('a JWKS URL that does not answer in time gives invalid_client saying so, not a hang or a 5xx', async () => {
    const key = await newKeyPair('ES256')
    served = { keys: [key.publicJwk] }
    delayMs = 3500
    const clientId = await register('/timeout.json')
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
