// Builds the service as a Fastify app. Tests build it on a fresh store with buildApp(); server.ts
// builds it and listens. The domain (src/domain) and the store (src/store) know nothing of Fastify.
import type { Server } from 'node:http'
import Fastify, { type FastifyHttpOptions, type FastifyInstance, type RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import type { Config } from './config.ts'
import { unavailable } from './domain/problems.ts'
import { loggerOptions } from './logger.ts'
import { openRuntime, type Runtime } from './runtime.ts'
import { createServices, type Services } from './services/index.ts'
import { requestIdFor } from './plugins/request-id.ts'
import requestId from './plugins/request-id.ts'
import errors, { clientErrorHandler, frameworkErrors } from './plugins/errors.ts'
import security from './plugins/security.ts'
import httpFraming from './plugins/http-framing.ts'
import streamLimits from './plugins/stream-limits.ts'
import inputGuard from './plugins/input-guard.ts'
import swagger from './plugins/swagger.ts'
import metrics from './plugins/metrics.ts'
import auth, { isAuthenticationHook } from './plugins/auth.ts'
import rateLimits from './plugins/rate-limits.ts'
import refusals from './plugins/refusals.ts'
import healthRoutes from './routes/health.ts'
import oauthRoutes from './routes/oauth2.ts'
import decisionRoutes from './routes/v1/decisions.ts'
import preferenceRoutes from './routes/v1/preferences.ts'
import purposeRoutes from './routes/v1/purposes.ts'
import clientRoutes from './routes/v1/clients.ts'
import auditRoutes from './routes/v1/audit.ts'
import alertRoutes from './routes/v1/alerts.ts'
import filterRoutes from './routes/v1/filter.ts'
import preferenceImportRoutes from './routes/v1/preferences-import.ts'
import changeRoutes from './routes/v1/changes.ts'
import fhirRoutes from './routes/fhir.ts'
import cdsHooksRoutes from './routes/cds-hooks.ts'

declare module 'fastify' {
  interface FastifyInstance {
    runtime: Runtime
    services: Services
  }
  interface FastifyContextConfig {
    /** The route answers without a token. Every other route must authenticate (see refuseUnguardedRoutes). */
    public?: boolean
  }
}

export interface AppOptions {
  config: Config
  /** Pino destination for tests that read the log; default stdout. */
  logStream?: NodeJS.WritableStream
  /** Serve /metrics on the main port (false when server.ts binds it to METRICS_PORT). */
  metricsOnMainPort?: boolean
}

/** The JSON schema validators: bodies are never coerced or stripped (an unknown field is a 400). */
function validators (): { body: Ajv; other: Ajv } {
  const shared = { allErrors: true, strict: false, removeAdditional: false as const, useDefaults: true }
  const body = new Ajv({ ...shared, coerceTypes: false })
  const other = new Ajv({ ...shared, coerceTypes: 'array' as const })
  for (const a of [body, other]) {
    addFormats.default(a)
    // OpenAPI annotations that ajv does not know.
    a.addVocabulary(['example', 'xml', 'externalDocs', 'discriminator'])
  }
  return { body, other }
}

/** Longest path parameter (an NHS number, a client or alert id, a purpose code); longer is a 414. */
export const MAX_PARAM_LENGTH = 200

function serverOptions (config: Config, logStream?: NodeJS.WritableStream): FastifyHttpOptions<Server> {
  const logger = loggerOptions(config.logLevel)
  return {
    logger: logStream !== undefined ? { ...logger, stream: logStream } : logger,
    genReqId: requestIdFor,
    requestIdHeader: false,
    bodyLimit: config.bodyLimitBytes,
    // Bounded path parameters; Node itself refuses headers over 16 KiB before any parsing.
    // X-Forwarded-For is believed only from the proxies named (per-IP limits key on the client IP).
    trustProxy: config.trustProxy as boolean | string, // a hop count works at run time; the types omit it
    // Draining is answered by consentApp's own hook (problem+json), not Fastify's bare JSON 503.
    return503OnClosing: false,
    connectionTimeout: 60_000,
    keepAliveTimeout: 72_000,
    // No total time for a whole request: Node's requestTimeout would cut the bulk filter and import,
    // whose bodies legitimately stream for minutes. An ordinary body gets BODY_TIMEOUT_MS and a bulk
    // body STREAM_IDLE_TIMEOUT_MS without a byte instead (plugins/stream-limits.ts).
    requestTimeout: 0,
    http: {
      // From the connection's opening (on a kept-alive one, from the next request's first byte) to
      // the end of the headers; answered 408 problem+json by clientErrorHandler, then closed.
      headersTimeout: config.headersTimeoutMs,
      // Node checks its time-outs on this interval (30 s by default, which would let a 10 s limit
      // run to 40 s): a tenth of the limit, between 50 ms and 1 s.
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(config.headersTimeoutMs / 10))),
      // Node's missing-Host refusal is a bare empty 400; plugins/http-framing.ts answers it, and a
      // duplicate Host, as problem+json. Duplicates are not joined (joinDuplicateHeaders): that
      // would change every repeated header's meaning and still refuse nothing.
      requireHostHeader: false,
      // llhttp's strict mode: Content-Length with Transfer-Encoding, bad chunk sizes and folded
      // header lines are refused (400) before Fastify sees them.
      insecureHTTPParser: false
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkErrors(MAX_PARAM_LENGTH),
    clientErrorHandler
  }
}

const routeName = (route: RouteOptions): string => `${[route.method].flat().join(',')} ${route.url}`

/**
 * Secure by default: the app refuses to start while a route has neither an authentication hook
 * (onRequest: fastify.requireScope or fastify.requireAuth) nor `config: { public: true }`. Checked
 * once every route is in, because a plugin's own onRoute hook may mark its routes public after
 * this one has seen them.
 */
function refuseUnguardedRoutes (fastify: FastifyInstance): void {
  const routes: RouteOptions[] = []
  fastify.addHook('onRoute', route => {
    routes.push(route)
  })
  fastify.addHook('onReady', async () => {
    const unguarded = routes.filter(
      route => route.config?.public !== true && ![route.onRequest ?? []].flat().some(isAuthenticationHook)
    )
    if (unguarded.length > 0) {
      throw new Error(
        `${unguarded.map(routeName).join(', ')}: a route needs an authentication hook ` +
          '(onRequest: fastify.requireScope(scope) or fastify.requireAuth) ' +
          'or, to answer anyone, config: { public: true }'
      )
    }
  })
}

export const consentApp = fp(async function consentApp (
  fastify: FastifyInstance,
  opts: { runtime: Runtime; metricsOnMainPort: boolean }
) {
  refuseUnguardedRoutes(fastify)
  fastify.decorate('runtime', opts.runtime)
  await fastify.register(fp(async () => {}, { name: 'runtime' }))
  await fastify.register(requestId)
  // While draining (SIGTERM), a request that still arrives on a kept-alive connection is refused
  // with a problem+json 503 and Connection: close, so the load balancer retries elsewhere; requests
  // already in flight complete.
  let draining = false
  fastify.addHook('preClose', async () => {
    draining = true
  })
  fastify.addHook('onRequest', async (_request, reply) => {
    if (!draining) return
    reply.header('connection', 'close')
    throw unavailable('This instance is shutting down; nothing was decided or recorded. Retry shortly.')
  })
  await fastify.register(errors)
  await fastify.register(inputGuard)
  await fastify.register(security)
  // After security, so that its refusals carry the security headers too.
  await fastify.register(httpFraming)
  await fastify.register(metrics, { expose: opts.metricsOnMainPort })
  // The use cases every surface calls, on this instance's runtime (metrics observe them).
  fastify.decorate(
    'services',
    createServices(opts.runtime, {
      decided: (decision, basis) => {
        fastify.metrics.decisions.inc({ decision, basis })
      }
    })
  )
  await fastify.register(swagger)
  await fastify.register(auth)
  await fastify.register(streamLimits)
  await fastify.register(refusals)
  await fastify.register(rateLimits)
  await fastify.register(healthRoutes)
  await fastify.register(oauthRoutes)
  await fastify.register(
    async v1 => {
      // /v1 bodies are JSON (SPEC §3): anything else is a 415, not a string or form fields that then
      // fail (or pass) schema validation. Routes that stream other media (the bulk filter) add their
      // own parsers in their own plugin.
      v1.removeContentTypeParser(['text/plain', 'application/x-www-form-urlencoded'])
      await v1.register(decisionRoutes)
      await v1.register(preferenceRoutes)
      await v1.register(purposeRoutes)
      await v1.register(clientRoutes)
      await v1.register(auditRoutes)
      await v1.register(alertRoutes)
      await v1.register(filterRoutes)
      await v1.register(preferenceImportRoutes)
      await v1.register(changeRoutes)
    },
    { prefix: '/v1' }
  )
  // Outside /v1: FHIR and CDS Hooks have their own media types and error formats.
  await fastify.register(fhirRoutes, { prefix: '/fhir' })
  await fastify.register(cdsHooksRoutes)
})

/** The bare Fastify instance the app is registered on: server options and schema validators. */
export function newFastify (config: Config, logStream?: NodeJS.WritableStream): FastifyInstance {
  const app = Fastify(serverOptions(config, logStream))
  const { body, other } = validators()
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : other).compile(schema))
  return app
}

/** A ready-to-listen app on the store that config names; closing it closes the store. */
export async function buildApp (options: AppOptions): Promise<FastifyInstance> {
  const app = newFastify(options.config, options.logStream)
  const runtime = await openRuntime(options.config, app.log)
  app.addHook('onClose', async () => {
    await runtime.close()
  })
  try {
    await app.register(consentApp, { runtime, metricsOnMainPort: options.metricsOnMainPort ?? true })
    await app.ready()
  } catch (err) {
    await runtime.close()
    throw err
  }
  return app
}
