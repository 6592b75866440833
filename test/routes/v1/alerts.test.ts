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

const t = useTestApp()
let ed: TestCaller
let officer: TestCaller
let auditor: Auth
const patient = patientSupply(40, 53)

async function emergency (nhsNumber: string, reason = 'Patient unconscious on arrival'): Promise<Json> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/decisions',
    headers: ed.auth,
    payload: { nhsNumber, purpose: 'summary-care-record', pointOfCare: { permissionToView: 'unable-to-ask', reason } }
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
    for (const body of [{}, { note: '' }, { note: '   ' }, { note: 'ok', extra: 1 }]) {
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
