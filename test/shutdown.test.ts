// SPEC §7: "graceful shutdown that drains in-flight requests and flushes audit". The real service
// runs as a child process; a bulk filter whose body is uploaded slowly over a real socket is in
// flight, and decisions are being asked, when SIGTERM arrives. New connections must then be
// refused (or answered 503), the in-flight filter must complete with 200 and its audit event be
// committed as complete, every decision answered 200 must have its audit row, the process must
// exit 0 within the grace period (10 s), and the audit chains must verify afterwards.
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyAuditLog } from '../src/store/audit-log.ts'
import { openDatabase, type Database } from '../src/store/database.ts'
import { freshStore, nhsNumbers, testStore, type TestStore } from './helpers/app.ts'
import { storeOf } from './helpers/store.ts'
import {
  accessToken,
  deployment,
  registerClientWithCli,
  startService,
  stopIfRunning,
  type Deployment,
  type RegisteredClient,
  type ServiceProcess
} from './helpers/service-process.ts'

const GRACE_MS = 10_000
const sleep = async (ms: number): Promise<void> => {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** A raw HTTP/1.1 exchange on one socket: what arrived so far, and whether the server closed it. */
class RawExchange {
  readonly socket: Socket
  received = Buffer.alloc(0)
  closed = false
  error: string | null = null
  private readonly waiters: Array<() => void> = []

  constructor (port: number) {
    this.socket = connect(port, '127.0.0.1')
    this.socket.on('data', c => {
      this.received = Buffer.concat([this.received, c])
      this.wake()
    })
    this.socket.on('close', () => {
      this.closed = true
      this.wake()
    })
    this.socket.on('error', e => {
      this.error = (e as NodeJS.ErrnoException).code ?? e.message
      this.wake()
    })
  }

  private wake (): void {
    for (const w of this.waiters.splice(0)) w()
  }

  async until (what: () => boolean, timeoutMs: number, label: string): Promise<void> {
    const started = Date.now()
    while (!what()) {
      if (this.closed && !what()) {
        throw new Error(
          `${label}: connection closed (${this.error ?? 'no error'}) after ${JSON.stringify(this.text().slice(0, 300))}`
        )
      }
      const left = timeoutMs - (Date.now() - started)
      if (left <= 0) {
        throw new Error(`${label}: not within ${timeoutMs} ms; received ${JSON.stringify(this.text().slice(0, 300))}`)
      }
      await new Promise<void>(resolve => {
        this.waiters.push(resolve)
        setTimeout(resolve, Math.min(left, 50))
      })
    }
  }

  text (): string {
    return this.received.toString('latin1')
  }

  get status (): number | null {
    const m = /^HTTP\/1\.1 (\d{3})/.exec(this.text())
    return m === null ? null : Number(m[1])
  }

  header (name: string): string | undefined {
    const head = this.text().split('\r\n\r\n')[0]
    const line = head.split('\r\n').find(l => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))
    return line?.slice(name.length + 1).trim()
  }

  /** The decoded body of a chunked answer, once its last chunk has arrived (null until then). */
  chunkedBody (): string | null {
    const all = this.text()
    const start = all.indexOf('\r\n\r\n')
    if (start === -1) return null
    let at = start + 4
    let out = ''
    for (;;) {
      const eol = all.indexOf('\r\n', at)
      if (eol === -1) return null
      const size = parseInt(all.slice(at, eol), 16)
      if (Number.isNaN(size)) return null
      if (size === 0) {
        return all.indexOf('\r\n\r\n', eol) === -1 && !all.endsWith('\r\n')
          ? null
          : Buffer.from(out, 'latin1').toString('utf8')
      }
      if (all.length < eol + 2 + size + 2) return null
      out += all.slice(eol + 2, eol + 2 + size)
      at = eol + 2 + size + 2
    }
  }
}

/** What a new connection gets: refused, closed without an answer, or an HTTP status. */
async function probeNewConnection (port: number): Promise<string> {
  const x = new RawExchange(port)
  x.socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n')
  try {
    await x.until(() => x.status !== null, 3000, 'probe')
    return String(x.status)
  } catch {
    return x.error ?? 'closed'
  } finally {
    x.socket.destroy()
  }
}

describe(`graceful shutdown on SIGTERM (${testStore})`, () => {
  let store: TestStore
  let d: Deployment
  let client: RegisteredClient
  let service: ServiceProcess | undefined
  let db: Database | undefined

  beforeAll(async () => {
    store = await freshStore()
    d = await deployment(store.url)
    client = await registerClientWithCli(d)
  }, 60_000)

  afterAll(async () => {
    stopIfRunning(service)
    await db?.close()
    await store?.drop()
    d?.cleanup()
  })

  it('drains the in-flight filter, commits its audit event, refuses new work, exits 0, ' +
    'and the chains verify', async () => {
    service = await startService(d)
    const s = service
    const port = Number(new URL(s.url).port)
    const token = await accessToken(s.url, client)
    const cohort = nhsNumbers(400, 7)
    const batches = [cohort.slice(0, 100), cohort.slice(100, 200), cohort.slice(200, 300), cohort.slice(300)]

    // An idle keep-alive connection, as a load balancer or client pool holds them.
    const idle = new RawExchange(port)
    idle.socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n')
    await idle.until(() => idle.status === 200 && idle.text().includes('"ok"'), 5000, 'keep-alive request')

    // The slow upload: headers and a first batch now, the rest only after SIGTERM.
    const filter = new RawExchange(port)
    filter.socket.write(
      'POST /v1/filter?purpose=planning-research HTTP/1.1\r\nHost: localhost\r\n' +
        `Authorization: Bearer ${token}\r\n` +
        'Content-Type: text/plain\r\nAccept: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n'
    )
    const chunk = (lines: string[]): string => {
      const body = lines.join('\n') + '\n'
      return `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`
    }
    filter.socket.write(chunk(batches[0]))
    await filter.until(
      () => filter.status !== null && filter.text().includes(batches[0][99]),
      5000,
      'first filter results'
    )
    expect(filter.status).toBe(200)
    const auditId = filter.header('x-audit-id')
    expect(auditId).toMatch(/^[0-9a-f-]{36}$/)

    // Decisions in flight too: every one answered 200 must have its audit row after the exit.
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const decided: string[] = []
    const deciding = { stop: false } // set once the service refuses new connections
    const deciders = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !deciding.stop; i++) {
        try {
          const res = await fetch(`${s.url}/v1/decisions`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ nhsNumber: cohort[(w * 31 + i) % cohort.length], purpose: 'planned-care' })
          })
          const body = (await res.json()) as { auditId?: string; detail?: string }
          if (res.status === 200 && typeof body.auditId === 'string') decided.push(body.auditId)
          else if (res.status !== 503) throw new Error(`decision answered ${res.status}`)
          else if (!/problem\+json/.test(res.headers.get('content-type') ?? '') || typeof body.detail !== 'string') {
            // Draining is answered like every other refusal: problem+json saying so, never bare JSON.
            throw new Error(`decision answered a 503 that is not problem+json: ${JSON.stringify(body)}`)
          }
        } catch (err) {
          if ((err as Error).message.startsWith('decision answered')) throw err
          return // connection refused or closed: the service is going away
        }
      }
    })
    await sleep(300)
    const decidedBeforeSigterm = decided.length
    expect(decidedBeforeSigterm).toBeGreaterThan(0)

    const sigtermAt = Date.now()
    s.proc.kill('SIGTERM')
    // Once the signal is handled (a busy machine may take a moment), new connections are refused
    // or answered 503, never served, for as long as it drains.
    const refused = (p: string): boolean => ['ECONNREFUSED', 'ECONNRESET', 'closed', '503'].includes(p)
    let first = await probeNewConnection(port)
    while (!refused(first) && Date.now() - sigtermAt < 5000) {
      await sleep(50)
      first = await probeNewConnection(port)
    }
    const probes = [first]
    for (let i = 0; i < 5; i++) {
      await sleep(100)
      probes.push(await probeNewConnection(port))
    }
    expect(probes.filter(p => !refused(p))).toEqual([])
    // The idle keep-alive connection is closed rather than kept for new work.
    await idle.until(() => idle.closed, 2000, 'idle keep-alive connection closed')
    deciding.stop = true
    await Promise.all(deciders)
    expect(s.proc.exitCode).toBeNull() // still draining the filter

    // The rest of the upload, slowly; then the end of the body.
    for (const batch of batches.slice(1)) {
      await sleep(250)
      filter.socket.write(chunk(batch))
    }
    filter.socket.write('0\r\n\r\n')
    await filter.until(() => filter.chunkedBody() !== null, 5000, 'filter answer complete')
    expect(filter.chunkedBody()).toBe(cohort.map(n => `${n}\n`).join(''))

    const exit = await Promise.race([s.exited, sleep(GRACE_MS + 2000).then(() => null)])
    expect(exit, `no exit within the grace period:\n${s.output()}`).not.toBeNull()
    expect(exit, s.output()).toMatchObject({ code: 0, signal: null })
    expect(exit!.at - sigtermAt).toBeLessThan(GRACE_MS)
    expect(exit!.at - sigtermAt).toBeGreaterThan(900) // it waited for the upload to finish

    // After the exit, in the store: the filter run's start and completion events, and every decision's.
    db = await openDatabase(d.env.DATABASE_URL)
    const store = storeOf(db)
    const event = await store.auditRow(auditId!)
    expect(event).not.toBeNull()
    expect(event!.type).toBe('filter')
    const completion = (await store.auditRowsOfType('filter'))
      .map(e => JSON.parse(e.details) as Record<string, unknown>)
      .find(details => details.runId === auditId && details.phase === 'completed')
    expect(completion).toMatchObject({
      read: cohort.length,
      permitted: cohort.length,
      invalid: 0
    })
    expect(await store.missingAuditIds(decided)).toEqual([])
    const report = await verifyAuditLog(db)
    expect(report).toMatchObject({ valid: true, firstBrokenLink: null })
  }, 60_000)
})
