// Issue #13 item 7: /metrics as Prometheus tooling reads it. The exposition is parsed with a real
// parser (parse-prometheus-text-format) and checked for Prometheus's naming conventions (counters
// end in _total, units in names, gauges without _total), then each counter is checked against the
// answers that should move it: refused token requests and bearer tokens, 429s by reason, alerts
// raised, reviewed and open. Each test compares a scrape before with one after what it caused, and
// counts the statuses it saw itself, so no test depends on another's counts or on where a
// rate-limit window ends.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  bearer,
  buildTestApp,
  clientWithToken,
  forgeAccessToken,
  patientSupply,
  registerClient,
  signAssertion,
  tokenForm,
  useTestApp,
  type Auth,
  type TestApp,
  type TestCaller
} from '../helpers/app.ts'

type Kind = MetricFamily['type']

/** The families /metrics answers, as a Prometheus scrape reads them. */
async function scrape (app: FastifyInstance): Promise<Map<string, MetricFamily>> {
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  expect(res.statusCode, res.body).toBe(200)
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
  return new Map(parsePrometheusTextFormat(res.body).map(f => [f.name, f]))
}

/** The value of `name`'s sample with exactly these labels (0 when absent), checking its type. */
function valueOf (
  families: Map<string, MetricFamily>,
  name: string,
  type: Kind,
  labels: Record<string, string> = {}
): number {
  const family = families.get(name)
  expect(family, `${name} is exposed`).toBeDefined()
  expect(family?.type, `${name} is a ${type.toLowerCase()}`).toBe(type)
  const sample = family?.metrics.find(m => JSON.stringify(m.labels ?? {}) === JSON.stringify(labels))
  return sample === undefined ? 0 : Number(sample.value)
}

/** How much each counter moved while `act` ran. */
async function deltas (
  app: FastifyInstance,
  counters: Array<[name: string, labels?: Record<string, string>]>,
  act: () => Promise<void>
): Promise<number[]> {
  const before = await scrape(app)
  await act()
  const after = await scrape(app)
  return counters.map(
    ([name, labels]) => valueOf(after, name, 'COUNTER', labels) - valueOf(before, name, 'COUNTER', labels)
  )
}

/** No label value anywhere looks like an NHS number (ten digits, spaced or not). */
function expectNoNhsNumberInLabels (families: Map<string, MetricFamily>): void {
  for (const family of families.values()) {
    for (const sample of family.metrics) {
      for (const [label, value] of Object.entries(sample.labels ?? {})) {
        expect(value, `${family.name}{${label}}`).not.toMatch(/\d{10}|\d{3}[\s-]\d{3}[\s-]\d{4}/)
      }
    }
  }
}

/** A fresh address for each test that spends a per-address budget, so none shares another's. */
function address (): string {
  const b = randomUUID().replace(/-/g, '')
  return `10.${parseInt(b.slice(0, 2), 16)}.${parseInt(b.slice(2, 4), 16)}.${parseInt(b.slice(4, 6), 16)}`
}

async function postToken (
  app: FastifyInstance,
  form: Record<string, string>,
  remoteAddress: string
): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/oauth2/token',
    remoteAddress,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(form).toString()
  })
}

/** Sends until a 429 comes back (at most `max` times); the statuses seen, in order. */
async function untilTooMany (send: (i: number) => Promise<LightMyRequestResponse>, max = 40): Promise<number[]> {
  const seen: number[] = []
  for (let i = 0; i < max; i++) {
    const res = await send(i)
    seen.push(res.statusCode)
    if (res.statusCode === 429) {
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0)
      // One more beyond the first 429, so two are counted.
      seen.push((await send(i + 1)).statusCode)
      return seen
    }
  }
  throw new Error(`no 429 after ${max} requests: ${seen.join(',')}`)
}

/** The ED clinician who opens the records (SPEC §2 "Who asked"). */
const clinician = { id: '555021935107', name: 'Dr Jane Example', role: 'R8000', organisation: 'RBA' }

const count = (seen: number[], status: number): number => seen.filter(s => s === status).length

describe('the exposition, with the default limits', () => {
  const t = useTestApp()
  const patient = patientSupply(4, 1307)
  let ed: TestCaller
  let officer: TestCaller

  beforeAll(async () => {
    ed = await clientWithToken(t.app, { scopes: ['consent:check'], purposes: ['unplanned-care'], name: 'ED system' })
    officer = await clientWithToken(t.app, {
      scopes: ['audit:read', 'audit:review'],
      purposes: [],
      name: 'Privacy officer'
    })
  })

  it('names every metric by Prometheus conventions, with the type its name says', async () => {
    const families = await scrape(t.app)
    for (const family of families.values()) {
      expect(family.help, `${family.name} has help`).toMatch(/\S/)
      expect(family.name).toMatch(/^[a-z_][a-z0-9_]*$/)
      if (family.type === 'COUNTER') expect(family.name, 'a counter ends in _total').toMatch(/_total$/)
      else expect(family.name, `a ${family.type.toLowerCase()} does not end in _total`).not.toMatch(/_total$/)
      // Base units only: seconds and bytes, never milliseconds or kilobytes.
      expect(family.name).not.toMatch(/_(milliseconds|ms|microseconds|kilobytes|megabytes)(_|$)/)
    }
    const expected: Array<[string, Kind]> = [
      ['http_request_duration_seconds', 'HISTOGRAM'],
      ['consent_decisions_total', 'COUNTER'],
      ['consent_audit_commits_total', 'COUNTER'],
      ['consent_authentication_failures_total', 'COUNTER'],
      ['consent_too_many_requests_total', 'COUNTER'],
      ['consent_alerts_raised_total', 'COUNTER'],
      ['consent_alerts_reviewed_total', 'COUNTER'],
      ['consent_alerts_open', 'GAUGE'],
      ['consent_preferences_indexed', 'GAUGE'],
      ['consent_change_feed_fresh', 'GAUGE'],
      ['consent_jwks_fetches_total', 'COUNTER'],
      ['consent_jwks_fetch_failures_total', 'COUNTER']
    ]
    for (const [name, type] of expected) expect(families.get(name)?.type, name).toBe(type)
    expect(families.has('consent_audit_commits'), 'the gauge-named commit count is gone').toBe(false)
    // Every label of the new counters is present from the start, so a rate() sees the first event.
    for (const endpoint of ['token', 'bearer']) {
      expect(families.get('consent_authentication_failures_total')?.metrics).toContainEqual({
        value: expect.any(String),
        labels: { endpoint }
      })
    }
    for (const reason of ['rate-limit', 'unknown-routes', 'failure-budget', 'stream-cap']) {
      expect(families.get('consent_too_many_requests_total')?.metrics).toContainEqual({
        value: expect.any(String),
        labels: { reason }
      })
    }
  })

  it('counts audit commits as a counter read from the audit writer', async () => {
    const [commits] = await deltas(t.app, [['consent_audit_commits_total']], async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: ed.auth,
        payload: { nhsNumber: patient(), purpose: 'unplanned-care' }
      })
      expect(res.statusCode, res.body).toBe(200)
    })
    // The decision's event is committed before its answer (rule 7): at least that commit.
    expect(commits).toBeGreaterThanOrEqual(1)
  })

  it('counts refused token requests as endpoint="token", and nothing as bearer', async () => {
    const from = address()
    const stranger = await registerClient(t.app, { scopes: ['consent:check'], purposes: ['planned-care'] })
    const seen: number[] = []
    const [token, bearerFailures] = await deltas(
      t.app,
      [
        ['consent_authentication_failures_total', { endpoint: 'token' }],
        ['consent_authentication_failures_total', { endpoint: 'bearer' }]
      ],
      async () => {
        // An assertion that is not a JWT, one signed for another audience, and a form without grant_type.
        seen.push((await postToken(t.app, tokenForm('not-a-jwt'), from)).statusCode)
        seen.push(
          (await postToken(t.app, tokenForm(await signAssertion(stranger, { aud: 'https://elsewhere.test' })), from))
            .statusCode
        )
        seen.push((await postToken(t.app, { client_assertion: 'x' }, from)).statusCode)
      }
    )
    expect(seen.every(s => s === 400 || s === 401), seen.join(',')).toBe(true)
    expect(seen).toContain(401)
    expect(token).toBe(seen.length)
    expect(bearerFailures).toBe(0)
  })

  it('counts a good token request as no failure', async () => {
    const client = await registerClient(t.app, { scopes: ['consent:check'], purposes: ['planned-care'] })
    const failures: Array<[string, Record<string, string>]> = [
      ['consent_authentication_failures_total', { endpoint: 'token' }]
    ]
    const [token] = await deltas(t.app, failures, async () => {
      const res = await postToken(t.app, tokenForm(await signAssertion(client)), address())
      expect(res.statusCode, res.body).toBe(200)
    })
    expect(token).toBe(0)
  })

  it('counts refused bearer tokens (junk, expired, for no client) as endpoint="bearer"', async () => {
    const expired = await forgeAccessToken(t.app, { clientId: ed.id, iat: 1_000_000, exp: 1_000_300 })
    const unknown = await forgeAccessToken(t.app, { clientId: randomUUID() })
    const seen: number[] = []
    const [bearerFailures, token] = await deltas(
      t.app,
      [
        ['consent_authentication_failures_total', { endpoint: 'bearer' }],
        ['consent_authentication_failures_total', { endpoint: 'token' }]
      ],
      async () => {
        for (const auth of ['Bearer junk', bearer(expired).authorization, bearer(unknown).authorization]) {
          const res = await t.app.inject({
            method: 'GET',
            url: '/v1/purposes',
            remoteAddress: address(),
            headers: { authorization: auth }
          })
          seen.push(res.statusCode)
        }
        const none = await t.app.inject({
          method: 'POST',
          url: '/v1/decisions',
          remoteAddress: address(),
          payload: { nhsNumber: patient(), purpose: 'planned-care' }
        })
        seen.push(none.statusCode)
      }
    )
    expect(seen).toEqual([401, 401, 401, 401])
    expect(bearerFailures).toBe(4)
    expect(token).toBe(0)
  })

  it('counts an emergency access as an alert raised, its review by another client, and the open alerts', async () => {
    const nhs = patient()
    const before = await scrape(t.app)
    const decided = await t.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: ed.auth,
      payload: {
        nhsNumber: nhs,
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Unconscious on arrival' },
        endUser: clinician
      }
    })
    expect(decided.statusCode, decided.body).toBe(200)
    const alertId = decided.json().alertId as string
    expect(alertId).toEqual(expect.any(String))
    const raised = await scrape(t.app)
    const delta = (now: Map<string, MetricFamily>, name: string, type: Kind, labels?: Record<string, string>): number =>
      valueOf(now, name, type, labels) - valueOf(before, name, type, labels)
    expect(delta(raised, 'consent_alerts_raised_total', 'COUNTER')).toBe(1)
    expect(delta(raised, 'consent_alerts_open', 'GAUGE')).toBe(1)
    expect(
      delta(raised, 'consent_decisions_total', 'COUNTER', { decision: 'permit', basis: 'emergency-access' })
    ).toBe(1)
    expect(delta(raised, 'consent_alerts_reviewed_total', 'COUNTER')).toBe(0)

    // A review by the client that raised it is refused, and is no review.
    const self = await t.app.inject({
      method: 'POST',
      url: `/v1/alerts/${alertId}/review`,
      headers: ed.auth,
      payload: { note: 'Reviewing my own access' }
    })
    expect(self.statusCode, self.body).toBe(403)
    const review = async (auth: Auth): Promise<LightMyRequestResponse> =>
      await t.app.inject({
        method: 'POST',
        url: `/v1/alerts/${alertId}/review`,
        headers: auth,
        payload: { note: 'Clinically justified: ED consultant confirmed.' }
      })
    expect((await review(officer.auth)).statusCode).toBe(200)
    // A second review is a 409, and counts nothing.
    expect((await review(officer.auth)).statusCode).toBe(409)
    const reviewed = await scrape(t.app)
    expect(delta(reviewed, 'consent_alerts_reviewed_total', 'COUNTER')).toBe(1)
    expect(delta(reviewed, 'consent_alerts_raised_total', 'COUNTER')).toBe(1)
    expect(delta(reviewed, 'consent_alerts_open', 'GAUGE')).toBe(0)

    const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body
    expect(text).not.toContain(nhs)
    expectNoNhsNumberInLabels(reviewed)
  })

  describe('with a second instance on the same store', () => {
    let other: TestApp
    beforeAll(async () => {
      other = await buildTestApp({}, t.store)
    })
    afterAll(async () => {
      await other.close()
    })

    it("reports the store's open alerts on every instance, and counts only its own raised", async () => {
      const before = await scrape(other.app)
      const decided = await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: ed.auth,
        payload: {
          nhsNumber: patient(),
          purpose: 'summary-care-record',
          pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Collapsed in the waiting room' },
          endUser: clinician
        }
      })
      expect(decided.statusCode, decided.body).toBe(200)
      const [here, there] = [await scrape(t.app), await scrape(other.app)]
      expect(valueOf(there, 'consent_alerts_open', 'GAUGE')).toBe(valueOf(here, 'consent_alerts_open', 'GAUGE'))
      expect(valueOf(there, 'consent_alerts_open', 'GAUGE') - valueOf(before, 'consent_alerts_open', 'GAUGE')).toBe(1)
      expect(valueOf(there, 'consent_alerts_raised_total', 'COUNTER')).toBe(
        valueOf(before, 'consent_alerts_raised_total', 'COUNTER')
      )
    })
  })
})

describe('429s by reason: the failure budget', () => {
  // 1 failed token request a minute per claimed client and address, 5 per address.
  const t = useTestApp({ TOKEN_FAILURES_PER_MINUTE: '1' })

  it('counts bad bearer tokens past the budget as failure-budget, and those before it as bearer failures', async () => {
    const from = address()
    let seen: number[] = []
    const [bearerFailures, budget, rateLimit] = await deltas(
      t.app,
      [
        ['consent_authentication_failures_total', { endpoint: 'bearer' }],
        ['consent_too_many_requests_total', { reason: 'failure-budget' }],
        ['consent_too_many_requests_total', { reason: 'rate-limit' }]
      ],
      async () => {
        seen = await untilTooMany(async i =>
          await t.app.inject({
            method: 'GET',
            url: '/v1/purposes',
            remoteAddress: from,
            headers: { authorization: `Bearer junk-${i}` }
          })
        )
      }
    )
    expect(count(seen, 401) + count(seen, 429), seen.join(',')).toBe(seen.length)
    expect(bearerFailures).toBe(count(seen, 401))
    expect(budget).toBe(count(seen, 429))
    expect(budget).toBeGreaterThanOrEqual(1)
    expect(rateLimit).toBe(0)
  })

  it('counts refused token requests past the budget as failure-budget', async () => {
    const from = address()
    let seen: number[] = []
    const [token, budget] = await deltas(
      t.app,
      [
        ['consent_authentication_failures_total', { endpoint: 'token' }],
        ['consent_too_many_requests_total', { reason: 'failure-budget' }]
      ],
      async () => {
        seen = await untilTooMany(async () => await postToken(t.app, tokenForm('not-a-jwt'), from))
      }
    )
    expect(count(seen, 429)).toBeGreaterThanOrEqual(1)
    expect(token).toBe(seen.length - count(seen, 429))
    expect(budget).toBe(count(seen, 429))
  })
})

describe('429s by reason: the rate limits', () => {
  const t = useTestApp({ RATE_LIMIT_PER_MINUTE: '4', NOT_FOUND_PER_MINUTE: '3' })

  it("counts an authenticated client's requests past its limit as rate-limit, not a stream cap", async () => {
    const client = await registerClient(t.app, { scopes: ['consent:check'], purposes: ['planned-care'] })
    const issued = await postToken(t.app, tokenForm(await signAssertion(client)), address())
    expect(issued.statusCode, issued.body).toBe(200)
    const auth = bearer(issued.json().access_token as string)
    let seen: number[] = []
    const [rateLimit, budget, stream] = await deltas(
      t.app,
      [
        ['consent_too_many_requests_total', { reason: 'rate-limit' }],
        ['consent_too_many_requests_total', { reason: 'failure-budget' }],
        ['consent_too_many_requests_total', { reason: 'stream-cap' }]
      ],
      async () => {
        seen = await untilTooMany(async () => await t.app.inject({ method: 'GET', url: '/v1/purposes', headers: auth }))
      }
    )
    expect(count(seen, 200) + count(seen, 429), seen.join(',')).toBe(seen.length)
    expect(rateLimit).toBe(count(seen, 429))
    expect(budget).toBe(0)
    expect(stream).toBe(0)
  })

  it('counts probes of unknown routes past their limit as unknown-routes, with no NHS number in a label', async () => {
    const from = address()
    const nhs = patientSupply(1, 77)()
    let seen: number[] = []
    const [unknown, rateLimit] = await deltas(
      t.app,
      [
        ['consent_too_many_requests_total', { reason: 'unknown-routes' }],
        ['consent_too_many_requests_total', { reason: 'rate-limit' }]
      ],
      async () => {
        seen = await untilTooMany(
          async () => await t.app.inject({ method: 'GET', url: `/v1/nothing/${nhs}`, remoteAddress: from })
        )
      }
    )
    expect(count(seen, 404) + count(seen, 429), seen.join(',')).toBe(seen.length)
    expect(unknown).toBe(count(seen, 429))
    expect(rateLimit).toBe(0)
    const res = await t.app.inject({ method: 'GET', url: '/metrics' })
    expect(res.body).not.toContain(nhs)
    expectNoNhsNumberInLabels(await scrape(t.app))
  })
})
