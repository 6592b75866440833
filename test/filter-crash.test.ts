// SPEC §5 and rule 7: "No NHS number leaves before an audit record that covers it is committed."
// The real service runs as a child process on a fresh store (SQLite file or PostgreSQL schema). A
// client streams a cohort of 400 000 patients (all permitted) into POST /v1/filter without ever
// ending the body, reads the answer, and once 250 000 numbers have arrived the service is killed
// with SIGKILL: no chance to write anything more. Then the store must hold, for that run, a
// committed checkpoint covering every number the client received (by input line and by count), and
// a fresh service on the same store must show the run as incomplete. The kill is triggered by data
// received, not by a clock, and every assertion holds however the answer was sliced.
import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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

const INPUT_LINES = 400_000
const KILL_AFTER_NUMBERS = 250_000

interface Checkpoint {
  runId: string
  phase: string
  checkpoint: number
  released: number
  lastLine: number
  read: number
  permitted: number
  inputBytes: number
  inputSha256: string
}

describe(`kill -9 mid-filter: every number that left is covered by a committed checkpoint (${testStore})`, () => {
  let store: TestStore
  let d: Deployment
  let client: RegisteredClient
  let first: ServiceProcess | undefined
  let second: ServiceProcess | undefined
  let db: Database | undefined

  beforeAll(async () => {
    store = await freshStore()
    d = await deployment(store.url)
    client = await registerClientWithCli(d)
  }, 60_000)

  afterAll(async () => {
    stopIfRunning(first)
    stopIfRunning(second)
    await db?.close()
    await store?.drop()
    d?.cleanup()
  })

  it('SIGKILL mid-stream: a committed checkpoint covers every number received, and the run is incomplete', async () => {
    first = await startService(d)
    const service = first
    const token = await accessToken(service.url, client)
    // Distinct numbers, so each number the client receives names its input line.
    const numbers = [...new Set(nhsNumbers(INPUT_LINES + 1000, 2027))].slice(0, INPUT_LINES)
    expect(numbers.length).toBe(INPUT_LINES)
    const lineOf = new Map(numbers.map((n, i) => [n, i + 1]))
    const body = numbers.join('\n') + '\n'

    let auditId = ''
    let received = ''
    let killedAt = -1
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${service.url}/v1/filter?purpose=planning-research`, {
        method: 'POST',
        agent: false,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }
      })
      req.on('error', () => {
        // The connection dies with the process.
        if (killedAt < 0) reject(new Error('the request failed before the kill'))
      })
      req.on('response', res => {
        auditId = String(res.headers['x-audit-id'])
        if (res.statusCode !== 200) reject(new Error(`filter answered ${res.statusCode}`))
        let newlines = 0
        res.on('data', (c: Buffer) => {
          received += String(c)
          for (const byte of c) if (byte === 0x0a) newlines++
          if (killedAt < 0 && newlines >= KILL_AFTER_NUMBERS) {
            killedAt = newlines
            service.proc.kill('SIGKILL')
          }
        })
        res.on('error', () => {})
        res.on('close', () => resolve())
      })
      // The whole cohort, never ended: the run cannot complete, whatever the service has read.
      let offset = 0
      const pump = (): void => {
        while (offset < body.length) {
          const chunk = body.slice(offset, offset + 64 * 1024)
          offset += chunk.length
          if (!req.write(chunk)) {
            req.once('drain', pump)
            return
          }
        }
      }
      pump()
    })
    const exit = await service.exited
    expect(exit.signal).toBe('SIGKILL')
    expect(killedAt).toBeGreaterThanOrEqual(KILL_AFTER_NUMBERS)

    // Only whole lines count as received (the kill may cut the last one).
    const got = received
      .slice(0, received.lastIndexOf('\n') + 1)
      .split('\n')
      .slice(0, -1)
    expect(got.length).toBeGreaterThanOrEqual(KILL_AFTER_NUMBERS)
    expect(got).toEqual(numbers.slice(0, got.length))
    const lastLineReceived = got.reduce((max, n) => Math.max(max, lineOf.get(n) ?? Infinity), 0)

    // What the store holds for the run, written by the killed process.
    db = await openDatabase(d.env.DATABASE_URL)
    const events = (await storeOf(db).auditRowsOfType('filter'))
      .map(e => ({ id: e.id, details: JSON.parse(e.details) as Checkpoint }))
      .filter(e => e.details.runId === auditId)
    const phases = events.map(e => e.details.phase)
    expect(phases).toContain('started')
    expect(phases).not.toContain('completed')
    expect(phases).not.toContain('incomplete')
    const checkpoints = events.filter(e => e.details.phase === 'checkpoint').map(e => e.details)
    // 250 000 numbers in slices of at most 100 000: at least three checkpoints came before them.
    expect(checkpoints.length).toBeGreaterThanOrEqual(3)
    const latest = checkpoints.reduce((a, b) => (b.checkpoint > a.checkpoint ? b : a))
    expect(latest.checkpoint).toBe(checkpoints.length)
    expect(lastLineReceived).toBeLessThanOrEqual(latest.lastLine)
    expect(got.length).toBeLessThanOrEqual(latest.released)
    // Each checkpoint's hash is of the input as the client sent it, up to the bytes it had read.
    for (const c of checkpoints) {
      expect(c.inputSha256).toBe(createHash('sha256').update(body.slice(0, c.inputBytes)).digest('hex'))
      expect(c).toMatchObject({ read: c.lastLine, permitted: c.released })
    }

    // A fresh service on the same store: the run has no end, so it is incomplete, and says what had left.
    second = await startService(d)
    const auth = { authorization: `Bearer ${await accessToken(second.url, client)}` }
    const res = await fetch(`${second.url}/v1/filter/runs/${auditId}`, { headers: auth })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      id: auditId,
      status: 'incomplete',
      endedAt: null,
      reason: null,
      released: latest.released,
      lastLine: latest.lastLine,
      inputSha256: null,
      counts: { read: latest.read, permitted: latest.permitted },
      checkpoints: checkpoints
        .sort((a, b) => a.checkpoint - b.checkpoint)
        .map(c => expect.objectContaining({ released: c.released, lastLine: c.lastLine }))
    })
    const verify = (await (await fetch(`${second.url}/v1/audit/verify`, { headers: auth })).json()) as {
      valid: boolean
    }
    expect(verify.valid).toBe(true)
  }, 120_000)
})
