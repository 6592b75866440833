// Slow clients (SECURITY.md T15), over real sockets: headers must arrive within HEADERS_TIMEOUT_MS
// (Node's headersTimeout), an ordinary body within BODY_TIMEOUT_MS (408 problem+json, connection
// closed), a body still arriving after its answer is not read for longer than that, and the bulk
// filter and import, which legitimately stream for minutes, are not cut by total time but by
// STREAM_IDLE_TIMEOUT_MS without a byte. Small configured limits; every test waits for the answer or
// the close it expects, never for a fixed time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import {
  buildTestApp,
  clientWithToken,
  expectProblem,
  nhsNumbers,
  type TestApp,
  type TestCaller
} from '../helpers/app.ts'
import { RawConnection, chunk, head } from './transport-raw.ts'

const HEADERS_MS = 300
const BODY_MS = 300
const IDLE_MS = 1000
const NHS = '9434765919'

/** Writes `data` every `ms` until the connection closes or stop() is called; a client that never stops on its own. */
function dribble (c: RawConnection, data: () => string, ms = 50): { stop: () => void } {
  const timer = setInterval(() => {
    if (c.isClosed) clearInterval(timer)
    else c.write(data())
  }, ms)
  return { stop: () => clearInterval(timer) }
}

describe('request time-outs (SECURITY.md T15)', () => {
  let t: TestApp
  let caller: TestCaller
  let port: number
  const open: RawConnection[] = []
  const connection = (): RawConnection => {
    const c = new RawConnection(port)
    open.push(c)
    return c
  }
  const auth = (): Record<string, string> => ({ Authorization: caller.auth.authorization })

  beforeAll(async () => {
    t = await buildTestApp({
      HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      BODY_TIMEOUT_MS: String(BODY_MS),
      STREAM_IDLE_TIMEOUT_MS: String(IDLE_MS)
    })
    caller = await clientWithToken(t.app)
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    port = (t.app.server.address() as { port: number }).port
  })
  afterAll(async () => {
    for (const c of open) c.destroy()
    await t?.close()
  })

  describe('HEADERS_TIMEOUT_MS: the request line and headers', () => {
    it('headers that stop half way: 408 problem+json, then the connection is closed', async () => {
      const c = connection()
      c.write('POST /v1/decisions HTTP/1.1\r\nHost: consent.test\r\nContent-Type: application/json\r\n')
      const res = await c.answer('a 408 for headers that never end')
      expectProblem(res, 408, { detail: /headers did not arrive in time/ })
      expect(res.headers.connection).toBe('close')
      await c.closed()
    })

    it('headers sent a byte at a time, never ending: 408 all the same (the limit is total, not idle)', async () => {
      const c = connection()
      c.write('GET /health/live HTTP/1.1\r\n')
      const d = dribble(c, () => 'X', 50)
      const res = await c.answer('a 408 for endless headers')
      d.stop()
      expectProblem(res, 408)
      await c.closed()
    })

    it('a connection that sends nothing at all is answered 408 and closed', async () => {
      const c = connection()
      const res = await c.answer('a 408 for a silent connection')
      expectProblem(res, 408)
      await c.closed()
    })
  })

  describe('BODY_TIMEOUT_MS: an ordinary body', () => {
    it('a JSON body that stops short: 408 problem+json, then the connection is closed', async () => {
      const body = JSON.stringify({ nhsNumber: NHS, purpose: 'planned-care' })
      const c = connection()
      c.write(
        head('POST /v1/decisions HTTP/1.1', {
          ...auth(),
          'Content-Type': 'application/json',
          'Content-Length': String(body.length)
        }) + body.slice(0, 10)
      )
      const res = await c.answer('a 408 for a body that stopped')
      expectProblem(res, 408, { detail: /request body did not arrive within 0\.3 s/ })
      expect(res.headers.connection).toBe('close')
      await c.closed()
    })

    it('a token request body sent a byte at a time, never ending: refused all the same (total, not idle)', async () => {
      const c = connection()
      c.write(
        head('POST /oauth2/token HTTP/1.1', {
          'Content-Type': 'application/x-www-form-urlencoded',
          'Content-Length': '30000'
        })
      )
      const d = dribble(c, () => 'a', 50)
      const res = await c.answer('a 408 for an endless form body')
      d.stop()
      // The token endpoint answers every refusal as RFC 6749 does: 400 invalid_request, saying why.
      expect(res.status).toBe(400)
      expect(JSON.parse(res.body)).toEqual({
        error: 'invalid_request',
        error_description: expect.stringMatching(/did not arrive within 0\.3 s/)
      })
      expect(res.headers.connection).toBe('close')
      await c.closed()
    })

    it('a body still arriving after its answer (a 401 before it was read): closed at the deadline', async () => {
      const c = connection()
      c.write(
        head('POST /v1/decisions HTTP/1.1', {
          Authorization: 'Bearer not-a-token',
          'Content-Type': 'application/json',
          'Content-Length': '100000'
        }) + '{"nhsNumber":'
      )
      const d = dribble(c, () => ' ', 50)
      const res = await c.answer('the 401')
      expectProblem(res, 401)
      await c.closed('the connection to be closed once the body deadline has passed')
      d.stop()
    })

    it('twenty slow clients of every kind are all answered or closed, none left open', async () => {
      // Each kind: what it sends first, then the byte it keeps sending every 50 ms, so that only a
      // limit on total time ends it.
      const kinds: Array<[string, string]> = [
        ['GET /v1/purposes HTTP/1.1\r\nHost: consent.test\r\nX-Slow', 'x'],
        [
          head('POST /v1/decisions HTTP/1.1', {
            ...auth(),
            'Content-Type': 'application/json',
            'Content-Length': '1000'
          }),
          ' '
        ],
        [head('POST /v1/decisions HTTP/1.1', { 'Content-Type': 'application/json', 'Content-Length': '1000' }), ' '],
        [
          head('POST /oauth2/token HTTP/1.1', {
            'Content-Type': 'application/x-www-form-urlencoded',
            'Content-Length': '1000'
          }),
          'a'
        ]
      ]
      const clients = Array.from({ length: 20 }, (_, i) => {
        const c = connection()
        const [first, next] = kinds[i % kinds.length]
        c.write(first)
        return { c, d: dribble(c, () => next, 50) }
      })
      await Promise.all(clients.map(async ({ c }) => await c.closed()))
      for (const { d } of clients) d.stop()
      // Each was told why before it was closed: 401 (no token), 408, or 400 from the token endpoint.
      for (const { c } of clients) expect([400, 401, 408]).toContain((await c.answer()).status)
    })

    it('a body that arrives in time is answered normally', async () => {
      const body = JSON.stringify({ nhsNumber: NHS, purpose: 'planned-care' })
      const c = connection()
      c.write(
        head('POST /v1/decisions HTTP/1.1', {
          ...auth(),
          'Content-Type': 'application/json',
          'Content-Length': String(body.length)
        }) + body.slice(0, 10)
      )
      c.write(body.slice(10))
      expect((await c.answer()).status).toBe(200)
    })
  })

  describe('STREAM_IDLE_TIMEOUT_MS: the bulk filter and import', () => {
    const importLine = (nhs: string, i: number): string =>
      JSON.stringify({ externalId: `slow-${nhs}-${i}`, nhsNumber: nhs, purpose: 'planned-care', decision: 'deny' }) +
      '\n'

    it('an import that outlives BODY_TIMEOUT_MS while its bytes keep coming is not cut: it completes', async () => {
      const patients = nhsNumbers(400, 71)
      let sent = 0
      const bulk = connection()
      bulk.write(
        head('POST /v1/preferences/import HTTP/1.1', {
          ...auth(),
          'Content-Type': 'application/x-ndjson',
          'Transfer-Encoding': 'chunked'
        }) + chunk(importLine(patients[sent], sent++))
      )
      const feed = dribble(bulk, () => chunk(importLine(patients[sent], sent++)), 50)
      // An ordinary request started after the import gets its 408 once BODY_TIMEOUT_MS has passed
      // since its own start: by then the import has been streaming for longer than that.
      const ordinary = connection()
      ordinary.write(
        head('POST /v1/decisions HTTP/1.1', {
          ...auth(),
          'Content-Type': 'application/json',
          'Content-Length': '1000'
        })
      )
      expectProblem(await ordinary.answer(), 408)
      feed.stop()
      bulk.write('0\r\n\r\n')
      const res = await bulk.answer('the import report')
      expect(res.status, res.body).toBe(200)
      expect(JSON.parse(res.body)).toMatchObject({ imported: sent, rejectedCount: 0 })
    })

    it('an import whose body stops: 408 problem+json, connection closed, import recorded as failed', async () => {
      const [nhs] = nhsNumbers(1, 72)
      const c = connection()
      c.write(
        head('POST /v1/preferences/import HTTP/1.1', {
          ...auth(),
          'Content-Type': 'application/x-ndjson',
          'Transfer-Encoding': 'chunked'
        }) + chunk(importLine(nhs, 0))
      )
      const res = await c.answer('a 408 for a stalled import')
      expectProblem(res, 408, { detail: /No byte of the request body arrived for 1 s/ })
      expect(res.headers.connection).toBe('close')
      await c.closed()
      const events = await t.app.inject({ method: 'GET', url: '/v1/audit?type=import&limit=500', headers: caller.auth })
      expect((events.json().items as Array<{ outcome: string }>).map(e => e.outcome)).toContain('failed')
    })

    it('a filter whose body never starts: 408 problem+json, the run recorded as incomplete', async () => {
      const c = connection()
      c.write(
        head('POST /v1/filter?purpose=planning-research HTTP/1.1', {
          ...auth(),
          'Content-Type': 'text/plain',
          Accept: 'application/x-ndjson',
          'Transfer-Encoding': 'chunked'
        })
      )
      const res = await c.answer('a 408 for a filter body that never came')
      expectProblem(res, 408, { detail: /No byte of the request body arrived/ })
      await c.closed()
      const run = await waitForEnd(String(res.headers['x-audit-id']))
      expect(run).toMatchObject({ status: 'incomplete', reason: expect.stringMatching(/No byte of the request body/) })
    })

    it('a filter whose body stalls after its answer began: connection closed, run recorded as incomplete', async () => {
      const numbers = nhsNumbers(20, 73)
      const c = connection()
      c.write(
        head('POST /v1/filter?purpose=planning-research HTTP/1.1', {
          ...auth(),
          'Content-Type': 'text/plain',
          Accept: 'application/x-ndjson',
          'Transfer-Encoding': 'chunked'
        }) + chunk(numbers.join('\n') + '\n')
      )
      // Blank lines (skipped by the filter) keep the body alive until the first slice has come back.
      const keepAlive = dribble(c, () => chunk('\n'), 50)
      const started = await c.until(
        () => (/"line":20,/.test(c.text()) ? c.text() : undefined),
        'the first slice of the answer'
      )
      keepAlive.stop()
      await c.closed('the connection to be closed once the body has stalled')
      expect(started).toMatch(/^HTTP\/1\.1 200 /)
      expect(c.text(), 'the answer must not end as if complete').not.toMatch(/\r\n0\r\n\r\n$/)
      const auditId = /x-audit-id: (\S+)/i.exec(started)?.[1] ?? ''
      const run = await waitForEnd(auditId)
      expect(run).toMatchObject({
        status: 'incomplete',
        reason: expect.stringMatching(/No byte of the request body arrived/),
        released: 20
      })
    })

    /** A filter run once its end is on record (its incomplete event is written as the run stops). */
    async function waitForEnd (id: string): Promise<Record<string, any>> {
      for (;;) {
        const res = await t.app.inject({ method: 'GET', url: `/v1/filter/runs/${id}`, headers: caller.auth })
        expect(res.statusCode, res.body).toBe(200)
        const run = res.json()
        if (run.endedAt !== null) return run
        await new Promise(resolve => setTimeout(resolve, 20))
      }
    }
  })
})

describe('the time-out and stream-cap variables (src/config.ts)', () => {
  it('default to headers 10 s, ordinary body 30 s, bulk idle 30 s, 2 filter streams and 2 imports per client', () => {
    expect(loadConfig({})).toMatchObject({
      headersTimeoutMs: 10_000,
      bodyTimeoutMs: 30_000,
      streamIdleTimeoutMs: 30_000,
      filterStreamsPerClient: 2,
      importsPerClient: 2
    })
  })

  it('refuse a value that is not a positive number in range, naming the variable', () => {
    for (const [name, value] of [
      ['HEADERS_TIMEOUT_MS', '0'],
      ['HEADERS_TIMEOUT_MS', 'ten'],
      ['BODY_TIMEOUT_MS', '-1'],
      ['STREAM_IDLE_TIMEOUT_MS', '99'],
      ['FILTER_STREAMS_PER_CLIENT', '0'],
      ['IMPORTS_PER_CLIENT', '1.5']
    ]) {
      expect(() => loadConfig({ [name]: value }), `${name}=${value}`).toThrow(name)
    }
  })
})
