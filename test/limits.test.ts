// Size limits are deliberate, documented (README "Limits") and answered clearly (SPEC §7: "body
// and header size limits"; §3: 413 body too large): a JSON body over BODY_LIMIT_BYTES is a 413,
// an oversized access token or client assertion is a 401/400 saying so, a header block over Node's
// limit is a 431 from Node's own parser, over a real socket, and an over-long path parameter is a
// 414. All problem+json (RFC 6749 errors on the token endpoint), never a 5xx, and the service
// keeps answering afterwards.
import { connect } from 'node:net'
import { maxHeaderSize } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_ASSERTION_LENGTH } from '../src/auth/client-assertion.ts'
import { MAX_PARAM_LENGTH } from '../src/app.ts'
import {
  buildTestApp,
  clientWithToken,
  expectProblem,
  requestToken,
  signAssertion,
  tokenForm,
  type TestApp,
  type TestCaller
} from './helpers/app.ts'

const NHS = '9434765919'

interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  closed: boolean
}

/** Sends exact bytes over a fresh TCP connection and reads one answer (Content-Length or chunked). */
async function raw (port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let done = false
    const finish = (closed: boolean): void => {
      if (done) return
      const all = Buffer.concat(chunks).toString('latin1')
      const head = all.indexOf('\r\n\r\n')
      if (head === -1) {
        if (closed) {
          done = true
          reject(new Error(`connection closed without an answer: ${JSON.stringify(all.slice(0, 200))}`))
        }
        return
      }
      const [statusLine, ...lines] = all.slice(0, head).split('\r\n')
      const headers: Record<string, string> = {}
      for (const l of lines) {
        const i = l.indexOf(':')
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
      }
      let rest = all.slice(head + 4)
      if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length'])
        if (Buffer.byteLength(rest, 'latin1') < n && !closed) return
        rest = rest.slice(0, n)
      } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        if (!rest.includes('0\r\n\r\n') && !closed) return
        let out = ''
        let at = 0
        for (;;) {
          const eol = rest.indexOf('\r\n', at)
          const size = parseInt(rest.slice(at, eol), 16)
          if (!(size > 0)) break
          out += rest.slice(eol + 2, eol + 2 + size)
          at = eol + 2 + size + 2
        }
        rest = out
      } else if (!closed) {
        return
      }
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: Buffer.from(rest, 'latin1').toString('utf8'),
        closed
      })
    }
    const timer = setTimeout(() => {
      socket.destroy()
      if (!done) {
        done = true
        reject(new Error('no answer in time'))
      }
    }, timeoutMs)
    socket.on('data', c => {
      chunks.push(c)
      finish(false)
    })
    socket.on('close', () => finish(true))
    socket.on('error', () => finish(true))
    socket.write(request)
  })
}

describe('size limits (README "Limits")', () => {
  let t: TestApp
  let small: TestApp
  let admin: TestCaller
  let port: number

  beforeAll(async () => {
    t = await buildTestApp()
    admin = await clientWithToken(t.app)
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    port = (t.app.server.address() as { port: number }).port
    small = await buildTestApp({ BODY_LIMIT_BYTES: '2048' })
  })
  afterAll(async () => {
    await t?.close()
    await small?.close()
  })

  const decisionPadded = (bytes: number): string =>
    JSON.stringify({
      nhsNumber: NHS,
      purpose: 'planned-care',
      pointOfCare: { permissionToView: 'granted', reason: 'x'.repeat(bytes) }
    })
  /** An HTTP/1.1 request as bytes on the wire, from the admin client: a head of CRLF lines, then the body. */
  const wire = (requestLine: string, headers: Record<string, string>, body = ''): string =>
    [requestLine, 'Host: localhost', `Authorization: Bearer ${admin.token}`]
      .concat(Object.entries(headers).map(([k, v]) => `${k}: ${v}`))
      .map(line => `${line}\r\n`)
      .join('') + `\r\n${body}`
  const post = (path: string, body: string): string =>
    wire(`POST ${path} HTTP/1.1`, {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body))
    }, body)

  describe('JSON bodies: BODY_LIMIT_BYTES (default 64 KiB)', () => {
    it('a body just under the limit is read (and then judged on its content)', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: { ...admin.auth, 'content-type': 'application/json' },
        payload: decisionPadded(65_536 - 200)
      })
      expect(res.statusCode).toBe(400) // reason is limited to 1000 characters by the schema, not by size
      expect(res.json().detail).toMatch(/reason/)
    })

    it('over the limit: 413 problem+json, before any schema or store work', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: { ...admin.auth, 'content-type': 'application/json' },
        payload: decisionPadded(70_000)
      })
      expectProblem(res, 413, { detail: /larger than this endpoint accepts/ })
    })

    it('over a real socket, with Content-Length: 413 and the connection still usable for the next client', async () => {
      const res = await raw(port, post('/v1/decisions', decisionPadded(70_000)))
      expectProblem(res, 413, { detail: /larger/ })
      const next = await raw(port, post('/v1/decisions', JSON.stringify({ nhsNumber: NHS, purpose: 'planned-care' })))
      expect(next.status).toBe(200)
    })

    it('a declared Content-Length over the limit is refused without waiting for the body', async () => {
      // Only the headers are sent: the answer must not wait for 10 MB that never comes.
      const started = Date.now()
      const res = await raw(
        port,
        wire(
          'POST /v1/decisions HTTP/1.1',
          { 'Content-Type': 'application/json', 'Content-Length': '10485760' },
          '{"nhsNumber":'
        ),
        3000
      )
      expectProblem(res, 413, { detail: /larger/ })
      expect(Date.now() - started).toBeLessThan(2000)
    })

    it('a chunked body that grows past the limit: 413', async () => {
      const chunk = 'x'.repeat(16_000)
      let body = `{"nhsNumber":"${NHS}","purpose":"planned-care","pointOfCare":{"permissionToView":"granted","reason":"`
      const parts = [body]
      for (let i = 0; i < 6; i++) parts.push(chunk)
      parts.push('"}}')
      body = parts.map(p => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`).join('') + '0\r\n\r\n'
      const res = await raw(
        port,
        wire(
          'POST /v1/decisions HTTP/1.1',
          { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
          body
        )
      )
      expectProblem(res, 413, { detail: /larger/ })
    })

    it('the limit is configurable: BODY_LIMIT_BYTES=2048', async () => {
      const other = await clientWithToken(small.app)
      const res = await small.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: { ...other.auth, 'content-type': 'application/json' },
        payload: decisionPadded(3000)
      })
      expectProblem(res, 413, { detail: /larger/ })
      const fine = await small.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: other.auth,
        payload: { nhsNumber: NHS, purpose: 'planned-care' }
      })
      expect(fine.statusCode).toBe(200)
    })
  })

  describe('the token endpoint', () => {
    it('a form body over 32 KiB: an RFC 6749 invalid_request saying it is too large', async () => {
      const res = await requestToken(t.app, tokenForm('a'.repeat(33_000)))
      expect(res.statusCode).toBe(400)
      expect(res.json()).toEqual({ error: 'invalid_request', error_description: expect.stringMatching(/larger/) })
    })

    it(`a client assertion over ${MAX_ASSERTION_LENGTH} characters: invalid_request naming the limit`, async () => {
      const header = Buffer.from('{"alg":"ES256","kid":"k"}').toString('base64url')
      const assertion = `${header}.${'A'.repeat(MAX_ASSERTION_LENGTH)}.sig`
      const res = await requestToken(t.app, tokenForm(assertion))
      expect(res.statusCode).toBe(400)
      expect(res.json()).toEqual({
        error: 'invalid_request',
        error_description: expect.stringMatching(String(MAX_ASSERTION_LENGTH))
      })
    })

    it('a validly signed assertion padded with a huge claim is refused by length, not verified', async () => {
      const assertion = await signAssertion(admin, { jti: 'j'.repeat(MAX_ASSERTION_LENGTH) })
      const res = await requestToken(t.app, tokenForm(assertion))
      expect(res.statusCode).toBe(400)
      expect(res.json().error_description).toMatch(/longer than/)
    })
  })

  describe('access tokens (4096 characters)', () => {
    it('an oversized bearer token: 401 problem+json saying it is too long', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: { authorization: `Bearer ${'A'.repeat(5000)}` },
        payload: { nhsNumber: NHS, purpose: 'planned-care' }
      })
      expectProblem(res, 401, { detail: /too long/ })
      expect(res.headers['www-authenticate']).toMatch(/^Bearer error="invalid_token"/)
    })

    it('an oversized JWT-shaped token over a real socket (15 KiB, under the header limit): 401', async () => {
      const header = Buffer.from('{"alg":"ES256","kid":"x","typ":"at+jwt"}').toString('base64url')
      const jwt = `${header}.${'B'.repeat(15_000)}.c2ln`
      const res = await raw(
        port,
        `GET /v1/purposes HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${jwt}\r\n\r\n`
      )
      expectProblem(res, 401, { detail: /too long/ })
    })
  })

  describe(`headers: Node refuses a request line and headers over ${maxHeaderSize} bytes`, () => {
    it('a header block over the limit: 431 problem+json from the parser, connection closed', async () => {
      const res = await raw(
        port,
        `GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'p'.repeat(maxHeaderSize)}\r\n\r\n`
      )
      expectProblem(res, 431, { detail: new RegExp(`larger than ${maxHeaderSize} bytes`) })
      expect(res.headers.connection).toBe('close')
    })

    it('many small headers adding up past the limit: 431', async () => {
      const headers = Array.from({ length: 800 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}\r\n`).join('')
      const res = await raw(port, `GET /health/live HTTP/1.1\r\nHost: localhost\r\n${headers}\r\n`)
      expectProblem(res, 431, { detail: /larger than/ })
    })

    it('an oversized Authorization header (20 KiB) is a 431, not a 5xx', async () => {
      const res = await raw(
        port,
        `GET /v1/purposes HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${'C'.repeat(20_000)}\r\n\r\n`
      )
      expectProblem(res, 431, { detail: /larger than/ })
    })

    it('a URL whose query string alone is over the limit: 431', async () => {
      const res = await raw(
        port,
        `GET /v1/audit?cursor=${'q'.repeat(maxHeaderSize + 10)} HTTP/1.1\r\nHost: localhost\r\n\r\n`
      )
      expectProblem(res, 431, { detail: /larger than/ })
    })

    it('bytes that are not HTTP: 400 problem+json saying so', async () => {
      const res = await raw(port, 'HELLO\u0000 WORLD\r\n\r\n')
      expectProblem(res, 400, { detail: /not valid HTTP/ })
    })

    it('the service answers normally afterwards', async () => {
      const res = await raw(port, 'GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
      expect(res.status).toBe(200)
    })
  })

  describe(`path parameters: at most ${MAX_PARAM_LENGTH} characters, then each route's schema`, () => {
    it(`a parameter over ${MAX_PARAM_LENGTH} characters: 414 problem+json`, async () => {
      for (const url of [
        `/v1/patients/${'9'.repeat(MAX_PARAM_LENGTH + 1)}/preferences`,
        `/v1/clients/${'c'.repeat(5000)}`,
        `/v1/purposes/${'p'.repeat(MAX_PARAM_LENGTH + 1)}`
      ]) {
        const res = await t.app.inject({ method: 'GET', url, headers: admin.auth })
        expectProblem(res, 414, { detail: new RegExp(`longer than ${MAX_PARAM_LENGTH} characters`) })
      }
    })

    it('over a real socket too', async () => {
      const res = await raw(
        port,
        wire(`GET /v1/patients/${'9'.repeat(1000)}/preferences HTTP/1.1`, {})
      )
      expectProblem(res, 414, { detail: /longer than/ })
    })

    it('an NHS number parameter of 41-200 characters: 400 from the schema (maxLength 40)', async () => {
      const res = await t.app.inject({
        method: 'GET',
        url: `/v1/patients/${'9'.repeat(100)}/preferences`,
        headers: admin.auth
      })
      expectProblem(res, 400, { detail: /nhsNumber/ })
    })

    it('a path whose escapes do not decode: 400 problem+json', async () => {
      for (const url of ['/v1/patients/%zz/preferences', '/v1/clients/%ED%A0%80', '/v1/purposes/%']) {
        const res = await t.app.inject({ method: 'GET', url, headers: admin.auth })
        expectProblem(res, 400, { detail: /URL is malformed/ })
      }
    })
  })
})
