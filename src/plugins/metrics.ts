// Prometheus metrics (prom-client). Labels are route templates, never URLs, so no NHS number can
// reach a label (SPEC §2). Each app has its own registry so tests can build many apps.
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { FastifyInstance } from 'fastify'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { registry: Registry; decisions: Counter<'decision' | 'basis'> }
  }
}

export default fp(
  async function metrics (fastify: FastifyInstance, opts: { expose: boolean }) {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route template',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry]
    })
    const decisions = new Counter({
      name: 'consent_decisions_total',
      help: 'Decisions answered',
      labelNames: ['decision', 'basis'] as const,
      registers: [registry]
    })
    const { index, audit, feed } = fastify.runtime
    registry.registerMetric(
      new Gauge({
        name: 'consent_preferences_indexed',
        help: 'Active choices held in the in-memory index',
        registers: [],
        collect () {
          this.set(index.size)
        }
      })
    )
    registry.registerMetric(
      new Gauge({
        name: 'consent_audit_commits',
        help: 'Audit group commits since start',
        registers: [],
        collect () {
          this.set(audit.commits)
        }
      })
    )
    registry.registerMetric(
      new Gauge({
        name: 'consent_change_feed_fresh',
        help: '1 when the change feed polled successfully within the staleness bound',
        registers: [],
        collect () {
          this.set(feed.fresh ? 1 : 0)
        }
      })
    )

    // Outbound fetches of clients' JWKS URLs (SECURITY.md T14): a rise in failures is a client's
    // broken key host, or strangers naming it in assertions. Read when scraped; the services are
    // made after this plugin.
    for (const [name, help, read] of [
      ['consent_jwks_fetches_total', "Fetches of clients' JWKS URLs", () => fastify.services.tokens.remoteJwks.fetches],
      [
        'consent_jwks_fetch_failures_total',
        "Fetches of clients' JWKS URLs that failed (refused, timed out, too large, not a key set)",
        () => fastify.services.tokens.remoteJwks.failures
      ]
    ] as const) {
      registry.registerMetric(
        new Counter({
          name,
          help,
          registers: [],
          collect () {
            this.reset()
            this.inc(read())
          }
        })
      )
    }

    fastify.decorate('metrics', { registry, decisions })
    fastify.addHook('onResponse', async (request, reply) => {
      duration.observe(
        { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
        reply.elapsedTime / 1000
      )
    })
    if (opts.expose) {
      // Public on the main port as on METRICS_PORT: counts and timings only, never an NHS number.
      fastify.get('/metrics', { config: { public: true }, schema: { hide: true } }, async (_request, reply) => {
        return reply.type(registry.contentType).send(await registry.metrics())
      })
    }
  },
  { name: 'metrics', dependencies: ['runtime'] }
)
