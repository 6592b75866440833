// CDS Hooks patient-consent-consult over HTTP against the real store: one case per decision basis,
// each checked against POST /v1/decisions for the same question, the PurposeOfUse mapping, the
// caller's token deciding what it may ask, and the audit it leaves (JSON and FHIR).
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import {
  ALL_PURPOSES,
  PUBLIC_URL,
  bearer,
  buildTestApp,
  clientWithToken,
  expectProblem,
  patientSupply,
  recordChoice as recordChoiceWith,
  registerClient,
  tokenFor,
  useTestApp,
  type Auth,
  type Json,
  type TestCaller
} from '../helpers/app.ts'
import { storeOf } from '../helpers/store.ts'
import { fhirProblems } from '../helpers/fhir.ts'

const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number'
const HOOK = 'patient-consent-consult'
const t = useTestApp()
/** The clinician at the keyboard, as CDS Hooks names the user, and as POST /v1/decisions takes it. */
const USER_ID = 'Practitioner/555021935107'
const END_USER = { id: '555021935107' }
let main: TestCaller
const patient = patientSupply(40, 31)

function consult (nhs: string, purposeOfUse: string | string[], extra: Json = {}): Json {
  return {
    hook: HOOK,
    hookInstance: crypto.randomUUID(),
    context: { patientId: [{ system: NHS_SYSTEM, value: nhs }], purposeOfUse, ...extra }
  }
}

async function post (
  body: unknown,
  auth: Auth | Record<string, never> = main.auth,
  url = `/cds-services/${HOOK}`
): Promise<LightMyRequestResponse> {
  return await t.app.inject({ method: 'POST', url, headers: auth, payload: body as Json })
}

/** The one card of a 200 answer, checked against the LEAP response shape and CDS Hooks' card rules. */
async function card (body: Json, auth: Auth = main.auth): Promise<Json> {
  const res = await post(body, auth)
  expect(res.statusCode, res.body).toBe(200)
  const answer = res.json()
  expect(answer.cards).toHaveLength(1)
  expect(nullsIn(answer), 'a card carries no nulls').toEqual([])
  const c = answer.cards[0]
  expect(c).toMatchObject({
    summary: expect.stringMatching(/^(CONSENT_PERMIT|CONSENT_DENY|NO_CONSENT: default (permit|deny))$/),
    detail: expect.any(String),
    source: { label: expect.any(String), url: `${PUBLIC_URL}/docs` }
  })
  expect(c.summary.length).toBeLessThan(140)
  expect(c.indicator).toBe(
    { CONSENT_PERMIT: 'info', NO_CONSENT: 'warning', CONSENT_DENY: 'critical' }[c.extension.decision as string]
  )
  expect(c.summary.startsWith(c.extension.decision), c.summary).toBe(true)
  expect(c.extension.obligations).toEqual([])
  expect(c.uuid).toBe(c.extension.consentDecision.auditId)
  return c
}

/** The JSON paths holding null, at any depth. */
function nullsIn (value: unknown, path = ''): string[] {
  if (value === null) return [path]
  if (typeof value !== 'object') return []
  return Object.entries(value as object).flatMap(([k, v]) => nullsIn(v, `${path}/${k}`))
}

async function decided (body: Json, auth: Auth = main.auth): Promise<Json> {
  const res = await t.app.inject({ method: 'POST', url: '/v1/decisions', headers: auth, payload: body })
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

/**
 * The same question asked of POST /v1/decisions gives the same decision, basis and deciding choice
 * (the card leaves out the members that are null there).
 */
async function sameAsJsonApi (c: Json, body: Json, auth: Auth = main.auth): Promise<void> {
  const d = await decided(body, auth)
  const { decidedAt: _a, auditId: _b, alertId: _c, ...all } = d
  const expected = Object.fromEntries(Object.entries(all).filter(([, v]) => v !== null))
  const { decidedAt: _d, auditId: _e, alertId: _f, ...actual } = c.extension.consentDecision
  expect(actual).toEqual(expected)
}

const recordChoice = async (nhsNumber: string, body: Json): Promise<Json> =>
  await recordChoiceWith(t.app, main.auth, nhsNumber, body)

beforeAll(async () => {
  main = await clientWithToken(t.app, { purposes: [...ALL_PURPOSES, 'cancer-research-programme'] })
  const res = await t.app.inject({
    method: 'POST',
    url: '/v1/purposes',
    headers: main.auth,
    payload: {
      code: 'cancer-research-programme',
      name: 'Cancer research programme',
      category: 'secondary-use',
      parent: 'planning-research',
      defaultDecision: 'deny'
    }
  })
  expect(res.statusCode, res.body).toBe(201)
})

describe('GET /cds-services', () => {
  it('discovery lists the patient-consent-consult service, without a token', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/cds-services' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({
      services: [
        expect.objectContaining({ hook: HOOK, id: HOOK, description: expect.any(String), title: expect.any(String) })
      ]
    })
  })
})

describe('one card per decision basis, the same decision as POST /v1/decisions', () => {
  it('default: no recorded choice applies, so NO_CONSENT, with the default (permit) in the extension', async () => {
    const nhs = patient()
    const c = await card(consult(nhs, 'planned-care'))
    expect(c).toMatchObject({
      summary: 'NO_CONSENT: default permit',
      extension: {
        decision: 'NO_CONSENT',
        defaultDecision: 'permit',
        consentDecision: { decision: 'permit', basis: 'default' }
      }
    })
    expect(c.extension.basedOn).toBeUndefined()
    expect(c.extension.consentDecision).not.toHaveProperty('preference')
    await sameAsJsonApi(c, { nhsNumber: nhs, purpose: 'planned-care' })
  })

  it('default of an opt-in programme: NO_CONSENT, and the extension says deny', async () => {
    const nhs = patient()
    const c = await card(consult(nhs, 'cancer-research-programme'))
    expect(c).toMatchObject({
      summary: 'NO_CONSENT: default deny',
      extension: {
        decision: 'NO_CONSENT',
        defaultDecision: 'deny',
        consentDecision: { decision: 'deny', basis: 'default' }
      }
    })
    await sameAsJsonApi(c, { nhsNumber: nhs, purpose: 'cancer-research-programme' })
  })

  it('patient-preference deny: a National Data Opt-out asked as HRESCH is CONSENT_DENY, ' +
    "based on that choice's FHIR Consent", async () => {
    const nhs = patient()
    const optOut = await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny' })
    const c = await card(
      consult(nhs, ['HRESCH'], {
        category: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research' }]
      })
    )
    expect(c).toMatchObject({
      summary: 'CONSENT_DENY',
      extension: {
        basedOn: `${PUBLIC_URL}/fhir/Consent/${String(optOut.id)}`,
        consentDecision: {
          purpose: 'planning-research',
          decision: 'deny',
          basis: 'patient-preference',
          preference: { id: optOut.id }
        }
      }
    })
    await sameAsJsonApi(c, { nhsNumber: nhs, purpose: 'planning-research' })
    // basedOn resolves on this service's FHIR API to the choice that decided.
    const consent = await t.app.inject({
      method: 'GET',
      url: new URL(c.extension.basedOn).pathname,
      headers: main.auth
    })
    expect(consent.statusCode).toBe(200)
    expect(fhirProblems(consent.json())).toEqual([])
    expect(consent.json()).toMatchObject({
      status: 'active',
      provision: { type: 'deny' },
      // An opt-out of sharing is a privacy consent, research or not; research shows as the category.
      scope: { coding: [{ code: 'patient-privacy' }] },
      category: expect.arrayContaining([
        expect.objectContaining({ coding: [expect.objectContaining({ code: 'research' })] })
      ])
    })
  })

  it('patient-preference permit: an opt-in to the programme is CONSENT_PERMIT', async () => {
    const nhs = patient()
    const optIn = await recordChoice(nhs, { purpose: 'cancer-research-programme', decision: 'permit' })
    const c = await card(consult(nhs, 'cancer-research-programme'))
    expect(c).toMatchObject({
      summary: 'CONSENT_PERMIT',
      extension: {
        basedOn: `${PUBLIC_URL}/fhir/Consent/${String(optIn.id)}`,
        consentDecision: { decision: 'permit', basis: 'patient-preference' }
      }
    })
    await sameAsJsonApi(c, { nhsNumber: nhs, purpose: 'cancer-research-programme' })
  })

  it('exemption: a caller with a legal-requirement exemption gets CONSENT_PERMIT over a National Data Opt-out, ' +
    'the opt-out named', async () => {
    const exempt = await clientWithToken(t.app, {
      exemptions: [{ purpose: 'planning-research', basis: 'legal-requirement', reference: 'Court order 1' }]
    })
    const nhs = patient()
    const optOut = await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny' })
    const c = await card(consult(nhs, 'PUBHLTH'), exempt.auth)
    expect(c).toMatchObject({
      summary: 'CONSENT_PERMIT',
      extension: {
        basedOn: `${PUBLIC_URL}/fhir/Consent/${String(optOut.id)}`,
        consentDecision: { basis: 'exemption', exemption: { basis: 'legal-requirement', reference: 'Court order 1' } }
      }
    })
    await sameAsJsonApi(c, { nhsNumber: nhs, purpose: 'planning-research' }, exempt.auth)
    // Without the exemption the same question is denied.
    expect((await card(consult(nhs, 'PUBHLTH'))).summary).toBe('CONSENT_DENY')
  })

  it('point-of-care: the Summary Care Record with permission granted is CONSENT_PERMIT, ' +
    'refused or not asked CONSENT_DENY', async () => {
    const nhs = patient()
    const cases: Array<[Json | undefined, string]> = [
      [{ permissionToView: 'granted' }, 'CONSENT_PERMIT'],
      [{ permissionToView: 'refused' }, 'CONSENT_DENY'],
      [undefined, 'CONSENT_DENY']
    ]
    for (const [pointOfCare, summary] of cases) {
      const c = await card(
        consult(nhs, 'summary-care-record', pointOfCare === undefined ? {} : { pointOfCare, userId: USER_ID })
      )
      expect(c).toMatchObject({ summary, extension: { consentDecision: { basis: 'point-of-care' } } })
      await sameAsJsonApi(c, {
        nhsNumber: nhs,
        purpose: 'summary-care-record',
        ...(pointOfCare === undefined ? {} : { pointOfCare, endUser: END_USER })
      })
    }
  })

  it('emergency-access: unable to ask, with a reason, ' +
    'is CONSENT_PERMIT and raises an alert for the privacy officer', async () => {
    const nhs = patient()
    const c = await card(
      consult(nhs, 'summary-care-record', {
        pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Unconscious on arrival' },
        userId: USER_ID
      })
    )
    expect(c).toMatchObject({
      summary: 'CONSENT_PERMIT',
      extension: { consentDecision: { basis: 'emergency-access', alertId: expect.any(String) } }
    })
    const alerts = (await t.app.inject({ method: 'GET', url: '/v1/alerts?status=open', headers: main.auth })).json()
      .items as Json[]
    expect(alerts.find(a => a.id === c.extension.consentDecision.alertId)).toMatchObject({
      nhsNumber: nhs,
      purpose: 'summary-care-record',
      reason: 'Unconscious on arrival',
      clientId: main.id,
      endUser: END_USER
    })
    // Without a reason it is refused, as on POST /v1/decisions.
    expectProblem(
      await post(consult(nhs, 'summary-care-record', { pointOfCare: { permissionToView: 'unable-to-ask' } })),
      400,
      { path: '/context/pointOfCare/reason' }
    )
  })

  it('an unplanned-care opt-out: ETREAT is CONSENT_DENY, ' +
    'and the Summary Care Record below it stays denied even in an emergency', async () => {
    const nhs = patient()
    await recordChoice(nhs, { purpose: 'unplanned-care', decision: 'deny' })
    const c = await card(consult(nhs, 'ETREAT'))
    expect(c).toMatchObject({
      summary: 'CONSENT_DENY',
      extension: { consentDecision: { purpose: 'unplanned-care', basis: 'patient-preference' } }
    })
    const scr = await card(
      consult(nhs, 'summary-care-record', {
        pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Unconscious' },
        userId: USER_ID
      })
    )
    expect(scr).toMatchObject({
      summary: 'CONSENT_DENY',
      extension: { consentDecision: { basis: 'patient-preference' } }
    })
    expect(scr.extension.consentDecision).not.toHaveProperty('alertId')
  })
})

describe('audited like any other decision', () => {
  it('the card names the committed audit event, which records the caller, the decision and the CDS context, ' +
    'and shows in the FHIR AuditEvent trail', async () => {
    const nhs = patient()
    const actor = [{ system: 'https://fhir.nhs.uk/Id/sds-user-id', value: '555021935107' }]
    const body = consult(nhs, ['HOPERAT', 'planning-research'], { actor })
    const c = await card(body)
    const row = await storeOf(t.app).auditRow(c.uuid)
    expect(row).toMatchObject({
      type: 'decision',
      nhsNumber: nhs,
      purpose: 'planning-research',
      outcome: 'permit',
      clientId: main.id
    })
    expect(JSON.parse(String(row?.details))).toMatchObject({
      basis: 'default',
      cdsHooks: { hookInstance: body.hookInstance, purposeOfUse: ['HOPERAT', 'planning-research'], actor }
    })
    const bundle = await t.app.inject({
      method: 'GET',
      url: `/fhir/AuditEvent?patient.identifier=${encodeURIComponent(`${NHS_SYSTEM}|${nhs}`)}`,
      headers: main.auth
    })
    const event = bundle.json().entry[0].resource
    expect(fhirProblems(event)).toEqual([])
    expect(event).toMatchObject({
      id: c.uuid,
      outcome: '0',
      purposeOfEvent: [{ coding: [{ code: 'planning-research' }] }, { coding: [{ code: 'HOPERAT' }] }]
    })
    expect(event.agent).toContainEqual(expect.objectContaining({ who: { identifier: actor[0] }, requestor: false }))
  })
})

describe('fails closed like POST /v1/decisions', () => {
  it('when the audit cannot be written the answer is 503, never a card', async () => {
    const broken = await buildTestApp()
    try {
      const caller = await clientWithToken(broken.app)
      await storeOf(broken.app).dropTable('audit_events')
      const res = await broken.app.inject({
        method: 'POST',
        url: `/cds-services/${HOOK}`,
        headers: caller.auth,
        payload: consult(patient(), 'ETREAT')
      })
      const body = expectProblem(res, 503)
      expect(body).not.toHaveProperty('cards')
      expect(res.headers['retry-after']).toBeDefined()
    } finally {
      await broken.close()
    }
  })
})

describe("the caller's token decides what it may ask", () => {
  it('no token is 401; a token without consent:check is 403; ' +
    'a purpose the client is not registered for is 403', async () => {
    expectProblem(await post(consult(patient(), 'planned-care'), {}), 401)
    const reader = await registerClient(t.app, { scopes: ['consent:read'] })
    expectProblem(await post(consult(patient(), 'planned-care'), bearer(await tokenFor(t.app, reader))), 403)
    const edOnly = await clientWithToken(t.app, { purposes: ['unplanned-care'] })
    expect((await card(consult(patient(), 'ETREAT'), edOnly.auth)).extension.decision).toBe('NO_CONSENT')
    // Allowed unplanned-care, so the Summary Care Record below it too; never research.
    expect(
      (
        await card(
          consult(patient(), 'summary-care-record', { pointOfCare: { permissionToView: 'granted' }, userId: USER_ID }),
          edOnly.auth
        )
      ).summary
    ).toBe('CONSENT_PERMIT')
    expectProblem(await post(consult(patient(), 'HRESCH'), edOnly.auth), 403, { path: '/context/purposeOfUse' })
  })
})

describe('bad requests are 400s that say what is wrong', () => {
  it('purposeOfUse: unknown codes and several purposes are refused (TREAT and none at all: ' +
    'test/ecosystem/cds-leap.test.ts)', async () => {
    for (const purposeOfUse of ['HMARKT', ['ETREAT', 'HRESCH'], ['TREAT', 'ETREAT']]) {
      expectProblem(await post(consult(patient(), purposeOfUse as string)), 400, { path: '/context/purposeOfUse' })
    }
  })

  it('the patient must be named by a valid NHS number, once; other identifiers alongside it are fine', async () => {
    const nhs = patient()
    expect(
      (
        await card({
          ...consult(nhs, 'planned-care'),
          context: {
            patientId: [
              { system: 'urn:oid:2.16.840.1.113883.2.1.4.1', value: 'local-1' },
              { system: NHS_SYSTEM, value: nhs }
            ],
            purposeOfUse: 'planned-care'
          }
        })
      ).extension.consentDecision.nhsNumber
    ).toBe(nhs)
    expectProblem(
      await post({
        ...consult(nhs, 'planned-care'),
        context: { patientId: [{ system: 'urn:other', value: nhs }], purposeOfUse: 'planned-care' }
      }),
      400,
      { path: '/context/patientId' }
    )
    const invalid = expectProblem(await post(consult('9434765918', 'planned-care')), 400, {
      path: '/context/patientId/0/value'
    })
    expect(JSON.stringify(invalid)).not.toContain('9434765918')
    expectProblem(
      await post({
        ...consult(nhs, 'planned-care'),
        context: {
          patientId: [
            { system: NHS_SYSTEM, value: nhs },
            { system: NHS_SYSTEM, value: patient() }
          ],
          purposeOfUse: 'planned-care'
        }
      }),
      400,
      { path: '/context/patientId' }
    )
  })

  it("scope and category must be patient-privacy or those of the purpose's Consents", async () => {
    const nhs = patient()
    expect(
      (
        await card(
          consult(nhs, 'ETREAT', {
            scope: 'patient-privacy',
            category: [{ system: 'http://loinc.org', code: '59284-0' }]
          })
        )
      ).extension.decision
    ).toBe('NO_CONSENT')
    expectProblem(await post(consult(nhs, 'ETREAT', { scope: 'research' })), 400, { path: '/context/scope' })
    expectProblem(await post(consult(nhs, 'ETREAT', { scope: 'adr' })), 400, { path: '/context/scope' })
    expectProblem(
      await post(
        consult(nhs, 'ETREAT', {
          category: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research' }]
        })
      ),
      400,
      { path: '/context/category' }
    )
  })

  it('the wrong hook, unknown context fields, a malformed body, and an unknown service', async () => {
    expectProblem(await post({ ...consult(patient(), 'planned-care'), hook: 'order-sign' }), 400, { path: '/hook' })
    expectProblem(
      await post(
        consult(patient(), 'planned-care', { encounterId: 'Encounter/1' })
      ),
      400,
      { path: '/context/encounterId' }
    )
    expectProblem(await post({ hook: HOOK, context: { patientId: [] } }), 400)
    expectProblem(
      await t.app.inject({
        method: 'POST',
        url: `/cds-services/${HOOK}`,
        headers: { ...main.auth, 'content-type': 'application/json' },
        payload: '{"hook":'
      }),
      400
    )
    expect((await post(consult(patient(), 'planned-care'), main.auth, '/cds-services/order-sign')).statusCode).toBe(404)
  })

  it('accepts the CDS Hooks fields it does not need (fhirServer, fhirAuthorization, ' +
    'prefetch) without using or recording them', async () => {
    const body = {
      ...consult(patient(), 'planned-care'),
      fhirServer: 'https://ehr.example.nhs.uk/fhir',
      fhirAuthorization: {
        access_token: 'secret-ehr-token',
        token_type: 'Bearer',
        expires_in: 300,
        scope: 'patient/*.read',
        subject: 'consent'
      },
      prefetch: {}
    }
    const c = await card(body)
    const row = await storeOf(t.app).auditRow(c.uuid)
    expect(String(row?.details)).not.toContain('secret-ehr-token')
    expect(t.logs.join('')).not.toContain('secret-ehr-token')
  })
})

describe('who asked: context.userId is the end user (SPEC §2 "Who asked")', () => {
  it('context.userId (Practitioner/<SDS user ID> or the bare id) is stored as the end user of the audit ' +
    'event', async () => {
    const cis2 = 'Practitioner/8c5e2a57-0f3e-4bde-9a6e-2d1c5e8f9b10'
    for (const userId of ['Practitioner/555021935107', '555021935107', cis2]) {
      const c = await card(consult(patient(), 'planned-care', { userId }))
      const row = await storeOf(t.app).auditRow(c.uuid as string)
      expect(JSON.parse(String(row?.endUser))).toEqual({ id: userId.replace('Practitioner/', '') })
    }
  })

  it('a consult with a point of care but no context.userId is a 400 naming /context/userId', async () => {
    for (const pointOfCare of [
      { permissionToView: 'granted' },
      { permissionToView: 'unable-to-ask', reason: 'Unconscious on arrival' }
    ]) {
      const body = expectProblem(await post(consult(patient(), 'summary-care-record', { pointOfCare })), 400, {
        path: '/context/userId'
      })
      expect(body.detail).toMatch(/context\.userId/)
    }
  })

  it('a context.userId that is not a Practitioner SDS user ID is a 400 naming it', async () => {
    for (const userId of ['Practitioner/jane', 'PractitionerRole/555021935107', 'Patient/555021935107', '']) {
      expectProblem(await post(consult(patient(), 'planned-care', { userId })), 400, { path: '/context/userId' })
    }
  })

  it('a client registered with requireEndUser must send context.userId on every consult', async () => {
    const strict = await clientWithToken(t.app, { scopes: ['consent:check'], purposes: ['planned-care'] })
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${strict.id}`,
      headers: main.auth,
      payload: { requireEndUser: true }
    })
    expect(patched.statusCode, patched.body).toBe(200)
    expectProblem(await post(consult(patient(), 'planned-care'), strict.auth), 400, { path: '/context/userId' })
    expect(
      (await card(consult(patient(), 'planned-care', { userId: USER_ID }), strict.auth)).extension.decision
    ).toBe('NO_CONSENT')
  })

  it('a consult is always about now: its context carries no asOf (400), so it can never replay', async () => {
    expectProblem(await post(consult(patient(), 'planning-research', { asOf: '2020-01-01' })), 400, {
      path: '/context/asOf'
    })
    const c = await card(consult(patient(), 'planning-research'))
    expect(c.extension.consentDecision).toMatchObject({ replay: false })
    expect(c.extension.consentDecision).not.toHaveProperty('asOf')
  })
})
