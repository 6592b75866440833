// Store failure (SPEC §2 rule 6, §7): with a TCP proxy between the service and PostgreSQL that the
// test cuts and restores, requests answer 503 (never a permit), readiness turns false, and the
// service recovers by itself when the database returns. A hung database times out instead of
// hanging requests for ever.
import { createServer, connect, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildTestApp,
  clientWithToken,
  freshStore,
  testStore,
  testPgUrl,
  type Auth,
  type TestApp,
  type TestStore
} from '../helpers/app.ts'

type Mode = 'pass' | 'refuse' | 'blackhole'

class TcpProxy {
  mode: Mode = 'pass'
  private readonly sockets = new Set<Socket>()
  private server: Server | null = null
  port = 0

  constructor (
    private readonly targetHost: string,
    private readonly targetPort: number
  ) {}

  async start (): Promise<void> {
    this.server = createServer(client => {
      this.sockets.add(client)
      client.on('close', () => this.sockets.delete(client))
      client.on('error', () => {})
      if (this.mode === 'refuse') {
        client.destroy()
        return
      }
      if (this.mode === 'blackhole') return
      const upstream = connect(this.targetPort, this.targetHost)
      this.sockets.add(upstream)
      upstream.on('close', () => {
        this.sockets.delete(upstream)
        client.destroy()
      })
      upstream.on('error', () => client.destroy())
      client.on('close', () => upstream.destroy())
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>(resolve => this.server?.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as { port: number }).port
  }

  /** Drops every open connection and handles new ones as the mode says. */
  set (mode: Mode): void {
    this.mode = mode
    if (mode !== 'pass') for (const s of this.sockets) s.destroy()
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>(resolve => this.server?.close(() => resolve()))
  }
}

// Runs in the postgresql project only: SQLite is a file, with no server connection to cut (the
// postgresql half of the suite always runs in CI).
describe.runIf(testStore === 'postgresql')('PostgreSQL outage through a TCP proxy', () => {
  let store: TestStore
  let proxy: TcpProxy
  let t: TestApp
  let auth: Auth

  const decide = async (): Promise<{ statusCode: number; body: Record<string, unknown>; type: string }> => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: auth,
      payload: { nhsNumber: '9434765919', purpose: 'planning-research' }
    })
    return { statusCode: res.statusCode, body: res.json(), type: String(res.headers['content-type']) }
  }
  const ready = async (): Promise<number> => (await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode

  beforeAll(async () => {
    store = await freshStore()
    const target = new URL(testPgUrl)
    proxy = new TcpProxy(target.hostname, Number(target.port || 5432))
    await proxy.start()
    const viaProxy = new URL(store.url)
    viaProxy.host = `127.0.0.1:${proxy.port}`
    t = await buildTestApp(
      { CHANGE_POLL_MS: '50', STORE_STALE_AFTER_MS: '1000', DB_CONNECT_TIMEOUT_MS: '500', DB_QUERY_TIMEOUT_MS: '1000' },
      { url: viaProxy.toString(), drop: store.drop }
    )
    auth = (await clientWithToken(t.app)).auth
  })
  afterAll(async () => {
    proxy?.set('pass')
    await t?.close()
    await proxy?.close()
    await store?.drop()
  })

  it('answers normally while the database is reachable', async () => {
    expect((await decide()).statusCode).toBe(200)
    expect(await ready()).toBe(200)
  })

  it('answers 503 problem+json (never a permit) and is not ready while the database refuses connections', async () => {
    proxy.set('refuse')
    const res = await decide()
    expect(res.statusCode).toBe(503)
    expect(res.type).toContain('application/problem+json')
    expect(res.body).toMatchObject({ status: 503, title: 'Service Unavailable' })
    expect(res.body.decision).toBeUndefined()
    expect(await ready()).toBe(503)
  })

  it('recovers by itself when the database returns', async () => {
    proxy.set('pass')
    const started = Date.now()
    let status = 0
    while (Date.now() - started < 10_000) {
      status = (await decide()).statusCode
      if (status === 200 && (await ready()) === 200) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    expect(status).toBe(200)
    expect(await ready()).toBe(200)
  })

  it('a hung database (connections accepted, nothing answered) gives 503 within the timeouts, not a hang', async () => {
    proxy.set('blackhole')
    const started = Date.now()
    const res = await decide()
    expect(res.statusCode).toBe(503)
    expect(Date.now() - started).toBeLessThan(5_000)
    proxy.set('pass')
  })
})
