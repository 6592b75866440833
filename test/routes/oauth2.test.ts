// POST /oauth2/token (signed-JWT client credentials, SPEC §4), access-token use on /v1, and the
// discovery documents. Everything goes through app.inject against a real store.
import { createHmac, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import {
  ALL_SCOPES,
  ASSERTION_TYPE,
  PUBLIC_URL,
  TOKEN_URL,
  buildTestApp,
  clientWithToken,
  expectProblem,
  forgeAccessToken,
  newKeyPair,
  registerClient,
  registerJwksUrlClient,
  requestToken,
  signAssertion,
  tokenFor,
  tokenForm as form,
  useTestApp,
  type ForgedToken,
  type TestCaller,
  type TestClient
} from '../helpers/app.ts'

const NHS = '9434765919'
const PATIENT = new URLSearchParams({ 'patient.identifier': `https://fhir.nhs.uk/Id/nhs-number|${NHS}` }).toString()

const t = useTestApp()
let admin: TestCaller

beforeAll(async () => {
  admin = await clientWithToken(t.app, { name: 'Admin', scopes: ['admin'] })
})

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')

function claimsFor (client: TestClient): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return { iss: client.id, sub: client.id, aud: TOKEN_URL, exp: now + 120, iat: now, jti: randomUUID() }
}

/**
 * The one description for an assertion no active registered client's key verifies: unknown and
 * suspended clients, unknown kids and wrong keys are not told apart (test/security/token-endpoint.test.ts).
 */
const NOT_SIGNED = /^client authentication failed: the assertion was not signed by an active registered client's key/

/** Expects an RFC 6749 §5.2 error: the right status, code, a description matching `describes`, no stack. */
function expectOAuthError (res: LightMyRequestResponse, error: string, describes: RegExp): void {
  const status = error === 'invalid_client' ? 401 : 400
  expect(res.statusCode, res.body).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/json/)
  const body = res.json() as Record<string, unknown>
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description'])
  expect(body.error).toBe(error)
  expect(body.error_description).toMatch(describes)
  expect(res.body).not.toMatch(/\bstack\b|\n\s+at |\.ts:\d+/)
  expect(res.headers['cache-control']).toMatch(/no-store/)
}

async function decide (auth: Record<string, string>, purpose = 'planned-care'): Promise<LightMyRequestResponse> {
  return await t.app.inject({
    method: 'POST',
    url: '/v1/decisions',
    headers: auth,
    payload: { nhsNumber: NHS, purpose }
  })
}

async function patchClient (id: string, body: Record<string, unknown>): Promise<LightMyRequestResponse> {
  const res = await t.app.inject({ method: 'PATCH', url: `/v1/clients/${id}`, headers: admin.auth, payload: body })
  expect(res.statusCode, res.body).toBe(200)
  return res
}

describe('POST /oauth2/token: success', () => {
  it('issues a Bearer token for an assertion with aud = the token endpoint URL', async () => {
    const client = await registerClient(t.app)
    const res = await requestToken(t.app, form(await signAssertion(client, { aud: TOKEN_URL })))
    expect(res.statusCode, res.body).toBe(200)
    expect(res.headers['cache-control']).toMatch(/no-store/)
    const body = res.json() as Record<string, unknown>
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type'])
    expect(body.token_type).toBe('Bearer')
    expect(body.expires_in).toBe(600)
    expect(typeof body.access_token).toBe('string')
    expect(String(body.access_token).split('.')).toHaveLength(3)
    expect(String(body.scope).split(' ').sort()).toEqual([...ALL_SCOPES].sort())
    // The token works.
    const use = await decide({ authorization: `Bearer ${String(body.access_token)}` })
    expect(use.statusCode, use.body).toBe(200)
  })

  it('issues a token for an assertion with aud = the issuer (PUBLIC_URL)', async () => {
    const client = await registerClient(t.app)
    const res = await requestToken(t.app, form(await signAssertion(client, { aud: PUBLIC_URL })))
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({ token_type: 'Bearer', expires_in: 600 })
  })

  it('accepts typ JWT and a client_id form parameter equal to iss', async () => {
    const client = await registerClient(t.app)
    const res = await requestToken(t.app, form(await signAssertion(client, { typ: 'JWT' }), { client_id: client.id }))
    expect(res.statusCode, res.body).toBe(200)
  })

  it('grants a requested subset of the registered scopes, and only that', async () => {
    const client = await registerClient(t.app, { scopes: ['consent:check', 'consent:read', 'admin'] })
    const res = await requestToken(t.app, form(await signAssertion(client), { scope: 'consent:read' }))
    expect(res.statusCode, res.body).toBe(200)
    const body = res.json() as { access_token: string; scope: string }
    expect(body.scope).toBe('consent:read')
    // The narrowed token cannot do what the client could.
    const use = await decide({ authorization: `Bearer ${body.access_token}` })
    expect(use.statusCode, use.body).toBe(403)
  })

  it('grants several requested scopes separated by spaces', async () => {
    const client = await registerClient(t.app, { scopes: ['consent:check', 'consent:read', 'admin'] })
    const res = await requestToken(t.app, form(await signAssertion(client), { scope: 'consent:check consent:read' }))
    expect(res.statusCode, res.body).toBe(200)
    expect((res.json() as { scope: string }).scope.split(' ').sort()).toEqual(['consent:check', 'consent:read'])
  })

  it('refuses a scope the client is not registered for: 400 invalid_scope', async () => {
    const client = await registerClient(t.app, { scopes: ['consent:check'] })
    const res = await requestToken(t.app, form(await signAssertion(client), { scope: 'consent:check admin' }))
    expectOAuthError(res, 'invalid_scope', /admin/)
  })

  it('works with an RS512 client key', async () => {
    const client = await registerClient(t.app, { alg: 'RS512' })
    const res = await requestToken(t.app, form(await signAssertion(client)))
    expect(res.statusCode, res.body).toBe(200)
    const use = await decide({ authorization: `Bearer ${(res.json() as { access_token: string }).access_token}` })
    expect(use.statusCode, use.body).toBe(200)
  })

  it('records token.issued in the audit trail', async () => {
    const client = await registerClient(t.app)
    await tokenFor(t.app, client)
    const auditor = await clientWithToken(t.app, { scopes: ['audit:read'] })
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/audit?type=token.issued&clientId=${client.id}`,
      headers: auditor.auth
    })
    expect(res.statusCode, res.body).toBe(200)
    const items = (res.json() as { items: Array<{ type: string; clientId: string }> }).items
    expect(items.length).toBeGreaterThanOrEqual(1)
    expect(items[0]).toMatchObject({ type: 'token.issued', clientId: client.id })
  })
})

describe('POST /oauth2/token: request checks', () => {
  let client: TestClient
  beforeAll(async () => {
    client = await registerClient(t.app)
  })

  it('refuses a grant_type other than client_credentials: unsupported_grant_type', async () => {
    const res = await requestToken(t.app, form(await signAssertion(client), { grant_type: 'authorization_code' }))
    expectOAuthError(res, 'unsupported_grant_type', /grant_type/)
  })

  it('refuses a missing grant_type: invalid_request', async () => {
    const f = form(await signAssertion(client))
    delete (f as Partial<typeof f>).grant_type
    expectOAuthError(await requestToken(t.app, f), 'invalid_request', /grant_type/)
  })

  it('refuses a missing client_assertion_type: invalid_request', async () => {
    const f = form(await signAssertion(client))
    delete (f as Partial<typeof f>).client_assertion_type
    expectOAuthError(await requestToken(t.app, f), 'invalid_request', /client_assertion_type/)
  })

  it('refuses an incorrect client_assertion_type: invalid_request', async () => {
    const res = await requestToken(
      t.app,
      form(await signAssertion(client), {
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer'
      })
    )
    expectOAuthError(res, 'invalid_request', /client_assertion_type/)
  })

  it('refuses a missing client_assertion: invalid_request', async () => {
    const res = await requestToken(t.app, { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE })
    expectOAuthError(res, 'invalid_request', /client_assertion/)
  })

  it('refuses a garbage assertion: invalid_request', async () => {
    expectOAuthError(await requestToken(t.app, form('not-a-jwt')), 'invalid_request', /not a signed JWT/)
    expectOAuthError(await requestToken(t.app, form('a.b.c')), 'invalid_request', /not a signed JWT/)
  })

  it('refuses a huge assertion without crashing', async () => {
    const res = await requestToken(t.app, form('a'.repeat(20_000)))
    expect([400, 401, 413]).toContain(res.statusCode)
    expect(res.body).not.toMatch(/\n\s+at /)
  })

  it('refuses a JSON body instead of a form: an RFC 6749 error, not a crash', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      payload: { grant_type: 'client_credentials' }
    })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({
      error: 'invalid_request',
      error_description: expect.stringMatching(/x-www-form-urlencoded/)
    })
  })

  it('refuses a complete, valid request sent as JSON (RFC 6749 requires a form)', async () => {
    const client = await registerClient(t.app)
    const res = await t.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      payload: {
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await signAssertion(client)
      }
    })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ error: 'invalid_request' })
  })
})

describe('POST /oauth2/token: assertion checks', () => {
  let client: TestClient
  beforeAll(async () => {
    client = await registerClient(t.app)
  })

  it('refuses alg HS256 (a symmetric key is never accepted)', async () => {
    const header = b64({ alg: 'HS256', kid: client.kid, typ: 'JWT' })
    const payload = b64(claimsFor(client))
    const sig = createHmac('sha256', 'secret').update(`${header}.${payload}`).digest('base64url')
    expectOAuthError(
      await requestToken(t.app, form(`${header}.${payload}.${sig}`)),
      'invalid_client',
      /alg 'HS256' is not allowed/
    )
  })

  it('refuses alg none', async () => {
    const token = `${b64({ alg: 'none', kid: client.kid, typ: 'JWT' })}.${b64(claimsFor(client))}.`
    expectOAuthError(await requestToken(t.app, form(token)), 'invalid_client', /alg 'none' is not allowed/)
  })

  it('refuses an alg outside the configured list (ES512 is not in the default list)', async () => {
    const { privateKey } = await newKeyPair('ES512')
    const token = await signAssertion(client, { alg: 'ES512', key: privateKey })
    expectOAuthError(await requestToken(t.app, form(token)), 'invalid_client', /alg 'ES512' is not allowed/)
  })

  it('accepts an assertion without kid from a client with one key (as openid-client sends it)', async () => {
    const res = await requestToken(t.app, form(await signAssertion(client, { header: { kid: undefined } })))
    expect(res.statusCode, res.body).toBe(200)
  })

  it('refuses an assertion without kid signed by no key of the client, as any wrong key', async () => {
    const { privateKey } = await newKeyPair(client.alg)
    const unknown = randomUUID()
    const wrongKey = await requestToken(
      t.app,
      form(await signAssertion(client, { key: privateKey, header: { kid: undefined } }))
    )
    expectOAuthError(wrongKey, 'invalid_client', NOT_SIGNED)
    const stranger = await requestToken(
      t.app,
      form(await signAssertion(client, { key: privateKey, iss: unknown, sub: unknown, header: { kid: undefined } }))
    )
    expect(stranger.body).toBe(wrongKey.body)
  })

  it('refuses an empty kid', async () => {
    const token = await signAssertion(client, { kid: '' })
    expectOAuthError(await requestToken(t.app, form(token)), 'invalid_client', /kid must be a non-empty string/)
  })

  it('refuses an unknown kid', async () => {
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { kid: 'kid-unknown' }))),
      'invalid_client',
      NOT_SIGNED
    )
  })

  it('refuses a typ other than JWT', async () => {
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { typ: 'at+jwt' }))),
      'invalid_client',
      /typ must be JWT/
    )
  })

  it('refuses a typ that is not a string, without a 5xx', async () => {
    for (const typ of [5, null, ['JWT'], { v: 'JWT' }]) {
      const token = `${b64({ alg: client.alg, kid: client.kid, typ })}.${b64(claimsFor(client))}.AAAA`
      expectOAuthError(await requestToken(t.app, form(token)), 'invalid_client', /typ must be JWT/)
    }
  })

  it('refuses malformed header and claim values without a 5xx', async () => {
    const cases: Array<[Record<string, unknown>, Record<string, unknown>, RegExp]> = [
      [{ alg: 5, kid: client.kid }, claimsFor(client), /alg/],
      [{ alg: client.alg, kid: 5 }, claimsFor(client), /kid must be a non-empty string/],
      [{ alg: client.alg, kid: client.kid }, { ...claimsFor(client), iss: 5, sub: 5 }, /iss/],
      [{ alg: client.alg, kid: client.kid }, { ...claimsFor(client), jti: 5 }, /jti/],
      [{ alg: client.alg, kid: client.kid }, { ...claimsFor(client), jti: 'j'.repeat(300) }, /jti/],
      [{ alg: client.alg, kid: client.kid }, { ...claimsFor(client), exp: 'soon' }, /exp/],
      [
        { alg: client.alg, kid: client.kid },
        { ...claimsFor(client), iss: 'x'.repeat(500), sub: 'x'.repeat(500) },
        NOT_SIGNED
      ]
    ]
    for (const [header, claims, describes] of cases) {
      expectOAuthError(
        await requestToken(t.app, form(`${b64(header)}.${b64(claims)}.AAAA`)),
        'invalid_client',
        describes
      )
    }
  })

  it('refuses iss != sub', async () => {
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { sub: randomUUID() }))),
      'invalid_client',
      /sub must equal iss/
    )
  })

  it('refuses a missing iss', async () => {
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { omit: ['iss'] }))),
      'invalid_client',
      /iss/
    )
  })

  it('refuses an unknown client', async () => {
    const other = randomUUID()
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { iss: other, sub: other }))),
      'invalid_client',
      NOT_SIGNED
    )
  })

  it('refuses a client_id form parameter different from iss', async () => {
    const res = await requestToken(t.app, form(await signAssertion(client), { client_id: randomUUID() }))
    expectOAuthError(res, 'invalid_client', /client_id does not match/)
  })

  it('refuses a wrong aud', async () => {
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { aud: 'https://elsewhere.example/oauth2/token' }))),
      'invalid_client',
      /aud/
    )
  })

  it('refuses an aud of the token URL with a trailing slash or other path', async () => {
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { aud: `${PUBLIC_URL}/oauth2/token/extra` }))),
      'invalid_client',
      /aud/
    )
  })

  it('refuses an aud array holding both accepted values', async () => {
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { aud: [TOKEN_URL, PUBLIC_URL] }))),
      'invalid_client',
      /aud must be exactly one/
    )
  })

  it('refuses a missing aud', async () => {
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { omit: ['aud'] }))),
      'invalid_client',
      /aud/
    )
  })

  it('refuses an expired assertion', async () => {
    const exp = Math.floor(Date.now() / 1000) - 60
    expectOAuthError(await requestToken(t.app, form(await signAssertion(client, { exp }))), 'invalid_client', /expired/)
  })

  it('refuses exp more than 310 s ahead, accepts 300 s ahead', async () => {
    const now = Math.floor(Date.now() / 1000)
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { exp: now + 400 }))),
      'invalid_client',
      /exp is more than 300 seconds/
    )
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { exp: now + 315 }))),
      'invalid_client',
      /exp is more than 300 seconds/
    )
    const ok = await requestToken(t.app, form(await signAssertion(client, { exp: now + 300 })))
    expect(ok.statusCode, ok.body).toBe(200)
  })

  it('refuses a missing exp', async () => {
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { omit: ['exp'] }))),
      'invalid_client',
      /exp/
    )
  })

  it('refuses a missing jti', async () => {
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { omit: ['jti'] }))),
      'invalid_client',
      /no jti/
    )
  })

  it('refuses a replayed jti: the second use of the same assertion fails', async () => {
    const assertion = await signAssertion(client)
    const first = await requestToken(t.app, form(assertion))
    expect(first.statusCode, first.body).toBe(200)
    expectOAuthError(await requestToken(t.app, form(assertion)), 'invalid_client', /jti has already been used/)
    // Also as a fresh assertion carrying a used jti.
    const jti = randomUUID()
    expect((await requestToken(t.app, form(await signAssertion(client, { jti })))).statusCode).toBe(200)
    expectOAuthError(await requestToken(t.app, form(await signAssertion(client, { jti }))), 'invalid_client', /replay/)
  })

  it('the sweep forgets a used jti only once its assertion has expired', async () => {
    const jti = randomUUID()
    const exp = Math.floor(Date.now() / 1000) + 60
    expect((await requestToken(t.app, form(await signAssertion(client, { jti, exp })))).statusCode).toBe(200)
    await t.app.runtime.usedAssertions.sweep()
    expectOAuthError(await requestToken(t.app, form(await signAssertion(client, { jti }))), 'invalid_client', /replay/)
    // Past exp and the clock skew allowed, an assertion is refused as expired: its jti may go.
    expect(await t.app.runtime.usedAssertions.sweep(new Date((exp + 11) * 1000))).toBeGreaterThanOrEqual(1)
    expect((await requestToken(t.app, form(await signAssertion(client, { jti })))).statusCode).toBe(200)
  })

  it('lets two clients use the same jti (unique per client)', async () => {
    const other = await registerClient(t.app)
    const jti = randomUUID()
    expect((await requestToken(t.app, form(await signAssertion(client, { jti })))).statusCode).toBe(200)
    expect((await requestToken(t.app, form(await signAssertion(other, { jti })))).statusCode).toBe(200)
  })

  it('refuses an assertion signed with the wrong key', async () => {
    const { privateKey } = await newKeyPair(client.alg)
    expectOAuthError(
      await requestToken(t.app, form(await signAssertion(client, { key: privateKey }))),
      'invalid_client',
      NOT_SIGNED
    )
  })

  it("refuses another client's key (kid of client B, iss of client A)", async () => {
    const other = await registerClient(t.app)
    const res = await requestToken(t.app, form(await signAssertion(client, { kid: other.kid, key: other.privateKey })))
    expectOAuthError(res, 'invalid_client', NOT_SIGNED)
  })

  it('refuses a suspended client (suspended through the API): 401 invalid_client', async () => {
    const c = await registerClient(t.app)
    expect((await requestToken(t.app, form(await signAssertion(c)))).statusCode).toBe(200)
    await patchClient(c.id, { status: 'suspended' })
    expectOAuthError(await requestToken(t.app, form(await signAssertion(c))), 'invalid_client', NOT_SIGNED)
    // Reactivated: tokens again.
    await patchClient(c.id, { status: 'active' })
    expect((await requestToken(t.app, form(await signAssertion(c)))).statusCode).toBe(200)
  })
})

describe('POST /oauth2/token: assertions without kid, from a client with several keys', () => {
  type Key = Awaited<ReturnType<typeof newKeyPair>>
  /** A client registered through the API with these public keys; its id. */
  async function clientWithKeys (keys: Key[]): Promise<string> {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: admin.auth,
      payload: {
        name: 'Several keys',
        scopes: ['consent:check'],
        purposes: ['planned-care'],
        jwks: { keys: keys.map(k => k.publicJwk) }
      }
    })
    expect(res.statusCode, res.body).toBe(201)
    return res.json().clientId as string
  }
  const kidless = async (id: string, key: Key): Promise<LightMyRequestResponse> =>
    await requestToken(
      t.app,
      form(
        await signAssertion(
          { id, kid: key.kid, privateKey: key.privateKey, alg: 'ES256' } as TestClient,
          { header: { kid: undefined } }
        )
      )
    )

  it("finds the signing key among the client's keys (a key rotation: old and new registered)", async () => {
    const keys = await Promise.all([newKeyPair(), newKeyPair(), newKeyPair()])
    const id = await clientWithKeys(keys)
    for (const key of keys) expect((await kidless(id, key)).statusCode).toBe(200)
    expectOAuthError(await kidless(id, await newKeyPair()), 'invalid_client', NOT_SIGNED)
  })

  it('finds the signing key among the keys at a JWKS URL client', async () => {
    const keys = await Promise.all([newKeyPair(), newKeyPair()])
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ keys: keys.map(k => k.publicJwk) }))
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`
      const id = await registerJwksUrlClient(t.app, admin.auth, url)
      for (const key of keys) expect((await kidless(id, key)).statusCode).toBe(200)
      expectOAuthError(await kidless(id, await newKeyPair()), 'invalid_client', NOT_SIGNED)
    } finally {
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    }
  })

  it('tries at most 5 keys: a client with more must name its key', async () => {
    const keys = await Promise.all(Array.from({ length: 6 }, async () => await newKeyPair()))
    const id = await clientWithKeys(keys)
    expectOAuthError(await kidless(id, keys[0]), 'invalid_client', NOT_SIGNED)
    // Named by its kid, the same key is accepted.
    const named = await requestToken(
      t.app,
      form(await signAssertion({ id, kid: keys[0].kid, privateKey: keys[0].privateKey, alg: 'ES256' } as TestClient))
    )
    expect(named.statusCode, named.body).toBe(200)
  })
})

describe('POST /oauth2/token: SMART system scopes', () => {
  it('grants system/Consent.rs and system/AuditEvent.rs as consent:read and audit:read, echoing them', async () => {
    const client = await registerClient(t.app, { scopes: ['consent:read', 'audit:read'] })
    for (const scope of ['system/Consent.rs system/AuditEvent.rs', 'system/Consent.read system/AuditEvent.read']) {
      const res = await requestToken(t.app, form(await signAssertion(client), { scope }))
      expect(res.statusCode, res.body).toBe(200)
      const body = res.json() as { access_token: string; scope: string }
      expect(body.scope).toBe(scope)
      const auth = { authorization: `Bearer ${body.access_token}` }
      const consents = await t.app.inject({ method: 'GET', url: `/fhir/Consent?${PATIENT}`, headers: auth })
      expect(consents.statusCode, consents.body).toBe(200)
      const events = await t.app.inject({ method: 'GET', url: `/fhir/AuditEvent?${PATIENT}`, headers: auth })
      expect(events.statusCode, events.body).toBe(200)
    }
  })

  it('the token carries only the mapped scope: system/Consent.rs does not admit the audit trail', async () => {
    const client = await registerClient(t.app, { scopes: ['consent:read', 'audit:read'] })
    const res = await requestToken(t.app, form(await signAssertion(client), { scope: 'system/Consent.rs' }))
    expect(res.statusCode, res.body).toBe(200)
    const auth = { authorization: `Bearer ${(res.json() as { access_token: string }).access_token}` }
    const events = await t.app.inject({ method: 'GET', url: `/fhir/AuditEvent?${PATIENT}`, headers: auth })
    expect(events.statusCode, events.body).toBe(403)
  })

  it('refuses a SMART scope whose service scope the client does not hold: invalid_scope', async () => {
    const client = await registerClient(t.app, { scopes: ['consent:read'] })
    const res = await requestToken(t.app, form(await signAssertion(client), { scope: 'system/AuditEvent.rs' }))
    expectOAuthError(res, 'invalid_scope', /not registered for this client: system\/AuditEvent\.rs/)
  })

  it('refuses SMART scopes with no mapping: invalid_scope', async () => {
    const client = await registerClient(t.app)
    for (const scope of ['system/Patient.rs', 'system/Consent.cud', 'system/Consent.r', 'system/*.rs', 'constructor']) {
      const res = await requestToken(t.app, form(await signAssertion(client), { scope }))
      expectOAuthError(res, 'invalid_scope', /unknown scope/)
    }
  })
})

describe('access tokens on /v1', () => {
  it('no Authorization header: 401 problem+json with WWW-Authenticate', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      payload: { nhsNumber: NHS, purpose: 'planned-care' }
    })
    expect(expectProblem(res, 401).detail).toMatch(/Authorization/)
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/)
  })

  it('malformed Authorization header: 401', async () => {
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer a b', admin.token]) {
      expectProblem(await decide({ authorization }), 401)
    }
  })

  it('garbage or foreign tokens: 401', async () => {
    expectProblem(await decide({ authorization: 'Bearer garbage' }), 401)
    expectProblem(await decide({ authorization: 'Bearer aaa.bbb.ccc' }), 401)
    expectProblem(await decide({ authorization: `Bearer ${'a'.repeat(5000)}` }), 401)
    // A JWT signed by a client (its assertion), not by the service.
    const c = await registerClient(t.app)
    expectProblem(await decide({ authorization: `Bearer ${await signAssertion(c)}` }), 401)
    // A token with one signature byte changed.
    const good = admin.token
    const last = good.at(-2) === 'A' ? 'B' : 'A'
    expectProblem(await decide({ authorization: `Bearer ${good.slice(0, -2)}${last}${good.at(-1) ?? ''}` }), 401)
  })

  it("a suspended client's token stops working at once, and works again when reactivated", async () => {
    const c = await clientWithToken(t.app)
    expect((await decide(c.auth)).statusCode).toBe(200)
    await patchClient(c.id, { status: 'suspended' })
    expect(expectProblem(await decide(c.auth), 401).detail).toMatch(/suspended/)
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/purposes', headers: c.auth }), 401)
    await patchClient(c.id, { status: 'active' })
    expect((await decide(c.auth)).statusCode).toBe(200)
  })

  it('a scope cut takes effect on the old token at once: 403 on /v1/decisions', async () => {
    const c = await clientWithToken(t.app)
    expect((await decide(c.auth)).statusCode).toBe(200)
    await patchClient(c.id, { scopes: ALL_SCOPES.filter(s => s !== 'consent:check') })
    expect(expectProblem(await decide(c.auth), 403).detail).toMatch(/consent:check/)
    // The scopes it still holds keep working.
    expect(
      (await t.app.inject({ method: 'GET', url: `/v1/patients/${NHS}/preferences`, headers: c.auth })).statusCode
    ).toBe(200)
    // Giving the scope back does not widen an old token beyond what it carried: it carried it, so it works again.
    await patchClient(c.id, { scopes: ALL_SCOPES })
    expect((await decide(c.auth)).statusCode).toBe(200)
  })

  it('a token without the needed scope: 403', async () => {
    const c = await registerClient(t.app, { scopes: ['consent:read', 'consent:check'] })
    const token = await tokenFor(t.app, c, 'consent:read')
    expect(expectProblem(await decide({ authorization: `Bearer ${token}` }), 403).detail).toMatch(/consent:check/)
    const noAdmin = await clientWithToken(t.app, { scopes: ['consent:check'] })
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/clients', headers: noAdmin.auth }), 403)
  })

  it('a purpose the client is not registered for: 403', async () => {
    const c = await clientWithToken(t.app, { scopes: ['consent:check'], purposes: ['planned-care'] })
    expect((await decide(c.auth, 'planned-care')).statusCode).toBe(200)
    expectProblem(await decide(c.auth, 'planning-research'), 403)
  })

  it('refuses service-signed tokens: expired, wrong type, audience or issuer, or an unknown client', async () => {
    const c = await registerClient(t.app)
    const now = Math.floor(Date.now() / 1000)
    const mint = async (o: Omit<ForgedToken, 'clientId'> & { sub?: string } = {}): Promise<string> =>
      await forgeAccessToken(t.app, {
        scopes: ['consent:check'],
        iat: now - 1000,
        exp: now + 300,
        ...o,
        clientId: o.sub ?? c.id
      })
    // The control: a token made this way is accepted.
    expect((await decide({ authorization: `Bearer ${await mint()}` })).statusCode).toBe(200)
    expect(
      expectProblem(await decide({ authorization: `Bearer ${await mint({ exp: now - 60 })}` }), 401).detail
    ).toMatch(/expired/)
    expectProblem(await decide({ authorization: `Bearer ${await mint({ typ: 'JWT' })}` }), 401)
    expectProblem(await decide({ authorization: `Bearer ${await mint({ aud: 'https://other.example' })}` }), 401)
    expectProblem(await decide({ authorization: `Bearer ${await mint({ iss: 'https://other.example' })}` }), 401)
    expectProblem(await decide({ authorization: `Bearer ${await mint({ sub: randomUUID() })}` }), 401)
  })

  it('accepts the scheme name case-insensitively', async () => {
    const res = await decide({ authorization: `bearer ${admin.token}` })
    // admin has only the admin scope: authenticated (not 401), refused for scope.
    expect(res.statusCode).toBe(403)
  })
})

describe('discovery', () => {
  const documents = [
    '/.well-known/oauth-authorization-server',
    '/.well-known/smart-configuration',
    '/fhir/.well-known/smart-configuration'
  ]
  for (const path of documents) {
    it(`GET ${path} publishes what a standard OAuth client needs`, async () => {
      const res = await t.app.inject({ method: 'GET', url: path })
      expect(res.statusCode).toBe(200)
      expect(res.headers['content-type']).toMatch(/^application\/json/)
      const doc = res.json() as Record<string, unknown>
      expect(doc.issuer).toBe(PUBLIC_URL)
      expect(doc.token_endpoint).toBe(`${PUBLIC_URL}/oauth2/token`)
      expect(doc.token_endpoint_auth_methods_supported).toEqual(['private_key_jwt'])
      expect(doc.grant_types_supported).toEqual(['client_credentials'])
      const algs = doc.token_endpoint_auth_signing_alg_values_supported as string[]
      expect(algs).toEqual(expect.arrayContaining(['RS512', 'RS384', 'ES384', 'ES256', 'PS256']))
      expect(algs).not.toContain('none')
      expect(algs.some(a => a.startsWith('HS'))).toBe(false)
      expect(doc.scopes_supported).toEqual(expect.arrayContaining([...ALL_SCOPES, 'system/Consent.rs']))
      // Only a token endpoint: no authorization endpoint, so no response type and no PKCE.
      expect(doc.response_types_supported).toEqual([])
      expect(doc).not.toHaveProperty('authorization_endpoint')
      expect(doc).not.toHaveProperty('code_challenge_methods_supported')
    })
  }

  it('a refused SMART configuration request is an OperationOutcome under /fhir, elsewhere problem+json', async () => {
    const fhir = await t.app.inject({ method: 'GET', url: '/fhir/.well-known/smart-configuration?purpose=a%00b' })
    expect(fhir.statusCode, fhir.body).toBe(400)
    expect(fhir.headers['content-type']).toMatch(/^application\/fhir\+json/)
    expect(fhir.json()).toMatchObject({ resourceType: 'OperationOutcome' })
    expectProblem(await t.app.inject({ method: 'GET', url: '/.well-known/smart-configuration?purpose=a%00b' }), 400)
  })

  it('serves no OpenID Connect discovery document (this is no OpenID provider)', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' })
    expect(res.statusCode).toBe(404)
  })

  it('the SMART configuration names the asymmetric client capability and both scope syntaxes', async () => {
    for (const url of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
      const doc = (await t.app.inject({ method: 'GET', url })).json() as Record<string, unknown>
      expect(doc.capabilities).toEqual(['client-confidential-asymmetric', 'permission-v1', 'permission-v2'])
      expect(doc.scopes_supported).toEqual(
        expect.arrayContaining(['system/Consent.rs', 'system/Consent.read', 'system/AuditEvent.rs'])
      )
    }
  })

  it('the published algorithms follow ASSERTION_ALGORITHMS', async () => {
    const other = await buildTestApp({ ASSERTION_ALGORITHMS: 'ES256,RS512' })
    try {
      const doc = (
        await other.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })
      ).json() as Record<string, unknown>
      expect(doc.token_endpoint_auth_signing_alg_values_supported).toEqual(['ES256', 'RS512'])
      // And the token endpoint applies the same list: an RS384 assertion is refused.
      const c = await registerClient(other.app, { alg: 'RS384' })
      const res = await requestToken(other.app, form(await signAssertion(c)))
      expectOAuthError(res, 'invalid_client', /alg 'RS384' is not allowed/)
    } finally {
      await other.close()
    }
  })
})
