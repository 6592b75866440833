// The token endpoint as a stranger sees it (issue #12): one answer for every client it cannot
// authenticate (unknown, suspended, a key that does not verify), the precise reason in the audit
// instead; an iat in the future and a jku other than the registration refused; the registered JWKS
// URL, not keys left inline, verifying; and every failure, a 500 included, spending the budget.
import { createServer, type Server } from 'node:http'
import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { signClientAssertion } from '../../src/auth/client-assertion-signer.ts'
import {
  TOKEN_URL,
  buildTestApp,
  clientWithToken,
  newKeyPair,
  registerClient,
  registerJwksUrlClient,
  requestToken,
  signAssertion,
  tokenForm as form,
  useTestApp,
  type AssertionOptions,
  type Auth,
  type Json,
  type TestApp,
  type TestClient
} from '../helpers/app.ts'
import { storeOf } from '../helpers/store.ts'

const ONE_ANSWER = {
  error: 'invalid_client',
  error_description:
    "client authentication failed: the assertion was not signed by an active registered client's key " +
    '(check iss, kid and the signing key)'
}

const t = useTestApp()
let admin: Auth
let auditor: Auth

beforeAll(async () => {
  admin = (await clientWithToken(t.app, { name: 'Admin', scopes: ['admin'] })).auth
  auditor = (await clientWithToken(t.app, { name: 'Auditor', scopes: ['audit:read'] })).auth
})

/** The token.refused event written for the token request that got `res`. */
async function refusalOf (res: LightMyRequestResponse): Promise<Json> {
  const requestId = res.headers['x-request-id']
  const list = await t.app.inject({ method: 'GET', url: '/v1/audit?type=token.refused&limit=500', headers: auditor })
  expect(list.statusCode, list.body).toBe(200)
  const event = (list.json().items as Json[]).find(e => e.requestId === requestId)
  expect(event, `a token.refused event for request ${String(requestId)}`).toBeDefined()
  return event as Json
}

/** An assertion naming client `id` (registered or not), signed by `client`'s key. */
const naming = async (client: TestClient, id: string, o: AssertionOptions = {}): Promise<string> =>
  await signAssertion(client, { iss: id, sub: id, ...o })

describe('one answer for every client the token endpoint cannot authenticate', () => {
  let known: TestClient
  let suspended: TestClient
  let keyless: TestClient
  beforeAll(async () => {
    known = await registerClient(t.app)
    suspended = await registerClient(t.app)
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${suspended.id}`,
      headers: admin,
      payload: { status: 'suspended' }
    })
    expect(patched.statusCode, patched.body).toBe(200)
    keyless = await registerClient(t.app)
    // A client with no keys at all: an empty set left by a store edit, not a registration the API allows.
    await storeOf(t.app).tamper('UPDATE "clients" SET "jwks" = ? WHERE "id" = ?', '{"keys":[]}', keyless.id)
  })

  it('unknown, suspended, wrong-key, unknown-kid and keyless clients all get the same invalid_client', async () => {
    const stranger = await newKeyPair(known.alg)
    const unknownId = randomUUID()
    const answers = [
      await requestToken(t.app, form(await naming(known, unknownId))),
      await requestToken(t.app, form(await naming(known, 'x'.repeat(500)))),
      await requestToken(t.app, form(await signAssertion(suspended))),
      await requestToken(t.app, form(await signAssertion(known, { key: stranger.privateKey }))),
      await requestToken(t.app, form(await signAssertion(known, { key: stranger.privateKey, kid: stranger.kid }))),
      await requestToken(t.app, form(await signAssertion(keyless)))
    ]
    for (const res of answers) {
      expect(res.statusCode, res.body).toBe(401)
      expect(res.json()).toEqual(ONE_ANSWER)
      expect(res.headers['cache-control']).toMatch(/no-store/)
    }
  })

  it('the audit records each as token.refused: the precise reason, the client or the id it claimed', async () => {
    const stranger = await newKeyPair(known.alg)
    const unknownId = randomUUID()
    const longId = `${randomUUID()}-${'y'.repeat(200)}`
    const cases: Array<[LightMyRequestResponse, string | null, RegExp, string | undefined]> = [
      [await requestToken(t.app, form(await naming(known, unknownId))), null, /unknown client/, unknownId],
      [await requestToken(t.app, form(await naming(known, longId))), null, /unknown client/, longId.slice(0, 64)],
      [await requestToken(t.app, form(await signAssertion(suspended))), suspended.id, /suspended/, undefined],
      [
        await requestToken(t.app, form(await signAssertion(known, { key: stranger.privateKey }))),
        known.id,
        /signature does not verify/,
        undefined
      ],
      [
        await requestToken(t.app, form(await signAssertion(known, { key: stranger.privateKey, kid: stranger.kid }))),
        known.id,
        /kid does not match any registered key/,
        undefined
      ],
      [
        await requestToken(t.app, form(await signAssertion(keyless))),
        keyless.id,
        /no registered public keys/,
        undefined
      ]
    ]
    for (const [res, clientId, reason, claimed] of cases) {
      const event = await refusalOf(res)
      expect(event, res.body).toMatchObject({
        type: 'token.refused',
        clientId,
        outcome: 'refused',
        details: { error: 'invalid_client', reason: expect.stringMatching(reason), address: '127.0.0.1' }
      })
      expect(event.details.claimedClientId).toBe(claimed)
    }
  })

  it('an authenticated client asking for a scope it does not hold is audited as token.refused too', async () => {
    const narrow = await registerClient(t.app, { scopes: ['consent:check'] })
    const res = await requestToken(t.app, form(await signAssertion(narrow), { scope: 'admin' }))
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json()).toMatchObject({ error: 'invalid_scope' })
    expect(await refusalOf(res)).toMatchObject({
      clientId: narrow.id,
      details: { error: 'invalid_scope', reason: expect.stringMatching(/admin/) }
    })
  })

  it('checks made before the signature answer a registered and an unknown client alike', async () => {
    const unknownId = randomUUID()
    const variants: AssertionOptions[] = [
      { kid: '' },
      { typ: 'at+jwt' },
      { omit: ['jti'] },
      { omit: ['exp'] },
      { jti: 'j'.repeat(300) }
    ]
    for (const variant of variants) {
      const asKnown = await requestToken(t.app, form(await signAssertion(known, variant)))
      const asUnknown = await requestToken(t.app, form(await naming(known, unknownId, variant)))
      expect(asKnown.statusCode, asKnown.body).toBe(401)
      expect(asUnknown.body).toBe(asKnown.body)
    }
    // sub != iss and a client_id other than iss: the same answer too.
    const sub = randomUUID()
    expect((await requestToken(t.app, form(await naming(known, unknownId, { sub })))).body).toBe(
      (await requestToken(t.app, form(await signAssertion(known, { sub })))).body
    )
    const other = { client_id: randomUUID() }
    expect((await requestToken(t.app, form(await naming(known, unknownId), other))).body).toBe(
      (await requestToken(t.app, form(await signAssertion(known), other))).body
    )
  })

  it("claims are described only to the key's holder: anyone else gets the one answer", async () => {
    const exp = Math.floor(Date.now() / 1000) - 60
    const aud = 'https://elsewhere.example/oauth2/token'
    const stranger = await newKeyPair(known.alg)
    for (const claims of [{ exp }, { aud }]) {
      const holder = await requestToken(t.app, form(await signAssertion(known, claims)))
      expect(holder.json().error_description).toMatch(claims.exp !== undefined ? /expired/ : /aud/)
      const unknown = await requestToken(t.app, form(await naming(known, randomUUID(), claims)))
      expect(unknown.json()).toEqual(ONE_ANSWER)
      const wrongKey = await requestToken(
        t.app,
        form(await signAssertion(known, { ...claims, key: stranger.privateKey }))
      )
      expect(wrongKey.json()).toEqual(ONE_ANSWER)
      const asSuspended = await requestToken(t.app, form(await signAssertion(suspended, claims)))
      expect(asSuspended.json()).toEqual(ONE_ANSWER)
    }
  })
})

describe('iat', () => {
  let client: TestClient
  beforeAll(async () => {
    client = await registerClient(t.app)
  })
  const withIat = async (iat: number | undefined): Promise<LightMyRequestResponse> => {
    const now = Math.floor(Date.now() / 1000)
    const assertion = await signClientAssertion({
      clientId: client.id,
      key: client.privateKey,
      kid: client.kid,
      alg: client.alg,
      audience: TOKEN_URL,
      iat,
      exp: now + 120,
      extraClaims: iat === undefined ? { iat: undefined } : {}
    })
    return await requestToken(t.app, form(assertion))
  }

  it('refuses an assertion issued more than 10 s in the future: invalid_client saying so', async () => {
    const now = Math.floor(Date.now() / 1000)
    for (const ahead of [60, 3600]) {
      const res = await withIat(now + ahead)
      expect(res.statusCode, res.body).toBe(401)
      expect(res.json()).toEqual({
        error: 'invalid_client',
        error_description: "assertion iat is in the future (more than 10 seconds ahead of the service's clock)"
      })
    }
  })

  it('accepts an iat within the clock skew, in the past, or none at all', async () => {
    const now = Math.floor(Date.now() / 1000)
    for (const iat of [now + 5, now - 30, undefined]) {
      const res = await withIat(iat)
      expect(res.statusCode, `iat ${String(iat)}: ${res.body}`).toBe(200)
    }
  })
})

describe('keys come from the registration only', () => {
  let server: Server
  let base: string
  const hits = new Map<string, number>()
  let served: { keys: unknown[] } = { keys: [] }

  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1)
      res.setHeader('content-type', 'application/json')
      res.setHeader('cache-control', 'max-age=60')
      res.end(JSON.stringify(served))
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })
  beforeEach(() => {
    hits.clear()
  })

  /** A client registered through the API with a JWKS URL on the local server publishing `key`. */
  async function urlClient (path: string, key: Awaited<ReturnType<typeof newKeyPair>>): Promise<TestClient> {
    served = { keys: [key.publicJwk] }
    const id = await registerJwksUrlClient(t.app, admin, `${base}${path}`)
    const record = await t.app.runtime.registry.reloadClient(id)
    if (record === undefined) throw new Error(`client ${id} was registered but cannot be read back`)
    return { id, kid: key.kid, privateKey: key.privateKey, publicJwk: key.publicJwk, alg: 'ES256', record }
  }

  it('refuses a jku on a client registered with inline keys, without fetching it', async () => {
    const client = await registerClient(t.app)
    const jku = `${base}/inline-attacker.json`
    const res = await requestToken(t.app, form(await signAssertion(client, { header: { jku } })))
    expect(res.statusCode, res.body).toBe(401)
    expect(res.json()).toEqual({
      error: 'invalid_client',
      error_description: 'assertion jku does not match the registered JWKS URL'
    })
    expect(hits.get('/inline-attacker.json')).toBeUndefined()
    expect((await refusalOf(res)).details.reason).toMatch(/jku/)
  })

  it('accepts a jku equal to the registered JWKS URL and refuses any other, which is never fetched', async () => {
    const key = await newKeyPair('ES256')
    const client = await urlClient('/registered.json', key)
    const same = await requestToken(
      t.app,
      form(await signAssertion(client, { header: { jku: `${base}/registered.json` } }))
    )
    expect(same.statusCode, same.body).toBe(200)
    for (const jku of [`${base}/attacker.json`, `${base}/registered.json?x=1`, 'https://attacker.example/jwks.json']) {
      const res = await requestToken(t.app, form(await signAssertion(client, { header: { jku } })))
      expect(res.statusCode, res.body).toBe(401)
      expect(res.json().error_description).toBe('assertion jku does not match the registered JWKS URL')
    }
    expect(hits.get('/attacker.json')).toBeUndefined()
    expect(hits.get('/registered.json?x=1')).toBeUndefined()
  })

  it("a client whose row holds both a JWKS URL and inline keys is verified with the URL's keys only", async () => {
    const published = await newKeyPair('ES256')
    const client = await urlClient('/both.json', published)
    const leftInline = await newKeyPair('ES256')
    // A row from before the two were exclusive: keys left inline beside the URL.
    await storeOf(t.app).tamper(
      'UPDATE "clients" SET "jwks" = ? WHERE "id" = ?',
      JSON.stringify({ keys: [leftInline.publicJwk] }),
      client.id
    )
    const byInline = await requestToken(
      t.app,
      form(await signAssertion(client, { key: leftInline.privateKey, kid: leftInline.kid }))
    )
    expect(byInline.statusCode, byInline.body).toBe(401)
    expect(byInline.json()).toEqual(ONE_ANSWER)
    const byUrl = await requestToken(t.app, form(await signAssertion(client)))
    expect(byUrl.statusCode, byUrl.body).toBe(200)
  })
})

describe('every failure spends the budget', () => {
  let limited: TestApp
  beforeAll(async () => {
    limited = await buildTestApp({ TOKEN_FAILURES_PER_MINUTE: '2' })
  })
  afterAll(async () => {
    await limited.close()
  })
  // Counts live in fixed one-minute windows: start well inside one, so that none ends mid-test.
  beforeEach(async () => {
    const left = 60_000 - (Date.now() % 60_000)
    if (left < 10_000) await new Promise(resolve => setTimeout(resolve, left + 50))
  })

  const fromAddress = async (remoteAddress: string, assertion: string): Promise<LightMyRequestResponse> =>
    await limited.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      remoteAddress,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(form(assertion)).toString()
    })

  it('an unexpected error (a 500) is counted like a refusal, and beyond the budget answered 429', async () => {
    const client = await registerClient(limited.app)
    // A registered key set the verifier cannot read: an error no assertion check expects.
    const corrupt = '{"keys":"not a list"}'
    await storeOf(limited.app).tamper('UPDATE "clients" SET "jwks" = ? WHERE "id" = ?', corrupt, client.id)
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      statuses.push((await fromAddress('203.0.113.40', await signAssertion(client))).statusCode)
    }
    expect(statuses).toEqual([500, 500, 429])
    const limitedAnswer = await fromAddress('203.0.113.40', await signAssertion(client))
    expect(limitedAnswer.statusCode).toBe(429)
    expect(Number(limitedAnswer.headers['retry-after'])).toBeGreaterThan(0)
    expect(limitedAnswer.json()).toMatchObject({ error: 'temporarily_unavailable' })
  })
})
