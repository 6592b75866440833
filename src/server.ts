// Starts the service: validated configuration, the app on the configured store, graceful close.
import closeWithGrace from 'close-with-grace'
import Fastify, { type FastifyInstance } from 'fastify'
import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'

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
    server.get('/metrics', async (_request, reply) => reply.type(app.metrics.registry.contentType).send(await app.metrics.registry.metrics()))
    await server.listen({ port: config.metricsPort, host: config.host })
  }
  // SIGTERM/SIGINT: stop accepting, let in-flight requests finish, flush the audit writer, close
  // the store (app.close runs the onClose hooks in order).
  closeWithGrace({ delay: 10_000 }, async ({ err, signal }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await metricsServer?.close()
    await app.close()
  })
  await app.listen({ port: config.port, host: config.host })
  app.log.info({ store: app.services.db.kind, publicUrl: config.publicUrl, docs: `${config.publicUrl}/docs` }, 'consent check service ready')
}

main().catch(err => {
  console.error(`Failed to start: ${(err as Error).message}`)
  process.exit(1)
})
