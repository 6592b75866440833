// SPEC §7: "Acknowledged means durable: a 201 or a decision is only sent after its rows
// (preference, audit) are committed. kill -9 under load loses nothing that was acknowledged."
// The real service runs as a child process on a fresh store (SQLite file or PostgreSQL schema);
// 20 concurrent writers record choices and ask for decisions, every acknowledged answer is noted,
// the process is SIGKILLed in the middle of the load, restarted on the same store, and every
// acknowledged preference and decision audit event must be there, with the audit chains intact.
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

const WRITERS = 20
const KILL_AFTER_MS = 1500

interface Acknowledged {
  preferences: Array<{ id: string; nhsNumber: string }>
  decisions: string[]
}

describe(`kill -9 under load loses nothing acknowledged (${testStore})`, () => {
  let store: TestStore
  let d: Deployment
  let client: RegisteredClient
  let first: ServiceProcess | undefined
  let second: ServiceProcess | undefined
  let db: Database | undefined

  beforeAll(async () => {
    store = await freshStore()
    // Room for 20 concurrent writers on PostgreSQL (freshStore's default pool is 4).
    d = await deployment(store.url.replace(/connection_limit=\d+/, 'connection_limit=10'))
    client = await registerClientWithCli(d)
  }, 60_000)

  afterAll(async () => {
    stopIfRunning(first)
    stopIfRunning(second)
    await db?.close()
    await store?.drop()
    d?.cleanup()
  })

  it('every acknowledged choice and decision survives SIGKILL mid-load; the audit chains verify', async () => {
    first = await startService(d)
    const service = first
    const token = await accessToken(service.url, client)
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const patients = nhsNumbers(500, 42)
    const acked: Acknowledged = { preferences: [], decisions: [] }
    let inFlight = 0
    let inFlightAtKill = -1
    let failuresAfterKill = 0
    const unexpected: string[] = []
    let killed = false

    async function writer (w: number): Promise<void> {
      for (let i = 0; ; i++) {
        const nhs = patients[(w * 97 + i * 13) % patients.length]
        const choice = i % 2 === 0
        inFlight++
        try {
          const res = choice
            ? await fetch(`${service.url}/v1/patients/${nhs}/preferences`, {
              method: 'POST',
              headers,
              body: JSON.stringify({
                purpose: 'planning-research',
                decision: i % 4 === 0 ? 'deny' : 'permit',
                source: 'gp-practice',
                note: `writer ${w} #${i}`
              })
            })
            : await fetch(`${service.url}/v1/decisions`, {
              method: 'POST',
              headers,
              body: JSON.stringify({ nhsNumber: nhs, purpose: 'gp-data-secondary-use' })
            })
          const body = (await res.json()) as { id?: string; auditId?: string }
          // Acknowledged only once the whole answer has arrived.
          if (choice && res.status === 201 && typeof body.id === 'string') {
            acked.preferences.push({ id: body.id, nhsNumber: nhs })
          } else if (!choice && res.status === 200 && typeof body.auditId === 'string') {
            acked.decisions.push(body.auditId)
          } else if (!killed) unexpected.push(`${res.status} ${JSON.stringify(body).slice(0, 200)}`)
        } catch {
          // The connection died with the process: not acknowledged, and the end of this writer.
          if (killed) {
            failuresAfterKill++
            return
          }
          throw new Error(`writer ${w}: request failed before the kill`)
        } finally {
          inFlight--
        }
        if (killed) return
      }
    }

    const load = Promise.all(Array.from({ length: WRITERS }, async (_, w) => await writer(w)))
    await new Promise(resolve => setTimeout(resolve, KILL_AFTER_MS))
    inFlightAtKill = inFlight
    killed = true
    service.proc.kill('SIGKILL')
    const exit = await service.exited
    await load
    expect(exit.signal).toBe('SIGKILL')
    expect(unexpected).toEqual([])
    // The kill really landed mid-load, with requests in flight and enough acknowledged to matter.
    expect(inFlightAtKill).toBeGreaterThan(0)
    expect(failuresAfterKill).toBeGreaterThan(0)
    expect(acked.preferences.length).toBeGreaterThan(20)
    expect(acked.decisions.length).toBeGreaterThan(20)

    // Restart on the same store: it must start (migrations, index load) despite the abrupt end.
    second = await startService(d)
    db = await openDatabase(d.env.DATABASE_URL)
    const store = storeOf(db)
    expect(await store.missingPreferenceIds(acked.preferences.map(p => p.id))).toEqual([])
    expect(await store.missingAuditIds(acked.decisions, 'decision')).toEqual([])

    // Each acknowledged choice was committed together with its audit event.
    const recorded = new Set<string>()
    for (const e of await store.auditRowsOfType('preference.recorded')) {
      recorded.add((JSON.parse(e.details) as { preferenceId: string }).preferenceId)
    }
    expect(acked.preferences.filter(p => !recorded.has(p.id)).map(p => p.id)).toEqual([])

    // The restarted service serves them (loaded into its index), and the audit chains are intact.
    const token2 = await accessToken(second.url, client)
    const auth = { authorization: `Bearer ${token2}` }
    const sample = [...new Map(acked.preferences.map(p => [p.nhsNumber, p])).values()].slice(0, 10)
    for (const p of sample) {
      const res = await fetch(`${second.url}/v1/patients/${p.nhsNumber}/preferences`, { headers: auth })
      const body = (await res.json()) as { history: Array<{ id: string }> }
      expect(body.history.map(h => h.id)).toContain(p.id)
    }
    const verify = await fetch(`${second.url}/v1/audit/verify`, { headers: auth })
    const report = (await verify.json()) as { valid: boolean; checkedEvents: number; firstBrokenLink: unknown }
    expect(report).toMatchObject({ valid: true, firstBrokenLink: null })
    expect(report.checkedEvents).toBeGreaterThanOrEqual(acked.preferences.length + acked.decisions.length)
  }, 90_000)
})
