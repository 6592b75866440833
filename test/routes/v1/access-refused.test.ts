// Refused attempts in the patient's trail (SPEC §3 "Audit"): a 403 for a scope or a purpose, to an
// authenticated caller, for a request naming a patient (path, query, JSON body, FHIR identifier
// token, CDS Hooks context.patientId), is an access.refused event committed before the answer; a
// 401 is never written per patient. The scope refusal waits for the body (to read the patient it
// names) and still answers 403 whatever else the request got wrong.
import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  bearer,
  buildTestApp,
  clientWithToken,
  expectProblem,
  forgeAccessToken,
  patientSupply,
  useTestApp,
  type Auth,
  type Json,
  type TestCaller
} from '../../helpers/app.ts'
import { storeOf } from '../../helpers/store.ts'

const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number'
const t = useTestApp()
const patient = patientSupply(40, 73)
/** Holds audit:read: reads the trails. */
let officer: TestCaller
/** Registered for planned-care only, holding consent:read and consent:write but not consent:check. */
let reader: TestCaller
/** Holds consent:check and consent:write, registered for planned-care only. */
let checker: TestCaller

async function send (
  method: 'GET' | 'POST',
  url: string,
  auth: Auth | Record<string, string>,
  payload?: unknown,
  headers: Record<string, string> = {}
): Promise<LightMyRequestResponse> {
  return await t.app.inject({
    method,
    url,
    headers: { ...auth, ...headers },
    ...(payload !== undefined ? { payload: payload as Json } : {})
  })
}

/** The patient's whole trail, newest first. */
async function trail (nhsNumber: string): Promise<Json[]> {
  const res = await send('GET', `/v1/audit?nhsNumber=${nhsNumber}`, officer.auth)
  expect(res.statusCode, res.body).toBe(200)
  return res.json().items
}

async function refusals (nhsNumber: string): Promise<Json[]> {
  return (await trail(nhsNumber)).filter(e => e.type === 'access.refused')
}

beforeAll(async () => {
  officer = await clientWithToken(t.app, { scopes: ['audit:read'], name: 'Privacy office' })
  reader = await clientWithToken(t.app, {
    scopes: ['consent:read', 'consent:write'],
    purposes: ['planned-care'],
    name: 'Wessex GP system',
    odsCode: 'B82005'
  })
  checker = await clientWithToken(t.app, {
    scopes: ['consent:check', 'consent:write'],
    purposes: ['planned-care'],
    name: 'Dorset ED',
    odsCode: 'RBD'
  })
})

describe('access.refused: a refused request naming a patient', () => {
  it('a refused request naming a patient is audited as access.refused with the client and the reason', async () => {
    const nhs = patient()
    const res = await send(
      'POST',
      '/v1/decisions',
      reader.auth,
      { nhsNumber: nhs, purpose: 'planned-care', endUser: { id: '555021935107', role: 'R8000' } },
      { 'x-correlation-id': 'ed-visit-42' }
    )
    expectProblem(res, 403, { detail: /consent:check/ })
    const events = await refusals(nhs)
    expect(events).toEqual([
      expect.objectContaining({
        type: 'access.refused',
        clientId: reader.id,
        clientName: 'Wessex GP system',
        clientOdsCode: 'B82005',
        endUser: { id: '555021935107', role: 'R8000' },
        requestId: res.headers['x-request-id'],
        correlationId: 'ed-visit-42',
        nhsNumber: nhs,
        purpose: 'planned-care',
        outcome: 'refused',
        details: {
          reason: 'scope',
          detail: expect.stringMatching(/consent:check/),
          method: 'POST',
          route: '/v1/decisions'
        }
      })
    ])
  })

  it('a purpose the client is not registered for is audited with the purpose and reason purpose', async () => {
    const nhs = patient()
    expectProblem(
      await send('POST', '/v1/decisions', checker.auth, { nhsNumber: nhs, purpose: 'planning-research' }),
      403
    )
    expectProblem(
      await send('POST', `/v1/patients/${nhs}/preferences`, checker.auth, {
        purpose: 'planning-research',
        decision: 'deny',
        source: 'gp-practice'
      }),
      403
    )
    const events = await refusals(nhs)
    expect(events.map(e => [e.clientId, e.purpose, e.details.reason, e.details.method, e.details.route])).toEqual([
      [checker.id, 'planning-research', 'purpose', 'POST', '/v1/patients/:nhsNumber/preferences'],
      [checker.id, 'planning-research', 'purpose', 'POST', '/v1/decisions']
    ])
    expect(events[1].details.detail).toMatch(/not registered for purpose 'planning-research'/)
  })

  it('names the patient wherever the request does: path, query, FHIR identifier token, CDS Hooks context', async () => {
    const [inPath, inQuery, inFhir, inBareFhir, inCds] = [patient(), patient(), patient(), patient(), patient()]
    const token = (nhs: string): string => encodeURIComponent(`${NHS_SYSTEM}|${nhs}`)
    expectProblem(await send('GET', `/v1/patients/${inPath}/preferences`, checker.auth), 403)
    expectProblem(await send('GET', `/v1/audit?nhsNumber=${inQuery}`, checker.auth), 403)
    const fhir = await send('GET', `/fhir/Consent?patient.identifier=${token(inFhir)}`, checker.auth)
    expect(fhir.statusCode).toBe(403)
    expect(fhir.json()).toMatchObject({ resourceType: 'OperationOutcome' })
    expect((await send('GET', `/fhir/AuditEvent?patient:identifier=${inBareFhir}`, checker.auth)).statusCode).toBe(403)
    const cds = await send('POST', '/cds-services/patient-consent-consult', reader.auth, {
      hook: 'patient-consent-consult',
      hookInstance: randomUUID(),
      context: { patientId: [{ system: NHS_SYSTEM, value: inCds }], purposeOfUse: ['HRESCH'] }
    })
    expectProblem(cds, 403)
    const one = async (nhs: string): Promise<Json> => {
      const events = await refusals(nhs)
      expect(events, nhs).toHaveLength(1)
      return events[0]
    }
    expect((await one(inPath)).details).toMatchObject({
      reason: 'scope',
      method: 'GET',
      route: '/v1/patients/:nhsNumber/preferences'
    })
    expect((await one(inQuery)).details).toMatchObject({ reason: 'scope', route: '/v1/audit' })
    expect((await one(inFhir)).details).toMatchObject({ reason: 'scope', route: '/fhir/Consent' })
    expect((await one(inBareFhir)).details).toMatchObject({ reason: 'scope', route: '/fhir/AuditEvent' })
    expect(await one(inCds)).toMatchObject({
      clientId: reader.id,
      purpose: 'planning-research',
      details: { reason: 'scope', route: '/cds-services/patient-consent-consult' }
    })
  })

  it('an unauthenticated request is not written per patient', async () => {
    const nhs = patient()
    const expired = await forgeAccessToken(t.app, {
      clientId: reader.id,
      iat: Math.floor(Date.now() / 1000) - 3600,
      exp: Math.floor(Date.now() / 1000) - 1800
    })
    const unknownClient = await forgeAccessToken(t.app, { clientId: randomUUID() })
    for (const auth of [{}, bearer('not-a-token'), bearer(expired), bearer(unknownClient)]) {
      expectProblem(await send('POST', '/v1/decisions', auth, { nhsNumber: nhs, purpose: 'planned-care' }), 401)
      expectProblem(await send('GET', `/v1/patients/${nhs}/preferences`, auth), 401)
    }
    expect(await trail(nhs)).toEqual([])
  })

  it('a refused request that names no valid patient writes nothing per patient', async () => {
    const before = await send('GET', '/v1/audit?type=access.refused&limit=500', officer.auth)
    const count = (before.json().items as Json[]).length
    // A wrong check digit names no one; the 403 comes first (before validation).
    expectProblem(await send('POST', '/v1/decisions', reader.auth, { nhsNumber: '9434765918', purpose: 'x' }), 403)
    expectProblem(
      await send('POST', '/v1/filter?purpose=planned-care', reader.auth, 'x', {
        'content-type': 'text/plain'
      }),
      403
    )
    const after = await send('GET', '/v1/audit?type=access.refused&limit=500', officer.auth)
    expect((after.json().items as Json[]).length).toBe(count)
  })

  it('a scope refusal is a 403 whatever else is wrong with the request, and no work is done', async () => {
    const nhs = patient()
    const cases: Array<[string, Record<string, string>, string]> = [
      ['not json', { 'content-type': 'application/json' }, 'malformed JSON'],
      [JSON.stringify({ nhsNumber: nhs, purpose: 'planned-care', colour: 'blue' }), {}, 'an unknown field'],
      [JSON.stringify({ nhsNumber: nhs }), {}, 'a missing field'],
      [`nhsNumber=${nhs}`, { 'content-type': 'text/plain' }, 'a media type /v1 does not take'],
      [JSON.stringify({ nhsNumber: nhs, purpose: 'a\u0000b' }), {}, 'a NUL character']
    ]
    for (const [payload, headers, what] of cases) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: { ...reader.auth, 'content-type': 'application/json', ...headers },
        payload
      })
      expect(res.statusCode, what).toBe(403)
    }
    // Three of those bodies could be read, so they named the patient; none was decided.
    const events = await trail(nhs)
    expect(events.map(e => e.type)).toEqual(['access.refused', 'access.refused', 'access.refused'])
  })

  it('a decision about now with audit:read alone is refused for its scope and audited', async () => {
    const nhs = patient()
    expectProblem(await send('POST', '/v1/decisions', officer.auth, { nhsNumber: nhs, purpose: 'planned-care' }), 403)
    expect((await refusals(nhs)).map(e => [e.clientId, e.details.reason])).toEqual([[officer.id, 'scope']])
  })

  it('as a FHIR AuditEvent: a Security Alert (use of a restricted function), failed, naming the patient', async () => {
    const nhs = patient()
    expectProblem(await send('POST', '/v1/decisions', reader.auth, { nhsNumber: nhs, purpose: 'planned-care' }), 403)
    const res = await send(
      'GET',
      `/fhir/AuditEvent?patient.identifier=${encodeURIComponent(`${NHS_SYSTEM}|${nhs}`)}`,
      officer.auth
    )
    expect(res.statusCode, res.body).toBe(200)
    const [event] = (res.json().entry as Json[]).map(e => e.resource)
    expect(event).toMatchObject({
      type: { code: '110113' },
      subtype: [{ code: '110132' }, { code: 'access.refused' }],
      outcome: '4',
      outcomeDesc: expect.stringMatching(/^refused \(scope\): .*consent:check/),
      agent: [{ who: { identifier: { value: reader.id }, display: 'Wessex GP system' } }, expect.anything()],
      entity: expect.arrayContaining([
        expect.objectContaining({ what: { type: 'Patient', identifier: { system: NHS_SYSTEM, value: nhs } } })
      ])
    })
  })
})

describe('access.refused when the audit cannot be written', () => {
  it('the 403 is still answered, and the missing event is logged', async () => {
    const app = await buildTestApp()
    try {
      const caller = await clientWithToken(app.app, { scopes: ['consent:read'] })
      await app.app.runtime.audit.flush()
      await storeOf(app.app).dropTable('audit_events')
      const nhs = patientSupply(1, 74)()
      const res = await app.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: caller.auth,
        payload: { nhsNumber: nhs, purpose: 'planned-care' }
      })
      expectProblem(res, 403)
      const logged = app.logs.map(l => JSON.parse(l) as Json).find(l => /could not be audited/.test(String(l.msg)))
      expect(logged).toMatchObject({ level: 50, reqId: res.headers['x-request-id'], refused: 'scope' })
      expect(JSON.stringify(logged)).not.toContain(nhs)
    } finally {
      await app.close()
    }
  })
})
