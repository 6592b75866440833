// Secure by default (SPEC §7): every route the app serves either authenticates its caller or is
// marked public, and the app refuses to start with a route that is neither, so a route added
// without requireScope cannot go out answering anyone.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, FastifyPluginAsync, RouteOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { consentApp, newFastify } from '../src/app.ts'
import { openRuntime } from '../src/runtime.ts'
import { freshStore, testConfig, type TestStore } from './helpers/app.ts'

/** What may answer without a token: health, metrics, docs, the token endpoint, discovery and code systems. */
const PUBLIC =
  /^\/(health\/(live|ready)|metrics|openapi\.json|docs(\/.*)?|oauth2\/token|\.well-known\/.+|fhir\/metadata|fhir\/\.well-known\/smart-configuration|fhir\/CodeSystem(\/.+)?|cds-services)$/

let store: TestStore
let keyDir: string

beforeAll(async () => {
  store = await freshStore()
  keyDir = mkdtempSync(join(tmpdir(), 'consent-app-'))
})
afterAll(async () => {
  await store?.drop()
  rmSync(keyDir, { recursive: true, force: true })
})

/**
 * The consent app as buildApp assembles it, with the routes it declares collected, and `extra`
 * (plugins) registered after it. Returns before ready(), so a test can watch the start fail.
 */
async function assemble (
  ...extra: FastifyPluginAsync[]
): Promise<{ app: FastifyInstance; routes: RouteOptions[]; close: () => Promise<void> }> {
  const config = testConfig(store, keyDir, { LOG_LEVEL: 'silent' })
  const app = newFastify(config)
  const runtime = await openRuntime(config)
  const routes: RouteOptions[] = []
  app.addHook('onRoute', route => {
    routes.push(route)
  })
  await app.register(consentApp, { runtime, metricsOnMainPort: true })
  for (const plugin of extra) await app.register(plugin)
  return {
    app,
    routes,
    close: async () => {
      await app.close().catch(() => {})
      await runtime.close()
    }
  }
}

const sample = (url: string): string => url.replace(/:[^/]+/g, 'x').replace(/\*/g, 'x')

describe('secure by default', () => {
  it('refuses to start with a route that neither authenticates nor is marked public, naming it', async () => {
    const built = await assemble(async f => {
      f.get('/v1/forgotten', async () => ({ everyone: 'can read this' }))
      f.post('/v1/guarded', { onRequest: f.requireScope('admin') }, async () => ({}))
    })
    try {
      const err = await built.app.ready().then(
        () => null,
        (e: unknown) => e as Error
      )
      expect(err?.message).toMatch(/GET \/v1\/forgotten/)
      expect(err?.message).toMatch(/requireScope/)
      expect(err?.message).not.toMatch(/\/v1\/guarded/)
    } finally {
      await built.close()
    }
  })

  it('an authentication hook among others, or an explicit public mark, lets the app start', async () => {
    const built = await assemble(async f => {
      f.get('/v1/several-hooks', { onRequest: [async () => {}, f.requireAuth] }, async () => ({}))
      f.get('/v1/open-on-purpose', { config: { public: true } }, async () => ({ ok: true }))
    })
    try {
      await built.app.ready()
      expect((await built.app.inject({ method: 'GET', url: '/v1/several-hooks' })).statusCode).toBe(401)
      expect((await built.app.inject({ method: 'GET', url: '/v1/open-on-purpose' })).statusCode).toBe(200)
    } finally {
      await built.close()
    }
  })

  it('an authentication hook that runs after the body is read does not count', async () => {
    const built = await assemble(async f => {
      f.post('/v1/late-check', { preHandler: f.requireScope('admin') }, async () => ({}))
    })
    try {
      await expect(built.app.ready()).rejects.toThrow(/POST \/v1\/late-check/)
    } finally {
      await built.close()
    }
  })

  it('every route the app serves answers 401 without a token, unless it is one of the public ones', async () => {
    const built = await assemble()
    try {
      await built.app.ready()
      const served = built.routes.flatMap(r => [r.method].flat().map(method => ({ method, url: r.url, route: r })))
      expect(served.length).toBeGreaterThan(30)
      const publicOnes = served.filter(s => s.route.config?.public === true).map(s => s.url)
      expect(publicOnes.filter(url => !PUBLIC.test(url))).toEqual([])
      for (const url of ['/health/live', '/health/ready', '/metrics', '/oauth2/token', '/fhir/metadata']) {
        expect(publicOnes).toContain(url)
      }
      for (const { method, url, route } of served) {
        if (route.config?.public === true) {
          if (method === 'GET') {
            const res = await built.app.inject({ method, url: sample(url) })
            expect(res.statusCode, `${method} ${url} without a token`).not.toBe(401)
          }
          continue
        }
        const res = await built.app.inject({
          method: method as 'GET',
          url: sample(url),
          headers: { 'content-type': 'application/json' },
          ...(method === 'GET' || method === 'HEAD' ? {} : { payload: '{}' })
        })
        expect(res.statusCode, `${method} ${url} without a token`).toBe(401)
        expect(res.headers['www-authenticate'], `${method} ${url}`).toMatch(/^Bearer/)
      }
    } finally {
      await built.close()
    }
  })
})
