// Liveness (the process answers) and readiness (the store is reachable, migrated and the change
// feed is current). A load balancer takes an instance out while ready is 503.
import type { FastifyInstance } from 'fastify'
import { isMigrated } from '../store/migrator.ts'

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
  const { db, feed } = fastify.runtime
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
      const checks: Record<string, string> = {}
      try {
        checks.store = (await isMigrated(db)) ? 'ok' : 'not migrated'
      } catch {
        checks.store = 'unreachable'
      }
      checks.changeFeed = feed.fresh ? 'ok' : 'stale'
      const ok = Object.values(checks).every(v => v === 'ok')
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks })
    }
  )
}
