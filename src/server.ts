// Starts the service: validated configuration, the app on the configured store, graceful close.
import closeWithGrace from 'close-with-grace'
import Fastify, { type FastifyInstance } from 'fastify'
import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'

/** How long SIGTERM waits for in-flight requests (a bulk filter upload included) before exiting anyway. */
const SHUTDOWN_GRACE_MS = 10_000

async function main (): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    console.error(`Configuration error: ${(err as Error).message}`)
    process.exit(78)
  }
  const app = await buildApp({ config, metricsOnMainPort: config.metricsPort === null })
  let metricsServer: FastifyInstance | null = null
  if (config.metricsPort !== null) {
    const server = Fastify({ logger: false })
    metricsServer = server
    server.get('/metrics', async (_request, reply) =>
      reply.type(app.metrics.registry.contentType).send(await app.metrics.registry.metrics())
    )
    await server.listen({ port: config.metricsPort, host: config.host })
  }
  // SIGTERM/SIGINT: stop accepting (new connections are refused; a request on a kept-alive one is
  // answered 503 with Connection: close), let in-flight requests finish, then the onClose hooks
  // stop the change feed, flush and close the audit writer and close the store. Past the grace
  // period the process exits 1 with whatever is still in flight unanswered (and so unacknowledged).
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ err, signal }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    // server.close() closes the connections that are idle when it is called, then waits for the
    // rest. A keep-alive connection whose request finishes later would hold it open until the
    // grace period ran out (and the exit would be 1): close each one as soon as it goes idle.
    const servers = [app.server, ...(metricsServer !== null ? [metricsServer.server] : [])]
    const sweep = setInterval(() => {
      for (const s of servers) s.closeIdleConnections()
    }, 100)
    try {
      await Promise.all([metricsServer?.close(), app.close()])
    } finally {
      clearInterval(sweep)
    }
  })
  await app.listen({ port: config.port, host: config.host })
  app.log.info(
    { store: app.runtime.db.kind, publicUrl: config.publicUrl, docs: `${config.publicUrl}/docs` },
    'consent check service ready'
  )
}

main().catch(err => {
  console.error(`Failed to start: ${(err as Error).message}`)
  process.exit(1)
})
