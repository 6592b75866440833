// The client registry API (SPEC §3, §4): register, list, change, suspend and rotate keys, with
// validation answered as problem+json and every change audited.
import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { JWK } from 'jose'
import type { LightMyRequestResponse } from 'fastify'
import {
  buildTestApp,
  clientWithToken,
  expectProblem,
  newKeyPair,
  registerClient,
  requestToken,
  signAssertion,
  tokenFor,
  tokenForm,
  useTestApp,
  type TestCaller,
  type TestClient
} from '../../helpers/app.ts'
import { storeOf } from '../../helpers/store.ts'

const t = useTestApp()
let admin: TestCaller
let auditor: TestCaller

beforeAll(async () => {
  admin = await clientWithToken(t.app, { name: 'Admin', scopes: ['admin'] })
  auditor = await clientWithToken(t.app, { name: 'Auditor', scopes: ['audit:read'] })
})

interface ClientJson {
  clientId: string
  name: string
  odsCode: string | null
  scopes: string[]
  purposes: string[]
  exemptions: unknown[]
  kids: string[]
  jwks: { keys: JWK[] } | null
  jwksUrl: string | null
  status: string
  createdAt: string
  updatedAt: string
}

async function post (body: unknown, auth = admin.auth): Promise<LightMyRequestResponse> {
  return await t.app.inject({
    method: 'POST',
    url: '/v1/clients',
    headers: auth,
    payload: body as Record<string, unknown>
  })
}

async function newRegistration (
  over: Record<string, unknown> = {}
): Promise<{ body: Record<string, unknown>; key: Awaited<ReturnType<typeof newKeyPair>> }> {
  const key = await newKeyPair('ES256')
  return {
    key,
    body: {
      name: 'Royal County ED',
      odsCode: 'RA701',
      scopes: ['consent:check'],
      purposes: ['unplanned-care'],
      jwks: { keys: [key.publicJwk] },
      ...over
    }
  }
}

/** A TestClient for a client registered through the API, so the helper can sign its assertions. */
function asTestClient (clientId: string, key: Awaited<ReturnType<typeof newKeyPair>>): TestClient {
  return {
    id: clientId,
    kid: key.kid,
    privateKey: key.privateKey,
    publicJwk: key.publicJwk,
    alg: 'ES256',
    record: undefined as unknown as TestClient['record']
  }
}

async function tokenStatus (client: TestClient): Promise<LightMyRequestResponse> {
  return await requestToken(t.app, tokenForm(await signAssertion(client)))
}

/** Expects a 400 problem+json whose errors[] has an entry at `path` whose message matches `message`. */
function expectInvalid (res: LightMyRequestResponse, path: string, message?: RegExp): void {
  const body = expectProblem(res, 400, { path })
  expect(body.title).toBe('Bad Request')
  for (const e of body.errors) expect(e).toEqual({ path: expect.any(String), message: expect.any(String) })
  const hit = body.errors.find(e => e.path === path)
  expect(hit, `no error at ${path}: ${res.body}`).toBeDefined()
  if (message !== undefined) expect(hit?.message).toMatch(message)
}

async function auditEvents (
  type: string
): Promise<
  Array<{ type: string; clientId: string | null; requestId: string | null; details: Record<string, unknown> }>
> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/audit?type=${type}&limit=500`, headers: auditor.auth })
  expect(res.statusCode, res.body).toBe(200)
  return (
    res.json() as {
      items: Array<{
        type: string
        clientId: string | null
        requestId: string | null
        details: Record<string, unknown>
      }>
    }
  ).items
}

describe('POST /v1/clients', () => {
  it('registers a client: 201 with clientId and kids, and the client can then get a token', async () => {
    const { body, key } = await newRegistration()
    const res = await post(body)
    expect(res.statusCode, res.body).toBe(201)
    const c = res.json() as ClientJson
    expect(c.clientId).toMatch(/^[0-9a-f-]{36}$/)
    expect(c).toMatchObject({
      name: 'Royal County ED',
      odsCode: 'RA701',
      scopes: ['consent:check'],
      purposes: ['unplanned-care'],
      exemptions: [],
      kids: [key.kid],
      jwksUrl: null,
      status: 'active'
    })
    expect(res.headers.location).toBe(`/v1/clients/${c.clientId}`)
    // Never a private key in the answer.
    expect(JSON.stringify(c.jwks)).not.toMatch(/"d"/)

    const client = asTestClient(c.clientId, key)
    const token = await tokenFor(t.app, client)
    const decision = await t.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: { authorization: `Bearer ${token}` },
      payload: { nhsNumber: '9434765919', purpose: 'unplanned-care' }
    })
    expect(decision.statusCode, decision.body).toBe(200)
    // Only what it was registered for.
    const other = await t.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: { authorization: `Bearer ${token}` },
      payload: { nhsNumber: '9434765919', purpose: 'planning-research' }
    })
    expect(other.statusCode).toBe(403)
  })

  it('registers a client with a valid exemption on a secondary-use purpose', async () => {
    const { body } = await newRegistration({
      scopes: ['consent:filter'],
      purposes: ['planning-research'],
      exemptions: [{ purpose: 'planning-research', basis: 'legal-requirement', reference: 'Court order 2026/123' }]
    })
    const res = await post(body)
    expect(res.statusCode, res.body).toBe(201)
    expect((res.json() as ClientJson).exemptions).toEqual([
      { purpose: 'planning-research', basis: 'legal-requirement', reference: 'Court order 2026/123' }
    ])
  })

  it('registers a client with a jwksUrl instead of jwks', async () => {
    const res = await post({
      name: 'Remote keys',
      scopes: ['consent:check'],
      purposes: ['planned-care'],
      jwksUrl: 'https://keys.example.nhs.uk/jwks.json'
    })
    expect(res.statusCode, res.body).toBe(201)
    expect(res.json()).toMatchObject({ jwksUrl: 'https://keys.example.nhs.uk/jwks.json', kids: [] })
  })

  it('refuses an unknown scope', async () => {
    const { body } = await newRegistration({ scopes: ['consent:check', 'consent:everything'] })
    expectInvalid(await post(body), '/scopes/1')
  })

  it('refuses an unknown purpose', async () => {
    const { body } = await newRegistration({ purposes: ['unplanned-care', 'no-such-purpose'] })
    expectInvalid(await post(body), '/purposes/1', /unknown purpose 'no-such-purpose'/)
  })

  it('refuses a private key in the jwks', async () => {
    const { body, key } = await newRegistration()
    const { exportJWK } = await import('jose')
    const priv = { ...(await exportJWK(key.privateKey)), kid: key.kid, alg: 'ES256' }
    expect(priv.d).toBeDefined()
    expectInvalid(await post({ ...body, jwks: { keys: [priv] } }), '/jwks/keys/0', /private/)
  })

  it('refuses a symmetric key in the jwks', async () => {
    const { body } = await newRegistration()
    expectInvalid(
      await post({ ...body, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac', alg: 'HS256' }] } }),
      '/jwks/keys/0'
    )
  })

  it('refuses a key without kid', async () => {
    const { body, key } = await newRegistration()
    const { kid: _kid, ...noKid } = key.publicJwk
    expectInvalid(await post({ ...body, jwks: { keys: [noKid] } }), '/jwks/keys/0/kid', /kid/)
  })

  it('refuses two keys with the same kid', async () => {
    const { body, key } = await newRegistration()
    const second = await newKeyPair('ES256')
    expectInvalid(
      await post({ ...body, jwks: { keys: [key.publicJwk, { ...second.publicJwk, kid: key.kid }] } }),
      '/jwks/keys/1/kid',
      /twice/
    )
  })

  it('refuses a registration with neither jwks nor jwksUrl', async () => {
    const { body } = await newRegistration()
    delete body.jwks
    expectInvalid(await post(body), '/jwks', /jwksUrl/)
  })

  it('refuses an empty key set', async () => {
    const { body } = await newRegistration()
    const res = await post({ ...body, jwks: { keys: [] } })
    expect(res.statusCode).toBe(400)
    expect((res.json() as { errors: Array<{ path: string }> }).errors.some(e => e.path.startsWith('/jwks/keys'))).toBe(
      true
    )
  })

  it('refuses a plain-http jwksUrl', async () => {
    const { body } = await newRegistration()
    delete body.jwks
    expectInvalid(await post({ ...body, jwksUrl: 'http://keys.example.nhs.uk/jwks.json' }), '/jwksUrl', /https/)
  })

  it('refuses section 251 as an exemption basis, saying why', async () => {
    const { body } = await newRegistration({
      scopes: ['consent:filter'],
      purposes: ['planning-research'],
      exemptions: [{ purpose: 'planning-research', basis: 'section-251', reference: 'CAG 1-02(a)/2026' }]
    })
    const res = await post(body)
    expectInvalid(res, '/exemptions/0/basis', /section 251/i)
    expect((res.json() as { detail: string }).detail).toMatch(/section 251/i)
  })

  it('refuses an unknown exemption basis', async () => {
    const { body } = await newRegistration({
      scopes: ['consent:filter'],
      purposes: ['planning-research'],
      exemptions: [{ purpose: 'planning-research', basis: 'because', reference: 'x' }]
    })
    expectInvalid(await post(body), '/exemptions/0/basis', /basis must be one of/)
  })

  it('refuses an exemption on a direct-care purpose', async () => {
    const { body } = await newRegistration({
      exemptions: [{ purpose: 'summary-care-record', basis: 'legal-requirement', reference: 'ref' }]
    })
    expectInvalid(await post(body), '/exemptions/0/purpose', /direct care/)
  })

  it('refuses an exemption without reference', async () => {
    const { body } = await newRegistration({
      scopes: ['consent:filter'],
      purposes: ['planning-research'],
      exemptions: [{ purpose: 'planning-research', basis: 'legal-requirement' }]
    })
    expectInvalid(await post(body), '/exemptions/0/reference')
  })

  it('refuses an unknown field', async () => {
    const { body } = await newRegistration({ colour: 'blue' })
    expectInvalid(await post(body), '/colour', /not a known field/)
  })

  it('refuses missing required fields and wrong types', async () => {
    expectInvalid(
      await post({ scopes: ['consent:check'], purposes: ['planned-care'], jwksUrl: 'https://k.example/jwks' }),
      '/name',
      /required/
    )
    expectInvalid(
      await post({ name: 'x', scopes: 'consent:check', purposes: ['planned-care'], jwksUrl: 'https://k.example/jwks' }),
      '/scopes'
    )
  })

  it('needs the admin scope: 403 for any other token, 401 without one', async () => {
    const { body } = await newRegistration()
    const other = await clientWithToken(t.app, { scopes: ['consent:check', 'consent:write', 'audit:read'] })
    expectProblem(await post(body, other.auth), 403)
    expect((await t.app.inject({ method: 'POST', url: '/v1/clients', payload: body })).statusCode).toBe(401)
  })

  it('audits the registration as client.created, by the calling admin, without key material', async () => {
    const { body } = await newRegistration({ name: 'Audited client' })
    const res = await post(body)
    expect(res.statusCode).toBe(201)
    const id = (res.json() as ClientJson).clientId
    const events = await auditEvents('client.created')
    const event = events.find(e => e.details.subjectClientId === id)
    expect(event, JSON.stringify(events)).toBeDefined()
    expect(event).toMatchObject({ type: 'client.created', clientId: admin.id, requestId: res.headers['x-request-id'] })
    expect(event?.details).toMatchObject({ name: 'Audited client', scopes: ['consent:check'] })
    expect(JSON.stringify(event)).not.toMatch(/"x"\s*:|"d"\s*:/)
  })
})

describe('GET /v1/clients', () => {
  it('lists clients as { items, nextCursor } and pages by limit', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await post((await newRegistration({ name: `Listed ${i}` })).body)).statusCode).toBe(201)
    }
    const all = await t.app.inject({ method: 'GET', url: '/v1/clients?limit=200', headers: admin.auth })
    expect(all.statusCode, all.body).toBe(200)
    const allBody = all.json() as { items: ClientJson[]; nextCursor: string | null }
    expect(allBody.nextCursor).toBeNull()
    expect(allBody.items.length).toBeGreaterThanOrEqual(5)
    expect(allBody.items.map(c => c.clientId)).toContain(admin.id)
    const total = allBody.items.length

    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const url: string = `/v1/clients?limit=2${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
      const res = await t.app.inject({ method: 'GET', url, headers: admin.auth })
      expect(res.statusCode, res.body).toBe(200)
      const page = res.json() as { items: ClientJson[]; nextCursor: string | null }
      expect(page.items.length).toBeLessThanOrEqual(2)
      seen.push(...page.items.map(c => c.clientId))
      cursor = page.nextCursor
      pages++
    } while (cursor !== null && pages < 100)
    expect(pages).toBe(Math.ceil(total / 2))
    expect(seen).toHaveLength(total)
    expect(new Set(seen).size).toBe(total)
    expect([...seen].sort()).toEqual(allBody.items.map(c => c.clientId).sort())
  })

  it('filters by status', async () => {
    const res = await post((await newRegistration({ name: 'To suspend' })).body)
    const id = (res.json() as ClientJson).clientId
    await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${id}`,
      headers: admin.auth,
      payload: { status: 'suspended' }
    })
    const suspended = (
      await t.app.inject({ method: 'GET', url: '/v1/clients?status=suspended&limit=200', headers: admin.auth })
    ).json() as { items: ClientJson[] }
    expect(suspended.items.map(c => c.clientId)).toContain(id)
    expect(suspended.items.every(c => c.status === 'suspended')).toBe(true)
  })

  it('refuses a bad limit or cursor with 400', async () => {
    const list = async (query: string): Promise<LightMyRequestResponse> =>
      await t.app.inject({ method: 'GET', url: `/v1/clients?${query}`, headers: admin.auth })
    expectProblem(await list('limit=0'), 400, { path: 'querystring:/limit' })
    expectProblem(await list('cursor=%25%25%25'), 400)
  })

  it('GET /v1/clients/{id} answers one client, 404 for an unknown id', async () => {
    const one = await t.app.inject({ method: 'GET', url: `/v1/clients/${admin.id}`, headers: admin.auth })
    expect(one.statusCode).toBe(200)
    expect(one.json()).toMatchObject({ clientId: admin.id, name: 'Admin' })
    expectProblem(await t.app.inject({ method: 'GET', url: `/v1/clients/${randomUUID()}`, headers: admin.auth }), 404)
  })

  it('needs the admin scope', async () => {
    const other = await clientWithToken(t.app, { scopes: ['consent:check'] })
    expect((await t.app.inject({ method: 'GET', url: '/v1/clients', headers: other.auth })).statusCode).toBe(403)
  })
})

describe('PATCH /v1/clients/{id}', () => {
  it('updates fields and audits client.updated', async () => {
    const created = await post((await newRegistration({ name: 'Before' })).body)
    const id = (created.json() as ClientJson).clientId
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${id}`,
      headers: admin.auth,
      payload: { name: 'After', purposes: ['unplanned-care', 'planned-care'], odsCode: 'RX1' }
    })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({
      clientId: id,
      name: 'After',
      purposes: ['unplanned-care', 'planned-care'],
      odsCode: 'RX1',
      scopes: ['consent:check'],
      status: 'active'
    })
    // The change is visible on read.
    expect((await t.app.inject({ method: 'GET', url: `/v1/clients/${id}`, headers: admin.auth })).json()).toMatchObject(
      { name: 'After' }
    )

    const event = (await auditEvents('client.updated')).find(e => e.details.subjectClientId === id)
    expect(event).toBeDefined()
    expect(event).toMatchObject({ clientId: admin.id, requestId: res.headers['x-request-id'] })
    expect(event?.details).toMatchObject({ before: { name: 'Before' }, after: { name: 'After' } })
    expect(event?.details.changed).toEqual(expect.arrayContaining(['name', 'purposes', 'odsCode']))
  })

  it('answers 404 for an unknown id', async () => {
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${randomUUID()}`,
      headers: admin.auth,
      payload: { name: 'Nobody' }
    })
    expectProblem(res, 404)
  })

  it('validates a patch as it validates a registration', async () => {
    const id = ((await post((await newRegistration()).body)).json() as ClientJson).clientId
    const patch = async (payload: Record<string, unknown>): Promise<LightMyRequestResponse> =>
      await t.app.inject({ method: 'PATCH', url: `/v1/clients/${id}`, headers: admin.auth, payload })
    expectInvalid(await patch({ purposes: ['nope'] }), '/purposes/0')
    expectInvalid(await patch({ status: 'deleted' }), '/status')
    expectInvalid(
      await patch({ exemptions: [{ purpose: 'planning-research', basis: 's251', reference: 'x' }] }),
      '/exemptions/0/basis',
      /section 251/i
    )
    expectInvalid(await patch({ id: 'other' }), '/id', /not a known field/)
    expect((await patch({})).statusCode).toBe(400)
  })

  it('needs the admin scope', async () => {
    const other = await clientWithToken(t.app, { scopes: ['consent:check', 'consent:write'] })
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${other.id}`,
      headers: other.auth,
      payload: { scopes: ['admin'] }
    })
    expect(res.statusCode).toBe(403)
  })
})

describe('PUT /v1/clients/{id}/keys (rotation)', () => {
  it('adds a new key (both kids work), then removes the old one (old kid refused, new works)', async () => {
    const { body, key: oldKey } = await newRegistration({ scopes: ['consent:check'] })
    const id = ((await post(body)).json() as ClientJson).clientId
    const oldClient = asTestClient(id, oldKey)
    expect((await tokenStatus(oldClient)).statusCode).toBe(200)

    const newKey = await newKeyPair('ES256')
    const newClient = asTestClient(id, newKey)
    expect((await tokenStatus(newClient)).statusCode).toBe(401)

    const both = await t.app.inject({
      method: 'PUT',
      url: `/v1/clients/${id}/keys`,
      headers: admin.auth,
      payload: { keys: [oldKey.publicJwk, newKey.publicJwk] }
    })
    expect(both.statusCode, both.body).toBe(200)
    expect((both.json() as ClientJson).kids).toEqual([oldKey.kid, newKey.kid])
    expect((await tokenStatus(oldClient)).statusCode).toBe(200)
    expect((await tokenStatus(newClient)).statusCode).toBe(200)

    const onlyNew = await t.app.inject({
      method: 'PUT',
      url: `/v1/clients/${id}/keys`,
      headers: admin.auth,
      payload: { keys: [newKey.publicJwk] }
    })
    expect(onlyNew.statusCode, onlyNew.body).toBe(200)
    expect((onlyNew.json() as ClientJson).kids).toEqual([newKey.kid])
    const refused = await tokenStatus(oldClient)
    expect(refused.statusCode).toBe(401)
    expect(refused.json()).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/kid/) })
    expect((await tokenStatus(newClient)).statusCode).toBe(200)

    const events = (await auditEvents('client.updated')).filter(e => e.details.subjectClientId === id)
    expect(events).toHaveLength(2)
    expect(events[0].details).toMatchObject({ changed: ['jwks'], after: { kids: [newKey.kid] } })
  })

  it('refuses private keys and unknown clients', async () => {
    const { body, key } = await newRegistration()
    const id = ((await post(body)).json() as ClientJson).clientId
    const { exportJWK } = await import('jose')
    const priv = { ...(await exportJWK(key.privateKey)), kid: 'p1' }
    expectInvalid(
      await t.app.inject({
        method: 'PUT',
        url: `/v1/clients/${id}/keys`,
        headers: admin.auth,
        payload: { keys: [priv] }
      }),
      '/jwks/keys/0',
      /private/
    )
    const missing = await t.app.inject({
      method: 'PUT',
      url: `/v1/clients/${randomUUID()}/keys`,
      headers: admin.auth,
      payload: { keys: [key.publicJwk] }
    })
    expect(missing.statusCode).toBe(404)
  })

  it('needs the admin scope', async () => {
    const other = await clientWithToken(t.app, { scopes: ['consent:check'] })
    const res = await t.app.inject({
      method: 'PUT',
      url: `/v1/clients/${other.id}/keys`,
      headers: other.auth,
      payload: { keys: [other.publicJwk] }
    })
    expect(res.statusCode).toBe(403)
  })
})

describe('PUT /v1/clients/{id}/keys: body shapes', () => {
  it('takes the JWKS itself or wrapped as { jwks } (as in the registration)', async () => {
    const t2 = await buildTestApp()
    try {
      const admin = await clientWithToken(t2.app)
      const target = await registerClient(t2.app)
      const next = await newKeyPair('ES256')
      const wrapped = await t2.app.inject({
        method: 'PUT',
        url: `/v1/clients/${target.id}/keys`,
        headers: admin.auth,
        payload: { jwks: { keys: [next.publicJwk] } }
      })
      expect(wrapped.statusCode, wrapped.body).toBe(200)
      expect(wrapped.json().kids).toEqual([next.kid])
      const plain = await t2.app.inject({
        method: 'PUT',
        url: `/v1/clients/${target.id}/keys`,
        headers: admin.auth,
        payload: { keys: [target.publicJwk, next.publicJwk] }
      })
      expect(plain.json().kids).toEqual([target.kid, next.kid])
      expect(
        (
          await t2.app.inject({
            method: 'PUT',
            url: `/v1/clients/${target.id}/keys`,
            headers: admin.auth,
            payload: { jwks: { keys: [] } }
          })
        ).statusCode
      ).toBe(400)
    } finally {
      await t2.close()
    }
  })
})

describe('requireEndUser (SPEC §2 "Who asked")', () => {
  it('is false unless registered; POST, PATCH and GET carry it', async () => {
    const plain = await post((await newRegistration({ name: 'Plain ED' })).body)
    expect(plain.json()).toMatchObject({ requireEndUser: false })
    const strict = await post((await newRegistration({ name: 'Strict ED', requireEndUser: true })).body)
    expect(strict.statusCode, strict.body).toBe(201)
    const id = (strict.json() as ClientJson).clientId
    expect(strict.json()).toMatchObject({ requireEndUser: true })
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${id}`,
      headers: admin.auth,
      payload: { requireEndUser: false }
    })
    expect(patched.json()).toMatchObject({ requireEndUser: false })
    const read = await t.app.inject({ method: 'GET', url: `/v1/clients/${id}`, headers: admin.auth })
    expect(read.json()).toMatchObject({ requireEndUser: false })
    const event = (await auditEvents('client.updated')).find(e => e.details.subjectClientId === id)
    expect(event?.details).toMatchObject({ before: { requireEndUser: true }, after: { requireEndUser: false } })
    expectInvalid(await post((await newRegistration({ requireEndUser: 'yes' })).body), '/requireEndUser')
  })
})

describe("exemptions only for the client's own purposes (SPEC §2 rule 4)", () => {
  const legal = { purpose: 'planning-research', basis: 'legal-requirement', reference: 'Court order 2026/9' }

  it('an exemption for a purpose the client is not registered for is 400, saying why', async () => {
    const { body } = await newRegistration({
      scopes: ['consent:filter'],
      purposes: ['planned-care'],
      exemptions: [legal]
    })
    expectInvalid(await post(body), '/exemptions/0/purpose', /not registered for 'planning-research'/)
    // Registered for an ancestor is registered for the purposes under it.
    const { body: ancestor } = await newRegistration({
      scopes: ['consent:filter'],
      purposes: ['planning-research'],
      exemptions: [{ ...legal, purpose: 'gp-data-secondary-use' }]
    })
    expect((await post(ancestor)).statusCode).toBe(201)
  })

  it(
    'a patch adding such an exemption, or dropping the purpose an exemption needs, is 400 and changes ' + 'nothing',
    async () => {
      // A Type 1 programme: registered for gp-data-secondary-use alone, so not for planning-research above it.
      const type1 = { ...legal, purpose: 'gp-data-secondary-use' }
      const created = await post(
        (
          await newRegistration({
            scopes: ['consent:filter'],
            purposes: ['gp-data-secondary-use'],
            exemptions: [type1]
          })
        ).body
      )
      expect(created.statusCode, created.body).toBe(201)
      const id = (created.json() as ClientJson).clientId
      const patch = async (payload: Record<string, unknown>): Promise<LightMyRequestResponse> =>
        await t.app.inject({ method: 'PATCH', url: `/v1/clients/${id}`, headers: admin.auth, payload })
      expectInvalid(
        await patch({ exemptions: [type1, legal] }),
        '/exemptions/1/purpose',
        /not registered for 'planning-research'.*gp-data-secondary-use/
      )
      expectInvalid(
        await patch({ purposes: ['planned-care'], exemptions: [type1] }),
        '/exemptions/0/purpose',
        /not registered for 'gp-data-secondary-use'/
      )
      const orphaned = await patch({ purposes: ['planned-care'] })
      expectInvalid(orphaned, '/purposes', /would leave the exemption for 'gp-data-secondary-use'/)
      const read = (await t.app.inject({ method: 'GET', url: `/v1/clients/${id}`, headers: admin.auth })).json()
      expect(read).toMatchObject({ purposes: ['gp-data-secondary-use'], exemptions: [type1] })
      // Widening the purposes, or dropping the exemption with its purpose, is fine.
      expect((await patch({ purposes: ['planning-research'] })).statusCode).toBe(200)
      const both = await patch({ purposes: ['planned-care'], exemptions: [] })
      expect(both.statusCode, both.body).toBe(200)
      expect(both.json()).toMatchObject({ purposes: ['planned-care'], exemptions: [] })
    }
  )
})

describe('GET /v1/clients for a privacy officer (audit:read)', () => {
  it('audit:read lists client names and ODS codes but not keys, scopes, purposes or exemptions', async () => {
    const created = await post((await newRegistration({ name: 'Directory ED', odsCode: 'RX9' })).body)
    const id = (created.json() as ClientJson).clientId
    const res = await t.app.inject({ method: 'GET', url: '/v1/clients?limit=200', headers: auditor.auth })
    expect(res.statusCode, res.body).toBe(200)
    const items = res.json().items as Array<Record<string, unknown>>
    expect(items.find(c => c.clientId === id)).toEqual({
      clientId: id,
      name: 'Directory ED',
      odsCode: 'RX9',
      status: 'active'
    })
    for (const c of items) expect(Object.keys(c).sort()).toEqual(['clientId', 'name', 'odsCode', 'status'])
    expect(res.body).not.toMatch(/"(kty|kids|jwks|scopes|purposes|exemptions)"/)
    const one = await t.app.inject({ method: 'GET', url: `/v1/clients/${id}`, headers: auditor.auth })
    expect(one.json()).toEqual({ clientId: id, name: 'Directory ED', odsCode: 'RX9', status: 'active' })
    // An administrator still sees the whole registration.
    const full = await t.app.inject({ method: 'GET', url: `/v1/clients/${id}`, headers: admin.auth })
    expect(full.json()).toMatchObject({ clientId: id, scopes: ['consent:check'], kids: expect.any(Array) })
  })
})

describe('administrative audit events carry the correlation id (SPEC §3 "Audit")', () => {
  it('client.created and client.updated record the X-Correlation-ID of the request', async () => {
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: { ...admin.auth, 'x-correlation-id': 'change-ticket-101' },
      payload: (await newRegistration({ name: 'Correlated' })).body
    })
    expect(created.statusCode, created.body).toBe(201)
    const id = (created.json() as ClientJson).clientId
    const updated = await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${id}`,
      headers: { ...admin.auth, 'x-correlation-id': 'change-ticket-102' },
      payload: { name: 'Correlated again' }
    })
    expect(updated.statusCode, updated.body).toBe(200)
    for (const [type, correlationId] of [
      ['client.created', 'change-ticket-101'],
      ['client.updated', 'change-ticket-102']
    ]) {
      const rows = await storeOf(t.app).auditRowsOfType(type)
      const mine = rows.find(r => JSON.parse(String(r.details)).subjectClientId === id)
      expect((await storeOf(t.app).auditRow(String(mine?.id)))?.correlationId).toBe(correlationId)
    }
  })
})
