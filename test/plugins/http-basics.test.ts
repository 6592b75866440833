// What every answer has in common (SPEC §3, §7): request and correlation ids, problem+json errors,
// body limits and media types, health, metrics without NHS numbers, security headers, the docs.
import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import { bearer, clientWithToken, expectProblem, useTestApp, type TestCaller } from '../helpers/app.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const NHS = '9434765919'

const t = useTestApp()
let caller: TestCaller

beforeAll(async () => {
  caller = await clientWithToken(t.app)
})

async function decide (payload: unknown, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return await t.app.inject({
    method: 'POST',
    url: '/v1/decisions',
    headers: { ...caller.auth, ...headers },
    payload: payload as string
  })
}

describe('X-Request-ID and X-Correlation-ID', () => {
  it('every response carries a UUID X-Request-ID, a new one each time', async () => {
    const answers = await Promise.all([
      t.app.inject({ method: 'GET', url: '/health/live' }),
      t.app.inject({ method: 'GET', url: '/no/such/route' }),
      t.app.inject({ method: 'GET', url: '/v1/purposes' }),
      t.app.inject({ method: 'GET', url: '/v1/purposes', headers: caller.auth }),
      t.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' }),
      t.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        payload: 'grant_type=password',
        headers: { 'content-type': 'application/x-www-form-urlencoded' }
      }),
      decide({ nhsNumber: NHS, purpose: 'planned-care' })
    ])
    const ids = answers.map(r => r.headers['x-request-id'])
    for (const id of ids) expect(id).toMatch(UUID)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it("echoes a caller's UUID, and the decision's audit event carries it", async () => {
    const mine = randomUUID()
    const res = await decide({ nhsNumber: NHS, purpose: 'planned-care' }, { 'x-request-id': mine })
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-request-id']).toBe(mine)
    const audit = await t.app.inject({
      method: 'GET',
      url: `/v1/audit?type=decision&nhsNumber=${NHS}`,
      headers: caller.auth
    })
    const items = (audit.json() as { items: Array<{ requestId: string }> }).items
    expect(items.map(e => e.requestId)).toContain(mine)
  })

  it("echoes a caller's UUID exactly as sent, upper case included", async () => {
    const mine = randomUUID().toUpperCase()
    const res = await decide({ nhsNumber: NHS, purpose: 'planned-care' }, { 'x-request-id': mine })
    expect(res.headers['x-request-id']).toBe(mine)
  })

  it("echoes a caller's UUID on errors too", async () => {
    const mine = randomUUID()
    const res = await t.app.inject({ method: 'GET', url: '/no/such/route', headers: { 'x-request-id': mine } })
    expect(res.headers['x-request-id']).toBe(mine)
    expect((res.json() as { requestId: string }).requestId).toBe(mine)
  })

  it('replaces a value that is not a UUID', async () => {
    for (const given of ['abc', '12345', 'not-a-uuid-at-all', `${randomUUID()}x`, 'x'.repeat(500)]) {
      const res = await t.app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': given } })
      expect(res.headers['x-request-id']).toMatch(UUID)
      expect(res.headers['x-request-id']).not.toBe(given)
    }
  })

  it('echoes X-Correlation-ID', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-correlation-id': 'ed-system-req-0042' }
    })
    expect(res.headers['x-correlation-id']).toBe('ed-system-req-0042')
    const err = await t.app.inject({ method: 'GET', url: '/v1/purposes', headers: { 'x-correlation-id': 'abc-123' } })
    expect(err.statusCode).toBe(401)
    expect(err.headers['x-correlation-id']).toBe('abc-123')
    const none = await t.app.inject({ method: 'GET', url: '/health/live' })
    expect(none.headers['x-correlation-id']).toBeUndefined()
  })
})

describe('errors', () => {
  it('unknown route: 404 problem+json', async () => {
    const body = expectProblem(await t.app.inject({ method: 'GET', url: '/v1/nothing-here' }), 404)
    expect(body.title).toBe('Not Found')
    expectProblem(await t.app.inject({ method: 'DELETE', url: '/v1/decisions', headers: caller.auth }), 404)
    // A body with hundreds of unknown fields gets a short answer listing the first 50.
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`field${i}`, i]))
    const crowded = expectProblem(
      await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: caller.auth,
        payload: { nhsNumber: '9434765919', purpose: 'planned-care', ...many }
      }),
      400
    )
    expect(crowded.errors).toHaveLength(50)
    // The path is not echoed with an NHS number in it.
    const probe = expectProblem(await t.app.inject({ method: 'GET', url: '/v1/patient/9434765919/whatever' }), 404)
    expect(probe.detail).not.toContain('9434765919')
  })

  it('malformed JSON body: 400 problem+json saying it is not valid JSON', async () => {
    const res = await decide('{"nhsNumber": "9434765919", "purpose": ', { 'content-type': 'application/json' })
    expect(expectProblem(res, 400).detail).toMatch(/not valid JSON/)
  })

  it('empty JSON body: 400', async () => {
    const res = await decide('', { 'content-type': 'application/json' })
    expectProblem(res, 400)
  })

  it('wrong content-type: 415 problem+json', async () => {
    const res = await decide('9434765919 planned-care', { 'content-type': 'text/plain' })
    const body = expectProblem(res, 415)
    expect(body.title).toBe('Unsupported Media Type')
    expect(body.detail).toMatch(/application\/json/)
    // Form fields are not JSON either, even when they would pass the schema.
    expectProblem(
      await decide(`nhsNumber=${NHS}&purpose=planned-care`, { 'content-type': 'application/x-www-form-urlencoded' }),
      415
    )
    expectProblem(await decide('<decision/>', { 'content-type': 'application/xml' }), 415)
    // The same holds on the other /v1 JSON endpoints.
    const res2 = await t.app.inject({
      method: 'POST',
      url: `/v1/patients/${NHS}/preferences`,
      headers: { ...caller.auth, 'content-type': 'text/plain' },
      payload: 'planned-care deny'
    })
    expectProblem(res2, 415)
  })

  it('the token endpoint still takes form-encoded bodies', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'grant_type=password'
    })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ error: 'unsupported_grant_type' })
  })

  it('body over the limit: 413 problem+json', async () => {
    const res = await decide(
      JSON.stringify({ nhsNumber: NHS, purpose: 'planned-care', pad: 'x'.repeat(t.config.bodyLimitBytes + 10) }),
      { 'content-type': 'application/json' }
    )
    expect(expectProblem(res, 413).detail).toMatch(/larger/)
  })

  it('wrong types: 400 with errors[].path naming each field', async () => {
    const res = await decide({ nhsNumber: 9434765919, purpose: ['planned-care'] })
    const body = expectProblem(res, 400)
    const paths = (body.errors ?? []).map(e => e.path)
    expect(paths).toContain('/nhsNumber')
    expect(paths).toContain('/purpose')
    for (const e of body.errors ?? []) expect(e.message).toEqual(expect.any(String))
  })

  it('missing fields and unknown fields: 400 with errors[].path', async () => {
    const body = expectProblem(await decide({ purpose: 'planned-care', extra: 1 }), 400)
    expect(body.errors).toEqual(
      expect.arrayContaining([
        { path: '/nhsNumber', message: 'is required' },
        { path: '/extra', message: 'is not a known field' }
      ])
    )
  })

  it('an invalid NHS number: 400 saying what is wrong, without the number in a 5xx', async () => {
    const body = expectProblem(await decide({ nhsNumber: '9434765918', purpose: 'planned-care' }), 400)
    expect(body.errors?.[0].path).toBe('/nhsNumber')
    expect(body.detail).toMatch(/check digit/i)
  })

  it('an unknown purpose: 400', async () => {
    expectProblem(await decide({ nhsNumber: NHS, purpose: 'no-such-purpose' }), 400)
  })

  it('a JSON body that is not an object: 400', async () => {
    expectProblem(await decide('[1,2,3]', { 'content-type': 'application/json' }), 400)
    expectProblem(await decide('"text"', { 'content-type': 'application/json' }), 400)
    expectProblem(await decide('null', { 'content-type': 'application/json' }), 400)
  })
})

describe('health', () => {
  it('GET /health/live: 200', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/live' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ status: 'ok' })
  })

  it('GET /health/ready: 200 with checks', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health/ready' })
    expect(res.statusCode, res.body).toBe(200)
    const body = res.json() as { status: string; checks: Record<string, string> }
    expect(body.status).toBe('ok')
    expect(body.checks).toMatchObject({ store: 'ok' })
    expect(Object.values(body.checks).every(v => v === 'ok')).toBe(true)
  })
})

describe('GET /metrics', () => {
  it('is Prometheus text with request durations and no NHS number after a decision', async () => {
    const d = await decide({ nhsNumber: NHS, purpose: 'planned-care' })
    expect(d.statusCode).toBe(200)
    // Also one with the number in the URL, to make sure labels are templates, not URLs.
    await t.app.inject({ method: 'GET', url: `/v1/patients/${NHS}/preferences`, headers: caller.auth })
    await t.app.inject({ method: 'GET', url: `/v1/nothing/${NHS}` })
    const res = await t.app.inject({ method: 'GET', url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect(res.body).toMatch(/^# HELP /m)
    expect(res.body).toMatch(/^# TYPE http_request_duration_seconds histogram$/m)
    expect(res.body).toMatch(/http_request_duration_seconds_bucket\{[^}]*route="\/v1\/decisions"/)
    expect(res.body).toContain('http_request_duration_seconds')
    expect(res.body).not.toContain(NHS)
    expect(res.body).not.toContain('943 476 5919')
  })
})

describe('logs', () => {
  it('never carry an NHS number, an access token or an assertion', async () => {
    const assertionLike = caller.token
    await decide({ nhsNumber: NHS, purpose: 'planned-care' })
    await decide({ nhsNumber: '943 476 5919', purpose: 'no-such-purpose' })
    await decide({ nhsNumber: '9434765918', purpose: 'planned-care' })
    await decide(`{"nhsNumber": "${NHS}", `, { 'content-type': 'application/json' })
    await t.app.inject({ method: 'GET', url: `/v1/patients/${NHS}/preferences`, headers: caller.auth })
    await t.app.inject({ method: 'GET', url: `/v1/nothing/943-476-5919?nhs=${NHS}` })
    await t.app.inject({ method: 'GET', url: '/v1/purposes', headers: bearer(`${assertionLike}x`) })
    const all = t.logs.join('')
    expect(all.length).toBeGreaterThan(0)
    expect(all).not.toContain(NHS)
    expect(all).not.toContain('943 476 5919')
    expect(all).not.toContain('943-476-5919')
    expect(all).not.toContain(caller.token)
    expect(all).not.toContain(caller.token.split('.')[1])
  })
})

describe('security headers', () => {
  it('are on API answers, errors and health', async () => {
    for (const res of [
      await t.app.inject({ method: 'GET', url: '/health/live' }),
      await t.app.inject({ method: 'GET', url: '/v1/purposes', headers: caller.auth }),
      await t.app.inject({ method: 'GET', url: '/v1/nothing' })
    ]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff')
      expect(res.headers['x-frame-options']).toBeDefined()
      expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/)
      expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/)
      expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/)
      expect(res.headers['referrer-policy']).toBeDefined()
      expect(res.headers['x-powered-by']).toBeUndefined()
    }
  })

  it('API answers are not cached', async () => {
    const res = await decide({ nhsNumber: NHS, purpose: 'planned-care' })
    expect(res.headers['cache-control']).toMatch(/no-store/)
  })
})

describe('docs', () => {
  it('GET /docs serves Swagger UI as HTML', async () => {
    let res = await t.app.inject({ method: 'GET', url: '/docs' })
    if (res.statusCode >= 300 && res.statusCode < 400) res = await t.app.inject({ method: 'GET', url: '/docs/' })
    if (res.statusCode !== 200 || !/html/.test(String(res.headers['content-type']))) {
      res = await t.app.inject({ method: 'GET', url: '/docs/static/index.html' })
    }
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/text\/html/)
    expect(res.body).toMatch(/swagger/i)
  })

  it('GET /openapi.json is OpenAPI 3.1.0 with /v1/decisions', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/json/)
    const doc = res.json() as {
      openapi: string
      info: { title: string }
      paths: Record<string, Record<string, unknown>>
      components: { securitySchemes: Record<string, unknown> }
    }
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.paths['/v1/decisions']).toBeDefined()
    expect(doc.paths['/v1/decisions'].post).toBeDefined()
    for (const p of ['/oauth2/token', '/v1/purposes', '/v1/clients', '/v1/audit', '/health/ready']) {
      expect(doc.paths[p], p).toBeDefined()
    }
    expect(doc.components.securitySchemes.bearerAuth).toBeDefined()
  })
})
