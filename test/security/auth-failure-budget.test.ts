// Issue #12's high finding: junk credentials from one address must not lock valid callers out of
// it. Credentials are checked first; the failure budget counts failures and applies only to
// requests that fail (429 instead of 401). Behind a TLS proxy, as SPEC assumes: with TRUST_PROXY
// unset every caller has the proxy's address (the failing ones share a budget, valid ones are never
// refused); with TRUST_PROXY naming the proxy each caller's budget is its own address's.
import type { LightMyRequestResponse } from 'fastify'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  clientWithToken,
  newKeyPair,
  signAssertion,
  tokenForm,
  useTestApp,
  type TestApp,
  type TestCaller
} from '../helpers/app.ts'

/** The proxy's address: the TCP peer of every request. Each test without TRUST_PROXY has its own. */
const PROXY = '10.20.30.40'
/** TOKEN_FAILURES_PER_MINUTE: 2 a claimed client and address, 10 (5 x 2) an address. */
const LIMITS = { TOKEN_FAILURES_PER_MINUTE: '2' }
const PER_ADDRESS = 10

// Counts live in fixed one-minute windows: start each test well inside one, so that none ends mid-test.
beforeEach(async () => {
  const left = 60_000 - (Date.now() % 60_000)
  if (left < 10_000) await new Promise(resolve => setTimeout(resolve, left + 50))
})

/** Requests as they arrive from the proxy at `proxy`, on behalf of the caller at `caller`. */
function viaProxy (t: TestApp, caller: string, proxy = PROXY) {
  const headers = { 'x-forwarded-for': caller }
  return {
    decide: async (authorization: string): Promise<LightMyRequestResponse> =>
      await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        remoteAddress: proxy,
        headers: { ...headers, authorization },
        payload: { nhsNumber: '9434765919', purpose: 'planned-care' }
      }),
    token: async (assertion: string): Promise<LightMyRequestResponse> =>
      await t.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        remoteAddress: proxy,
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(tokenForm(assertion)).toString()
      })
  }
}

/** Sends junk bearer tokens until `n` have been refused with 401; expects nothing else. */
async function junkBearers (send: (authorization: string) => Promise<LightMyRequestResponse>, n: number, tag: string) {
  for (let i = 0; i < n; i++) {
    const res = await send(`Bearer junk-${tag}-${i}`)
    expect(res.statusCode, `junk ${i}: ${res.body}`).toBe(401)
  }
}

function expectLimited (res: LightMyRequestResponse): void {
  expect(res.statusCode, res.body).toBe(429)
  expect(Number(res.headers['retry-after'])).toBeGreaterThan(0)
}

describe('behind a proxy, TRUST_PROXY unset: every caller shares the proxy address', () => {
  const t = useTestApp(LIMITS)
  let ward: TestCaller
  beforeAll(async () => {
    ward = await clientWithToken(t.app)
  })

  it("one caller's junk spends the shared budget, yet valid tokens and assertions still succeed", async () => {
    const attacker = viaProxy(t, '198.51.100.66', '10.20.30.41')
    const clinician = viaProxy(t, '198.51.100.10', '10.20.30.41')
    await junkBearers(attacker.decide, PER_ADDRESS, 'a')
    expectLimited(await attacker.decide('Bearer junk-a-more'))
    // The budget is spent for the address everyone shares; valid credentials are still answered.
    const decided = await clinician.decide(ward.auth.authorization)
    expect(decided.statusCode, decided.body).toBe(200)
    const issued = await clinician.token(await signAssertion(ward))
    expect(issued.statusCode, issued.body).toBe(200)
    const fresh = await clinician.decide(`Bearer ${String(issued.json().access_token)}`)
    expect(fresh.statusCode, fresh.body).toBe(200)
    // Failing callers share the budget: another caller's bad token or assertion is answered 429.
    const other = viaProxy(t, '198.51.100.77', '10.20.30.41')
    expectLimited(await other.decide('Bearer junk-c'))
    const stranger = await newKeyPair(ward.alg)
    const refused = await other.token(await signAssertion(ward, { key: stranger.privateKey }))
    expectLimited(refused)
    expect(refused.json()).toMatchObject({ error: 'temporarily_unavailable' })
  })

  it("a stranger's failures in a client's name exhaust that client's budget, not its valid requests", async () => {
    const client = await clientWithToken(t.app)
    const stranger = await newKeyPair(client.alg)
    const proxy = viaProxy(t, '198.51.100.88', '10.20.30.42')
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) {
      statuses.push((await proxy.token(await signAssertion(client, { key: stranger.privateKey }))).statusCode)
    }
    // 2 a claimed client and address: the third is 429.
    expect(statuses).toEqual([401, 401, 429])
    const own = viaProxy(t, '198.51.100.11', '10.20.30.42')
    const issued = await own.token(await signAssertion(client))
    expect(issued.statusCode, issued.body).toBe(200)
    // Its own mistake, though, is answered 429 there too: the budget is the claimed client's at the proxy.
    expectLimited(await own.token(await signAssertion(client, { aud: 'https://wrong.example' })))
  })
})

describe('behind a proxy, TRUST_PROXY naming it: budgets are per real client address', () => {
  const t = useTestApp({ ...LIMITS, TRUST_PROXY: PROXY })
  let ward: TestCaller
  beforeAll(async () => {
    ward = await clientWithToken(t.app)
  })

  it("one caller's junk limits that caller only; its valid credentials and other callers are unaffected", async () => {
    const attacker = viaProxy(t, '203.0.113.66')
    await junkBearers(attacker.decide, PER_ADDRESS, 'b')
    expectLimited(await attacker.decide('Bearer junk-b-more'))
    // Another caller's failure is its own: 401, not 429.
    const other = viaProxy(t, '203.0.113.77')
    const refused = await other.decide('Bearer junk-d')
    expect(refused.statusCode, refused.body).toBe(401)
    // Valid credentials are answered, from another address and even from the exhausted one.
    const clinician = viaProxy(t, '203.0.113.10')
    expect((await clinician.decide(ward.auth.authorization)).statusCode).toBe(200)
    expect((await attacker.decide(ward.auth.authorization)).statusCode).toBe(200)
    expect((await attacker.token(await signAssertion(ward))).statusCode).toBe(200)
  })
})
