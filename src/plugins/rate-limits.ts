// Per-client rate limits (SPEC §7), shared across instances through SharedCounters. Keyed by the
// authenticated client (the hook runs after authentication), else by IP. Probes of unknown routes
// are limited per IP, so the not-found handler cannot be used to scan cheaply. Answers 429
// problem+json with Retry-After.
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { SharedCounters } from '../store/shared-counters.ts'
import { Problem } from '../domain/problems.ts'
import { sendUnrouted } from './errors.ts'
import { scrubLogLine } from '../logger.ts'
import { tooManyBecause } from './metrics.ts'

type Callback = (err: Error | null, result: { current: number; ttl: number }) => void

/** Adapts SharedCounters to @fastify/rate-limit's store interface. */
function sharedStore (counters: SharedCounters, prefix: string): new () => object {
  return class SharedStore {
    incr (key: string, cb: Callback, timeWindow: number): void {
      const c = counters.incr(`${prefix}${key}`, timeWindow)
      cb(null, { current: c.current, ttl: c.ttlMs })
    }

    read (key: string, cb: Callback, timeWindow: number): void {
      const c = counters.read(`${prefix}${key}`, timeWindow)
      cb(null, { current: c.current, ttl: c.ttlMs })
    }

    child (): SharedStore {
      return new SharedStore()
    }
  }
}

/** Paths never rate limited (probes, metrics, documentation, discovery): they never answer 429. */
export const UNLIMITED = /^\/(health\/|metrics|docs|openapi\.json|\.well-known\/)/

export default fp(
  async function rateLimits (fastify: FastifyInstance) {
    const { config, counters } = fastify.runtime
    await fastify.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      max: config.rateLimitPerMinute,
      timeWindow: 60_000,
      store: sharedStore(counters, 'rl:') as never,
      keyGenerator: (request: FastifyRequest) =>
        request.caller !== null ? `client:${request.caller.client.id}` : `ip:${request.ip}`,
      allowList: (request: FastifyRequest) => UNLIMITED.test(request.url),
      onExceeded: (request: FastifyRequest) => {
        tooManyBecause(request, 'rate-limit')
      },
      errorResponseBuilder: (_request, context) =>
        new Problem(
          'too-many-requests',
          `Rate limit exceeded: at most ${context.max} requests a minute for this client; retry after ${context.after}`
        )
    })

    const notFoundLimit = fastify.rateLimit({
      max: config.notFoundPerMinute,
      timeWindow: 60_000,
      keyGenerator: (request: FastifyRequest) => `404:${request.ip}`,
      onExceeded: (request: FastifyRequest) => {
        tooManyBecause(request, 'unknown-routes')
      },
      errorResponseBuilder: (_request, context) =>
        new Problem('too-many-requests', `Too many requests for unknown routes; retry after ${context.after}`)
    })
    fastify.setNotFoundHandler({ preHandler: notFoundLimit }, async (request, reply) => {
      // The path is echoed without anything shaped like an NHS number or a token.
      return sendUnrouted(request, reply, {
        status: 404,
        detail: `No route ${request.method} ${scrubLogLine(request.url.split('?')[0].slice(0, 100))}`
      })
    })
  },
  { name: 'rate-limits', dependencies: ['runtime', 'auth'] }
)
