// Abuse controls (SPEC §7): per-client rate limits shared across instances, limits on failed token
// requests per client and per IP, and a limited not-found handler. All answer 429 with Retry-After.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  buildTestApp,
  clientWithToken,
  freshStore,
  registerClient,
  requestToken,
  signAssertion,
  tokenFor,
  type TestApp,
  type TestStore
} from '../helpers/app.ts'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

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

  it('limits failed token requests per client, then refuses even a valid assertion for a while', async () => {
    const client = await registerClient(b.app)
    for (let i = 0; i < 3; i++) {
      const bad = await requestToken(b.app, {
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await signAssertion(client, { aud: 'https://wrong.example' })
      })
      expect(bad.statusCode).toBe(401)
    }
    const good = await requestToken(b.app, {
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await signAssertion(client)
    })
    expect(good.statusCode).toBe(429)
    expect(Number(good.headers['retry-after'])).toBeGreaterThan(0)
    expect(good.json()).toMatchObject({
      error: 'temporarily_unavailable',
      error_description: expect.stringMatching(/too many failed token requests/)
    })
  })

  it('limits failed token requests per IP, whatever client they claim', async () => {
    const ipLimited = await buildTestApp({ TOKEN_FAILURES_PER_MINUTE: '2' }, store)
    try {
      const statuses: number[] = []
      for (let i = 0; i < 12; i++) {
        statuses.push(
          (
            await requestToken(ipLimited.app, {
              grant_type: 'client_credentials',
              client_assertion_type: ASSERTION_TYPE,
              client_assertion: `garbage-${i}`
            })
          ).statusCode
        )
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
      codes.push((await a.app.inject({ method: 'GET', url: `/v1/nothing-here-${i}` })).statusCode)
    }
    expect(codes.slice(0, 5)).toEqual([404, 404, 404, 404, 404])
    expect(codes.slice(5)).toEqual([429, 429])
  })

  it('counts failed bearer authentications per IP too, then answers 429', async () => {
    const limited = await buildTestApp({ TOKEN_FAILURES_PER_MINUTE: '2' }, store)
    try {
      const statuses: number[] = []
      for (let i = 0; i < 12; i++) {
        statuses.push(
          (
            await limited.app.inject({
              method: 'POST',
              url: '/v1/decisions',
              headers: { authorization: `Bearer not-a-token-${i}` },
              payload: { nhsNumber: '9434765919', purpose: 'planned-care' }
            })
          ).statusCode
        )
      }
      expect(statuses.slice(0, 10).every(s => s === 401)).toBe(true)
      expect(statuses.slice(10)).toEqual([429, 429])
    } finally {
      await limited.close()
    }
  })

  it('failures claimed for a client from one address do not lock that client out elsewhere', async () => {
    const client = await registerClient(b.app)
    for (let i = 0; i < 4; i++) {
      await b.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        remoteAddress: '203.0.113.7',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'client_credentials',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await signAssertion(client, { aud: 'https://wrong.example' })
        }).toString()
      })
    }
    const fromAttacker = await b.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      remoteAddress: '203.0.113.7',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await signAssertion(client)
      }).toString()
    })
    expect(fromAttacker.statusCode).toBe(429)
    const fromClient = await b.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      remoteAddress: '198.51.100.20',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await signAssertion(client)
      }).toString()
    })
    expect(fromClient.statusCode).toBe(200)
  })

  it('does not believe X-Forwarded-For unless TRUST_PROXY names the proxy', async () => {
    const codes: number[] = []
    for (let i = 0; i < 7; i++) {
      codes.push(
        (await b.app.inject({ method: 'GET', url: `/v1/spoofed-${i}`, headers: { 'x-forwarded-for': `192.0.2.${i}` } }))
          .statusCode
      )
    }
    expect(codes.slice(5)).toEqual([429, 429])
  })

  it('never limits health probes', async () => {
    for (let i = 0; i < 30; i++) {
      expect((await a.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
    }
  })
})
