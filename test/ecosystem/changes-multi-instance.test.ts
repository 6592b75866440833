// The change feed across instances (SPEC §3 "Change feed", §8): a downstream cache reading one
// instance sees the choices recorded, voided and imported at another, and a request held open at
// one instance is woken by a change the other committed (seen by its change-feed poller).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  bearer,
  buildTestApp,
  freshStore,
  patientSupply,
  recordChoice,
  registerClient,
  tokenFor,
  type Auth,
  type TestApp,
  type TestStore
} from '../helpers/app.ts'

interface Item {
  nhsNumber: string
  purpose: string
  decision: string
  effectiveFrom: string
}

describe('the change feed on two instances of one store', () => {
  let store: TestStore
  let a: TestApp
  let b: TestApp
  let authA: Auth
  let authB: Auth
  const patient = patientSupply(20, 1302)

  beforeAll(async () => {
    store = await freshStore()
    const signingKey = join(mkdtempSync(join(tmpdir(), 'consent-shared-key-')), 'signing-key.json')
    a = await buildTestApp({ SIGNING_KEY_FILE: signingKey, CHANGE_POLL_MS: '100' }, store)
    b = await buildTestApp({ SIGNING_KEY_FILE: signingKey, CHANGE_POLL_MS: '100' }, store)
    const client = await registerClient(a.app, { purposes: ['planned-care', 'planning-research'] })
    authA = bearer(await tokenFor(a.app, client))
    authB = bearer(await tokenFor(b.app, client))
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
    await store?.drop()
  })

  async function changesAtB (query: string): Promise<{ items: Item[]; nextCursor: string }> {
    const res = await b.app.inject({ method: 'GET', url: `/v1/changes?${query}`, headers: authB })
    expect(res.statusCode, res.body).toBe(200)
    return res.json()
  }

  /** B's cursor at the end of what B has seen so far. */
  async function endAtB (): Promise<string> {
    let cursor = (await changesAtB('limit=10000')).nextCursor
    for (;;) {
      const next = (await changesAtB(`since=${cursor}&limit=10000`)).nextCursor
      if (next === cursor) return cursor
      cursor = next
    }
  }

  it('a request held open at B is woken by a choice recorded at A', async () => {
    const cursor = await endAtB()
    const p = patient()
    const held = b.app.inject({ method: 'GET', url: `/v1/changes?since=${cursor}&wait=30`, headers: authB })
    await vi.waitFor(() => expect(b.app.services.changes.waiting).toBe(1), { timeout: 10_000, interval: 5 })
    await recordChoice(a.app, authA, p, { purpose: 'planning-research', decision: 'deny' })
    const res = await held
    expect(res.statusCode, res.body).toBe(200)
    const items = (res.json() as { items: Item[] }).items.filter(i => i.nhsNumber === p)
    expect(items.map(i => `${i.purpose} ${i.decision}`)).toEqual([
      'gp-data-secondary-use deny',
      'planning-research deny'
    ])
  })

  it("B answers A's voided and imported choices with the decision they leave", async () => {
    const cursor = await endAtB()
    const [voided, imported] = [patient(), patient()]
    const optIn = await recordChoice(a.app, authA, voided, { purpose: 'planned-care', decision: 'deny' })
    const void_ = await a.app.inject({
      method: 'POST',
      url: `/v1/patients/${voided}/preferences/${optIn.id as string}/entered-in-error`,
      headers: authA,
      payload: { reason: 'wrong patient' }
    })
    expect(void_.statusCode, void_.body).toBe(200)
    const load = await a.app.inject({
      method: 'POST',
      url: '/v1/preferences/import',
      headers: { ...authA, 'content-type': 'application/x-ndjson' },
      payload: JSON.stringify({ externalId: 'x-1302', nhsNumber: imported, purpose: 'planned-care', decision: 'deny' })
    })
    expect(load.statusCode, load.body).toBe(200)
    // Wait (held open, not slept) until B's poller has taken in all three changes.
    const seen: Item[] = []
    let since = cursor
    while (!seen.some(i => i.nhsNumber === imported)) {
      const page = await changesAtB(`since=${since}&wait=30`)
      seen.push(...page.items)
      since = page.nextCursor
    }
    expect(seen.filter(i => [voided, imported].includes(i.nhsNumber)).map(i => `${i.nhsNumber} ${i.decision}`)).toEqual(
      [`${voided} permit`, `${voided} permit`, `${imported} deny`]
    )
  })
})
