// Abuse controls (SPEC §7): per-client rate limits shared across instances, limits on failed token
// requests per client and per IP, and a limited not-found handler. All answer 429 with Retry-After.
// The failure limits apply only to requests that fail: valid credentials are never refused for them
// (test/security/auth-failure-budget.test.ts tests this behind a proxy).
// The apps here share one store, and so share every counter: each test that counts per address
// sends from an address of its own, so that no test sees another's failures (which reach it
// whenever its instance next flushes its counters, every 200 ms).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  ASSERTION_TYPE,
  buildTestApp,
  clientWithToken,
  freshStore,
  registerClient,
  signAssertion,
  tokenFor,
  type TestApp,
  type TestStore
} from '../helpers/app.ts'

describe('rate limits', () => {
  let store: TestStore
  let a: TestApp
  let b: TestApp

  beforeAll(async () => {
    store = await freshStore()
    const key = join(mkdtempSync(join(tmpdir(), 'consent-rl-')), 'signing-key.json')
    const limits = {
      RATE_LIMIT_PER_MINUTE: '20',
      TOKEN_FAILURES_PER_MINUTE: '3',
      NOT_FOUND_PER_MINUTE: '5',
      SIGNING_KEY_FILE: key
    }
    a = await buildTestApp(limits, store)
    b = await buildTestApp(limits, store)
  })
  // Counts live in fixed one-minute windows: start each test well inside one.
  beforeEach(async () => {
    const left = 60_000 - (Date.now() % 60_000)
    if (left < 5_000) await new Promise(resolve => setTimeout(resolve, left + 50))
  })
  afterAll(async () => {
    await a.close()
    await b.close()
    await store.drop()
  })

  /** A token request for a client credentials grant with this assertion, sent from `remoteAddress`. */
  const requestTokenFrom = async (
    t: TestApp,
    remoteAddress: string,
    assertion: string,
    extra: Record<string, string> = {}
  ): Promise<{ statusCode: number; headers: Record<string, unknown>; json: () => Record<string, unknown> }> =>
    await t.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      remoteAddress,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: assertion,
        ...extra
      }).toString()
    })

  /** A decision asked with a bearer token that is not one, from `remoteAddress`: a failed authentication. */
  const decideWithBadToken = async (t: TestApp, remoteAddress: string, i: number): Promise<number> =>
    (
      await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        remoteAddress,
        headers: { authorization: `Bearer not-a-token-${i}` },
        payload: { nhsNumber: '9434765919', purpose: 'planned-care' }
      })
    ).statusCode

  const decide = async (
    t: TestApp,
    auth: { authorization: string }
  ): Promise<{ statusCode: number; headers: Record<string, unknown>; json: () => Record<string, unknown> }> =>
    await t.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: auth,
      payload: { nhsNumber: '9434765919', purpose: 'planned-care' }
    })

  it('limits each client, answering 429 problem+json with Retry-After; other clients are unaffected', async () => {
    const busy = await clientWithToken(a.app)
    const calm = await clientWithToken(a.app)
    const codes: number[] = []
    for (let i = 0; i < 25; i++) codes.push((await decide(a, busy.auth)).statusCode)
    expect(codes.filter(c => c === 200)).toHaveLength(20)
    const limited = await decide(a, busy.auth)
    expect(limited.statusCode).toBe(429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(limited.headers['content-type']).toContain('application/problem+json')
    expect(limited.json()).toMatchObject({
      status: 429,
      title: 'Too Many Requests',
      detail: expect.stringMatching(/Rate limit/)
    })
    expect((await decide(a, calm.auth)).statusCode).toBe(200)
  })

  it('shares the count across instances on one store', async () => {
    const client = await registerClient(a.app)
    const auth = { authorization: `Bearer ${await tokenFor(a.app, client)}` }
    for (let i = 0; i < 15; i++) expect((await decide(a, auth)).statusCode).toBe(200)
    await a.app.runtime.counters.flush()
    // b learns the fleet-wide count at its next flush (every 200 ms): the bound on overshoot.
    expect((await decide(b, auth)).statusCode).toBe(200)
    await b.app.runtime.counters.flush()
    const codes: number[] = []
    for (let i = 0; i < 6; i++) codes.push((await decide(b, auth)).statusCode)
    // 15 at a + 1 at b + 4 more = the limit of 20; the 21st in the fleet is refused.
    expect(codes).toEqual([200, 200, 200, 200, 429, 429])
  })

  it('limits failed token requests per client (then 429), while a valid assertion is still accepted', async () => {
    const client = await registerClient(b.app)
    const address = '203.0.113.10'
    for (let i = 0; i < 3; i++) {
      const bad = await requestTokenFrom(b, address, await signAssertion(client, { aud: 'https://wrong.example' }))
      expect(bad.statusCode).toBe(401)
    }
    const limited = await requestTokenFrom(b, address, await signAssertion(client, { aud: 'https://wrong.example' }))
    expect(limited.statusCode).toBe(429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(limited.json()).toMatchObject({
      error: 'temporarily_unavailable',
      error_description: expect.stringMatching(/too many failed token requests/)
    })
    const good = await requestTokenFrom(b, address, await signAssertion(client))
    expect(good.statusCode, JSON.stringify(good.json())).toBe(200)
  })

  it('limits failed token requests per IP, whatever client they claim', async () => {
    const ipLimited = await buildTestApp({ TOKEN_FAILURES_PER_MINUTE: '2' }, store)
    try {
      const statuses: number[] = []
      for (let i = 0; i < 12; i++) {
        // A different client each time: no per-client budget runs out, only the address's.
        const res = await requestTokenFrom(ipLimited, '203.0.113.11', `garbage-${i}`, { client_id: `claimed-${i}` })
        statuses.push(res.statusCode)
      }
      // 5 x the per-client limit per IP, then 429.
      expect(statuses.slice(0, 10).every(s => s === 400)).toBe(true)
      expect(statuses.slice(10)).toEqual([429, 429])
    } finally {
      await ipLimited.close()
    }
  })

  it('limits probes of unknown routes per IP', async () => {
    const codes: number[] = []
    for (let i = 0; i < 7; i++) {
      const res = await a.app.inject({ method: 'GET', url: `/v1/nothing-here-${i}`, remoteAddress: '203.0.113.12' })
      codes.push(res.statusCode)
    }
    expect(codes.slice(0, 5)).toEqual([404, 404, 404, 404, 404])
    expect(codes.slice(5)).toEqual([429, 429])
  })

  it('counts failed bearer authentications per IP too, then answers 429', async () => {
    const limited = await buildTestApp({ TOKEN_FAILURES_PER_MINUTE: '2' }, store)
    try {
      const statuses: number[] = []
      for (let i = 0; i < 12; i++) statuses.push(await decideWithBadToken(limited, '203.0.113.13', i))
      expect(statuses.slice(0, 10).every(s => s === 401)).toBe(true)
      expect(statuses.slice(10)).toEqual([429, 429])
    } finally {
      await limited.close()
    }
  })

  it('failed token requests and failed bearer authentications spend one budget per address, fleet-wide', async () => {
    const one = await buildTestApp({ TOKEN_FAILURES_PER_MINUTE: '2' }, store)
    const two = await buildTestApp({ TOKEN_FAILURES_PER_MINUTE: '2' }, store)
    const address = '203.0.113.15'
    try {
      for (let i = 0; i < 5; i++) expect((await requestTokenFrom(one, address, `garbage-${i}`)).statusCode).toBe(400)
      await one.app.runtime.counters.flush()
      for (let i = 0; i < 5; i++) expect(await decideWithBadToken(two, address, i)).toBe(401)
      // Two learns the fleet's count for the address when it adds its own.
      await two.app.runtime.counters.flush()
      // 5 + 5 = 10, the address's budget (5 x 2): both endpoints now refuse it.
      expect(await decideWithBadToken(two, address, 5)).toBe(429)
      const token = await requestTokenFrom(two, address, 'garbage-5')
      expect(token.statusCode).toBe(429)
      expect(token.json()).toMatchObject({ error: 'temporarily_unavailable' })
      // Another address is not affected.
      expect(await decideWithBadToken(two, '203.0.113.16', 0)).toBe(401)
    } finally {
      await one.close()
      await two.close()
    }
  })

  it('failures claimed for a client from one address do not lock that client out, there or elsewhere', async () => {
    const client = await registerClient(b.app)
    for (let i = 0; i < 4; i++) {
      const bad = await requestTokenFrom(
        b,
        '203.0.113.7',
        await signAssertion(client, { aud: 'https://wrong.example' })
      )
      expect(bad.statusCode).toBe(i < 3 ? 401 : 429)
    }
    // Only failures are limited: a valid assertion is accepted even from the address that spent the budget.
    const fromAttacker = await requestTokenFrom(b, '203.0.113.7', await signAssertion(client))
    expect(fromAttacker.statusCode).toBe(200)
    const fromClient = await requestTokenFrom(b, '198.51.100.20', await signAssertion(client))
    expect(fromClient.statusCode).toBe(200)
  })

  it('does not believe X-Forwarded-For unless TRUST_PROXY names the proxy', async () => {
    const codes: number[] = []
    for (let i = 0; i < 7; i++) {
      const res = await b.app.inject({
        method: 'GET',
        url: `/v1/spoofed-${i}`,
        remoteAddress: '203.0.113.14',
        headers: { 'x-forwarded-for': `192.0.2.${i}` }
      })
      codes.push(res.statusCode)
    }
    expect(codes).toEqual([404, 404, 404, 404, 404, 429, 429])
  })

  it('never limits health probes', async () => {
    for (let i = 0; i < 30; i++) {
      expect((await a.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
    }
  })
})
