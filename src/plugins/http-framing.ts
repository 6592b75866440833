// How a request is framed on the wire (RFC 9112), checked before anything else looks at it. Node's
// parser (llhttp, strict: insecureHTTPParser off) already refuses what it cannot frame, e.g.
// Content-Length with Transfer-Encoding; these are the framing faults it lets through. Each is a
// 400 problem+json and the connection is closed, since a proxy in front may have read the same
// bytes differently (request smuggling).
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { HttpProblem } from './problems.ts'

/** What is wrong with a request's framing, or null; from the version and the header lines as sent. */
export function framingProblem (httpVersion: string, rawHeaders: readonly string[]): HttpProblem | null {
  let hosts = 0
  let transferEncoding = false
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++
    else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') transferEncoding = true
  }
  // Node keeps the first of several Host lines and drops the rest, while a proxy may route on
  // another; RFC 9112 §3.2 requires a 400.
  if (hosts > 1) return new HttpProblem(400, 'The request has more than one Host header (RFC 9112 §3.2)')
  if (hosts === 0 && httpVersion === '1.1') {
    return new HttpProblem(400, 'An HTTP/1.1 request must have a Host header (RFC 9112 §3.2)')
  }
  // HTTP/1.0 has no Transfer-Encoding: a 1.0 recipient (or proxy) takes the body's length from
  // Content-Length or the connection's end, not from the chunks (RFC 9112 §6.1).
  if (transferEncoding && httpVersion === '1.0') {
    return new HttpProblem(
      400,
      'An HTTP/1.0 request must not use Transfer-Encoding (RFC 9112 §6.1): send Content-Length, or use HTTP/1.1'
    )
  }
  return null
}

export default fp(
  async function httpFraming (fastify: FastifyInstance) {
    // A callback hook (not async): it runs on every request, the decision hot path included.
    fastify.addHook('onRequest', (request, reply, done) => {
      const problem = framingProblem(request.raw.httpVersion, request.raw.rawHeaders)
      if (problem === null) {
        done()
        return
      }
      reply.header('connection', 'close')
      done(problem)
    })
  },
  { name: 'http-framing' }
)
