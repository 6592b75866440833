// The started server (src/server.ts), as a process: metrics on their own port when METRICS_PORT is
// set (SPEC §3), and a configuration error that stops the start with a message naming the variable.
import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshStore, type TestStore } from './helpers/app.ts'
import {
  ROOT,
  deployment,
  freePort,
  startService,
  stopIfRunning,
  type Deployment,
  type ServiceProcess
} from './helpers/service-process.ts'

describe('the server process', () => {
  let store: TestStore
  let d: Deployment
  let service: ServiceProcess | undefined
  let metricsPort: number

  beforeAll(async () => {
    store = await freshStore()
    metricsPort = await freePort()
    d = await deployment(store.url, { METRICS_PORT: String(metricsPort) })
    service = await startService(d)
  }, 60_000)
  afterAll(async () => {
    stopIfRunning(service)
    if (service !== undefined) await service.exited
    d.cleanup()
    await store.drop()
  })

  it('serves /metrics on METRICS_PORT, and not on the main port', async () => {
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
    expect(metrics.status).toBe(200)
    const text = await metrics.text()
    expect(text).toContain('consent_preferences_indexed')
    expect(text).toContain('consent_change_feed_fresh 1')
    expect((await fetch(`${d.url}/metrics`)).status).toBe(404)
  })

  it('refuses to start with an invalid variable, naming it', async () => {
    const out = await new Promise<{ code: number | null; text: string }>(resolve => {
      const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: 'mysql://nope', PORT: '0' },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      let text = ''
      proc.stdout.on('data', c => {
        text += String(c)
      })
      proc.stderr.on('data', c => {
        text += String(c)
      })
      proc.on('exit', code => resolve({ code, text }))
    })
    expect(out.code).not.toBe(0)
    expect(out.text).toMatch(/DATABASE_URL/)
  })
})
