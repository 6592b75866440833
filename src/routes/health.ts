// Liveness (the process answers) and readiness (the store is reachable, migrated and the change
// feed is current). A load balancer takes an instance out while ready is 503.
import type { FastifyInstance } from 'fastify'

const healthSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    checks: { type: 'object', additionalProperties: { type: 'string' } }
  },
  required: ['status'],
  example: { status: 'ok', checks: { store: 'ok', changeFeed: 'ok' } }
} as const

export default async function healthRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.get(
    '/health/live',
    { config: { public: true }, schema: { tags: ['health'], summary: 'Liveness', response: { 200: healthSchema } } },
    async () => ({ status: 'ok' })
  )
  fastify.get(
    '/health/ready',
    {
      config: { public: true },
      schema: {
        tags: ['health'],
        summary: 'Readiness: store reachable and migrated, change feed current',
        response: { 200: healthSchema, 503: healthSchema }
      }
    },
    async (_request, reply) => {
      const { ready, checks } = await fastify.services.health.readiness()
      return await reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks })
    }
  )
}
