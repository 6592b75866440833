// Security headers and request-level limits. The header values come from helmet (well kept, and
// it knows what each header should say); they are computed once at start and set on every answer,
// because @fastify/helmet rebuilds helmet's middleware on every request, which a profile of the
// decision hot path showed costing ~5% of the event loop.
import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'
import formbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'

/** The headers helmet sets for these options, captured once. */
function helmetHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const res = {
    setHeader (name: string, value: string | number | string[]) {
      headers[name.toLowerCase()] = String(value)
    },
    removeHeader (name: string) {
      headers[name.toLowerCase()] = ''
    }
  }
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, () => {})
  return Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ''))
}

export default fp(
  async function security (fastify: FastifyInstance) {
    const securityHeaders = helmetHeaders({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          // Named, not left to default-src: Swagger UI's "Execute" fetches this same origin (the
          // document's servers are relative), from whichever host the page was opened at.
          connectSrc: ["'self'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
          frameAncestors: ["'none'"],
          // TLS is terminated in front of the service; on a plain-HTTP development port the upgrade
          // would break Swagger UI's own requests.
          upgradeInsecureRequests: null
        }
      },
      hsts: { maxAge: 31_536_000, includeSubDomains: true }
    })
    fastify.addHook('onRequest', async (_request, reply) => {
      reply.headers(securityHeaders)
    })
    // application/x-www-form-urlencoded, for the token endpoint (RFC 6749).
    await fastify.register(formbody, { bodyLimit: 32_768 })
    fastify.addHook('onSend', async (_request, reply) => {
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    })
  },
  { name: 'security' }
)
