// Security headers (helmet) and request-level limits. Swagger UI needs its inline assets, so the
// content security policy allows 'self' and inline styles only under /docs.
import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import formbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'

export default fp(async function security (fastify: FastifyInstance) {
  await fastify.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
        frameAncestors: ["'none'"]
      }
    },
    hsts: { maxAge: 31_536_000, includeSubDomains: true }
  })
  // application/x-www-form-urlencoded, for the token endpoint (RFC 6749).
  await fastify.register(formbody, { bodyLimit: 32_768 })
  fastify.addHook('onSend', async (_request, reply) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
  })
}, { name: 'security' })
