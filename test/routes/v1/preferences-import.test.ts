// POST /v1/preferences/import (SPEC §2, §3): NDJSON with purpose + decision or GP Read codes,
// idempotent by externalId, bad lines rejected one by one, choices used at once, one audit event.
// The whole file runs in a zone that is not UTC (Europe/London, UTC+1 in summer): times must mean
// the same instant whatever zone the server runs in.
import { beforeAll, describe, expect, it } from 'vitest'
import { GP_CODES } from '../../../src/domain/preferences.ts'
import { clientWithToken, nhsNumbers, useTestApp, type Auth } from '../../helpers/app.ts'

// Before any test runs (imports only define things): Node applies a change of TZ at once.
process.env.TZ = 'Europe/London'

describe('POST /v1/preferences/import', () => {
  const t = useTestApp()
  let auth: Auth
  const importBody = async (
    body: string,
    who = auth,
    type = 'application/x-ndjson'
  ): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/preferences/import',
      headers: { ...who, 'content-type': type },
      payload: body
    })
    return { status: res.statusCode, json: res.json() }
  }
  const decide = async (nhsNumber: string, purpose: string, pointOfCare?: unknown): Promise<Record<string, unknown>> =>
    (
      await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: auth,
        // A point-of-care question names the person who asked the patient (SPEC §2 "Who asked").
        payload: {
          nhsNumber,
          purpose,
          ...(pointOfCare !== undefined ? { pointOfCare, endUser: { id: '555021935107' } } : {})
        }
      })
    ).json()

  beforeAll(async () => {
    auth = (await clientWithToken(t.app)).auth
  })

  it('maps every GP Read code of SPEC §2 to its purpose and decision, used as soon as the import answers', async () => {
    const patients = nhsNumbers(Object.keys(GP_CODES).length, 3)
    const lines = Object.keys(GP_CODES).map((code, i) =>
      JSON.stringify({ externalId: `gp-${code}`, nhsNumber: patients[i], code, effectiveFrom: '2020-01-01' })
    )
    const res = await importBody(lines.join('\n') + '\n')
    expect(res.json).toMatchObject({ imported: lines.length, skipped: 0, rejected: [] })
    for (const [i, code] of Object.keys(GP_CODES).entries()) {
      const history = (
        await t.app.inject({ method: 'GET', url: `/v1/patients/${patients[i]}/preferences`, headers: auth })
      ).json()
      expect(history.current).toEqual([
        expect.objectContaining({
          purpose: GP_CODES[code].purpose,
          decision: GP_CODES[code].decision,
          effectiveFrom: '2020-01-01T00:00:00.000Z'
        })
      ])
    }
    const index = Object.keys(GP_CODES).indexOf('9Nu4')
    expect(await decide(patients[index], 'gp-data-secondary-use')).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference'
    })
    const scrDissent = Object.keys(GP_CODES).indexOf('9Ndo')
    expect(await decide(patients[scrDissent], 'summary-care-record', { permissionToView: 'granted' })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference'
    })
  })

  it('is idempotent by externalId: a re-run skips what was loaded and loads only what is new', async () => {
    const [a, b, c] = nhsNumbers(3, 4)
    const first = [
      { externalId: 'run-1', nhsNumber: a, purpose: 'planning-research', decision: 'deny' },
      { externalId: 'run-2', nhsNumber: b, purpose: 'planning-research', decision: 'deny' }
    ]
    expect((await importBody(first.map(l => JSON.stringify(l)).join('\n'))).json).toMatchObject({
      imported: 2,
      skipped: 0
    })
    const again = [...first, { externalId: 'run-3', nhsNumber: c, purpose: 'planning-research', decision: 'deny' }]
    expect((await importBody(again.map(l => JSON.stringify(l)).join('\n'))).json).toMatchObject({
      imported: 1,
      skipped: 2
    })
    const history = (await t.app.inject({ method: 'GET', url: `/v1/patients/${a}/preferences`, headers: auth })).json()
    expect(history.history).toHaveLength(1)
    expect(history.history[0]).toMatchObject({ externalId: 'run-1', source: 'import' })
  })

  it('rejects bad lines one by one with line numbers and what is wrong, and loads the rest', async () => {
    const [good1, good2] = nhsNumbers(2, 5)
    const lines = [
      JSON.stringify({ externalId: 'ok-1', nhsNumber: good1, code: '9Nu0' }),
      'not json',
      JSON.stringify({ externalId: 'bad-nhs', nhsNumber: '9434765918', code: '9Nu0' }),
      JSON.stringify({ externalId: 'bad-code', nhsNumber: good1, code: '9XX9' }),
      '',
      JSON.stringify({ externalId: 'bad-purpose', nhsNumber: good1, purpose: 'no-such-purpose', decision: 'deny' }),
      JSON.stringify({ nhsNumber: good1, code: '9Nu0' }),
      JSON.stringify({
        externalId: 'both',
        nhsNumber: good1,
        code: '9Nu0',
        purpose: 'planning-research',
        decision: 'deny'
      }),
      JSON.stringify({ externalId: 'bad-date', nhsNumber: good1, code: '9Nu0', effectiveFrom: 'yesterday' }),
      JSON.stringify({ externalId: 'bad-source', nhsNumber: good1, code: '9Nu0', source: 'fax' }),
      JSON.stringify({ externalId: 'extra', nhsNumber: good1, code: '9Nu0', colour: 'blue' }),
      JSON.stringify({
        externalId: 'ok-2',
        nhsNumber: good2,
        purpose: 'planning-research',
        decision: 'deny',
        source: 'paper-form',
        recordedBy: { odsCode: 'B82005', proxyRole: 'parent' }
      })
    ]
    const res = await importBody(lines.join('\r\n'))
    expect(res.status).toBe(200)
    expect(res.json.imported).toBe(2)
    expect(res.json.rejectedCount).toBe(9)
    const rejected = res.json.rejected as Array<{ line: number; error: string }>
    expect(rejected.map(r => r.line)).toEqual([2, 3, 4, 6, 7, 8, 9, 10, 11])
    expect(rejected[0].error).toMatch(/not valid JSON/)
    expect(rejected[1].error).toMatch(/check digit/)
    expect(rejected[2].error).toMatch(/unknown GP code '9XX9'/)
    expect(rejected[3].error).toMatch(/unknown purpose/)
    expect(rejected[4].error).toMatch(/externalId/)
    expect(rejected[5].error).toMatch(/either code or purpose/)
    expect(rejected[6].error).toMatch(/effectiveFrom/)
    expect(rejected[7].error).toMatch(/source/)
    expect(rejected[8].error).toMatch(/unknown field 'colour'/)
    expect(await decide(good2, 'planning-research')).toMatchObject({ decision: 'deny' })
  })

  it('records one audit event with the counts', async () => {
    const [p] = nhsNumbers(1, 6)
    const res = await importBody(JSON.stringify({ externalId: 'audit-1', nhsNumber: p, code: '9Nu4' }) + '\nbroken\n')
    const events = (await t.app.inject({ method: 'GET', url: '/v1/audit?type=import', headers: auth })).json()
      .items as Array<{ id: string; details: Record<string, unknown> }>
    const event = events.find(e => e.id === res.json.auditId)
    expect(event?.details).toMatchObject({ imported: 1, skipped: 0, rejected: 1, lines: 2 })
  })

  describe('imports in the patient\'s trail (SPEC §3 "Audit")', () => {
    const trail = async (nhsNumber: string, query = ''): Promise<Array<Record<string, any>>> => {
      const res = await t.app.inject({ method: 'GET', url: `/v1/audit?nhsNumber=${nhsNumber}${query}`, headers: auth })
      expect(res.statusCode, res.body).toBe(200)
      return res.json().items
    }
    const auditEvent = async (id: string): Promise<Record<string, any>> => {
      const items = (
        await t.app.inject({ method: 'GET', url: '/v1/audit?type=import&limit=500', headers: auth })
      ).json().items as Array<Record<string, any>>
      const found = items.find(e => e.id === id)
      expect(found, id).toBeDefined()
      return found as Record<string, any>
    }

    it("an imported choice is in the patient's trail: the import's start event, which its rows name", async () => {
      const [a, b, untouched] = nhsNumbers(3, 61)
      const lines = [
        { externalId: 'trail-a', nhsNumber: a, code: '9Ndm' },
        { externalId: 'trail-b', nhsNumber: b, purpose: 'planning-research', decision: 'deny' }
      ]
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/preferences/import',
        headers: { ...auth, 'content-type': 'application/x-ndjson', 'x-correlation-id': 'emis-migration-7' },
        payload: lines.map(l => JSON.stringify(l)).join('\n')
      })
      expect(res.statusCode, res.body).toBe(200)
      const completion = await auditEvent(res.json().auditId)
      expect(completion).toMatchObject({
        outcome: 'complete',
        correlationId: 'emis-migration-7',
        details: { imported: 2, startEventId: expect.any(String) }
      })
      const start = await auditEvent(completion.details.startEventId)
      expect(start).toMatchObject({
        type: 'import',
        outcome: 'started',
        clientId: expect.any(String),
        clientName: 'Test client',
        correlationId: 'emis-migration-7',
        requestId: res.headers['x-request-id']
      })
      // Committed before the first batch: earlier in the log than the completion.
      expect(Date.parse(start.at)).toBeLessThanOrEqual(Date.parse(completion.at))
      for (const nhs of [a, b]) expect((await trail(nhs)).map(e => e.id)).toEqual([start.id])
      expect(await trail(a, '&type=import')).toEqual([start])
      expect(await trail(untouched)).toEqual([])
      // The Read code stays on the record (implied and express SCR consent differ).
      const history = (
        await t.app.inject({ method: 'GET', url: `/v1/patients/${a}/preferences`, headers: auth })
      ).json().history
      expect(history[0]).toMatchObject({ externalId: 'trail-a', sourceCode: '9Ndm' })
    })

    it('a re-run that skips a loaded line leaves that choice with the import that loaded it', async () => {
      const [a, b] = nhsNumbers(2, 62)
      const body = (lines: object[]): string => lines.map(l => JSON.stringify(l)).join('\n')
      const first = await importBody(body([{ externalId: 'again-a', nhsNumber: a, code: '9Nu4' }]))
      const second = await importBody(
        body([
          { externalId: 'again-a', nhsNumber: a, code: '9Nu4' },
          { externalId: 'again-b', nhsNumber: b, code: '9Nu4' }
        ])
      )
      expect(second.json).toMatchObject({ imported: 1, skipped: 1 })
      const firstStart = (await auditEvent(first.json.auditId as string)).details.startEventId
      const secondStart = (await auditEvent(second.json.auditId as string)).details.startEventId
      expect((await trail(a)).map(e => e.id)).toEqual([firstStart])
      expect((await trail(b)).map(e => e.id)).toEqual([secondStart])
    })

    it("a patient's trail pages newest first over their own events and their imports together", async () => {
      const [p] = nhsNumbers(1, 63)
      const starts: string[] = []
      for (let i = 0; i < 3; i++) {
        await decide(p, 'planned-care')
        const res = await importBody(JSON.stringify({ externalId: `paged-${i}`, nhsNumber: p, code: '9Nu4' }))
        starts.push((await auditEvent(res.json.auditId as string)).details.startEventId)
        await decide(p, 'planning-research')
      }
      const all = await trail(p)
      expect(all.map(e => e.type)).toEqual([
        'decision',
        'import',
        'decision',
        'decision',
        'import',
        'decision',
        'decision',
        'import',
        'decision'
      ])
      expect(all.filter(e => e.type === 'import').map(e => e.id)).toEqual([...starts].reverse())
      for (const size of [1, 2, 4]) {
        const seen: string[] = []
        let cursor: string | null = null
        do {
          const query: string = `&limit=${size}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`
          const res = await t.app.inject({ method: 'GET', url: `/v1/audit?nhsNumber=${p}${query}`, headers: auth })
          const page = res.json()
          expect(page.items.length).toBeLessThanOrEqual(size)
          seen.push(...page.items.map((e: { id: string }) => e.id))
          cursor = page.nextCursor
        } while (cursor !== null)
        expect(seen, `pages of ${size}`).toEqual(all.map(e => e.id))
      }
      // The other filters apply to the imports as to the rest.
      expect((await trail(p, '&type=import')).map(e => e.id)).toEqual([...starts].reverse())
      expect(await trail(p, '&type=import&to=2000-01-01')).toEqual([])
    })

    it('an admin registered only for planned-care cannot import a planning-research opt-out or 9Nu0', async () => {
      const admin = (await clientWithToken(t.app, { scopes: ['admin'], purposes: ['planned-care'] })).auth
      const [planned, research, type1, nda] = nhsNumbers(4, 64)
      const lines = [
        { externalId: 'pc-1', nhsNumber: planned, purpose: 'planned-care', decision: 'deny' },
        { externalId: 'pc-2', nhsNumber: research, purpose: 'planning-research', decision: 'deny' },
        { externalId: 'pc-3', nhsNumber: type1, code: '9Nu0' },
        { externalId: 'pc-4', nhsNumber: nda, code: '9Nu4' }
      ]
      const res = await importBody(lines.map(l => JSON.stringify(l)).join('\n'), admin)
      expect(res.status).toBe(200)
      expect(res.json).toMatchObject({
        imported: 1,
        rejectedCount: 3,
        rejected: [
          { line: 2, error: "this client is not registered for purpose 'planning-research'" },
          { line: 3, error: "this client is not registered for purpose 'gp-data-secondary-use'" },
          { line: 4, error: "this client is not registered for purpose 'planning-research'" }
        ]
      })
      const history = async (nhs: string): Promise<unknown[]> =>
        (await t.app.inject({ method: 'GET', url: `/v1/patients/${nhs}/preferences`, headers: auth })).json().history
      expect(await history(planned)).toHaveLength(1)
      for (const nhs of [research, type1, nda]) expect(await history(nhs)).toEqual([])
      expect(await decide(research, 'planning-research')).toMatchObject({ decision: 'permit' })
    })
  })

  it('loads thousands of lines in batches', async () => {
    const patients = nhsNumbers(12_000, 7)
    const body = patients
      .map((n, i) => JSON.stringify({ externalId: `bulk-${i}`, nhsNumber: n, code: i % 2 === 0 ? '9Nu4' : '9Nu0' }))
      .join('\n')
    const res = await importBody(body)
    expect(res.json).toMatchObject({ imported: 12_000, skipped: 0, rejectedCount: 0 })
    expect(await decide(patients[11_998], 'planning-research')).toMatchObject({ decision: 'deny' })
    expect(await decide(patients[11_999], 'planning-research')).toMatchObject({ decision: 'permit' })
    // A choice of the last batch is in its patient's trail through the one start event.
    const trail = (
      await t.app.inject({ method: 'GET', url: `/v1/audit?nhsNumber=${patients[11_999]}&type=import`, headers: auth })
    ).json().items as Array<{ outcome: string }>
    expect(trail.map(e => e.outcome)).toEqual(['started'])
  })

  describe("effectiveFrom is read as every other time a caller gives, whatever the server's zone", () => {
    const history = async (nhsNumber: string): Promise<Array<Record<string, unknown>>> =>
      (await t.app.inject({ method: 'GET', url: `/v1/patients/${nhsNumber}/preferences`, headers: auth })).json()
        .history
    const filterPermits = async (nhsNumber: string, asOf: string): Promise<{ status: number; body: string }> => {
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/filter?purpose=planning-research&asOf=${encodeURIComponent(asOf)}`,
        headers: { ...auth, 'content-type': 'text/plain' },
        payload: `${nhsNumber}\n`
      })
      return { status: res.statusCode, body: res.body }
    }

    it('runs in a zone that is not UTC, so a local reading of a time would show', () => {
      expect(new Date(2019, 6, 1, 10).toISOString()).toBe('2019-07-01T09:00:00.000Z')
    })

    it('a date alone is midnight UTC; a date-time is the instant its zone says', async () => {
      const [dateOnly, withOffset, withZ] = nhsNumbers(3, 41)
      const lines = [
        { externalId: 'tz-date', nhsNumber: dateOnly, code: '9Nu4', effectiveFrom: '2019-07-01' },
        { externalId: 'tz-offset', nhsNumber: withOffset, code: '9Nu4', effectiveFrom: '2019-07-01T10:00+01:00' },
        { externalId: 'tz-z', nhsNumber: withZ, code: '9Nu4', effectiveFrom: '2019-07-01T10:00:00Z' }
      ]
      const res = await importBody(lines.map(l => JSON.stringify(l)).join('\n'))
      expect(res.json).toMatchObject({ imported: 3, rejectedCount: 0 })
      expect((await history(dateOnly))[0].effectiveFrom).toBe('2019-07-01T00:00:00.000Z')
      expect((await history(withOffset))[0].effectiveFrom).toBe('2019-07-01T09:00:00.000Z')
      expect((await history(withZ))[0].effectiveFrom).toBe('2019-07-01T10:00:00.000Z')
    })

    it('a zone-less date-time or an impossible date is a rejected line naming effectiveFrom', async () => {
      const [zoneLess, impossible, notADate, good] = nhsNumbers(4, 42)
      const lines = [
        { externalId: 'tz-zoneless', nhsNumber: zoneLess, code: '9Nu4', effectiveFrom: '2019-07-01T10:00' },
        { externalId: 'tz-feb-30', nhsNumber: impossible, code: '9Nu4', effectiveFrom: '2021-02-30' },
        { externalId: 'tz-number', nhsNumber: notADate, code: '9Nu4', effectiveFrom: 20190701 },
        { externalId: 'tz-good', nhsNumber: good, code: '9Nu4', effectiveFrom: '2021-02-28' }
      ]
      const res = await importBody(lines.map(l => JSON.stringify(l)).join('\n'))
      expect(res.json).toMatchObject({
        imported: 1,
        rejectedCount: 3,
        rejected: [
          { line: 1, error: expect.stringMatching(/^effectiveFrom: .*zone/) },
          { line: 2, error: 'effectiveFrom: 2021-02-30 is not a calendar date' },
          { line: 3, error: expect.stringMatching(/^effectiveFrom must be an ISO 8601 date/) }
        ]
      })
      // Nothing stored for the rejected lines (2021-02-30 is not rolled over to 2 March).
      expect(await history(zoneLess)).toEqual([])
      expect(await history(impossible)).toEqual([])
      expect((await history(good))[0].effectiveFrom).toBe('2021-02-28T00:00:00.000Z')
    })

    it('the filter reads asOf alike: a date is midnight UTC; zone-less or impossible is a 400', async () => {
      // An opt-out from a date: in effect from midnight UTC, not from midnight in London (23:00Z the day before).
      const [patient] = nhsNumbers(1, 43)
      const line = { externalId: 'tz-future', nhsNumber: patient, code: '9Nu4', effectiveFrom: '2099-06-01' }
      expect((await importBody(JSON.stringify(line))).json).toMatchObject({ imported: 1 })
      expect(await filterPermits(patient, '2099-05-31T23:30:00Z')).toEqual({ status: 200, body: `${patient}\n` })
      expect(await filterPermits(patient, '2099-06-01')).toEqual({ status: 200, body: '' })
      expect(await filterPermits(patient, '2099-05-31')).toEqual({ status: 200, body: `${patient}\n` })
      for (const [asOf, says] of [
        // The route's schema (INSTANT_PATTERN) or parseInstant refuses it, as for every other time.
        ['2099-06-01T00:30', /zone|ISO 8601 date/],
        ['2021-02-30', /2021-02-30 is not a calendar date/]
      ] as const) {
        const res = await filterPermits(patient, asOf)
        expect(res.status, asOf).toBe(400)
        expect((JSON.parse(res.body) as { errors: unknown }).errors).toEqual([
          { path: 'querystring:/asOf', message: expect.stringMatching(says) }
        ])
      }
    })
  })

  it('needs the admin scope and an NDJSON body', async () => {
    const writer = (await clientWithToken(t.app, { scopes: ['consent:write'] })).auth
    expect((await importBody('{}', writer)).status).toBe(403)
    expect((await importBody('{"externalId":"x"}', auth, 'application/json')).status).toBe(415)
    expect((await importBody('x', auth, 'text/plain')).status).toBe(415)
  })
})
