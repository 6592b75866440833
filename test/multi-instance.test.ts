// Several instances on one database behave as one service (SPEC §8; issue 3): replayed assertions
// are refused everywhere, choices and client changes reach every instance within the change-feed
// bound, and every writer's audit chain verifies.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  bearer,
  buildTestApp,
  freshStore,
  nhsNumbers,
  registerClient,
  requestToken,
  signAssertion,
  tokenFor,
  tokenForm,
  type Auth,
  type TestApp,
  type TestClient,
  type TestStore
} from './helpers/app.ts'

const NHS = '9434765919'

async function until (what: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now()
  while (!(await what())) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  return Date.now() - started
}

describe('two instances on one store', () => {
  let store: TestStore
  let a: TestApp
  let b: TestApp
  let client: TestClient
  let authA: Auth
  let authB: Auth

  beforeAll(async () => {
    store = await freshStore()
    // Instances share the signing key file, as a deployment shares a mounted secret.
    const signingKey = join(mkdtempSync(join(tmpdir(), 'consent-shared-key-')), 'signing-key.json')
    a = await buildTestApp({ SIGNING_KEY_FILE: signingKey, CHANGE_POLL_MS: '200' }, store)
    b = await buildTestApp({ SIGNING_KEY_FILE: signingKey, CHANGE_POLL_MS: '200' }, store)
    client = await registerClient(a.app)
    authA = bearer(await tokenFor(a.app, client))
    authB = bearer(await tokenFor(b.app, client))
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await store.drop()
  })

  it('a client assertion used at one instance is refused as a replay at the other', async () => {
    const assertion = await signAssertion(client)
    const form = tokenForm(assertion)
    expect((await requestToken(a.app, form)).statusCode).toBe(200)
    const replay = await requestToken(b.app, form)
    expect(replay.statusCode).toBe(401)
    expect(replay.json()).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringMatching(/already been used/)
    })
  })

  it('a token issued by one instance works at the other', async () => {
    const res = await b.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: authA,
      payload: { nhsNumber: NHS, purpose: 'planned-care' }
    })
    expect(res.statusCode).toBe(200)
  })

  it('a choice recorded at one instance is used at once there and within 1 second at the other', async () => {
    const ask = async (app: TestApp, auth: Auth): Promise<string> =>
      (
        await app.app.inject({
          method: 'POST',
          url: '/v1/decisions',
          headers: auth,
          payload: { nhsNumber: NHS, purpose: 'gp-data-secondary-use' }
        })
      ).json().decision as string
    expect(await ask(b, authB)).toBe('permit')
    const recorded = await a.app.inject({
      method: 'POST',
      url: `/v1/patients/${NHS}/preferences`,
      headers: authA,
      payload: { purpose: 'planning-research', decision: 'deny', source: 'gp-practice' }
    })
    expect(recorded.statusCode).toBe(201)
    expect(await ask(a, authA)).toBe('deny')
    const delay = await until(async () => (await ask(b, authB)) === 'deny', 1000)
    expect(delay).toBeLessThan(1000)
  })

  it('choices imported at one instance are used at the other within 1 second', async () => {
    const body = ['9434765870', '4010232137']
      .map((n, i) => JSON.stringify({ externalId: `mi-${i}`, nhsNumber: n, code: '9Nu4' }))
      .join('\n')
    const imported = await a.app.inject({
      method: 'POST',
      url: '/v1/preferences/import',
      headers: { ...authA, 'content-type': 'application/x-ndjson' },
      payload: body
    })
    expect(imported.json()).toMatchObject({ imported: 2 })
    const ask = async (nhsNumber: string): Promise<string> =>
      (
        await b.app.inject({
          method: 'POST',
          url: '/v1/decisions',
          headers: authB,
          payload: { nhsNumber, purpose: 'planning-research' }
        })
      ).json().decision as string
    expect(
      await until(async () => (await ask('9434765870')) === 'deny' && (await ask('4010232137')) === 'deny', 1000)
    ).toBeLessThan(1000)
    // A larger import is named by several change rows (1 000 choices each); all of them arrive.
    const many = nhsNumbers(2500, 31)
    const big = await a.app.inject({
      method: 'POST',
      url: '/v1/preferences/import',
      headers: { ...authA, 'content-type': 'application/x-ndjson' },
      payload: many.map((n, i) => JSON.stringify({ externalId: `mi-big-${i}`, nhsNumber: n, code: '9Nu4' })).join('\n')
    })
    expect(big.json()).toMatchObject({ imported: 2500 })
    expect(
      await until(
        async () =>
          (await ask(many[0])) === 'deny' && (await ask(many[1500])) === 'deny' && (await ask(many[2499])) === 'deny',
        1000
      )
    ).toBeLessThan(1000)
  })

  it('suspending a client at one instance stops its tokens at the other within 1 second', async () => {
    const other = await registerClient(a.app, { name: 'to suspend' })
    const otherAuth = bearer(await tokenFor(b.app, other))
    const check = async (): Promise<number> =>
      (
        await b.app.inject({
          method: 'POST',
          url: '/v1/decisions',
          headers: otherAuth,
          payload: { nhsNumber: NHS, purpose: 'planned-care' }
        })
      ).statusCode
    expect(await check()).toBe(200)
    const patched = await a.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${other.id}`,
      headers: authA,
      payload: { status: 'suspended' }
    })
    expect(patched.statusCode).toBe(200)
    expect(await until(async () => (await check()) === 401, 1000)).toBeLessThan(1000)
  })

  it('cutting a scope at one instance stops that scope at the other within 1 second', async () => {
    const other = await registerClient(a.app, { name: 'to cut', scopes: ['consent:check', 'consent:read'] })
    const otherAuth = bearer(await tokenFor(b.app, other))
    const check = async (): Promise<number> =>
      (
        await b.app.inject({
          method: 'POST',
          url: '/v1/decisions',
          headers: otherAuth,
          payload: { nhsNumber: NHS, purpose: 'planned-care' }
        })
      ).statusCode
    expect(await check()).toBe(200)
    await a.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${other.id}`,
      headers: authA,
      payload: { scopes: ['consent:read'] }
    })
    expect(await until(async () => (await check()) === 403, 1000)).toBeLessThan(1000)
  })

  it('a purpose added at one instance can be asked about at the other within 1 second', async () => {
    const created = await a.app.inject({
      method: 'POST',
      url: '/v1/purposes',
      headers: authA,
      payload: {
        code: 'multi-instance-study',
        name: 'Study',
        category: 'secondary-use',
        parent: 'planning-research',
        defaultDecision: 'deny'
      }
    })
    expect(created.statusCode).toBe(201)
    const ask = async (): Promise<number> =>
      (
        await b.app.inject({
          method: 'POST',
          url: '/v1/decisions',
          headers: authB,
          payload: { nhsNumber: NHS, purpose: 'multi-instance-study' }
        })
      ).statusCode
    expect(await until(async () => (await ask()) === 200, 1000)).toBeLessThan(1000)
  })

  it('the audit chains of both writers verify, and each instance has its own chain', async () => {
    await Promise.all([a.app.runtime.audit.flush(), b.app.runtime.audit.flush()])
    expect(a.app.runtime.audit.chainId).not.toBe(b.app.runtime.audit.chainId)
    const res = await b.app.inject({ method: 'GET', url: '/v1/audit/verify', headers: authB })
    expect(res.json()).toMatchObject({ valid: true, firstBrokenLink: null })
    expect(res.json().chains).toBeGreaterThanOrEqual(2)
  })
})
