// Emergency-access alerts (SPEC §2 rule 5, §3): raised by an unable-to-ask SCR decision, listed for
// the privacy officer, reviewed once with audit:review, and the review audited.
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import {
  bearer,
  clientWithToken,
  expectProblem,
  nhsNumbers,
  patientSupply,
  registerClient,
  tokenFor,
  useTestApp,
  type Auth,
  type Json,
  type TestCaller
} from '../../helpers/app.ts'
import { storeOf } from '../../helpers/store.ts'

const t = useTestApp()
let ed: TestCaller
let officer: TestCaller
let auditor: Auth
const patient = patientSupply(40, 53)
/** The ED clinician who opens the records (SPEC §2 "Who asked"). */
const clinician = { id: '555021935107', name: 'Dr Jane Example', role: 'R8000', organisation: 'RBA' }
/** The privacy officer who reviews them. */
const reviewer = { id: '7c9e6679-7425-40de-944b-e07fc1f90ae7', name: 'Pat Privacy', role: 'R8003' }

async function emergency (
  nhsNumber: string,
  reason = 'Patient unconscious on arrival',
  auth: Auth = ed.auth
): Promise<Json> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/decisions',
    headers: auth,
    payload: {
      nhsNumber,
      purpose: 'summary-care-record',
      pointOfCare: { permissionToView: 'unable-to-ask', reason },
      endUser: clinician
    }
  })
  expect(res.statusCode, res.body).toBe(200)
  const d = res.json()
  expect(d).toMatchObject({ decision: 'permit', basis: 'emergency-access', alertId: expect.any(String) })
  return d
}

async function list (query = '', auth: Auth = officer.auth): Promise<Json> {
  const res = await t.app.inject({ method: 'GET', url: `/v1/alerts${query}`, headers: auth })
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

async function review (id: string, body: unknown, auth: Auth = officer.auth): Promise<LightMyRequestResponse> {
  return await t.app.inject({ method: 'POST', url: `/v1/alerts/${id}/review`, headers: auth, payload: body as Json })
}

beforeAll(async () => {
  ed = await clientWithToken(t.app, { scopes: ['consent:check'], purposes: ['unplanned-care'], name: 'ED system' })
  officer = await clientWithToken(t.app, {
    scopes: ['audit:read', 'audit:review'],
    purposes: [],
    name: 'Privacy officer'
  })
  const reader = await registerClient(t.app, { scopes: ['audit:read'], purposes: [], name: 'Auditor' })
  auditor = bearer(await tokenFor(t.app, reader))
})

describe('emergency-access alerts', () => {
  it('an emergency access raises an open alert with the SPEC §3 shape', async () => {
    const nhs = patient()
    const d = await emergency(nhs, 'Unconscious, brought in by ambulance')
    const alerts = (await list('?status=open', auditor)).items as Json[]
    const alert = alerts.find(a => a.id === d.alertId)
    expect(alert).toMatchObject({
      id: d.alertId,
      auditId: d.auditId,
      nhsNumber: nhs,
      purpose: 'summary-care-record',
      clientId: ed.id,
      reason: 'Unconscious, brought in by ambulance',
      raisedAt: expect.any(String),
      status: 'open'
    })
    expect(alert?.reviewedBy ?? null).toBeNull()
    expect(Math.abs(Date.parse(alert?.raisedAt) - Date.parse(d.decidedAt))).toBeLessThan(5_000)
  })

  it('review with audit:review marks it reviewed by the caller; a repeat is a 409; ?status=open omits it', async () => {
    const d = await emergency(patient())
    const res = await review(d.alertId, { note: 'Clinically justified: ED consultant confirmed.' })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({
      id: d.alertId,
      status: 'reviewed',
      reviewedBy: officer.id,
      reviewNote: 'Clinically justified: ED consultant confirmed.',
      reviewedAt: expect.any(String)
    })
    expectProblem(await review(d.alertId, { note: 'Again' }), 409)
    expect(((await list('?status=open')).items as Json[]).map(a => a.id)).not.toContain(d.alertId)
    const reviewed = ((await list('?status=reviewed')).items as Json[]).find(a => a.id === d.alertId)
    expect(reviewed).toMatchObject({ status: 'reviewed', reviewedBy: officer.id })
  })

  it('an unknown alert is a 404', async () => {
    expectProblem(await review('00000000-0000-4000-8000-000000000000', { note: 'Checked' }), 404)
  })

  it('a token with audit:read but not audit:review cannot review (403) and the alert stays open', async () => {
    const d = await emergency(patient())
    expectProblem(await review(d.alertId, { note: 'Looks fine' }, auditor), 403)
    // The officer's client holds audit:review, but not in this token.
    const readOnly = { authorization: `Bearer ${await tokenFor(t.app, officer, 'audit:read')}` }
    expectProblem(await review(d.alertId, { note: 'Looks fine' }, readOnly), 403)
    expect(((await list('?status=open')).items as Json[]).map(a => a.id)).toContain(d.alertId)
    // Listing needs audit:read.
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/alerts', headers: ed.auth }), 403)
  })

  it('a review needs a note', async () => {
    const d = await emergency(patient())
    for (const body of [{}, { note: '' }, { note: '   ' }, { note: 'ok', extra: 1 }, { endUser: reviewer }]) {
      expectProblem(await review(d.alertId, body), 400)
    }
    expect(((await list('?status=open')).items as Json[]).map(a => a.id)).toContain(d.alertId)
  })

  it('the review is audited as alert.reviewed', async () => {
    const d = await emergency(patient())
    const res = await review(d.alertId, { note: 'Reviewed with the ED lead' })
    expect(res.statusCode).toBe(200)
    const audit = await t.app.inject({
      method: 'GET',
      url: `/v1/audit?type=alert.reviewed&clientId=${officer.id}`,
      headers: officer.auth
    })
    expect(audit.statusCode, audit.body).toBe(200)
    const event = (audit.json().items as Json[]).find(e => e.details.alertId === d.alertId)
    expect(event).toMatchObject({
      type: 'alert.reviewed',
      clientId: officer.id,
      requestId: res.headers['x-request-id'],
      purpose: 'summary-care-record',
      outcome: 'reviewed'
    })
    expect(event?.details.note).toBe('Reviewed with the ED lead')
  })

  it('a refused review is audited too, saying why', async () => {
    const d = await emergency(patient())
    expect((await review(d.alertId, { note: 'First look' })).statusCode).toBe(200)
    const again = await review(d.alertId, { note: 'Second look' })
    expectProblem(again, 409)
    const unknown = await review('00000000-0000-4000-8000-00000000beef', { note: 'Checked' })
    expectProblem(unknown, 404)
    const audit = await t.app.inject({
      method: 'GET',
      url: `/v1/audit?type=alert.reviewed&clientId=${officer.id}`,
      headers: officer.auth
    })
    expect(audit.statusCode, audit.body).toBe(200)
    const events = audit.json().items as Json[]
    expect(events.find(e => e.requestId === again.headers['x-request-id'])).toMatchObject({
      outcome: 'already-reviewed',
      nhsNumber: d.nhsNumber,
      details: { alertId: d.alertId, note: 'Second look' }
    })
    expect(events.find(e => e.requestId === unknown.headers['x-request-id'])).toMatchObject({
      outcome: 'not-found',
      nhsNumber: null,
      details: { alertId: '00000000-0000-4000-8000-00000000beef' }
    })
  })

  it('lists newest first; cursor paging covers every alert once, even alerts raised in one instant', async () => {
    // Raised together, these share a group commit and usually the same raisedAt.
    const raised = await Promise.all(Array.from({ length: 6 }, async () => await emergency(patient())))
    const all = (await list('?status=open&limit=500')).items as Json[]
    const times = all.map(a => Date.parse(a.raisedAt))
    for (let i = 1; i < times.length; i++) expect(times[i - 1]).toBeGreaterThanOrEqual(times[i])
    for (const d of raised) expect(all.map(a => a.id)).toContain(d.alertId)
    const seen: string[] = []
    let cursor: string | null = null
    for (let page = 0; page < 100; page++) {
      const body = await list(`?status=open&limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)
      seen.push(...(body.items as Json[]).map(a => a.id))
      cursor = body.nextCursor
      if (cursor === null) break
    }
    expect(new Set(seen).size).toBe(seen.length)
    expect(seen).toEqual(all.map(a => a.id))
  })
})

describe('POST /v1/alerts/{id}/review: the note', () => {
  it('is accepted as reviewNote too (its name on the alert); both at once is a 400', async () => {
    const first = await emergency(nhsNumbers(1, 901)[0])
    const res = await review(first.alertId as string, { reviewNote: 'Justified: unconscious on arrival' })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({ status: 'reviewed', reviewNote: 'Justified: unconscious on arrival' })
    const second = await emergency(nhsNumbers(1, 902)[0])
    expectProblem(await review(second.alertId as string, { note: 'a', reviewNote: 'b' }), 400)
  })
})

describe('who raised it, who reviews it (SPEC §2 "Who asked")', () => {
  it('the alert names the end user who opened the record; GET /v1/alerts shows it, and reviewedByUser', async () => {
    const nhs = patient()
    const d = await emergency(nhs)
    const alert = ((await list('?status=open&limit=500', auditor)).items as Json[]).find(a => a.id === d.alertId)
    expect(alert).toMatchObject({ clientId: ed.id, endUser: clinician })
    expect(alert?.reviewedByUser ?? null).toBeNull()
    const res = await review(d.alertId as string, { note: 'Justified', endUser: reviewer })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({ endUser: clinician, reviewedBy: officer.id, reviewedByUser: reviewer })
    const listed = ((await list('?status=reviewed&limit=500', auditor)).items as Json[]).find(a => a.id === d.alertId)
    expect(listed).toMatchObject({ endUser: clinician, reviewedByUser: reviewer })
  })

  it(
    'the raising client cannot review its own alert (403), even holding audit:review; the refusal is ' +
      'audited and the alert stays open',
    async () => {
      const selfReviewing = await clientWithToken(t.app, {
        scopes: ['consent:check', 'audit:read', 'audit:review'],
        purposes: ['unplanned-care'],
        name: 'ED with its own review desk'
      })
      const d = await emergency(patient(), 'Unconscious', selfReviewing.auth)
      const res = await review(d.alertId as string, { note: 'Fine by us', endUser: reviewer }, selfReviewing.auth)
      const body = expectProblem(res, 403)
      expect(body.detail).toMatch(/client that raised it/)
      expect(((await list('?status=open&limit=500')).items as Json[]).map(a => a.id)).toContain(d.alertId)
      const row = await storeOf(t.app).auditRowsOfType('alert.reviewed')
      const events = await Promise.all(row.map(async r => await storeOf(t.app).auditRow(r.id)))
      expect(events.find(e => e?.requestId === res.headers['x-request-id'])).toMatchObject({
        clientId: selfReviewing.id,
        outcome: 'self-review-client'
      })
      // Someone else may.
      expect((await review(d.alertId as string, { note: 'Justified', endUser: reviewer })).statusCode).toBe(200)
    }
  )

  it('the same end user cannot review (403), from any client; another person can', async () => {
    const d = await emergency(patient())
    const same = await review(d.alertId as string, { note: 'I was there', endUser: { id: clinician.id } })
    const body = expectProblem(same, 403, { path: '/endUser/id' })
    expect(body.detail).toMatch(/person who opened the record/)
    expect(((await list('?status=open&limit=500')).items as Json[]).map(a => a.id)).toContain(d.alertId)
    const res = await review(d.alertId as string, { note: 'Justified', endUser: reviewer })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({ status: 'reviewed', reviewedByUser: reviewer })
  })

  it('the alert.reviewed event names the reviewing client, person and correlation id', async () => {
    const d = await emergency(patient())
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/alerts/${String(d.alertId)}/review`,
      headers: { ...officer.auth, 'x-correlation-id': 'ig-review-2026-12' },
      payload: { note: 'Reviewed with the ED lead', endUser: reviewer }
    })
    expect(res.statusCode, res.body).toBe(200)
    const rows = await storeOf(t.app).auditRowsOfType('alert.reviewed')
    const events = await Promise.all(rows.map(async r => await storeOf(t.app).auditRow(r.id)))
    const event = events.find(e => e?.requestId === res.headers['x-request-id'])
    expect(event).toMatchObject({ clientId: officer.id, outcome: 'reviewed', correlationId: 'ig-review-2026-12' })
    expect(JSON.parse(String(event?.endUser))).toEqual(reviewer)
  })

  it('filters by raisedAt with from and to (inclusive); a bad time is a 400 naming the field', async () => {
    const d = await emergency(patient())
    const raisedAt = Date.parse(
      ((await list('?limit=500')).items as Json[]).find(a => a.id === d.alertId)?.raisedAt as string
    )
    const at = (ms: number): string => encodeURIComponent(new Date(ms).toISOString())
    const ids = async (query: string): Promise<string[]> =>
      ((await list(`?limit=500&${query}`)).items as Json[]).map(a => a.id as string)
    expect(await ids(`from=${at(raisedAt)}&to=${at(raisedAt)}`)).toContain(d.alertId)
    expect(await ids(`from=${at(raisedAt + 1)}`)).not.toContain(d.alertId)
    expect(await ids(`to=${at(raisedAt - 1)}`)).not.toContain(d.alertId)
    expect(await ids('to=2000-01-01')).toEqual([])
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/alerts?from=yesterday', headers: officer.auth }), 400, {
      path: 'querystring:/from'
    })
  })
})
