// A client that closes its connection mid-body (SECURITY.md T15, issue #12 item 4): logged at info
// as "client aborted the request", never at error level as "store unavailable" (Node fails such a
// request with ECONNRESET, a code the store's drivers use too). Over a real socket; the log is read
// from the test app's log stream, matched by the request id each request sends.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, clientWithToken, nhsNumbers, type TestApp, type TestCaller } from '../helpers/app.ts'
import { MISSING_AFTER_MS, RawConnection, chunk, head } from './transport-raw.ts'

interface LogLine {
  level: number
  msg: string
  reqId?: string
  [key: string]: unknown
}

describe('a client that goes away mid-body', () => {
  let t: TestApp
  let caller: TestCaller
  let port: number

  beforeAll(async () => {
    t = await buildTestApp({ LOG_LEVEL: 'info' })
    caller = await clientWithToken(t.app)
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    port = (t.app.server.address() as { port: number }).port
  })
  afterAll(async () => {
    await t?.close()
  })

  const linesOf = (requestId: string): LogLine[] =>
    t.logs
      .flatMap(chunkText => chunkText.split('\n'))
      .filter(l => l.trim() !== '')
      .map(l => JSON.parse(l) as LogLine)
      .filter(l => l.reqId === requestId)

  /**
   * The request's log lines once one says `msg`, or once one is at warn or error level (the log is
   * written as the server notices); a clear failure if neither comes.
   */
  async function logged (requestId: string, msg: string): Promise<LogLine[]> {
    const deadline = Date.now() + MISSING_AFTER_MS
    for (;;) {
      const lines = linesOf(requestId)
      if (lines.some(l => l.msg === msg || l.level >= 40)) return lines
      if (Date.now() > deadline) {
        throw new Error(`no "${msg}" in the log of ${requestId}: ${JSON.stringify(lines.map(l => l.msg))}`)
      }
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  /**
   * Sends the head and part of a body, waits until the server has the request (its "incoming
   * request" line), or `until` for more, then goes away; returns the request's log lines once the
   * abort is logged.
   */
  async function abortMidBody (
    requestLine: string,
    headers: Record<string, string>,
    part: string,
    until?: (c: RawConnection) => Promise<unknown>
  ): Promise<LogLine[]> {
    const requestId = randomUUID()
    const c = new RawConnection(port)
    c.write(
      head(requestLine, { Authorization: caller.auth.authorization, 'X-Request-ID': requestId, ...headers }) + part
    )
    await logged(requestId, 'incoming request')
    if (until !== undefined) await until(c)
    c.destroy()
    return await logged(requestId, 'client aborted the request')
  }

  const expectQuietAbort = (lines: LogLine[]): void => {
    const abort = lines.find(l => l.msg === 'client aborted the request')
    expect(abort?.level, 'logged at info').toBe(30)
    expect(
      lines.filter(l => l.level >= 40).map(l => l.msg),
      'nothing at warn or error'
    ).toEqual([])
    expect(lines.map(l => l.msg)).not.toContain('store unavailable')
  }

  it('an import: logged at info as a client abort, not as the store unavailable', async () => {
    const [nhs] = nhsNumbers(1, 91)
    const lines = await abortMidBody(
      'POST /v1/preferences/import HTTP/1.1',
      { 'Content-Type': 'application/x-ndjson', 'Transfer-Encoding': 'chunked' },
      chunk(JSON.stringify({ externalId: 'abort-1', nhsNumber: nhs, purpose: 'planned-care', decision: 'deny' }) + '\n')
    )
    expectQuietAbort(lines)
  })

  it('a JSON body (a decision): logged at info as a client abort', async () => {
    const lines = await abortMidBody(
      'POST /v1/decisions HTTP/1.1',
      { 'Content-Type': 'application/json', 'Content-Length': '500' },
      '{"nhsNumber":"94347'
    )
    expectQuietAbort(lines)
  })

  it('a bulk filter, after its answer began: logged at info as a client abort', async () => {
    const numbers = nhsNumbers(10, 92)
    const lines = await abortMidBody(
      'POST /v1/filter?purpose=planning-research HTTP/1.1',
      { 'Content-Type': 'text/plain', Accept: 'application/x-ndjson', 'Transfer-Encoding': 'chunked' },
      chunk(numbers.join('\n') + '\n'),
      async c => await c.until(() => (/"line":10,/.test(c.text()) ? true : undefined), 'the first answer lines')
    )
    expectQuietAbort(lines)
  })

  it('a bulk filter, before any answer: logged at info as a client abort', async () => {
    const lines = await abortMidBody(
      'POST /v1/filter?purpose=planning-research HTTP/1.1',
      { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' },
      ''
    )
    expectQuietAbort(lines)
  })
})
