// GET /v1/changes (SPEC §3 "Change feed"): the changes to patients' effective choices after an
// opaque cursor, oldest first, in pages; recorded, voided and imported choices; pending choices;
// only the caller's purposes (and those below them); held open until a change (wait); audited.
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import {
  clientWithToken,
  expectProblem,
  patientSupply,
  recordChoice,
  useTestApp,
  type Auth,
  type Json,
  type TestCaller
} from '../../helpers/app.ts'

const t = useTestApp()
const patient = patientSupply(60, 1301)
let main: TestCaller
let officer: TestCaller

interface Item {
  nhsNumber: string
  purpose: string
  decision: 'permit' | 'deny'
  effectiveFrom: string
  changedAt: string
}

async function page (query: string, auth: Auth = main.auth): Promise<{ items: Item[]; nextCursor: string }> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/changes?${query}`, headers: auth })
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

/** Lets this instance's change feed take in everything committed so far (its own writes included). */
async function settle (): Promise<void> {
  // The first may be a poll that began before the last write committed; the second begins after.
  await t.app.runtime.feed.poll()
  await t.app.runtime.feed.poll()
}

/** Every item after `since` (all pages), and the cursor at the end. */
async function readToEnd (
  since: string | null,
  opts: { auth?: Auth; extra?: string; limit?: number } = {}
): Promise<{ items: Item[]; cursor: string; pages: number }> {
  await settle()
  const items: Item[] = []
  let cursor = since
  let pages = 0
  for (;;) {
    const q = new URLSearchParams({ limit: String(opts.limit ?? 10000) })
    if (cursor !== null) q.set('since', cursor)
    const p = await page(`${q.toString()}${opts.extra ?? ''}`, opts.auth)
    pages++
    items.push(...p.items)
    if (p.nextCursor === cursor) return { items, cursor, pages }
    cursor = p.nextCursor
  }
}

const of = (items: Item[], ...patients: string[]): Item[] => items.filter(i => patients.includes(i.nhsNumber))
const brief = (items: Item[]): string[] => items.map(i => `${i.nhsNumber} ${i.purpose} ${i.decision}`)

beforeAll(async () => {
  main = await clientWithToken(t.app, { purposes: ['planned-care', 'planning-research'] })
  officer = await clientWithToken(t.app, { scopes: ['audit:read'] })
})

describe('GET /v1/changes', () => {
  it("answers recorded and voided choices, oldest first, as each purpose's effective decision", async () => {
    const { cursor } = await readToEnd(null)
    const [a, b] = [patient(), patient()]
    const optOut = await recordChoice(t.app, main.auth, a, { purpose: 'planning-research', decision: 'deny' })
    await recordChoice(t.app, main.auth, b, { purpose: 'planned-care', decision: 'deny' })
    const before = await readToEnd(cursor)
    // A deny at planning-research also decides gp-data-secondary-use, below it (purposes in code order).
    expect(brief(of(before.items, a, b))).toEqual([
      `${a} gp-data-secondary-use deny`,
      `${a} planning-research deny`,
      `${b} planned-care deny`
    ])
    const [first, , third] = of(before.items, a, b)
    expect(first.effectiveFrom).toBe(optOut.effectiveFrom)
    expect(Date.parse(first.changedAt)).toBeGreaterThanOrEqual(Date.parse(optOut.recordedAt as string))
    expect(Object.keys(third).sort()).toEqual(['changedAt', 'decision', 'effectiveFrom', 'nhsNumber', 'purpose'])

    const voided = await t.app.inject({
      method: 'POST',
      url: `/v1/patients/${a}/preferences/${optOut.id as string}/entered-in-error`,
      headers: main.auth,
      payload: { reason: 'recorded against the wrong patient' }
    })
    expect(voided.statusCode, voided.body).toBe(200)
    const after = await readToEnd(before.cursor)
    // Voided, the opt-out no longer decides: back to the default, from the change on.
    expect(brief(of(after.items, a))).toEqual([`${a} gp-data-secondary-use permit`, `${a} planning-research permit`])
    expect(of(after.items, a)[0].effectiveFrom).toBe(of(after.items, a)[0].changedAt)
    // Decisions are computed when read: read again from the start, every change of a's says what holds now.
    expect(brief(of((await readToEnd(cursor)).items, a, b))).toEqual([
      `${a} gp-data-secondary-use permit`,
      `${a} planning-research permit`,
      `${b} planned-care deny`,
      `${a} gp-data-secondary-use permit`,
      `${a} planning-research permit`
    ])
  })

  it('answers a pending (future-dated) choice as the decision now, then the pending one from then', async () => {
    const { cursor } = await readToEnd(null, { extra: '&purpose=planned-care' })
    const p = patient()
    await recordChoice(t.app, main.auth, p, {
      purpose: 'planned-care',
      decision: 'deny',
      effectiveFrom: '2999-01-01'
    })
    const { items } = await readToEnd(cursor, { extra: '&purpose=planned-care' })
    expect(of(items, p)).toEqual([
      expect.objectContaining({ purpose: 'planned-care', decision: 'permit' }),
      expect.objectContaining({ purpose: 'planned-care', decision: 'deny', effectiveFrom: '2999-01-01T00:00:00.000Z' })
    ])
    expect(Date.parse(of(items, p)[0].effectiveFrom)).toBeLessThanOrEqual(Date.now())
  })

  it("answers an import's choices", async () => {
    const { cursor } = await readToEnd(null)
    const patients = [patient(), patient(), patient()]
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/preferences/import',
      headers: { ...main.auth, 'content-type': 'application/x-ndjson' },
      payload: patients
        .map((nhsNumber, i) =>
          JSON.stringify({
            externalId: `changes-${nhsNumber}`,
            nhsNumber,
            purpose: 'planned-care',
            decision: 'deny',
            effectiveFrom: `2020-01-0${i + 1}`
          })
        )
        .join('\n')
    })
    expect(res.statusCode, res.body).toBe(200)
    const { items } = await readToEnd(cursor)
    expect(
      of(items, ...patients)
        .map(i => [i.nhsNumber, i.purpose, i.decision, i.effectiveFrom])
        .sort()
    ).toEqual(patients.map((n, i) => [n, 'planned-care', 'deny', `2020-01-0${i + 1}T00:00:00.000Z`]).sort())
  })

  it('pages with limit and an opaque cursor: the pages together are the one-page answer', async () => {
    const { cursor } = await readToEnd(null)
    const patients = [patient(), patient(), patient(), patient()]
    for (const p of patients) await recordChoice(t.app, main.auth, p, { purpose: 'planned-care', decision: 'deny' })
    const whole = await readToEnd(cursor)
    const paged = await readToEnd(cursor, { limit: 1 })
    expect(paged.items).toEqual(whole.items)
    expect(paged.cursor).toBe(whole.cursor)
    expect(paged.pages).toBe(whole.items.length + 1)
    expect(Buffer.from(whole.cursor, 'base64url').toString()).toMatch(/^[0-9]+$/)
  })

  it('shows only the purposes the client is registered for and those below them, or the one it asks for', async () => {
    const narrow = await clientWithToken(t.app, { purposes: ['gp-data-secondary-use'], scopes: ['consent:filter'] })
    const startMain = (await readToEnd(null)).cursor
    const startNarrow = (await readToEnd(null, { auth: narrow.auth })).cursor
    const p = patient()
    await recordChoice(t.app, main.auth, p, { purpose: 'planning-research', decision: 'deny' })
    await recordChoice(t.app, main.auth, p, { purpose: 'planned-care', decision: 'deny' })

    // Registered below planning-research: the deny there changes its purpose, and it sees only that.
    expect(brief(of((await readToEnd(startNarrow, { auth: narrow.auth })).items, p))).toEqual([
      `${p} gp-data-secondary-use deny`
    ])
    expect(brief(of((await readToEnd(startMain, { extra: '&purpose=gp-data-secondary-use' })).items, p))).toEqual([
      `${p} gp-data-secondary-use deny`
    ])
    expect(brief(of((await readToEnd(startMain, { extra: '&purpose=planned-care' })).items, p))).toEqual([
      `${p} planned-care deny`
    ])
    expectProblem(
      await t.app.inject({ method: 'GET', url: '/v1/changes?purpose=planned-care', headers: narrow.auth }),
      403,
      { path: 'querystring:/purpose' }
    )
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/changes?purpose=nope', headers: main.auth }), 400, {
      path: 'querystring:/purpose'
    })
  })

  it('needs consent:read or consent:filter', async () => {
    const checker = await clientWithToken(t.app, { scopes: ['consent:check'] })
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/changes', headers: checker.auth }), 403)
    const reader = await clientWithToken(t.app, { scopes: ['consent:read'] })
    expect((await t.app.inject({ method: 'GET', url: '/v1/changes?limit=1', headers: reader.auth })).statusCode).toBe(
      200
    )
    expect((await t.app.inject({ method: 'GET', url: '/v1/changes' })).statusCode).toBe(401)
  })

  it('refuses a cursor it did not issue or one ahead of the store, and bad limits and waits, naming each', async () => {
    const bad = async (query: string, path: string): Promise<void> => {
      expectProblem(await t.app.inject({ method: 'GET', url: `/v1/changes?${query}`, headers: main.auth }), 400, {
        path
      })
    }
    await bad('since=not-a-cursor!', 'querystring:/since')
    await bad(`since=${Buffer.from('12abc').toString('base64url')}`, 'querystring:/since')
    await bad(`since=${Buffer.from('9'.repeat(19)).toString('base64url')}`, 'querystring:/since')
    await bad(`since=${Buffer.from('999999999999').toString('base64url')}`, 'querystring:/since')
    await bad('limit=0', 'querystring:/limit')
    await bad('limit=10001', 'querystring:/limit')
    await bad('wait=-1', 'querystring:/wait')
    await bad('wait=soon', 'querystring:/wait')
    await bad('colour=blue', 'querystring:/colour')
  })

  it('held open (wait), answers as soon as a choice is recorded', async () => {
    const { cursor } = await readToEnd(null)
    const p = patient()
    const started = Date.now()
    const waiting = t.app.inject({ method: 'GET', url: `/v1/changes?since=${cursor}&wait=30`, headers: main.auth })
    await vi.waitFor(() => expect(t.app.services.changes.waiting).toBe(1), { timeout: 10_000, interval: 5 })
    await recordChoice(t.app, main.auth, p, { purpose: 'planned-care', decision: 'deny' })
    const res = await waiting
    expect(res.statusCode, res.body).toBe(200)
    expect(brief(of((res.json() as { items: Item[] }).items, p))).toEqual([`${p} planned-care deny`])
    expect(Date.now() - started).toBeLessThan(30_000)
  })

  it('at the end of the wait, answers an empty page with the same cursor', async () => {
    const { cursor } = await readToEnd(null)
    const res = await page(`since=${cursor}&wait=1`)
    expect(res).toEqual({ items: [], nextCursor: cursor })
  })

  it('ends the wait when the connection closes', async () => {
    const server = t.app.server
    if (!server.listening) await t.app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = server.address() as AddressInfo
    const { cursor } = await readToEnd(null)
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      path: `/v1/changes?since=${cursor}&wait=30`,
      headers: { ...main.auth, host: 'consent.test' }
    })
    req.on('error', () => {})
    req.end()
    await vi.waitFor(() => expect(t.app.services.changes.waiting).toBe(1), { timeout: 10_000, interval: 5 })
    req.destroy()
    await vi.waitFor(() => expect(t.app.services.changes.waiting).toBe(0), { timeout: 10_000, interval: 5 })
  })

  it('audits every page (changes.read) with counts and no NHS number', async () => {
    const { cursor } = await readToEnd(null)
    const patients = [patient(), patient()]
    for (const p of patients) await recordChoice(t.app, main.auth, p, { purpose: 'planned-care', decision: 'deny' })
    await settle()
    const first = await page(`since=${cursor}&limit=1`)
    const second = await page(`since=${first.nextCursor}&limit=1000&purpose=planned-care`)
    expect(first.items).toHaveLength(1)
    expect(second.items.length).toBeGreaterThanOrEqual(1)
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/audit?type=changes.read&clientId=${main.id}&limit=2`,
      headers: officer.auth
    })
    expect(res.statusCode, res.body).toBe(200)
    const [latest, earlier] = (res.json() as { items: Json[] }).items
    expect(earlier).toMatchObject({
      type: 'changes.read',
      clientId: main.id,
      nhsNumber: null,
      purpose: null,
      details: { since: cursor, nextCursor: first.nextCursor, items: 1, patients: 1 }
    })
    expect(latest).toMatchObject({
      purpose: 'planned-care',
      details: { since: first.nextCursor, nextCursor: second.nextCursor, items: second.items.length }
    })
    for (const event of [latest, earlier]) {
      for (const p of patients) expect(JSON.stringify(event.details)).not.toContain(p)
    }
  })
})
