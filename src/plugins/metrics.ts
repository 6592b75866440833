// Prometheus metrics (prom-client), named by Prometheus's conventions: counters end in _total,
// durations are in seconds, gauges carry no _total. Labels are route templates and fixed words,
// never URLs or input, so no NHS number can reach a label (SPEC §2). Each app has its own registry
// so tests can build many apps. Counters are this instance's since it started (sum them across
// instances); consent_alerts_open is read from the shared store (take one instance's, or max).
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { countOpenAlerts } from '../store/alerts.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: { registry: Registry; decisions: Counter<'decision' | 'basis'> }
  }
}

/** Why a request was answered 429: the label of consent_too_many_requests_total. */
export type TooManyReason = 'rate-limit' | 'unknown-routes' | 'failure-budget' | 'stream-cap'

const tooManyReasons = new WeakMap<FastifyRequest, TooManyReason>()

/**
 * Says why the 429 this request is about to get is sent, for a refusal the metrics cannot tell from
 * the request alone (the rate limiters': their requests may be authenticated or not).
 */
export function tooManyBecause (request: FastifyRequest, reason: TooManyReason): void {
  tooManyReasons.set(request, reason)
}

/** The token endpoint's route: its refusals are token failures, a 401 anywhere else a failed bearer token. */
const TOKEN_ROUTE = '/oauth2/token'
const REVIEW_ROUTE = '/v1/alerts/:id/review'

/** A counter whose value is read from elsewhere when scraped. */
function readCounter (name: string, help: string, read: () => number | Promise<number>): Counter {
  return new Counter({
    name,
    help,
    registers: [],
    async collect () {
      const value = await read()
      this.reset()
      this.inc(value)
    }
  })
}

export default fp(
  async function metrics (fastify: FastifyInstance, opts: { expose: boolean }) {
    const registry = new Registry()
    collectDefaultMetrics({ register: registry })
    // prom-client names these gauges as if counters; the per-type gauges it also exports
    // (nodejs_active_handles, …) sum to the same numbers.
    for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`nodejs_active_${kind}_total`)
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method, route template and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry]
    })
    const decisions = new Counter({
      name: 'consent_decisions_total',
      help: 'Decisions answered (replays excluded), by decision and basis',
      labelNames: ['decision', 'basis'] as const,
      registers: [registry]
    })
    const authFailures = new Counter({
      name: 'consent_authentication_failures_total',
      help:
        'Refused token requests (endpoint="token": a 4xx other than 429 from POST /oauth2/token) and failed ' +
        'bearer authentications (endpoint="bearer": a 401 from any other route)',
      labelNames: ['endpoint'] as const,
      registers: [registry]
    })
    const tooMany = new Counter({
      name: 'consent_too_many_requests_total',
      help:
        'Requests answered 429, by reason: rate-limit (per-client requests a minute), unknown-routes (probes ' +
        'of unknown routes), failure-budget (failed authentications from the address), stream-cap (bulk ' +
        'streams open at once)',
      labelNames: ['reason'] as const,
      registers: [registry]
    })
    const reviewed = new Counter({
      name: 'consent_alerts_reviewed_total',
      help: 'Emergency-access alerts reviewed',
      registers: [registry]
    })
    for (const endpoint of ['token', 'bearer']) authFailures.inc({ endpoint }, 0)
    for (const reason of ['rate-limit', 'unknown-routes', 'failure-budget', 'stream-cap']) tooMany.inc({ reason }, 0)

    const { index, audit, feed, db } = fastify.runtime
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
      readCounter('consent_audit_commits_total', 'Audit group commits since start', () => audit.commits)
    )
    registry.registerMetric(
      new Gauge({
        name: 'consent_change_feed_fresh',
        help: '1 when the change feed polled successfully within the staleness bound, else 0',
        registers: [],
        collect () {
          this.set(feed.fresh ? 1 : 0)
        }
      })
    )
    // Every emergency access raises one alert, in the same commit as its decision (SPEC §2 rule 5),
    // and is the only decision whose basis is emergency-access: the decisions counted with that basis.
    registry.registerMetric(
      readCounter('consent_alerts_raised_total', 'Emergency-access alerts raised', async () => {
        const { values } = await decisions.get()
        return values.filter(v => v.labels.basis === 'emergency-access').reduce((sum, v) => sum + v.value, 0)
      })
    )
    registry.registerMetric(
      new Gauge({
        name: 'consent_alerts_open',
        help: 'Emergency-access alerts awaiting review, in the shared store (NaN when the store cannot be read)',
        registers: [],
        async collect () {
          // A store that cannot be read makes this one value unknown, not the whole scrape a 500.
          this.set(await countOpenAlerts(db).catch(() => Number.NaN))
        }
      })
    )

    // Outbound fetches of clients' JWKS URLs (SECURITY.md T14): a rise in failures is a client's
    // broken key host, or strangers naming it in assertions. Read when scraped; the services are
    // made after this plugin.
    registry.registerMetric(
      readCounter(
        'consent_jwks_fetches_total',
        "Fetches of clients' JWKS URLs",
        () => fastify.services.tokens.remoteJwks.fetches
      )
    )
    registry.registerMetric(
      readCounter(
        'consent_jwks_fetch_failures_total',
        "Fetches of clients' JWKS URLs that failed (refused, timed out, too large, not a key set)",
        () => fastify.services.tokens.remoteJwks.failures
      )
    )

    fastify.decorate('metrics', { registry, decisions })
    fastify.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url
      const status = reply.statusCode
      duration.observe(
        { method: request.method, route: route ?? 'unmatched', status: String(status) },
        reply.elapsedTime / 1000
      )
      if (status === 429) {
        // Not the rate limiters': the token endpoint's and a bad bearer token's refusals come before
        // anyone is authenticated (the failure budget), the stream caps' after.
        tooMany.inc({
          reason: tooManyReasons.get(request) ?? (request.caller === null ? 'failure-budget' : 'stream-cap')
        })
      } else if (route === TOKEN_ROUTE) {
        if (status >= 400 && status < 500) authFailures.inc({ endpoint: 'token' })
      } else if (status === 401) {
        authFailures.inc({ endpoint: 'bearer' })
      } else if (status === 200 && route === REVIEW_ROUTE && request.method === 'POST') {
        // The one route that reviews an alert, and a 200 only when the review was recorded.
        reviewed.inc()
      }
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
