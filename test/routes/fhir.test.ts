// The FHIR R4 API over HTTP against the real store: every answer validated against the R4 structure,
// Consents and AuditEvents checked against the JSON API for the same patient, and the errors as
// OperationOutcome.
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import { storeOf } from '../helpers/store.ts'
import {
  PUBLIC_URL,
  buildTestApp,
  clientWithToken,
  expectProblem,
  nhsNumbers,
  recordChoice as recordChoiceWith,
  registerClient,
  tokenFor,
  useTestApp,
  type Auth,
  type Json,
  type TestCaller
} from '../helpers/app.ts'
import { expectFhirOk, expectOutcome, fhirProblems } from '../helpers/fhir.ts'

const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number'
const READ_V2 = 'http://read.info/readv2'
/** The service's own systems: fixed canonical URLs, never under PUBLIC_URL. */
const CANONICAL = 'https://consent-check-service.example/fhir'
const t = useTestApp()
let main: TestCaller
const numbers = nhsNumbers(60, 23)
let next = 0
const patient = (): string => numbers[next++]

async function get (
  url: string,
  auth: Auth | Record<string, never> = main.auth,
  headers: Record<string, string> = {}
): Promise<LightMyRequestResponse> {
  return await t.app.inject({ method: 'GET', url, headers: { ...auth, ...headers } })
}

/** A 200 FHIR answer, checked against the R4 structure. */
async function fhir (url: string, auth: Auth = main.auth): Promise<Json> {
  return expectFhirOk(await get(url, auth))
}

const consentSearch = (nhs: string, extra = ''): string =>
  `/fhir/Consent?patient.identifier=${encodeURIComponent(`${NHS_SYSTEM}|${nhs}`)}${extra}`
const auditSearch = (nhs: string, extra = ''): string =>
  `/fhir/AuditEvent?patient.identifier=${encodeURIComponent(`${NHS_SYSTEM}|${nhs}`)}${extra}`
/** A Bundle link made relative, to follow it with inject. */
const relative = (url: string): string => url.slice(PUBLIC_URL.length)

const recordChoice = async (nhsNumber: string, body: Json): Promise<Json> =>
  await recordChoiceWith(t.app, main.auth, nhsNumber, body)

async function decide (body: Json, auth: Auth = main.auth): Promise<Json> {
  const res = await t.app.inject({ method: 'POST', url: '/v1/decisions', headers: auth, payload: body })
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

beforeAll(async () => {
  main = await clientWithToken(t.app, { odsCode: 'RBD', name: 'Dorset County Hospital ED' })
})

describe('GET /fhir/metadata', () => {
  it('is a valid R4 CapabilityStatement, needs no token, lists Consent (read, search), AuditEvent', async () => {
    const res = await get('/fhir/metadata', {})
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/)
    const cs = res.json()
    expect(fhirProblems(cs)).toEqual([])
    expect(cs).toMatchObject({
      resourceType: 'CapabilityStatement',
      status: 'active',
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: expect.arrayContaining(['application/fhir+json'])
    })
    const resources = cs.rest[0].resource as Json[]
    expect(
      resources.map(r => [r.type, r.interaction.map((i: Json) => i.code), r.searchParam.map((p: Json) => p.name)])
    ).toEqual([
      ['Consent', ['read', 'search-type'], ['patient', 'status', '_count', '_summary', '_cursor']],
      ['AuditEvent', ['search-type'], ['patient', 'date', '_count', '_summary', '_cursor']],
      ['CodeSystem', ['read', 'search-type'], ['url']]
    ])
    expect(resources.map(r => [r.versioning, r.conditionalRead])).toEqual([
      ['versioned', 'not-match'],
      ['versioned', undefined],
      ['versioned', 'not-match']
    ])
    expect(cs.rest[0].security.extension[0].extension[0]).toEqual({
      url: 'token',
      valueUri: `${PUBLIC_URL}/oauth2/token`
    })
  })

  it('the OpenAPI document describes every FHIR answer as application/fhir+json, with valid R4 examples', async () => {
    const doc = t.app.swagger() as Json
    const examples: Json[] = []
    // SMART discovery under /fhir/.well-known is JSON by its own spec, not a FHIR resource.
    const fhirPaths = Object.entries(doc.paths as Json).filter(
      ([p]) => p.startsWith('/fhir/') && !p.startsWith('/fhir/.well-known/')
    )
    for (const [path, ops] of fhirPaths) {
      for (const op of Object.values(ops as Json)) {
        for (const [status, response] of Object.entries((op as Json).responses as Json)) {
          // Not modified: no body at all.
          if (status === '304') continue
          expect(Object.keys((response as Json).content), `${path} ${status}`).toEqual(['application/fhir+json'])
          const example = (response as Json).content['application/fhir+json'].schema.example
          if (example !== undefined) examples.push(example)
        }
      }
    }
    expect(examples.map(e => e.resourceType)).toEqual(expect.arrayContaining(['Consent', 'Bundle', 'OperationOutcome']))
    for (const example of examples) expect(fhirProblems(example)).toEqual([])
  })

  it('what it does not list is not there: writes and other resource types are 404 OperationOutcomes', async () => {
    expectOutcome(await get('/fhir/Patient?identifier=x'), 404, 'not-found')
    expectOutcome(
      await t.app.inject({
        method: 'POST',
        url: '/fhir/Consent',
        headers: { ...main.auth, 'content-type': 'application/fhir+json' },
        payload: '{"resourceType":"Consent"}'
      }),
      404,
      'not-found'
    )
    expectOutcome(
      await t.app.inject({ method: 'DELETE', url: '/fhir/Consent/abc', headers: main.auth }),
      404,
      'not-found'
    )
  })
})

describe('GET /fhir/Consent: one Consent per recorded choice', () => {
  it('round trip: each choice in the JSON history is a valid Consent; active in force = current', async () => {
    const nhs = patient()
    const optOut = await recordChoice(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2024-01-01T00:00:00.000Z',
      recordedBy: { odsCode: 'B82005' }
    })
    const optIn = await recordChoice(nhs, {
      purpose: 'planning-research',
      decision: 'permit',
      effectiveFrom: '2025-01-01T00:00:00.000Z',
      recordedBy: { proxyRole: 'parent' }
    })
    const scr = await recordChoice(nhs, { purpose: 'summary-care-record', decision: 'deny' })
    const future = new Date(Date.now() + 30 * 86_400_000).toISOString()
    const scheduled = await recordChoice(nhs, { purpose: 'planned-care', decision: 'deny', effectiveFrom: future })
    const mistake = await recordChoice(nhs, { purpose: 'unplanned-care', decision: 'deny' })
    const voided = await t.app.inject({
      method: 'POST',
      url: `/v1/patients/${nhs}/preferences/${String(mistake.id)}/entered-in-error`,
      headers: main.auth,
      payload: { reason: 'Recorded against the wrong patient' }
    })
    expect(voided.statusCode, voided.body).toBe(200)

    const json = (await get(`/v1/patients/${nhs}/preferences`)).json()
    const bundle = await fhir(consentSearch(nhs))
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: json.history.length })
    const consents = (bundle.entry as Json[]).map(e => e.resource)
    // Same records, same order (newest first).
    expect(consents.map(c => c.id)).toEqual(json.history.map((h: Json) => h.id))
    for (const [i, h] of (json.history as Json[]).entries()) {
      const c = consents[i]
      expect(bundle.entry[i].fullUrl).toBe(`${PUBLIC_URL}/fhir/Consent/${String(h.id)}`)
      expect(c).toMatchObject({
        resourceType: 'Consent',
        patient: { identifier: { system: NHS_SYSTEM, value: nhs } },
        dateTime: h.recordedAt,
        scope: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/consentscope',
              // An opt-out of sharing is a privacy consent for every purpose, research included.
              code: 'patient-privacy'
            }
          ]
        },
        provision: {
          type: h.decision,
          period: { start: h.effectiveFrom },
          purpose: expect.arrayContaining([
            { system: `${CANONICAL}/CodeSystem/purpose`, code: h.purpose, display: expect.any(String) }
          ])
        }
      })
      if (h.status === 'entered-in-error') expect(c.status).toBe('entered-in-error')
      if (h.recordedBy.odsCode !== undefined) {
        expect(c.organization).toEqual([
          {
            type: 'Organization',
            identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: h.recordedBy.odsCode }
          }
        ])
      }
    }
    const inForce = consents
      .filter(c => c.status === 'active' && Date.parse(c.provision.period.start) <= Date.now())
      .map(c => c.id)
      .sort()
    expect(inForce).toEqual((json.current as Json[]).map(c => c.preferenceId).sort())

    const byId = new Map(consents.map(c => [c.id, c]))
    expect(byId.get(optOut.id)).toMatchObject({
      status: 'inactive',
      provision: { period: { end: optIn.effectiveFrom } }
    })
    expect(byId.get(optIn.id)).toMatchObject({ status: 'active', performer: [{ type: 'RelatedPerson' }] })
    expect(byId.get(scr.id)?.provision.purpose.map((p: Json) => p.code)).toEqual([
      'summary-care-record',
      'TREAT',
      'ETREAT'
    ])
    expect(byId.get(scheduled.id)).toMatchObject({ status: 'active', provision: { period: { start: future } } })
    expect(byId.get(mistake.id)?.status).toBe('entered-in-error')
  })

  it("inactive follows the decisions' rule: the Consent a decision rests on is active, back-dating aside", async () => {
    const nhs = patient()
    const deny = await recordChoice(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2024-06-01T00:00:00.000Z'
    })
    // Recorded later, but signed earlier: superseded by the deny already in force.
    const permit = await recordChoice(nhs, {
      purpose: 'planning-research',
      decision: 'permit',
      effectiveFrom: '2024-01-01T00:00:00.000Z'
    })
    const d = await decide({ nhsNumber: nhs, purpose: 'planning-research' })
    expect(d).toMatchObject({ decision: 'deny', basis: 'patient-preference', preference: { id: deny.id } })
    const active = await fhir(consentSearch(nhs, '&status=active'))
    expect(active.entry.map((e: Json) => e.resource.id)).toEqual([deny.id])
    const inactive = await fhir(consentSearch(nhs, '&status=inactive'))
    expect(inactive.entry.map((e: Json) => e.resource)).toEqual([
      expect.objectContaining({
        id: permit.id,
        status: 'inactive',
        provision: expect.objectContaining({ period: { start: permit.effectiveFrom, end: deny.effectiveFrom } })
      })
    ])
  })

  it('GET /fhir/Consent/{id} is the same resource as the search entry', async () => {
    const nhs = patient()
    const first = await recordChoice(nhs, {
      purpose: 'gp-data-secondary-use',
      decision: 'deny',
      effectiveFrom: '2024-01-01T00:00:00.000Z'
    })
    await recordChoice(nhs, {
      purpose: 'gp-data-secondary-use',
      decision: 'permit',
      effectiveFrom: '2024-02-01T00:00:00.000Z'
    })
    const read = await fhir(`/fhir/Consent/${String(first.id)}`)
    const bundle = await fhir(consentSearch(nhs))
    expect(read).toEqual(bundle.entry.find((e: Json) => e.resource.id === first.id).resource)
    expect(read.status).toBe('inactive')
  })

  it('status filters (comma for any of several), patient:identifier and the bare number are accepted', async () => {
    const nhs = patient()
    await recordChoice(nhs, { purpose: 'planned-care', decision: 'deny', effectiveFrom: '2024-01-01T00:00:00.000Z' })
    await recordChoice(nhs, { purpose: 'planned-care', decision: 'permit', effectiveFrom: '2024-02-01T00:00:00.000Z' })
    const both = await fhir(consentSearch(nhs, '&status=active,inactive'))
    expect(both.total).toBe(2)
    expect((await fhir(consentSearch(nhs, '&status=entered-in-error'))).total).toBe(0)
    const modifier = await fhir(`/fhir/Consent?patient:identifier=${encodeURIComponent(`${NHS_SYSTEM}|${nhs}`)}`)
    const bare = await fhir(`/fhir/Consent?patient.identifier=${nhs}`)
    expect(modifier.entry.map((e: Json) => e.resource.id)).toEqual(both.entry.map((e: Json) => e.resource.id))
    expect(bare.total).toBe(2)
    expect((await fhir(consentSearch(patient()))).total).toBe(0)
  })

  it('pages with _count and the next link, which carries the normalised search', async () => {
    const nhs = patient()
    for (const month of ['01', '02', '03']) {
      await recordChoice(nhs, {
        purpose: 'planning-research',
        decision: 'deny',
        effectiveFrom: `2024-${month}-01T00:00:00.000Z`
      })
    }
    const all = (await fhir(consentSearch(nhs))).entry.map((e: Json) => e.resource.id)
    const seen: string[] = []
    let page = await fhir(`/fhir/Consent?patient.identifier=${nhs}&_count=2`)
    expect(page.link[0]).toEqual({ relation: 'self', url: `${PUBLIC_URL}${consentSearch(nhs, '&_count=2')}` })
    for (;;) {
      seen.push(...page.entry.map((e: Json) => e.resource.id))
      expect(page.total).toBe(3)
      const nextLink = (page.link as Json[]).find(l => l.relation === 'next')
      if (nextLink === undefined) break
      page = await fhir(relative(nextLink.url))
    }
    expect(seen).toEqual(all)
  })
})

describe('Consent: Read codes, rule 2 and reads in the audit trail', () => {
  /** The Read v2 codings among a Consent's categories. */
  const readCodes = (c: Json): Json[] =>
    (c.category as Json[]).flatMap(cat => cat.coding as Json[]).filter(coding => coding.system === READ_V2)

  it('a Read code is a Consent category: implied (9Ndl) and express (9Ndm) SCR consent differ', async () => {
    const nhs = patient()
    const implied = await recordChoice(nhs, { code: '9Ndl', effectiveFrom: '2024-01-01' })
    const express = await recordChoice(nhs, { code: '9Ndm', effectiveFrom: '2025-01-01' })
    const typed = await recordChoice(nhs, {
      purpose: 'summary-care-record',
      decision: 'permit',
      effectiveFrom: '2023-01-01'
    })
    const byId = new Map(((await fhir(consentSearch(nhs))).entry as Json[]).map(e => [e.resource.id, e.resource]))
    expect(readCodes(byId.get(implied.id))).toEqual([
      { system: READ_V2, code: '9Ndl', display: 'Implied consent for Summary Care Record' }
    ])
    expect(readCodes(byId.get(express.id))).toEqual([
      { system: READ_V2, code: '9Ndm', display: 'Express consent for core Summary Care Record' }
    ])
    expect(readCodes(byId.get(typed.id))).toEqual([])
    // Same purpose and decision: only the code tells them apart.
    for (const c of byId.values()) expect(c.provision).toMatchObject({ type: 'permit' })
    expect(readCodes(await fhir(`/fhir/Consent/${String(express.id)}`))).toEqual(readCodes(byId.get(express.id)))
  })

  it('an imported 9Ndm line keeps its code from the import to the history and the FHIR Consent', async () => {
    const nhs = patient()
    const admin = await clientWithToken(t.app, { purposes: ['summary-care-record'] })
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/preferences/import',
      headers: { ...admin.auth, 'content-type': 'application/x-ndjson' },
      payload:
        JSON.stringify({ externalId: `scr-${nhs}`, nhsNumber: nhs, code: '9Ndm', effectiveFrom: '2025-03-01' }) + '\n'
    })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({ imported: 1, rejected: [] })
    const history = (await get(`/v1/patients/${nhs}/preferences`, admin.auth)).json().history as Json[]
    expect(history).toEqual([
      expect.objectContaining({
        purpose: 'summary-care-record',
        decision: 'permit',
        source: 'import',
        sourceCode: '9Ndm'
      })
    ])
    const consent = await fhir(`/fhir/Consent/${String(history[0].id)}`, admin.auth)
    expect(readCodes(consent)).toEqual([expect.objectContaining({ code: '9Ndm' })])
  })

  it('a choice cancelled while pending (rule 2) is an inactive Consent whose period ends where it starts', async () => {
    const nhs = patient()
    const dissent = await recordChoice(nhs, { code: '9Nu0', effectiveFrom: '2024-05-01' })
    const nextMonth = new Date(Date.now() + 30 * 86_400_000).toISOString()
    const withdrawal = await recordChoice(nhs, { code: '9Nu1', effectiveFrom: nextMonth })
    expect((await fhir(`/fhir/Consent/${String(withdrawal.id)}`)).status).toBe('active')
    while (Date.now() <= Date.parse(withdrawal.recordedAt)) await new Promise(resolve => setTimeout(resolve, 1))
    const keepIt = await recordChoice(nhs, { code: '9Nu0', source: 'telephone' })
    const bundle = await fhir(consentSearch(nhs))
    const byId = new Map((bundle.entry as Json[]).map(e => [e.resource.id, e.resource]))
    expect(byId.get(withdrawal.id)).toMatchObject({
      status: 'inactive',
      provision: { type: 'permit', period: { start: nextMonth, end: nextMonth } }
    })
    expect(byId.get(keepIt.id)).toMatchObject({
      status: 'active',
      provision: { type: 'deny', period: { start: keepIt.effectiveFrom } }
    })
    expect(byId.get(keepIt.id).provision.period.end).toBeUndefined()
    expect(byId.get(dissent.id)).toMatchObject({
      status: 'inactive',
      provision: { period: { end: keepIt.effectiveFrom } }
    })
    expect((await fhir(consentSearch(nhs, '&status=active'))).entry.map((e: Json) => e.resource.id)).toEqual([
      keepIt.id
    ])
  })

  it('a Consent search and a Consent read each write one preference.read event naming the patient', async () => {
    const nhs = patient()
    const choice = await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny' })
    const searched = await get(consentSearch(nhs, '&status=active'), main.auth, { 'x-correlation-id': 'fhir-sar-1' })
    expect(searched.statusCode).toBe(200)
    const read = await get(`/fhir/Consent/${String(choice.id)}`)
    expect(read.statusCode).toBe(200)
    const reads = ((await get(`/v1/audit?nhsNumber=${nhs}&type=preference.read`)).json().items as Json[]).reverse()
    expect(reads).toEqual([
      expect.objectContaining({
        nhsNumber: nhs,
        clientId: main.id,
        clientName: 'Dorset County Hospital ED',
        requestId: searched.headers['x-request-id'],
        correlationId: 'fhir-sar-1',
        details: { view: 'fhir-consent-search', records: 1 }
      }),
      expect.objectContaining({
        nhsNumber: nhs,
        requestId: read.headers['x-request-id'],
        details: { view: 'fhir-consent-read', records: 1, preferenceId: choice.id }
      })
    ])
    // A Consent the caller may not see, or none at all, names no patient's choices: nothing read.
    const scrOnly = await clientWithToken(t.app, { purposes: ['unplanned-care'], scopes: ['consent:read'] })
    expectOutcome(await get(`/fhir/Consent/${String(choice.id)}`, scrOnly.auth), 404, 'not-found')
    expect((await get(`/v1/audit?nhsNumber=${nhs}&type=preference.read`)).json().items).toHaveLength(2)
  })

  it('when the read cannot be audited, a Consent search or read is a 503 OperationOutcome', async () => {
    const broken = await buildTestApp()
    try {
      const caller = await clientWithToken(broken.app)
      const nhs = patient()
      const choice = await recordChoiceWith(broken.app, caller.auth, nhs, {
        purpose: 'planning-research',
        decision: 'deny'
      })
      await storeOf(broken.app).dropTable('audit_events')
      for (const url of [consentSearch(nhs), `/fhir/Consent/${String(choice.id)}`]) {
        const res = await broken.app.inject({ method: 'GET', url, headers: caller.auth })
        expectOutcome(res, 503, 'transient')
        expect(res.body).not.toContain(choice.id)
      }
    } finally {
      await broken.close()
    }
  })
})

describe('GET /fhir/AuditEvent: who looked at my record', () => {
  it('round trip: the audit trail, newest first, as valid AuditEvents: who asked, for what, the outcome', async () => {
    const nhs = patient()
    const optOut = await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny' })
    const permit = await decide({ nhsNumber: nhs, purpose: 'planned-care' })
    const deny = await decide({ nhsNumber: nhs, purpose: 'gp-data-secondary-use' })
    const emergency = await decide({
      nhsNumber: nhs,
      purpose: 'summary-care-record',
      pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Unconscious on arrival' },
      endUser: { id: '555021935107', role: 'R8000' }
    })

    const json = (await get(`/v1/audit?nhsNumber=${nhs}`)).json().items as Json[]
    const bundle = await fhir(auditSearch(nhs))
    const events = (bundle.entry as Json[]).map(e => e.resource)
    expect(events.map(e => e.id)).toEqual(json.map(e => e.id))
    expect(events.map(e => e.id)).toEqual([emergency.auditId, deny.auditId, permit.auditId, json[3].id])
    for (const [i, e] of events.entries()) {
      expect(e.recorded).toBe(json[i].at)
      expect(e.agent[0]).toMatchObject({
        who: {
          identifier: { system: `${CANONICAL}/sid/client-id`, value: main.id },
          display: 'Dorset County Hospital ED'
        },
        requestor: true
      })
      expect(e.agent[1]).toMatchObject({ who: { type: 'Organization', identifier: { value: 'RBD' } } })
      expect(e.entity[0]).toMatchObject({
        what: { identifier: { system: NHS_SYSTEM, value: nhs } },
        role: { code: '1' }
      })
      expect(e.purposeOfEvent[0].coding[0]).toMatchObject({
        system: `${CANONICAL}/CodeSystem/purpose`,
        code: json[i].purpose
      })
    }
    const [e, d, p, recorded] = events
    expect(p).toMatchObject({
      subtype: [{ code: 'AuthZ-Consent' }, { code: 'decision' }],
      action: 'E',
      outcome: '0',
      outcomeDesc: expect.stringMatching(/^permit \(default\)/)
    })
    expect(d).toMatchObject({
      outcome: '8',
      entity: expect.arrayContaining([
        { what: { reference: `Consent/${String(optOut.id)}` }, type: expect.objectContaining({ code: 'Consent' }) }
      ])
    })
    expect(d.entity[0].detail).toEqual([
      { type: 'decision', valueString: 'deny' },
      { type: 'basis', valueString: 'patient-preference' }
    ])
    expect(e.entity[0].detail).toContainEqual({ type: 'alertId', valueString: emergency.alertId })
    expect(recorded).toMatchObject({
      type: { code: 'rest' },
      subtype: [{ code: 'create' }, { code: 'preference.recorded' }],
      action: 'C'
    })
  })

  it('date narrows to a time range (prefixes, repeated for a range); _count pages through the rest', async () => {
    const nhs = patient()
    const auditIds: string[] = []
    for (let i = 0; i < 3; i++) auditIds.unshift((await decide({ nhsNumber: nhs, purpose: 'planned-care' })).auditId)
    // Days as the store recorded them (so a run across midnight UTC still agrees).
    const at = ((await get(`/v1/audit?nhsNumber=${nhs}`)).json().items as Json[]).map(e => String(e.at))
    const [newestDay, oldestDay] = [at[0].slice(0, 10), at[at.length - 1].slice(0, 10)]
    const dayAfter = new Date(Date.parse(newestDay) + 86_400_000).toISOString().slice(0, 10)
    expect(
      (await fhir(auditSearch(nhs, `&date=ge${oldestDay}&date=lt${dayAfter}`))).entry.map((e: Json) => e.resource.id)
    ).toEqual(auditIds)
    expect((await fhir(auditSearch(nhs, `&date=${newestDay}`))).entry).toHaveLength(
      at.filter(a => a.startsWith(newestDay)).length
    )
    expect((await fhir(auditSearch(nhs, `&date=ge${at[0]}`))).entry.map((e: Json) => e.resource.id)).toEqual(
      auditIds.filter((_, i) => at[i] >= at[0])
    )
    expect((await fhir(auditSearch(nhs, '&date=lt2020-01-01'))).entry).toEqual([])
    expect((await fhir(auditSearch(nhs, `&date=gt${newestDay}`))).entry).toEqual([])
    const seen: string[] = []
    let page = await fhir(auditSearch(nhs, '&_count=2'))
    for (;;) {
      seen.push(...page.entry.map((e: Json) => e.resource.id))
      const nextLink = (page.link as Json[]).find(l => l.relation === 'next')
      if (nextLink === undefined) break
      page = await fhir(relative(nextLink.url))
    }
    expect(seen).toEqual(auditIds)
  })

  it('needs audit:read: a consent:read token is refused with a forbidden OperationOutcome', async () => {
    const reader = await registerClient(t.app)
    const token = await tokenFor(t.app, reader, 'consent:read')
    const res = await get(auditSearch(patient()), { authorization: `Bearer ${token}` })
    expectOutcome(res, 403, 'forbidden')
    expect((await fhir(consentSearch(patient()), { authorization: `Bearer ${token}` })).total).toBe(0)
  })
})

describe('errors are OperationOutcomes', () => {
  it('no token is 401 (login) with WWW-Authenticate; a token without consent:read is 403 (forbidden)', async () => {
    const res = await get(consentSearch(patient()), {})
    expectOutcome(res, 401, 'login')
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/)
    expectOutcome(await get('/fhir/Consent/abc', { authorization: 'Bearer not-a-token' }), 401, 'login')
    const checker = await registerClient(t.app, { scopes: ['consent:check'] })
    expectOutcome(
      await get(consentSearch(patient()), { authorization: `Bearer ${await tokenFor(t.app, checker)}` }),
      403,
      'forbidden'
    )
  })

  it('an invalid NHS number is 400 (value), saying what is wrong without echoing it', async () => {
    for (const [bad, says] of [
      ['9434765918', /check digit/],
      ['94347659', /10 digits/],
      ['94347A5919', /digits 0-9/]
    ] as const) {
      const body = expectOutcome(await get(consentSearch(bad)), 400, 'value')
      expect(body.issue[0].diagnostics).toMatch(says)
      expect(JSON.stringify(body)).not.toContain(bad)
      expectOutcome(await get(auditSearch(bad)), 400, 'value')
    }
  })

  it('no patient: 400 (required); other identifier system: 400 (not-supported); bad params: 400', async () => {
    expectOutcome(await get('/fhir/Consent'), 400, 'required')
    expectOutcome(await get('/fhir/AuditEvent?date=ge2026-01-01'), 400, 'required')
    expectOutcome(
      await get(`/fhir/Consent?patient.identifier=${encodeURIComponent('http://hl7.org/fhir/sid/us-ssn|123456789')}`),
      400,
      'not-supported'
    )
    expectOutcome(await get(consentSearch(numbers[0], '&patient=Patient/1')), 400, 'invalid')
    expectOutcome(await get(consentSearch(numbers[0], '&status=withdrawn')), 400, 'value')
    expectOutcome(await get(consentSearch(numbers[0], '&_count=0')), 400, 'invalid')
    expectOutcome(await get(consentSearch(numbers[0], '&_cursor=!!')), 400, 'invalid')
    expectOutcome(await get(auditSearch(numbers[0], '&date=sa2026-01-01')), 400, 'value')
    // An impossible date is refused, not rolled over to 2 March.
    expectOutcome(await get(auditSearch(numbers[0], '&date=ge2021-02-30')), 400, 'value')
    const impossibleTime = encodeURIComponent('lt2021-02-30T10:00:00Z')
    expectOutcome(await get(auditSearch(numbers[0], `&date=${impossibleTime}`)), 400, 'value')
    expectOutcome(await get(`${consentSearch(numbers[0])}&patient:identifier=${numbers[0]}`), 400, 'invalid')
  })

  it('an unknown id is 404 (not-found); XML is 406 (not-supported)', async () => {
    expectOutcome(await get('/fhir/Consent/3f0c1c9e-0000-4000-8000-000000000000'), 404, 'not-found')
    expectOutcome(await get('/fhir/Consent/not*an*id'), 400, 'invalid')
    expectOutcome(await get(consentSearch(numbers[0], '&_format=xml')), 406, 'not-supported')
    expectOutcome(await get('/fhir/metadata', {}, { accept: 'application/fhir+xml' }), 406, 'not-supported')
    expect((await get('/fhir/metadata?_format=json', {}, { accept: 'application/fhir+json' })).statusCode).toBe(200)
  })

  it('the /v1 API is unchanged: its errors stay problem+json', async () => {
    expectProblem(await get('/v1/patients/9434765918/preferences'), 400)
  })
})
