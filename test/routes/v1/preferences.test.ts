// Patients' choices over HTTP (SPEC §2 "Preferences", §3): record, read with history, change of
// mind, back- and future-dating, entered-in-error, proxies, scopes and audit; Read codes, the end
// user, rule 2's cancellation of pending choices, and reads in the patient's audit trail.
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import { GP_CODES } from '../../../src/domain/preferences.ts'
import { storeOf } from '../../helpers/store.ts'
import {
  buildTestApp,
  clientWithToken,
  expectProblem,
  patientSupply,
  recordChoice,
  tokenFor,
  useTestApp,
  type Auth,
  type Json,
  type TestCaller
} from '../../helpers/app.ts'

const t = useTestApp()
let main: TestCaller
const patient = patientSupply(100, 23)

async function post (nhsNumber: string, body: unknown, auth: Auth = main.auth): Promise<LightMyRequestResponse> {
  return await t.app.inject({
    method: 'POST',
    url: `/v1/patients/${nhsNumber}/preferences`,
    headers: auth,
    payload: body as Json
  })
}

async function recorded (nhsNumber: string, body: Json): Promise<Json> {
  const res = await post(nhsNumber, { source: 'gp-practice', ...body })
  expect(res.statusCode, res.body).toBe(201)
  return res.json()
}

async function read (nhsNumber: string, auth: Auth = main.auth): Promise<Json> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/patients/${nhsNumber}/preferences`, headers: auth })
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

async function voidRecord (
  nhsNumber: string,
  id: string,
  body: unknown,
  auth: Auth = main.auth
): Promise<LightMyRequestResponse> {
  return await t.app.inject({
    method: 'POST',
    url: `/v1/patients/${nhsNumber}/preferences/${id}/entered-in-error`,
    headers: auth,
    payload: body as Json
  })
}

async function decision (nhsNumber: string, purpose: string): Promise<Json> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/decisions',
    headers: main.auth,
    payload: { nhsNumber, purpose }
  })
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

async function trail (nhsNumber: string): Promise<Json[]> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/audit?nhsNumber=${nhsNumber}`, headers: main.auth })
  expect(res.statusCode, res.body).toBe(200)
  return res.json().items
}

/** Waits until the clock has passed a recorded instant, so the next record is recorded strictly later. */
async function after (recordedAt: string): Promise<void> {
  while (Date.now() <= Date.parse(recordedAt)) await new Promise(resolve => setTimeout(resolve, 1))
}

const clinician = { id: '555021935107', name: 'Jo Bloggs', role: 'R8000', organisation: 'B82005' }

beforeAll(async () => {
  main = await clientWithToken(t.app, { odsCode: 'B82005' })
})

describe('POST /v1/patients/{nhs}/preferences', () => {
  it('records a choice: 201 with the SPEC §3 shape and a Location', async () => {
    const nhs = patient()
    const spaced = `${nhs.slice(0, 3)} ${nhs.slice(3, 6)} ${nhs.slice(6)}`
    const before = Date.now()
    const res = await post(encodeURIComponent(spaced), {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2026-01-20T00:00:00Z',
      source: 'paper-form',
      note: 'Form signed at reception'
    })
    expect(res.statusCode, res.body).toBe(201)
    const p = res.json()
    expect(p).toMatchObject({
      id: expect.any(String),
      nhsNumber: nhs,
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2026-01-20T00:00:00.000Z',
      recordedAt: expect.any(String),
      source: 'paper-form',
      status: 'active',
      note: 'Form signed at reception',
      recordedBy: { clientId: main.id, odsCode: 'B82005' }
    })
    expect(Date.parse(p.recordedAt)).toBeGreaterThanOrEqual(before - 1000)
    expect(res.headers.location).toBe(`/v1/patients/${nhs}/preferences/${p.id}`)
  })

  it('effectiveFrom defaults to now', async () => {
    const before = Date.now()
    const p = await recorded(patient(), { purpose: 'planned-care', decision: 'deny' })
    expect(Date.parse(p.effectiveFrom)).toBeGreaterThanOrEqual(before - 1000)
    expect(Date.parse(p.effectiveFrom)).toBeLessThanOrEqual(Date.now() + 1000)
  })

  it('rejects invalid input with a 400 problem+json naming the field', async () => {
    const nhs = patient()
    const good = { purpose: 'planning-research', decision: 'deny', source: 'gp-practice' }
    const cases: Array<{ body: Json; path: string }> = [
      { body: { ...good, decision: 'maybe' }, path: '/decision' },
      { body: { ...good, source: 'carrier-pigeon' }, path: '/source' },
      { body: { ...good, purpose: 'no-such-purpose' }, path: '/purpose' },
      { body: { ...good, effectiveFrom: 'last tuesday' }, path: '/effectiveFrom' },
      { body: { ...good, effectiveFrom: '2026-13-45T00:00:00Z' }, path: '/effectiveFrom' },
      { body: { ...good, colour: 'blue' }, path: '/colour' },
      { body: { purpose: 'planning-research', decision: 'deny' }, path: '/source' },
      { body: { ...good, recordedBy: { proxyRole: 'neighbour' } }, path: '/recordedBy/proxyRole' }
    ]
    for (const c of cases) {
      const body = expectProblem(await post(nhs, c.body), 400)
      expect(
        body.errors.map((e: Json) => e.path),
        JSON.stringify(body)
      ).toContain(c.path)
    }
    for (const bad of ['9434765918', '12345', 'abcdefghij']) {
      const body = expectProblem(await post(bad, good), 400)
      expect(body.errors[0].path).toMatch(/nhsNumber/)
      expect(body.detail).not.toContain(bad)
    }
    // Nothing was recorded by any of those.
    expect((await read(nhs)).history).toEqual([])
  })

  it('a purpose the client is not registered for is a 403', async () => {
    const planned = await clientWithToken(t.app, { purposes: ['planned-care'] })
    expectProblem(
      await post(patient(), { purpose: 'planning-research', decision: 'deny', source: 'gp-practice' }, planned.auth),
      403
    )
  })

  it('stores a proxy choice with recordedBy.proxyRole', async () => {
    const nhs = patient()
    const p = await recorded(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      recordedBy: { proxyRole: 'parent', name: 'Mother', odsCode: 'Y12345' }
    })
    expect(p.recordedBy).toEqual({ proxyRole: 'parent', name: 'Mother', odsCode: 'Y12345', clientId: main.id })
    const row = (await read(nhs)).history[0]
    expect(row.recordedBy).toEqual({ proxyRole: 'parent', name: 'Mother', odsCode: 'Y12345', clientId: main.id })
  })
})

describe('GET /v1/patients/{nhs}/preferences', () => {
  it('shows a client only the choices for the purposes it is registered for (and those below them)', async () => {
    const nhs = patient()
    await recorded(nhs, { purpose: 'planning-research', decision: 'deny' })
    const scr = await recorded(nhs, { purpose: 'summary-care-record', decision: 'deny' })
    const unplanned = await clientWithToken(t.app, { purposes: ['unplanned-care'], scopes: ['consent:read'] })
    const seen = await read(nhs, unplanned.auth)
    expect(seen.history.map((h: Json) => h.id)).toEqual([scr.id])
    expect(seen.current.map((c: Json) => c.purpose)).toEqual(['summary-care-record'])
    expect((await read(nhs)).history).toHaveLength(2)
  })

  it('answers { nhsNumber, current, history } with history newest first', async () => {
    const nhs = patient()
    const a = await recorded(nhs, { purpose: 'planning-research', decision: 'deny' })
    const b = await recorded(nhs, { purpose: 'summary-care-record', decision: 'deny' })
    const res = await read(`${nhs.slice(0, 3)}-${nhs.slice(3, 6)}-${nhs.slice(6)}`)
    expect(res.nhsNumber).toBe(nhs)
    expect(res.current).toEqual(
      expect.arrayContaining([
        { purpose: 'planning-research', decision: 'deny', effectiveFrom: a.effectiveFrom, preferenceId: a.id },
        { purpose: 'summary-care-record', decision: 'deny', effectiveFrom: b.effectiveFrom, preferenceId: b.id }
      ])
    )
    expect(res.current).toHaveLength(2)
    expect(res.history.map((h: Json) => h.id)).toEqual([b.id, a.id])
    expect(res.history[0]).toMatchObject({
      id: b.id,
      nhsNumber: nhs,
      purpose: 'summary-care-record',
      decision: 'deny',
      source: 'gp-practice',
      status: 'active'
    })
  })

  it('a patient with no choices has empty current and history', async () => {
    const nhs = patient()
    expect(await read(nhs)).toEqual({ nhsNumber: nhs, current: [], history: [] })
  })

  it('a change of mind is a new record that supersedes the old one; both stay in history', async () => {
    const nhs = patient()
    const optOut = await recorded(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: new Date(Date.now() - 60_000).toISOString()
    })
    const optIn = await recorded(nhs, { purpose: 'planning-research', decision: 'permit' })
    const res = await read(nhs)
    expect(res.current).toEqual([
      { purpose: 'planning-research', decision: 'permit', effectiveFrom: optIn.effectiveFrom, preferenceId: optIn.id }
    ])
    expect(res.history.map((h: Json) => [h.id, h.decision, h.status])).toEqual([
      [optIn.id, 'permit', 'active'],
      [optOut.id, 'deny', 'active']
    ])
    expect(await decision(nhs, 'planning-research')).toMatchObject({ decision: 'permit', basis: 'patient-preference' })
  })

  it('a back-dated choice is current from its effectiveFrom; a future-dated one is only in history', async () => {
    const nhs = patient()
    const back = await recorded(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2024-03-01T09:30:00.000Z'
    })
    expect(back.effectiveFrom).toBe('2024-03-01T09:30:00.000Z')
    const future = new Date(Date.now() + 7 * 86_400_000).toISOString()
    const later = await recorded(nhs, { purpose: 'planning-research', decision: 'permit', effectiveFrom: future })
    const res = await read(nhs)
    expect(res.current).toEqual([
      {
        purpose: 'planning-research',
        decision: 'deny',
        effectiveFrom: '2024-03-01T09:30:00.000Z',
        preferenceId: back.id
      }
    ])
    expect(res.history.map((h: Json) => h.id)).toEqual([later.id, back.id])
    const d = await decision(nhs, 'planning-research')
    expect(d).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
    expect(d.pendingChange).toMatchObject({ id: later.id, outcome: 'permit' })
  })

  it('a choice is reflected in the very next decision (read-your-writes)', async () => {
    const nhs = patient()
    expect((await decision(nhs, 'planning-research')).decision).toBe('permit')
    const p = await recorded(nhs, { purpose: 'planning-research', decision: 'deny' })
    const d = await decision(nhs, 'planning-research')
    expect(d).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
    expect(d.preference.id).toBe(p.id)
  })
})

describe('POST /v1/patients/{nhs}/preferences/{id}/entered-in-error', () => {
  it('needs a reason', async () => {
    const nhs = patient()
    const p = await recorded(nhs, { purpose: 'planning-research', decision: 'deny' })
    for (const body of [{}, { reason: '' }, { reason: '   ' }]) {
      const problem = expectProblem(await voidRecord(nhs, p.id, body), 400)
      expect(problem.errors[0].path).toBe('/reason')
    }
    expect((await read(nhs)).history[0].status).toBe('active')
  })

  it("a client not registered for the record's purpose cannot void it (403); the choice stays in force", async () => {
    const nhs = patient()
    const p = await recorded(nhs, { purpose: 'planning-research', decision: 'deny' })
    const scrOnly = await clientWithToken(t.app, { purposes: ['unplanned-care'], scopes: ['consent:write'] })
    const problem = expectProblem(await voidRecord(nhs, p.id, { reason: 'Not mine to change' }, scrOnly.auth), 403)
    expect(problem.detail).toMatch(/planning-research/)
    expect((await read(nhs)).history[0].status).toBe('active')
    expect(await decision(nhs, 'planning-research')).toMatchObject({ decision: 'deny' })
  })

  it("an unknown id, or another patient's record, is a 404", async () => {
    const nhs = patient()
    const other = patient()
    const p = await recorded(other, { purpose: 'planning-research', decision: 'deny' })
    expectProblem(await voidRecord(nhs, '00000000-0000-4000-8000-000000000000', { reason: 'Wrong patient' }), 404)
    expectProblem(await voidRecord(nhs, p.id, { reason: 'Wrong patient' }), 404)
    expect((await read(other)).history[0].status).toBe('active')
  })

  it('voids the record: it stays in history, decisions stop using it at once; a repeat is 409', async () => {
    const nhs = patient()
    const p = await recorded(nhs, { purpose: 'planning-research', decision: 'deny' })
    expect((await decision(nhs, 'gp-data-secondary-use')).decision).toBe('deny')
    const res = await voidRecord(nhs, p.id, { reason: 'Recorded against the wrong patient' })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({
      id: p.id,
      status: 'entered-in-error',
      decision: 'deny',
      enteredInError: { reason: 'Recorded against the wrong patient', by: main.id }
    })
    // The very next decision no longer uses it.
    expect(await decision(nhs, 'gp-data-secondary-use')).toMatchObject({
      decision: 'permit',
      basis: 'default',
      preference: null
    })
    expect(await decision(nhs, 'planning-research')).toMatchObject({ decision: 'permit', basis: 'default' })
    const after = await read(nhs)
    expect(after.current).toEqual([])
    expect(after.history).toHaveLength(1)
    expect(after.history[0]).toMatchObject({ id: p.id, status: 'entered-in-error', decision: 'deny' })
    expectProblem(await voidRecord(nhs, p.id, { reason: 'Again' }), 409)
  })

  it('voiding the newer record brings the older one back into force', async () => {
    const nhs = patient()
    const older = await recorded(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2024-01-01T00:00:00.000Z'
    })
    const newer = await recorded(nhs, {
      purpose: 'planning-research',
      decision: 'permit',
      effectiveFrom: '2024-06-01T00:00:00.000Z'
    })
    expect((await decision(nhs, 'planning-research')).decision).toBe('permit')
    expect((await voidRecord(nhs, newer.id, { reason: 'Wrong form' })).statusCode).toBe(200)
    const d = await decision(nhs, 'planning-research')
    expect(d).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
    expect(d.preference.id).toBe(older.id)
    expect((await read(nhs)).current).toEqual([
      { purpose: 'planning-research', decision: 'deny', effectiveFrom: older.effectiveFrom, preferenceId: older.id }
    ])
  })
})

describe('scopes', () => {
  it('GET needs consent:read; POST and entered-in-error need consent:write; no token is 401', async () => {
    const nhs = patient()
    const p = await recorded(nhs, { purpose: 'planning-research', decision: 'deny' })
    const readOnly = { authorization: `Bearer ${await tokenFor(t.app, main, 'consent:read')}` }
    const writeOnly = { authorization: `Bearer ${await tokenFor(t.app, main, 'consent:write')}` }
    expectProblem(
      await t.app.inject({ method: 'GET', url: `/v1/patients/${nhs}/preferences`, headers: writeOnly }),
      403
    )
    expect((await read(nhs, readOnly)).history).toHaveLength(1)
    expectProblem(
      await post(nhs, { purpose: 'planning-research', decision: 'permit', source: 'gp-practice' }, readOnly),
      403
    )
    expectProblem(await voidRecord(nhs, p.id, { reason: 'Mistake' }, readOnly), 403)
    expect(
      (await post(nhs, { purpose: 'planning-research', decision: 'permit', source: 'gp-practice' }, writeOnly))
        .statusCode
    ).toBe(201)
    expectProblem(await t.app.inject({ method: 'GET', url: `/v1/patients/${nhs}/preferences` }), 401)
    expectProblem(
      await t.app.inject({
        method: 'POST',
        url: `/v1/patients/${nhs}/preferences`,
        payload: { purpose: 'planning-research', decision: 'permit', source: 'gp-practice' }
      }),
      401
    )
    expect((await read(nhs)).history).toHaveLength(2)
  })
})

describe('audit of writes', () => {
  it('recording a choice and voiding it each produce an audit event', async () => {
    const nhs = patient()
    const rec = await post(nhs, { purpose: 'planning-research', decision: 'deny', source: 'online' })
    const p = rec.json()
    const voided = await voidRecord(nhs, p.id, { reason: 'Duplicate entry' })
    expect(voided.statusCode).toBe(200)
    const res = await t.app.inject({ method: 'GET', url: `/v1/audit?nhsNumber=${nhs}`, headers: main.auth })
    expect(res.statusCode, res.body).toBe(200)
    const events = res.json().items as Json[]
    const recordedEvent = events.find(e => e.type === 'preference.recorded')
    expect(recordedEvent).toMatchObject({
      clientId: main.id,
      requestId: rec.headers['x-request-id'],
      nhsNumber: nhs,
      purpose: 'planning-research',
      outcome: 'deny'
    })
    expect(recordedEvent?.details).toMatchObject({ preferenceId: p.id, source: 'online' })
    const voidEvent = events.find(e => e.type === 'preference.entered-in-error')
    expect(voidEvent).toMatchObject({
      clientId: main.id,
      requestId: voided.headers['x-request-id'],
      nhsNumber: nhs,
      purpose: 'planning-research'
    })
    expect(voidEvent?.details).toMatchObject({ preferenceId: p.id, reason: 'Duplicate entry' })
    // Newest first: the void after the recording.
    expect(events.findIndex(e => e.type === 'preference.entered-in-error')).toBeLessThan(
      events.findIndex(e => e.type === 'preference.recorded')
    )
  })
})

describe('dates as a paper form gives them', () => {
  it('takes effectiveFrom as a date (midnight UTC) as well as a date-time, and refuses impossible dates', async () => {
    const nhs = patient()
    const p = await recorded(nhs, { purpose: 'planning-research', decision: 'deny', effectiveFrom: '2025-03-14' })
    expect(p.effectiveFrom).toBe('2025-03-14T00:00:00.000Z')
    expectProblem(
      await post(nhs, {
        purpose: 'planning-research',
        decision: 'deny',
        source: 'paper-form',
        effectiveFrom: '2025-13-40'
      }),
      400
    )
    const problem = expectProblem(
      await post(nhs, {
        purpose: 'planning-research',
        decision: 'deny',
        source: 'paper-form',
        effectiveFrom: '14/03/2025'
      }),
      400
    )
    expect(problem.errors[0]).toEqual({ path: '/effectiveFrom', message: expect.stringMatching(/ISO 8601 date/) })
  })

  it('refuses an impossible calendar date and a date-time without its zone, naming /effectiveFrom', async () => {
    const nhs = patient()
    const choice = { purpose: 'planning-research', decision: 'deny', source: 'paper-form' }
    const cases: Array<[string, RegExp]> = [
      // Never rolled over to 2 March.
      ['2021-02-30', /2021-02-30 is not a calendar date/],
      ['2021-02-30T10:00:00Z', /2021-02-30 is not a calendar date/],
      ['2023-02-29', /2023-02-29 is not a calendar date/],
      ['2021-04-31', /2021-04-31 is not a calendar date/],
      ['2025-03-14T24:00:00Z', /not a time of day/],
      // A zone-less time would mean different instants on servers in different zones.
      ['2025-03-14T09:30:00', /zone|date-time \(2025-03-14T09:30:00Z\)/],
      ['2025-03-14T09:30', /zone|date-time \(2025-03-14T09:30:00Z\)/]
    ]
    for (const [effectiveFrom, message] of cases) {
      const problem = expectProblem(await post(nhs, { ...choice, effectiveFrom }), 400)
      expect(problem.errors, effectiveFrom).toEqual([
        { path: '/effectiveFrom', message: expect.stringMatching(message) }
      ])
    }
    // Nothing was recorded, and a leap day is a date.
    expect((await read(nhs)).history).toEqual([])
    const leap = await recorded(nhs, { ...choice, effectiveFrom: '2024-02-29' })
    expect(leap.effectiveFrom).toBe('2024-02-29T00:00:00.000Z')
  })
})

describe('Read codes (SPEC §2): a GP coded entry in place of purpose + decision', () => {
  it('records the choice the code means and keeps the code as sourceCode, in the record and the history', async () => {
    const nhs = patient()
    const express = await recorded(nhs, { code: '9Ndm' })
    expect(express).toMatchObject({ purpose: 'summary-care-record', decision: 'permit', sourceCode: '9Ndm' })
    const typed = await recorded(nhs, { purpose: 'planning-research', decision: 'deny' })
    expect(typed.sourceCode).toBeNull()
    for (const [code, choice] of Object.entries(GP_CODES)) {
      const p = await recorded(patient(), { code })
      expect(p, code).toMatchObject({ purpose: choice.purpose, decision: choice.decision, sourceCode: code })
    }
    const history = (await read(nhs)).history as Json[]
    expect(history.map(h => [h.id, h.sourceCode])).toEqual([
      [typed.id, null],
      [express.id, '9Ndm']
    ])
    // The coded choice decides like any other.
    const type1 = await recorded(patient(), { code: '9Nu0' })
    expect(await decision(type1.nhsNumber, 'gp-data-secondary-use')).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: type1.id }
    })
    const event = (await trail(nhs)).find(e => e.type === 'preference.recorded' && e.purpose === 'summary-care-record')
    expect(event?.details).toMatchObject({ preferenceId: express.id, sourceCode: '9Ndm' })
  })

  it('a code with purpose or decision is a 400, an unknown code a 400 naming it; nothing is recorded', async () => {
    const nhs = patient()
    const cases: Array<{ body: Json; message: RegExp }> = [
      { body: { code: '9Nu0', purpose: 'gp-data-secondary-use' }, message: /either code or purpose \+ decision/ },
      { body: { code: '9Nu0', decision: 'deny' }, message: /either code or purpose \+ decision/ },
      { body: { code: '9Nu9' }, message: /unknown GP code '9Nu9'.*9Nu0/ },
      { body: { code: 'toString' }, message: /unknown GP code 'toString'/ }
    ]
    for (const c of cases) {
      const problem = expectProblem(await post(nhs, { source: 'gp-practice', ...c.body }), 400, { path: '/code' })
      expect(problem.detail).toMatch(c.message)
    }
    const neither = expectProblem(await post(nhs, { source: 'gp-practice' }), 400)
    expect(neither.errors.map(e => e.path)).toEqual(['/purpose', '/decision'])
    expectProblem(await post(nhs, { source: 'gp-practice', purpose: 'planning-research' }), 400, {
      path: '/decision'
    })
    expect((await read(nhs)).history).toEqual([])
  })

  it('a code for a purpose the client is not registered for is a 403 pointing at the code', async () => {
    const planned = await clientWithToken(t.app, { purposes: ['planned-care'] })
    const problem = expectProblem(await post(patient(), { code: '9Ndo', source: 'gp-practice' }, planned.auth), 403)
    expect(problem.detail).toMatch(/summary-care-record/)
  })
})

describe('endUser on writes of choices (SPEC §2 "Who asked")', () => {
  it('the end user who recorded a choice is on the record, its history and its audit event', async () => {
    const nhs = patient()
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/patients/${nhs}/preferences`,
      headers: { ...main.auth, 'x-correlation-id': 'gp-form-4711' },
      payload: { purpose: 'planning-research', decision: 'deny', source: 'paper-form', endUser: clinician }
    })
    expect(res.statusCode, res.body).toBe(201)
    const p = res.json()
    expect(p.recordedBy).toEqual({ clientId: main.id, odsCode: 'B82005', endUser: clinician })
    expect((await read(nhs)).history[0].recordedBy.endUser).toEqual(clinician)
    const event = (await trail(nhs)).find(e => e.type === 'preference.recorded')
    expect(event).toMatchObject({
      clientId: main.id,
      requestId: res.headers['x-request-id'],
      correlationId: 'gp-form-4711',
      endUser: clinician,
      details: { preferenceId: p.id }
    })
  })

  it('voiding a choice names its end user and correlation id on the audit event', async () => {
    const nhs = patient()
    const p = await recorded(nhs, { purpose: 'planning-research', decision: 'deny' })
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/patients/${nhs}/preferences/${String(p.id)}/entered-in-error`,
      headers: { ...main.auth, 'x-correlation-id': 'void-0815' },
      payload: { reason: 'Wrong patient', endUser: clinician }
    })
    expect(res.statusCode, res.body).toBe(200)
    const event = (await trail(nhs)).find(e => e.type === 'preference.entered-in-error')
    expect(event).toMatchObject({
      requestId: res.headers['x-request-id'],
      correlationId: 'void-0815',
      endUser: clinician,
      details: { preferenceId: p.id, reason: 'Wrong patient' }
    })
    // Without one, the event says there was none.
    const other = await recorded(nhs, { purpose: 'planned-care', decision: 'deny' })
    expect((await voidRecord(nhs, other.id, { reason: 'Duplicate' })).statusCode).toBe(200)
    const unnamed = (await trail(nhs)).find(
      e => e.type === 'preference.entered-in-error' && e.purpose === 'planned-care'
    )
    expect(unnamed).toMatchObject({ endUser: null, correlationId: null })
  })

  it('a client registered with requireEndUser must name the end user to record or void (400)', async () => {
    const gp = await clientWithToken(t.app, { odsCode: 'B82005' })
    const nhs = patient()
    const kept = await recordChoice(t.app, gp.auth, nhs, { purpose: 'planned-care', decision: 'deny' })
    const patch = await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${gp.id}`,
      headers: main.auth,
      payload: { requireEndUser: true }
    })
    expect(patch.statusCode, patch.body).toBe(200)
    const choice = { purpose: 'planning-research', decision: 'deny', source: 'gp-practice' }
    const problem = expectProblem(await post(nhs, choice, gp.auth), 400, { path: '/endUser' })
    expect(problem.detail).toMatch(/requireEndUser|end user/)
    expectProblem(await post(nhs, { code: '9Nu0', source: 'gp-practice' }, gp.auth), 400, { path: '/endUser' })
    expectProblem(await voidRecord(nhs, kept.id, { reason: 'Wrong patient' }, gp.auth), 400, { path: '/endUser' })
    expect((await read(nhs)).history.map((h: Json) => [h.id, h.status])).toEqual([[kept.id, 'active']])
    expect((await post(nhs, { ...choice, endUser: clinician }, gp.auth)).statusCode).toBe(201)
    expect((await voidRecord(nhs, kept.id, { reason: 'Wrong patient', endUser: clinician }, gp.auth)).statusCode).toBe(
      200
    )
  })

  it('an endUser that is not an SDS user ID, or has unknown fields, is a 400', async () => {
    const nhs = patient()
    const choice = { purpose: 'planning-research', decision: 'deny', source: 'gp-practice' }
    expectProblem(await post(nhs, { ...choice, endUser: { id: 'jo' } }, main.auth), 400, { path: '/endUser/id' })
    expectProblem(await post(nhs, { ...choice, endUser: { name: 'Jo' } }, main.auth), 400)
    expectProblem(await post(nhs, { ...choice, endUser: { ...clinician, badge: 7 } }, main.auth), 400)
    expect((await read(nhs)).history).toEqual([])
  })
})

describe('rule 2: the latest wish cancels every choice still waiting to take effect', () => {
  it('"from next month I withdraw my Type 1 dissent", then "keep it" today: still a deny next month', async () => {
    const nhs = patient()
    const dissent = await recorded(nhs, { code: '9Nu0', effectiveFrom: '2024-05-01' })
    const nextMonth = new Date(Date.now() + 30 * 86_400_000).toISOString()
    const withdrawal = await recorded(nhs, { code: '9Nu1', effectiveFrom: nextMonth })
    // Scheduled, as told.
    expect((await decision(nhs, 'gp-data-secondary-use')).pendingChange).toMatchObject({ id: withdrawal.id })
    await after(withdrawal.recordedAt)
    const keepIt = await recorded(nhs, { code: '9Nu0', source: 'telephone', note: 'Rang to say: keep my dissent' })

    const now = await decision(nhs, 'gp-data-secondary-use')
    expect(now).toMatchObject({ decision: 'deny', basis: 'patient-preference', pendingChange: null })
    const later = new Date(Date.parse(nextMonth) + 86_400_000).toISOString()
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: main.auth,
      payload: { nhsNumber: nhs, purpose: 'gp-data-secondary-use', asOf: later }
    })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: keepIt.id },
      pendingChange: null
    })

    const choices = await read(nhs)
    expect(choices.current).toEqual([
      {
        purpose: 'gp-data-secondary-use',
        decision: 'deny',
        effectiveFrom: keepIt.effectiveFrom,
        preferenceId: keepIt.id
      }
    ])
    expect((choices.history as Json[]).map(h => [h.id, h.status, h.cancelledBy])).toEqual([
      [keepIt.id, 'active', null],
      [withdrawal.id, 'active', keepIt.id],
      [dissent.id, 'active', null]
    ])
  })

  it('a later form cancels the pending choice, not the one in force; voiding it restores the pending one', async () => {
    const nhs = patient()
    const inForce = await recorded(nhs, { purpose: 'planning-research', decision: 'deny', effectiveFrom: '2025-01-01' })
    const pending = await recorded(nhs, {
      purpose: 'planning-research',
      decision: 'permit',
      effectiveFrom: new Date(Date.now() + 10 * 86_400_000).toISOString()
    })
    await after(pending.recordedAt)
    const backDated = await recorded(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2024-06-01',
      source: 'paper-form'
    })
    const history = (await read(nhs)).history as Json[]
    expect(history.map(h => [h.id, h.cancelledBy])).toEqual([
      [backDated.id, null],
      [pending.id, backDated.id],
      [inForce.id, null]
    ])
    expect((await decision(nhs, 'planning-research')).pendingChange).toBeNull()
    expect((await voidRecord(nhs, backDated.id, { reason: 'Form belongs to another patient' })).statusCode).toBe(200)
    const restored = await read(nhs)
    expect((restored.history as Json[]).map(h => [h.id, h.cancelledBy])).toEqual([
      [backDated.id, null],
      [pending.id, null],
      [inForce.id, null]
    ])
    expect((await decision(nhs, 'planning-research')).pendingChange).toMatchObject({ id: pending.id })
  })
})

describe("reads of a patient's choices are in their audit trail (preference.read)", () => {
  it('each read writes one event naming the patient, the client, the request and the correlation id', async () => {
    const nhs = patient()
    await recorded(nhs, { purpose: 'planning-research', decision: 'deny' })
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/patients/${nhs}/preferences`,
      headers: { ...main.auth, 'x-correlation-id': 'sar-2026-17' }
    })
    expect(res.statusCode, res.body).toBe(200)
    const reads = (await trail(nhs)).filter(e => e.type === 'preference.read')
    expect(reads).toEqual([
      expect.objectContaining({
        nhsNumber: nhs,
        clientId: main.id,
        clientOdsCode: 'B82005',
        requestId: res.headers['x-request-id'],
        correlationId: 'sar-2026-17',
        details: { view: 'history', records: 1 }
      })
    ])
    // A patient with no choices: the look is recorded all the same.
    const nobody = patient()
    await read(nobody)
    expect((await trail(nobody)).map(e => [e.type, e.details])).toEqual([
      ['preference.read', { view: 'history', records: 0 }]
    ])
    // Filterable by type, as every other kind of event.
    const byType = await t.app.inject({
      method: 'GET',
      url: `/v1/audit?nhsNumber=${nhs}&type=preference.read`,
      headers: main.auth
    })
    expect(byType.json().items).toHaveLength(1)
  })

  it('a refused read (a scope the caller lacks) writes no preference.read', async () => {
    const nhs = patient()
    const writeOnly = { authorization: `Bearer ${await tokenFor(t.app, main, 'consent:write')}` }
    expectProblem(
      await t.app.inject({ method: 'GET', url: `/v1/patients/${nhs}/preferences`, headers: writeOnly }),
      403
    )
    expect((await trail(nhs)).filter(e => e.type === 'preference.read')).toEqual([])
  })

  it('when the read cannot be audited the answer is 503, never the choices', async () => {
    const broken = await buildTestApp()
    try {
      const caller = await clientWithToken(broken.app)
      const nhs = patient()
      const p = await recordChoice(broken.app, caller.auth, nhs, { purpose: 'planning-research', decision: 'deny' })
      await storeOf(broken.app).dropTable('audit_events')
      const res = await broken.app.inject({
        method: 'GET',
        url: `/v1/patients/${nhs}/preferences`,
        headers: caller.auth
      })
      const body = expectProblem(res, 503)
      expect(res.body).not.toContain(p.id)
      expect(body).not.toHaveProperty('history')
    } finally {
      await broken.close()
    }
  })
})
