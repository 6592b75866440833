// The audit trail over HTTP (SPEC §3, §7): filters, newest-first cursor paging, and verification of
// the hash chains, including edits and deletions made directly in the database.
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import { verifyAuditLog } from '../../../src/store/audit-log.ts'
import {
  buildTestApp,
  clientWithToken,
  expectProblem,
  nhsNumbers,
  signAssertion,
  tokenFor,
  tokenForm,
  useTestApp,
  type Auth,
  type Json,
  type TestApp,
  type TestCaller as Caller
} from '../../helpers/app.ts'
import { storeOf } from '../../helpers/store.ts'
import { fhirProblems } from '../../helpers/fhir.ts'

const t = useTestApp()
let alice: Caller
let bob: Caller
const [p1, p2, p3] = nhsNumbers(3, 37)

async function get (app: TestApp, url: string, auth: Auth): Promise<LightMyRequestResponse> {
  return await app.app.inject({ method: 'GET', url, headers: auth })
}

async function items (url: string, auth = alice.auth): Promise<Json[]> {
  const res = await get(t, url, auth)
  expect(res.statusCode, res.body).toBe(200)
  return res.json().items
}

async function decide (app: TestApp, caller: Caller, nhsNumber: string, purpose: string): Promise<Json> {
  const res = await app.app.inject({
    method: 'POST',
    url: '/v1/decisions',
    headers: caller.auth,
    payload: { nhsNumber, purpose }
  })
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

const sleep = async (ms: number): Promise<void> => {
  await new Promise(resolve => setTimeout(resolve, ms))
}

beforeAll(async () => {
  alice = await clientWithToken(t.app)
  bob = await clientWithToken(t.app)
  const rec = await t.app.inject({
    method: 'POST',
    url: `/v1/patients/${p1}/preferences`,
    headers: alice.auth,
    payload: { purpose: 'planning-research', decision: 'deny', source: 'gp-practice' }
  })
  expect(rec.statusCode).toBe(201)
  for (const [caller, nhs, purpose] of [
    [alice, p1, 'planning-research'],
    [bob, p1, 'planned-care'],
    [alice, p2, 'planned-care'],
    [bob, p2, 'gp-data-secondary-use'],
    [bob, p3, 'planning-research'],
    [alice, p3, 'unplanned-care']
  ] as const) {
    await decide(t, caller, nhs, purpose)
    await sleep(3) // distinct timestamps for the from/to filters
  }
})

describe('GET /v1/audit', () => {
  it('answers { items, nextCursor } with events of the SPEC §3 shape', async () => {
    const res = await get(t, '/v1/audit', alice.auth)
    expect(res.statusCode, res.body).toBe(200)
    const body = res.json()
    expect(body).toHaveProperty('nextCursor')
    const e = (body.items as Json[]).find(x => x.type === 'decision')
    expect(e).toMatchObject({
      id: expect.any(String),
      at: expect.any(String),
      type: 'decision',
      clientId: expect.any(String),
      requestId: expect.any(String),
      nhsNumber: expect.any(String),
      purpose: expect.any(String),
      outcome: expect.any(String),
      details: expect.any(Object),
      prevHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/)
    })
  })

  it('filters by nhsNumber (any accepted form) and rejects an invalid one', async () => {
    const events = await items(`/v1/audit?nhsNumber=${p1}`)
    expect(events.length).toBe(3) // the preference and two decisions
    expect(events.every(e => e.nhsNumber === p1)).toBe(true)
    expect(new Set(events.map(e => e.type))).toEqual(new Set(['decision', 'preference.recorded']))
    const spaced = encodeURIComponent(`${p1.slice(0, 3)} ${p1.slice(3, 6)} ${p1.slice(6)}`)
    expect((await items(`/v1/audit?nhsNumber=${spaced}`)).map(e => e.id)).toEqual(events.map(e => e.id))
    expectProblem(await get(t, '/v1/audit?nhsNumber=9434765918', alice.auth), 400, { path: 'querystring:/nhsNumber' })
  })

  it('filters by clientId', async () => {
    const events = await items(`/v1/audit?clientId=${bob.id}`)
    expect(events.filter(e => e.type === 'decision')).toHaveLength(3)
    expect(events.every(e => e.clientId === bob.id)).toBe(true)
  })

  it('filters by type, and rejects an unknown type', async () => {
    const decisions = await items('/v1/audit?type=decision')
    expect(decisions).toHaveLength(6)
    expect(decisions.every(e => e.type === 'decision')).toBe(true)
    const recorded = await items('/v1/audit?type=preference.recorded')
    expect(recorded.map(e => e.nhsNumber)).toEqual([p1])
    const combined = await items(`/v1/audit?type=decision&clientId=${alice.id}&nhsNumber=${p3}`)
    expect(combined.map(e => [e.clientId, e.nhsNumber, e.purpose])).toEqual([[alice.id, p3, 'unplanned-care']])
    expect((await get(t, '/v1/audit?type=coffee', alice.auth)).statusCode).toBe(400)
  })

  it('filters by from and to (inclusive)', async () => {
    const all = await items('/v1/audit?type=decision')
    const times = all.map(e => Date.parse(e.at))
    const mid = all[2].at
    const from = await items(`/v1/audit?type=decision&from=${encodeURIComponent(mid)}`)
    expect(from.map(e => e.id)).toEqual(all.filter((_, i) => times[i] >= Date.parse(mid)).map(e => e.id))
    expect(from.map(e => e.id)).toContain(all[2].id)
    const to = await items(`/v1/audit?type=decision&to=${encodeURIComponent(mid)}`)
    expect(to.map(e => e.id)).toEqual(all.filter((_, i) => times[i] <= Date.parse(mid)).map(e => e.id))
    expect(to.map(e => e.id)).toContain(all[2].id)
    const window = await items(
      `/v1/audit?type=decision&from=${encodeURIComponent(all[4].at)}&to=${encodeURIComponent(all[1].at)}`
    )
    expect(window.map(e => e.id)).toEqual([all[1].id, all[2].id, all[3].id, all[4].id])
    expect(await items('/v1/audit?from=2099-01-01T00:00:00Z')).toEqual([])
    expect((await get(t, '/v1/audit?from=yesterday', alice.auth)).statusCode).toBe(400)
  })

  it('takes a plain date in from and to as its midnight UTC, and a time without seconds, as asOf does', async () => {
    const all = await items('/v1/audit?type=decision')
    const ids = (events: Json[]): string[] => events.map(e => e.id)
    const oldestDay = all[all.length - 1].at.slice(0, 10)
    const midnight = Date.parse(`${oldestDay}T00:00:00Z`)
    const res = await get(t, `/v1/audit?type=decision&from=${oldestDay}`, alice.auth)
    expect(res.statusCode, res.body).toBe(200)
    expect(ids(res.json().items)).toEqual(ids(all.filter(e => Date.parse(e.at) >= midnight)))
    expect(ids(await items(`/v1/audit?type=decision&to=${oldestDay}`))).toEqual(
      ids(all.filter(e => Date.parse(e.at) <= midnight))
    )
    expect(await items(`/v1/audit?type=decision&to=${oldestDay}`)).toEqual([])
    const dayAfterNewest = new Date(Date.parse(all[0].at) + 86_400_000).toISOString().slice(0, 10)
    expect(await items(`/v1/audit?type=decision&from=${dayAfterNewest}`)).toEqual([])
    // A minute: from its first millisecond.
    const minute = `${all[2].at.slice(0, 16)}Z`
    expect(ids(await items(`/v1/audit?type=decision&from=${encodeURIComponent(minute)}`))).toEqual(
      ids(all.filter(e => Date.parse(e.at) >= Date.parse(minute)))
    )
  })

  it('refuses impossible dates in from and to (never rolled over to the next month), naming the field', async () => {
    const impossible = ['2021-02-30T00:00:00Z', '2021-04-31T12:00:00Z', '2021-02-29T00:00:00Z', '2021-01-01T24:00:00Z']
    for (const field of ['from', 'to']) {
      for (const value of impossible) {
        const res = await get(t, `/v1/audit?${field}=${encodeURIComponent(value)}`, alice.auth)
        expect(res.statusCode, `${field}=${value}`).toBe(400)
        expect(res.json().errors).toEqual([expect.objectContaining({ path: `querystring:/${field}` })])
      }
    }
    // A leap day is a calendar date.
    expect((await get(t, '/v1/audit?from=2024-02-29T00:00:00Z', alice.auth)).statusCode).toBe(200)
  })

  it('lists newest first', async () => {
    const all = await items('/v1/audit?limit=500')
    const times = all.map(e => Date.parse(e.at))
    for (let i = 1; i < times.length; i++) expect(times[i - 1]).toBeGreaterThanOrEqual(times[i])
    const last = await decide(t, alice, p2, 'planning-research')
    expect((await items('/v1/audit?limit=1'))[0].id).toBe(last.auditId)
  })

  it('cursor paging returns disjoint pages that together cover every event', async () => {
    const all = await items('/v1/audit?limit=500')
    expect(all.length).toBeGreaterThan(7)
    const seen: string[] = []
    let url = '/v1/audit?limit=3'
    let pages = 0
    for (;;) {
      const res = await get(t, url, alice.auth)
      expect(res.statusCode, res.body).toBe(200)
      const body = res.json()
      expect(body.items.length).toBeLessThanOrEqual(3)
      seen.push(...body.items.map((e: Json) => e.id))
      pages++
      if (body.nextCursor === null) break
      url = `/v1/audit?limit=3&cursor=${encodeURIComponent(body.nextCursor)}`
      expect(pages).toBeLessThan(100)
    }
    expect(new Set(seen).size).toBe(seen.length)
    expect(seen).toEqual(all.map(e => e.id))
    expect(pages).toBe(Math.ceil(all.length / 3))
  })

  it('paging works together with a filter', async () => {
    const all = await items('/v1/audit?type=decision')
    const first = (await get(t, '/v1/audit?type=decision&limit=4', alice.auth)).json()
    expect(first.nextCursor).toEqual(expect.any(String))
    const second = (
      await get(t, `/v1/audit?type=decision&limit=4&cursor=${encodeURIComponent(first.nextCursor)}`, alice.auth)
    ).json()
    expect([...first.items, ...second.items].map((e: Json) => e.id)).toEqual(
      all.slice(0, first.items.length + second.items.length).map(e => e.id)
    )
  })

  it('a bad cursor is a 400 problem+json', async () => {
    for (const cursor of [
      '!!!',
      Buffer.from('abc').toString('base64url'),
      Buffer.from('1; DROP TABLE').toString('base64url')
    ]) {
      const res = await get(t, `/v1/audit?cursor=${encodeURIComponent(cursor)}`, alice.auth)
      expectProblem(res, 400, { path: 'querystring:/cursor' })
    }
  })

  it('needs audit:read', async () => {
    const token = await tokenFor(t.app, alice, 'consent:check')
    expect((await get(t, '/v1/audit', { authorization: `Bearer ${token}` })).statusCode).toBe(403)
    expect((await get(t, '/v1/audit/verify', { authorization: `Bearer ${token}` })).statusCode).toBe(403)
    expect((await t.app.inject({ method: 'GET', url: '/v1/audit' })).statusCode).toBe(401)
  })
})

describe('who asked, on every event (SPEC §3 "Audit")', () => {
  let ward: Caller
  const END_USER = { id: '555021935107', name: 'Dr Jane Example', role: 'R8000', organisation: 'RBD' }
  const [patient] = nhsNumbers(1, 38)
  const send = async (method: 'GET' | 'POST' | 'PATCH', url: string, correlationId: string, payload?: Json) =>
    await t.app.inject({
      method,
      url,
      headers: { ...ward.auth, 'x-correlation-id': correlationId },
      ...(payload !== undefined ? { payload } : {})
    })

  beforeAll(async () => {
    ward = await clientWithToken(t.app, {
      name: 'Dorset County Hospital ED',
      odsCode: 'RBD',
      purposes: ['planned-care', 'unplanned-care']
    })
  })

  it('every event carries client name, ODS code and correlation id (and the end user when there is one)', async () => {
    const token = await t.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-correlation-id': 'corr-token' },
      payload: new URLSearchParams(tokenForm(await signAssertion(ward))).toString()
    })
    expect(token.statusCode, token.body).toBe(200)
    const asked = [
      await send('POST', '/v1/decisions', 'corr-decision', {
        nhsNumber: patient,
        purpose: 'unplanned-care',
        endUser: END_USER
      }),
      await send('POST', `/v1/patients/${patient}/preferences`, 'corr-choice', {
        purpose: 'planned-care',
        decision: 'deny',
        source: 'gp-practice'
      }),
      await send('POST', '/v1/decisions', 'corr-refused', { nhsNumber: patient, purpose: 'planning-research' })
    ]
    expect(asked.map(r => r.statusCode)).toEqual([200, 201, 403])
    const imported = await t.app.inject({
      method: 'POST',
      url: '/v1/preferences/import',
      headers: { ...ward.auth, 'content-type': 'application/x-ndjson', 'x-correlation-id': 'corr-import' },
      payload: JSON.stringify({ externalId: 'who-1', nhsNumber: patient, purpose: 'planned-care', decision: 'permit' })
    })
    expect(imported.statusCode, imported.body).toBe(200)

    const events = await items(`/v1/audit?clientId=${ward.id}`)
    expect(events.map(e => [e.type, e.outcome, e.correlationId])).toEqual([
      ['import', 'complete', 'corr-import'],
      ['import', 'started', 'corr-import'],
      ['access.refused', 'refused', 'corr-refused'],
      ['preference.recorded', 'deny', 'corr-choice'],
      ['decision', 'permit', 'corr-decision'],
      ['token.issued', 'issued', 'corr-token'],
      // The token clientWithToken asked for, without a correlation id.
      ['token.issued', 'issued', null]
    ])
    for (const e of events) {
      expect(e, e.type).toMatchObject({
        clientId: ward.id,
        clientName: 'Dorset County Hospital ED',
        clientOdsCode: 'RBD',
        requestId: expect.any(String)
      })
      expect(e.endUser, e.type).toEqual(e.type === 'decision' ? END_USER : null)
    }
    expect(events[4].requestId).toBe(asked[0].headers['x-request-id'])
    expect(events[5].requestId).toBe(token.headers['x-request-id'])
    // The patient's own trail shows the same, the import's start event included.
    const trail = await items(`/v1/audit?nhsNumber=${patient}`)
    expect(trail.map(e => e.type)).toEqual(['import', 'access.refused', 'preference.recorded', 'decision'])
    expect(trail.every(e => e.clientName === 'Dorset County Hospital ED' && e.clientOdsCode === 'RBD')).toBe(true)
  })

  it("names the client as it was at that moment: a renamed client's earlier events keep the old name", async () => {
    const before = await decide(t, ward, patient, 'planned-care')
    const renamed = await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${ward.id}`,
      headers: alice.auth,
      payload: { name: 'Dorset ED (Emergency Village)', odsCode: 'RBDXY' }
    })
    expect(renamed.statusCode, renamed.body).toBe(200)
    const after = await decide(t, ward, patient, 'planned-care')
    const events = await items(`/v1/audit?clientId=${ward.id}&type=decision`)
    const byId = new Map(events.map(e => [e.id, e]))
    expect(byId.get(before.auditId)).toMatchObject({ clientName: 'Dorset County Hospital ED', clientOdsCode: 'RBD' })
    expect(byId.get(after.auditId)).toMatchObject({
      clientName: 'Dorset ED (Emergency Village)',
      clientOdsCode: 'RBDXY'
    })
    // FHIR shows each event's client as it was.
    const bundle = (
      await t.app.inject({
        method: 'GET',
        url: `/fhir/AuditEvent?patient.identifier=${encodeURIComponent(`https://fhir.nhs.uk/Id/nhs-number|${patient}`)}`,
        headers: alice.auth
      })
    ).json()
    const agentOf = (id: string): Json[] => bundle.entry.find((x: Json) => x.resource.id === id).resource.agent
    expect(agentOf(before.auditId)[0].who.display).toBe('Dorset County Hospital ED')
    expect(agentOf(before.auditId)[1].who.identifier.value).toBe('RBD')
    expect(agentOf(after.auditId)[0].who.display).toBe('Dorset ED (Emergency Village)')
    expect(agentOf(after.auditId)[1].who.identifier.value).toBe('RBDXY')
  })

  it('the FHIR AuditEvent names the end user as an agent of its own: SDS user ID, name and role', async () => {
    const decided = await t.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: ward.auth,
      payload: { nhsNumber: patient, purpose: 'unplanned-care', endUser: END_USER }
    })
    expect(decided.statusCode, decided.body).toBe(200)
    const bundle = (
      await t.app.inject({
        method: 'GET',
        url: `/fhir/AuditEvent?patient.identifier=${encodeURIComponent(`https://fhir.nhs.uk/Id/nhs-number|${patient}`)}`,
        headers: alice.auth
      })
    ).json()
    const event = bundle.entry.find((x: Json) => x.resource.id === decided.json().auditId).resource
    expect(fhirProblems(event)).toEqual([])
    expect(event.agent).toEqual([
      expect.objectContaining({
        who: expect.objectContaining({ identifier: expect.objectContaining({ value: ward.id }) }),
        requestor: true
      }),
      expect.objectContaining({ who: expect.objectContaining({ type: 'Organization' }) }),
      expect.objectContaining({
        who: {
          identifier: { system: 'https://fhir.nhs.uk/Id/sds-user-id', value: '555021935107' },
          display: 'Dr Jane Example'
        },
        role: [{ text: 'R8000' }],
        requestor: true
      })
    ])
  })
})

describe('GET /v1/audit/verify', () => {
  it('reports a valid log, the chains and the number of events checked', async () => {
    const res = await get(t, '/v1/audit/verify', alice.auth)
    expect(res.statusCode, res.body).toBe(200)
    const report = res.json()
    const count = await storeOf(t.app).countAuditEvents()
    expect(report).toEqual({ valid: true, checkedEvents: count, chains: expect.any(Number), firstBrokenLink: null })
    expect(report.chains).toBeGreaterThanOrEqual(1)
    expect(count).toBeGreaterThan(7)
  })
})

describe('tamper evidence (SPEC §7)', () => {
  // Each test breaks its own store.
  async function tamperApp (): Promise<{ app: TestApp; caller: Caller; decisions: Json[] }> {
    const app = await buildTestApp()
    const caller = await clientWithToken(app.app)
    const decisions: Json[] = []
    const [nhs] = nhsNumbers(1, 41)
    for (const purpose of [
      'planned-care',
      'unplanned-care',
      'planning-research',
      'gp-data-secondary-use',
      'planned-care'
    ]) {
      decisions.push(await decide(app, caller, nhs, purpose))
    }
    const ok = (await get(app, '/v1/audit/verify', caller.auth)).json()
    expect(ok.valid).toBe(true)
    return { app, caller, decisions }
  }

  it('an edited outcome breaks the chain at that event', async () => {
    const { app, caller, decisions } = await tamperApp()
    try {
      const target = decisions[2]
      const changed = await storeOf(app.app).tamper(
        'UPDATE "audit_events" SET "outcome" = ? WHERE "id" = ?',
        'deny',
        target.auditId
      )
      expect(changed).toBe(1)
      const res = await get(app, '/v1/audit/verify', caller.auth)
      expect(res.statusCode).toBe(200)
      const report = res.json()
      expect(report.valid).toBe(false)
      expect(report.firstBrokenLink).toMatchObject({
        eventId: target.auditId,
        chain: expect.any(String),
        reason: expect.stringMatching(/edited|hash/)
      })
      // The same verification the CLI's `audit verify` runs, straight on the store.
      const direct = await verifyAuditLog(app.app.runtime.db)
      expect(direct.valid).toBe(false)
      expect(direct.firstBrokenLink?.eventId).toBe(target.auditId)
    } finally {
      await app.close()
    }
  })

  it('an edited NHS number (hiding who was looked at) breaks the chain at that event', async () => {
    const { app, caller, decisions } = await tamperApp()
    try {
      const target = decisions[1]
      await storeOf(app.app).tamper(
        'UPDATE "audit_events" SET "nhsNumber" = ? WHERE "id" = ?',
        '9434765919',
        target.auditId
      )
      const report = (await get(app, '/v1/audit/verify', caller.auth)).json()
      expect(report.valid).toBe(false)
      expect(report.firstBrokenLink.eventId).toBe(target.auditId)
    } finally {
      await app.close()
    }
  })

  it('who asked is in the chain: editing or clearing clientName, endUser or correlationId breaks it', async () => {
    const app = await buildTestApp()
    try {
      const caller = await clientWithToken(app.app, { name: 'Dorset ED', odsCode: 'RBD' })
      const [nhs] = nhsNumbers(1, 42)
      const ids: string[] = []
      for (let i = 0; i < 3; i++) {
        const res = await app.app.inject({
          method: 'POST',
          url: '/v1/decisions',
          headers: { ...caller.auth, 'x-correlation-id': `corr-${i}` },
          payload: { nhsNumber: nhs, purpose: 'planned-care', endUser: { id: '555021935107', name: 'Dr A' } }
        })
        expect(res.statusCode, res.body).toBe(200)
        ids.push(res.json().auditId)
      }
      const verify = async (): Promise<Json> => (await get(app, '/v1/audit/verify', caller.auth)).json()
      // The events with the new fields verify as written.
      expect(await verify()).toMatchObject({ valid: true, firstBrokenLink: null })
      const target = ids[1]
      const row = await storeOf(app.app).auditRow(target)
      expect(row).toMatchObject({ clientName: 'Dorset ED', clientOdsCode: 'RBD', correlationId: 'corr-1' })
      const edits: Array<[string, unknown, unknown]> = [
        ['clientName', 'Some other system', row?.clientName],
        ['clientName', null, row?.clientName],
        ['clientOdsCode', 'X99', row?.clientOdsCode],
        ['endUser', JSON.stringify({ id: '999999999999' }), row?.endUser],
        ['endUser', null, row?.endUser],
        ['correlationId', 'corr-x', row?.correlationId],
        ['correlationId', null, row?.correlationId]
      ]
      for (const [column, value, original] of edits) {
        const set = `UPDATE "audit_events" SET "${column}" = ? WHERE "id" = ?`
        expect(await storeOf(app.app).tamper(set, value, target)).toBe(1)
        expect(await verify(), `${column} = ${String(value)}`).toMatchObject({
          valid: false,
          firstBrokenLink: { eventId: target, reason: expect.stringMatching(/edited/) }
        })
        await storeOf(app.app).tamper(set, original, target)
        expect((await verify()).valid, `${column} put back`).toBe(true)
      }
    } finally {
      await app.close()
    }
  })

  it('a deleted middle event is reported as a gap at the event after it', async () => {
    const { app, caller, decisions } = await tamperApp()
    try {
      const removed = await storeOf(app.app).tamper('DELETE FROM "audit_events" WHERE "id" = ?', decisions[2].auditId)
      expect(removed).toBe(1)
      const report = (await get(app, '/v1/audit/verify', caller.auth)).json()
      expect(report.valid).toBe(false)
      expect(report.firstBrokenLink).toMatchObject({
        eventId: decisions[3].auditId,
        reason: expect.stringMatching(/gap|missing/)
      })
      const direct = await verifyAuditLog(app.app.runtime.db)
      expect(direct.firstBrokenLink).toEqual(report.firstBrokenLink)
    } finally {
      await app.close()
    }
  })

  it('an event re-hashed after an edit still breaks the link to its successor', async () => {
    const { app, caller, decisions } = await tamperApp()
    try {
      const { hashEvent } = await import('../../../src/store/audit-chain.ts')
      const store = storeOf(app.app)
      const row = await store.auditRow(decisions[1].auditId)
      expect(row).not.toBeNull()
      const rehashed = hashEvent({ ...row!, outcome: 'deny' })
      const rehash = 'UPDATE "audit_events" SET "outcome" = ?, "hash" = ? WHERE "id" = ?'
      await store.tamper(rehash, 'deny', rehashed, row!.id)
      const report = (await get(app, '/v1/audit/verify', caller.auth)).json()
      expect(report.valid).toBe(false)
      expect(report.firstBrokenLink.eventId).toBe(decisions[2].auditId)
    } finally {
      await app.close()
    }
  })
})
