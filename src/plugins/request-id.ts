// X-Request-ID on every answer: the caller's when it is a UUID, else one we make; X-Correlation-ID
// echoed as sent (bounded, printable) so callers can join our logs to theirs (SPEC §3).
import fp from 'fastify-plugin'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, RawRequestDefaultExpression } from 'fastify'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i
const CORRELATION = /^[\x21-\x7e]{1,128}$/

/** Fastify's genReqId: runs before any plugin, so every log line carries the id. */
export function requestIdFor (req: RawRequestDefaultExpression): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && UUID.test(given) ? given : randomUUID()
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's X-Correlation-ID when it is usable (recorded on every audit event, SPEC §3). */
    correlationId: string | null
  }
}

export default fp(async function requestId (fastify: FastifyInstance) {
  fastify.decorateRequest('correlationId', null)
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
    const correlation = request.headers['x-correlation-id']
    if (typeof correlation === 'string' && CORRELATION.test(correlation)) {
      request.correlationId = correlation
      reply.header('x-correlation-id', correlation)
    }
  })
})
