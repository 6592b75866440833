// FHIR search and read as standard clients use them (issue 13): POST [type]/_search whose links never
// name the patient, meta.versionId with ETag and If-None-Match, _summary=count, _count capped,
// Prefer: handling=lenient, and code systems whose canonical URLs do not follow PUBLIC_URL.
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import {
  buildTestApp,
  clientWithToken,
  patientSupply,
  recordChoice as recordChoiceWith,
  useTestApp,
  type Auth,
  type Json,
  type TestCaller
} from '../helpers/app.ts'
import { expectFhirOk as ok, expectOutcome as outcome } from '../helpers/fhir.ts'

const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number'
const CANONICAL = 'https://consent-check-service.example/fhir'
const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const t = useTestApp()
const patient = patientSupply(30, 1313)
let main: TestCaller

beforeAll(async () => {
  main = await clientWithToken(t.app, { name: 'FHIR ecosystem client' })
})

const recordChoice = async (nhs: string, body: Json): Promise<Json> =>
  await recordChoiceWith(t.app, main.auth, nhs, body)

async function get (
  url: string,
  headers: Record<string, string> = {},
  auth: Auth = main.auth
): Promise<LightMyRequestResponse> {
  return await t.app.inject({ method: 'GET', url, headers: { ...auth, ...headers } })
}

async function post (
  url: string,
  form: Record<string, string | string[]>,
  headers: Record<string, string> = {},
  auth: Auth = main.auth
): Promise<LightMyRequestResponse> {
  const body = new URLSearchParams()
  for (const [k, v] of Object.entries(form)) for (const one of [v].flat()) body.append(k, one)
  return await t.app.inject({
    method: 'POST',
    url,
    headers: { ...auth, ...FORM, ...headers },
    payload: body.toString()
  })
}

const token = (nhs: string): string => `${NHS_SYSTEM}|${nhs}`
const ids = (bundle: Json): string[] =>
  ((bundle.entry ?? []) as Json[]).filter(e => e.search.mode === 'match').map(e => e.resource.id)
/** A Bundle link made relative, to follow it with inject. */
const relative = (url: string): string => url.slice(t.config.publicUrl.length)

async function preferenceReads (nhs: string): Promise<Json[]> {
  return (await get(`/v1/audit?nhsNumber=${nhs}&type=preference.read`)).json().items as Json[]
}

async function threeChoices (nhs: string): Promise<void> {
  for (const month of ['01', '02', '03']) {
    await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny', effectiveFrom: `2024-${month}-01` })
  }
}

describe('POST [type]/_search: the search in a form body, the NHS number in no URL', () => {
  it('POST /fhir/Consent/_search answers and is audited as GET; its links never name the patient', async () => {
    const nhs = patient()
    await threeChoices(nhs)
    const viaGet = ok(await get(`/fhir/Consent?patient.identifier=${encodeURIComponent(token(nhs))}`))
    const viaPost = ok(await post('/fhir/Consent/_search', { 'patient.identifier': token(nhs) }))
    expect(viaPost.total).toBe(3)
    expect(viaPost.entry.map((e: Json) => e.resource)).toEqual(viaGet.entry.map((e: Json) => e.resource))
    expect(viaPost.link).toEqual([{ relation: 'self', url: `${t.config.publicUrl}/fhir/Consent/_search` }])
    // The GET search names the patient in its own links (the caller put the number in the URL already).
    expect(JSON.stringify(viaGet.link)).toContain(nhs)

    const reads = await preferenceReads(nhs)
    expect(reads.map(r => r.details.view)).toEqual(['fhir-consent-search', 'fhir-consent-search'])
  })

  it('a POST search pages by sealed next links (GET, no NHS number); another client cannot follow them', async () => {
    const nhs = patient()
    await threeChoices(nhs)
    const all = ids(ok(await get(`/fhir/Consent?patient.identifier=${nhs}`)))
    let page = ok(await post('/fhir/Consent/_search', { 'patient.identifier': token(nhs), _count: '2' }))
    const seen: string[] = []
    const links: string[] = []
    let next: string | undefined
    for (;;) {
      seen.push(...ids(page))
      links.push(...(page.link as Json[]).map(l => String(l.url)))
      next = (page.link as Json[]).find(l => l.relation === 'next')?.url
      if (next === undefined) break
      page = ok(await get(relative(next)))
    }
    expect(seen).toEqual(all)
    expect(links.length).toBeGreaterThan(2)
    for (const url of links) expect(url).not.toContain(nhs)

    const first = ok(await post('/fhir/Consent/_search', { 'patient.identifier': token(nhs), _count: '1' }))
    const sealed = relative(String((first.link as Json[]).find(l => l.relation === 'next')?.url))
    const other = await clientWithToken(t.app)
    outcome(await get(sealed, {}, other.auth), 400, 'invalid')
    // The cursor carries the whole search: it comes alone.
    outcome(await get(`${sealed}&patient.identifier=${patient()}`), 400, 'invalid')
    // Nor is it a Consent cursor for AuditEvent.
    outcome(await get(sealed.replace('/fhir/Consent?', '/fhir/AuditEvent?')), 400, 'invalid')
  })

  it('POST /fhir/AuditEvent/_search answers as GET (repeated date too), links without the patient', async () => {
    const nhs = patient()
    for (let i = 0; i < 3; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: main.auth,
        payload: { nhsNumber: nhs, purpose: 'planned-care' }
      })
      expect(res.statusCode).toBe(200)
    }
    const q = `patient.identifier=${nhs}&date=ge2020-01-01&date=lt2100-01-01`
    const viaGet = ok(await get(`/fhir/AuditEvent?${q}`))
    const viaPost = ok(
      await post('/fhir/AuditEvent/_search', { 'patient.identifier': nhs, date: ['ge2020-01-01', 'lt2100-01-01'] })
    )
    expect(ids(viaPost)).toEqual(ids(viaGet))
    expect(ids(viaPost)).toHaveLength(3)

    let page = ok(await post('/fhir/AuditEvent/_search', { 'patient.identifier': nhs, _count: '2' }))
    const seen: string[] = []
    for (;;) {
      seen.push(...ids(page))
      expect(JSON.stringify(page.link)).not.toContain(nhs)
      const next = (page.link as Json[]).find(l => l.relation === 'next')
      if (next === undefined) break
      page = ok(await get(relative(next.url)))
    }
    expect(seen).toEqual(ids(viaGet))
  })

  it('a POST search needs the same scope, a form body, and refuses what the GET search refuses', async () => {
    const checker = await clientWithToken(t.app, { scopes: ['consent:check'] })
    outcome(
      await post('/fhir/Consent/_search', { 'patient.identifier': patient() }, {}, checker.auth),
      403,
      'forbidden'
    )
    outcome(
      await post('/fhir/AuditEvent/_search', { 'patient.identifier': patient() }, {}, checker.auth),
      403,
      'forbidden'
    )
    outcome(await post('/fhir/Consent/_search', {}, {}, {} as Auth), 401, 'login')
    outcome(await post('/fhir/Consent/_search', {}), 400, 'required')
    const bad = await post('/fhir/Consent/_search', { 'patient.identifier': '9434765918' })
    expect(JSON.stringify(outcome(bad, 400, 'value'))).not.toContain('9434765918')
    outcome(await post('/fhir/Consent/_search', { 'patient.identifier': patient(), stauts: 'active' }), 400, 'invalid')
    outcome(
      await post('/fhir/Consent/_search', { 'patient.identifier': patient(), _format: 'xml' }),
      406,
      'not-supported'
    )
    const json = await t.app.inject({
      method: 'POST',
      url: '/fhir/Consent/_search',
      headers: main.auth,
      payload: { 'patient.identifier': patient() }
    })
    outcome(json, 415, 'not-supported')
  })
})

describe('meta.versionId, ETag and If-None-Match', () => {
  it('a Consent read carries ETag W/"versionId"; If-None-Match with it is a 304, no body, still audited', async () => {
    const nhs = patient()
    const choice = await recordChoice(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2024-01-01'
    })
    const url = `/fhir/Consent/${String(choice.id)}`
    const read = await get(url)
    const consent = ok(read)
    expect(consent.meta.versionId).toMatch(/^[0-9a-f]{16}$/)
    expect(read.headers.etag).toBe(`W/"${String(consent.meta.versionId)}"`)
    // The search entry is the same version.
    const search = ok(await get(`/fhir/Consent?patient.identifier=${nhs}`))
    expect(search.entry[0].resource.meta.versionId).toBe(consent.meta.versionId)

    const again = await get(url, { 'if-none-match': String(read.headers.etag) })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')
    expect(again.headers.etag).toBe(read.headers.etag)
    expect((await get(url, { 'if-none-match': `"other", ${String(read.headers.etag)}` })).statusCode).toBe(304)
    expect((await get(url, { 'if-none-match': 'W/"0000000000000000"' })).statusCode).toBe(200)
    // Every read is in the patient's trail, a 304 too: two reads, one search, two more reads.
    const reads = await preferenceReads(nhs)
    expect(reads.map(r => r.details.view).sort()).toEqual([
      'fhir-consent-read',
      'fhir-consent-read',
      'fhir-consent-read',
      'fhir-consent-read',
      'fhir-consent-search'
    ])
  })

  it('the version changes when the Consent does: superseded by a later choice, then entered in error', async () => {
    const nhs = patient()
    const first = await recordChoice(nhs, { purpose: 'planned-care', decision: 'deny', effectiveFrom: '2024-01-01' })
    const url = `/fhir/Consent/${String(first.id)}`
    const v1 = await get(url)
    expect(ok(v1).status).toBe('active')
    expect((await get(url, { 'if-none-match': String(v1.headers.etag) })).statusCode).toBe(304)

    await recordChoice(nhs, { purpose: 'planned-care', decision: 'permit', effectiveFrom: '2024-02-01' })
    const v2 = await get(url, { 'if-none-match': String(v1.headers.etag) })
    expect(ok(v2).status).toBe('inactive')
    expect(v2.headers.etag).not.toBe(v1.headers.etag)

    const voided = await t.app.inject({
      method: 'POST',
      url: `/v1/patients/${nhs}/preferences/${String(first.id)}/entered-in-error`,
      headers: main.auth,
      payload: { reason: 'Recorded against the wrong patient' }
    })
    expect(voided.statusCode, voided.body).toBe(200)
    const v3 = await get(url, { 'if-none-match': String(v2.headers.etag) })
    expect(ok(v3).status).toBe('entered-in-error')
    expect(new Set([v1.headers.etag, v2.headers.etag, v3.headers.etag]).size).toBe(3)
  })

  it('AuditEvents in a search carry a meta.versionId', async () => {
    const nhs = patient()
    await recordChoice(nhs, { purpose: 'planned-care', decision: 'deny' })
    const bundle = ok(await get(`/fhir/AuditEvent?patient.identifier=${nhs}`))
    expect(bundle.entry.length).toBeGreaterThan(0)
    for (const e of bundle.entry as Json[]) expect(e.resource.meta.versionId).toMatch(/^[0-9a-f]{16}$/)
  })
})

describe('_summary=count and _count', () => {
  it('_summary=count is the total alone (no entries), audited as a read; for AuditEvent too', async () => {
    const nhs = patient()
    await threeChoices(nhs)
    const counted = ok(await get(`/fhir/Consent?patient.identifier=${nhs}&_summary=count`))
    expect(counted).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 3 })
    expect(counted.entry).toBeUndefined()
    expect((await preferenceReads(nhs)).map(r => r.details.view)).toEqual(['fhir-consent-search'])
    const viaPost = ok(await post('/fhir/Consent/_search', { 'patient.identifier': nhs, _summary: 'count' }))
    expect(viaPost.total).toBe(3)
    expect(viaPost.entry).toBeUndefined()

    const trail = (await get(`/v1/audit?nhsNumber=${nhs}&limit=500`)).json().items as Json[]
    const events = ok(await get(`/fhir/AuditEvent?patient.identifier=${nhs}&_summary=count`))
    expect(events.total).toBe(trail.length)
    expect(events.entry).toBeUndefined()
    expect(ok(await get(`/fhir/AuditEvent?patient.identifier=${nhs}&_summary=count&date=lt2000-01-01`)).total).toBe(0)
  })

  it('a _count above 500 is served as 500 (FHIR lets a server return fewer), not refused', async () => {
    const nhs = patient()
    await threeChoices(nhs)
    const big = ok(await get(`/fhir/Consent?patient.identifier=${nhs}&_count=100000`))
    expect(ids(big)).toHaveLength(3)
    expect(big.link[0].url).toContain('_count=500')
    const events = ok(await get(`/fhir/AuditEvent?patient.identifier=${nhs}&_count=501`))
    expect(events.link[0].url).toContain('_count=500')
    outcome(await get(`/fhir/Consent?patient.identifier=${nhs}&_count=0`), 400, 'invalid')
  })
})

describe('Prefer: handling', () => {
  const search = (nhs: string): string => `/fhir/Consent?patient.identifier=${nhs}&status=active&colour=blue`

  it('lenient: unknown parameters are ignored, named in an OperationOutcome entry (search.mode outcome)', async () => {
    const nhs = patient()
    const choice = await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny' })
    const res = await get(search(nhs), { prefer: 'handling=lenient' })
    const bundle = ok(res)
    expect(res.headers['preference-applied']).toBe('handling=lenient')
    expect(ids(bundle)).toEqual([choice.id])
    const outcomes = (bundle.entry as Json[]).filter(e => e.search.mode === 'outcome')
    expect(outcomes).toEqual([
      {
        resource: {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'warning',
              code: 'not-supported',
              diagnostics: "unknown search parameter 'colour' ignored (Prefer: handling=lenient)"
            }
          ]
        },
        search: { mode: 'outcome' }
      }
    ])
    // The self link says what was used: not the ignored parameter.
    expect(bundle.link[0].url).not.toContain('colour')
    // The same through POST; a name that could be a value (an NHS number) is not repeated back.
    const viaPost = ok(
      await post('/fhir/Consent/_search', { 'patient.identifier': nhs, [nhs]: 'x' }, { prefer: 'handling=lenient' })
    )
    expect(ids(viaPost)).toEqual([choice.id])
    expect(JSON.stringify(viaPost.entry.filter((e: Json) => e.search.mode === 'outcome'))).not.toContain(nhs)
    // The value checks stay: a bad NHS number is still refused.
    outcome(await get('/fhir/Consent?patient.identifier=9434765918', { prefer: 'handling=lenient' }), 400, 'value')
  })

  it('strict, no preference, or both at once: an unknown parameter is a 400, as before', async () => {
    const nhs = patient()
    for (const prefer of [undefined, 'handling=strict', 'handling=strict, handling=lenient']) {
      outcome(await get(search(nhs), prefer === undefined ? {} : { prefer }), 400, 'invalid')
    }
  })
})

describe('code systems: fixed canonical URLs, served by the deployment', () => {
  it('the purpose system resolves at /fhir/CodeSystem/purpose and by url, the same under any PUBLIC_URL', async () => {
    const nhs = patient()
    const choice = await recordChoice(nhs, { purpose: 'summary-care-record', decision: 'deny' })
    const consent = ok(await get(`/fhir/Consent/${String(choice.id)}`))
    const system = consent.provision.purpose[0].system as string
    expect(system).toBe(`${CANONICAL}/CodeSystem/purpose`)
    expect(system.startsWith(t.config.publicUrl)).toBe(false)

    const cs = ok(await t.app.inject({ method: 'GET', url: '/fhir/CodeSystem/purpose' }))
    expect(cs).toMatchObject({ resourceType: 'CodeSystem', id: 'purpose', url: system, content: 'complete' })
    const codes = JSON.stringify(cs.concept)
    expect(codes).toContain('"code":"summary-care-record"')
    const byUrl = ok(await t.app.inject({ method: 'GET', url: `/fhir/CodeSystem?url=${encodeURIComponent(system)}` }))
    expect(byUrl.entry.map((e: Json) => e.resource.id)).toEqual(['purpose'])
    const types = ok(await t.app.inject({ method: 'GET', url: '/fhir/CodeSystem/audit-event-type' }))
    expect(types.url).toBe(`${CANONICAL}/CodeSystem/audit-event-type`)
    expect(types.concept.map((c: Json) => c.code)).toContain('decision')
    outcome(await t.app.inject({ method: 'GET', url: '/fhir/CodeSystem/unknown' }), 404, 'not-found')

    const elsewhere = await buildTestApp({ PUBLIC_URL: 'https://consent.elsewhere.test' })
    try {
      const there = ok(await elsewhere.app.inject({ method: 'GET', url: '/fhir/CodeSystem/purpose' }))
      expect(there.url).toBe(system)
    } finally {
      await elsewhere.close()
    }
  })
})
