// HTTP/1.1 framing (RFC 9112), over a real socket with exact bytes: a request with more than one
// Host header, an HTTP/1.1 request without one (§3.2) and an HTTP/1.0 request with Transfer-Encoding
// (§6.1) are refused with a 400 problem+json before authentication or any work, and the connection
// is closed; what Node's strict parser refuses itself (Content-Length with Transfer-Encoding) is a
// problem+json 400 too. Well-framed requests, HTTP/1.0 included, are answered as usual.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, clientWithToken, expectProblem, type TestApp, type TestCaller } from '../helpers/app.ts'
import { RawConnection, chunk, type RawAnswer } from './transport-raw.ts'

const DECISION = JSON.stringify({ nhsNumber: '9434765919', purpose: 'planned-care' })

describe('HTTP framing (RFC 9112)', () => {
  let t: TestApp
  let caller: TestCaller
  let port: number

  beforeAll(async () => {
    t = await buildTestApp()
    caller = await clientWithToken(t.app)
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    port = (t.app.server.address() as { port: number }).port
  })
  afterAll(async () => {
    await t?.close()
  })

  /** Sends `bytes` on a new connection; the answer, once the server has also closed the connection when `closes`. */
  async function send (bytes: string, closes: boolean): Promise<RawAnswer> {
    const c = new RawConnection(port)
    try {
      c.write(bytes)
      const res = await c.answer()
      if (closes) {
        expect(res.headers.connection).toBe('close')
        await c.closed()
      }
      return res
    } finally {
      c.destroy()
    }
  }
  const decisions = async (): Promise<number> => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/audit?type=decision&limit=500', headers: caller.auth })
    return (res.json().items as unknown[]).length
  }

  it('two Host headers: 400 problem+json, before authentication, and the connection is closed', async () => {
    for (const hosts of [
      'Host: consent.test\r\nHost: evil.test\r\n',
      'Host: consent.test\r\nHost: consent.test\r\n',
      'Host: consent.test\r\nhOST: evil.test\r\n'
    ]) {
      // No token at all: the framing is refused first (a 400, not a 401).
      const res = await send(`GET /v1/purposes HTTP/1.1\r\n${hosts}\r\n`, true)
      expectProblem(res, 400, { detail: /more than one Host header/ })
      // The refusal carries the security headers like every answer.
      expect(res.headers['strict-transport-security']).toMatch(/max-age/)
    }
  })

  it('two Host headers on an authenticated decision: refused, nothing decided or audited', async () => {
    const before = await decisions()
    const res = await send(
      'POST /v1/decisions HTTP/1.1\r\nHost: consent.test\r\nHost: other.test\r\n' +
        `Authorization: ${caller.auth.authorization}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${DECISION.length}\r\n\r\n${DECISION}`,
      true
    )
    expectProblem(res, 400, { detail: /more than one Host header/ })
    expect(await decisions()).toBe(before)
  })

  it('an HTTP/1.1 request without Host: 400 problem+json (not a bare empty 400), connection closed', async () => {
    const res = await send('GET /health/live HTTP/1.1\r\n\r\n', true)
    expectProblem(res, 400, { detail: /must have a Host header/ })
  })

  it('HTTP/1.0 with Transfer-Encoding: chunked: 400 problem+json, nothing decided, the connection closed', async () => {
    const before = await decisions()
    const res = await send(
      'POST /v1/decisions HTTP/1.0\r\nHost: consent.test\r\n' +
        `Authorization: ${caller.auth.authorization}\r\nContent-Type: application/json\r\n` +
        `Transfer-Encoding: chunked\r\n\r\n${chunk(DECISION)}0\r\n\r\n`,
      true
    )
    expectProblem(res, 400, { detail: /HTTP\/1\.0 request must not use Transfer-Encoding/ })
    expect(await decisions()).toBe(before)
  })

  it('Content-Length with Transfer-Encoding: refused by the parser, as problem+json, connection closed', async () => {
    const res = await send(
      'POST /v1/decisions HTTP/1.1\r\nHost: consent.test\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${DECISION.length}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(DECISION)}0\r\n\r\n`,
      true
    )
    expectProblem(res, 400, { detail: /not valid HTTP\/1\.1/ })
  })

  it('well-framed requests are answered: HTTP/1.0 without Host, HTTP/1.1 chunked', async () => {
    const before = await decisions()
    const old = await send('GET /health/live HTTP/1.0\r\n\r\n', false)
    expect(old.status).toBe(200)
    const chunked = await send(
      'POST /v1/decisions HTTP/1.1\r\nHost: consent.test\r\n' +
        `Authorization: ${caller.auth.authorization}\r\nContent-Type: application/json\r\n` +
        `Transfer-Encoding: chunked\r\n\r\n${chunk(DECISION.slice(0, 10))}${chunk(DECISION.slice(10))}0\r\n\r\n`,
      false
    )
    expect(chunked.status, chunked.body).toBe(200)
    expect(chunked.headers.connection).not.toBe('close')
    expect(await decisions(), 'the decision is audited (the count above is not vacuous)').toBe(before + 1)
  })
})
