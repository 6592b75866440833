// LEAP CDS clients work unchanged: the request in LEAP CDS's own README (sdhealthconnect/leap-cds,
// README.md "CDS Hook Interface"), its older shape (single objects, scope), TREAT and a request with
// no purpose decided for the configured direct-care purpose (LEAP_TREAT_PURPOSE), patient-privacy
// accepted for every purpose (a National Data Opt-out is a privacy choice), class and content
// accepted and said to be not evaluated, and cards that carry the decision and no nulls.
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import {
  ALL_PURPOSES,
  clientWithToken,
  expectProblem,
  patientSupply,
  recordChoice,
  testConfig,
  freshStore,
  useTestApp,
  type Json,
  type TestApp,
  type TestCaller
} from '../helpers/app.ts'
import { storeOf } from '../helpers/store.ts'

const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number'
const URL_PATH = '/cds-services/patient-consent-consult'
const patient = patientSupply(30, 1313)

/** The JSON paths holding null, at any depth. */
function nullsIn (value: unknown, path = ''): string[] {
  if (value === null) return [path]
  if (typeof value !== 'object') return []
  return Object.entries(value as object).flatMap(([k, v]) => nullsIn(v, `${path}/${k}`))
}

/**
 * LEAP CDS's README request, as published (us-ssn identifier, patient-privacy category, class,
 * TREAT, an OID actor), with the patient's NHS number added alongside its other identifier.
 */
function leapReadmeRequest (nhs: string): Json {
  return {
    hook: 'patient-consent-consult',
    hookInstance: 'hook-instance-123',
    context: {
      patientId: [
        { system: 'http://hl7.org/fhir/sid/us-ssn', value: '111111111' },
        { system: NHS_SYSTEM, value: nhs }
      ],
      category: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }],
      class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'MedicationStatement' }],
      purposeOfUse: ['TREAT'],
      actor: [{ system: 'urn:ietf:rfc:3986', value: '2.16.840.1.113883.20.5' }]
    }
  }
}

/** LEAP CDS's first request shape (its README at commit dcce9bd): single objects, a scope string. */
function leapOlderRequest (nhs: string, purposeOfUse: string, scope = 'patient-privacy'): Json {
  return {
    hook: 'patient-consent-consult',
    hookInstance: crypto.randomUUID(),
    context: {
      patientId: { system: NHS_SYSTEM, value: nhs },
      scope,
      purposeOfUse,
      actor: { system: 'sample-system', value: 'sample-id' }
    }
  }
}

async function post (t: TestApp, caller: TestCaller, body: Json): Promise<LightMyRequestResponse> {
  return await t.app.inject({ method: 'POST', url: URL_PATH, headers: caller.auth, payload: body })
}

/** The one card of a 200 answer; no member of the answer is null. */
async function cardOf (t: TestApp, caller: TestCaller, body: Json): Promise<Json> {
  const res = await post(t, caller, body)
  expect(res.statusCode, res.body).toBe(200)
  expect(nullsIn(res.json()), 'a CDS Hooks answer carries no nulls').toEqual([])
  expect(res.json().cards).toHaveLength(1)
  return res.json().cards[0]
}

describe('LEAP CDS request shapes, with LEAP_TREAT_PURPOSE unset (planned-care)', () => {
  const t = useTestApp()
  let caller: TestCaller
  beforeAll(async () => {
    caller = await clientWithToken(t.app, { purposes: ALL_PURPOSES })
  })

  it("LEAP CDS's README request is answered: TREAT is planned-care, class is echoed as not evaluated", async () => {
    const nhs = patient()
    const c = await cardOf(t, caller, leapReadmeRequest(nhs))
    expect(c).toMatchObject({
      summary: 'NO_CONSENT: default permit',
      indicator: 'warning',
      extension: {
        decision: 'NO_CONSENT',
        defaultDecision: 'permit',
        obligations: [],
        notEvaluated: { class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'MedicationStatement' }] },
        consentDecision: { nhsNumber: nhs, purpose: 'planned-care', decision: 'permit', basis: 'default' }
      }
    })
    expect(c.detail).toMatch(/TREAT was decided as planned-care/)
    expect(c.detail).toMatch(/LEAP_TREAT_PURPOSE/)
    expect(c.detail).toMatch(/not evaluated/)
    const row = await storeOf(t.app).auditRow(c.uuid)
    expect(JSON.parse(String(row?.details)).cdsHooks).toMatchObject({
      purposeOfUse: ['TREAT'],
      notEvaluated: ['class'],
      notes: [expect.stringMatching(/TREAT/)]
    })
  })

  it('a recorded planned-care opt-out makes the README request CONSENT_DENY, based on that Consent', async () => {
    const nhs = patient()
    const optOut = await recordChoice(t.app, caller.auth, nhs, { purpose: 'planned-care', decision: 'deny' })
    const c = await cardOf(t, caller, leapReadmeRequest(nhs))
    expect(c).toMatchObject({
      summary: 'CONSENT_DENY',
      indicator: 'critical',
      extension: { decision: 'CONSENT_DENY', basedOn: expect.stringContaining(`/fhir/Consent/${String(optOut.id)}`) }
    })
    expect(c.extension).not.toHaveProperty('defaultDecision')
  })

  it("LEAP's older shape (objects instead of arrays, a scope string) is answered", async () => {
    const nhs = patient()
    const c = await cardOf(t, caller, leapOlderRequest(nhs, 'TREAT'))
    expect(c.extension).toMatchObject({
      decision: 'NO_CONSENT',
      consentDecision: { nhsNumber: nhs, purpose: 'planned-care' }
    })
    const row = await storeOf(t.app).auditRow(c.uuid)
    expect(JSON.parse(String(row?.details)).cdsHooks).toMatchObject({
      actor: [{ system: 'sample-system', value: 'sample-id' }],
      purposeOfUse: ['TREAT']
    })
    // An invalid NHS number in the older shape is named where it was.
    expectProblem(await post(t, caller, leapOlderRequest('9434765918', 'TREAT')), 400, {
      path: '/context/patientId/value'
    })
    // LEAP's old scope enum also had adr (advance directives) and treatment: not a question this service answers.
    expectProblem(await post(t, caller, leapOlderRequest(nhs, 'TREAT', 'adr')), 400, { path: '/context/scope' })
  })

  it('no purposeOfUse (LEAP allows it) is decided for the configured default, and the card says so', async () => {
    for (const purposeOfUse of [undefined, []]) {
      const body = leapReadmeRequest(patient())
      if (purposeOfUse === undefined) delete body.context.purposeOfUse
      else body.context.purposeOfUse = purposeOfUse
      const c = await cardOf(t, caller, body)
      expect(c.extension.consentDecision.purpose).toBe('planned-care')
      expect(c.detail).toMatch(/No purposeOfUse was sent: decided for planned-care/)
    }
  })

  it(
    'a National Data Opt-out is found by a LEAP-style patient-privacy request about research, ' +
      'and by research (compatibility)',
    async () => {
      const nhs = patient()
      await recordChoice(t.app, caller.auth, nhs, { purpose: 'planning-research', decision: 'deny' })
      const privacy = { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }
      const research = { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research' }
      const asks: Json[] = [
        { ...leapReadmeRequest(nhs), context: { ...leapReadmeRequest(nhs).context, purposeOfUse: ['HRESCH'] } },
        {
          ...leapReadmeRequest(nhs),
          context: { ...leapReadmeRequest(nhs).context, purposeOfUse: 'HRESCH', category: [research] }
        },
        leapOlderRequest(nhs, 'HRESCH'),
        leapOlderRequest(nhs, 'PUBHLTH', 'research'),
        {
          ...leapOlderRequest(nhs, 'HOPERAT'),
          context: { ...leapOlderRequest(nhs, 'HOPERAT').context, category: [privacy] }
        }
      ]
      for (const body of asks) {
        const c = await cardOf(t, caller, body)
        expect(c, JSON.stringify(body.context)).toMatchObject({
          summary: 'CONSENT_DENY',
          extension: { consentDecision: { purpose: 'planning-research', basis: 'patient-preference' } }
        })
      }
    }
  )

  it('context.content (a FHIR Bundle) is accepted, not evaluated, neither returned nor recorded', async () => {
    const body = leapReadmeRequest(patient())
    body.context.content = {
      resourceType: 'Bundle',
      entry: [{ resource: { resourceType: 'MedicationStatement', note: [{ text: 'secret-clinical-note' }] } }]
    }
    const res = await post(t, caller, body)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.body).not.toContain('secret-clinical-note')
    const c = res.json().cards[0]
    expect(c.extension.notEvaluated).toEqual({
      class: body.context.class,
      content: { resourceType: 'Bundle', entries: 1 }
    })
    const row = await storeOf(t.app).auditRow(c.uuid)
    expect(String(row?.details)).not.toContain('secret-clinical-note')
    expect(t.logs.join('')).not.toContain('secret-clinical-note')
  })

  it('every card of every decision basis carries no null (walking the whole answer)', async () => {
    const nhs = patient()
    await recordChoice(t.app, caller.auth, nhs, { purpose: 'unplanned-care', decision: 'deny' })
    for (const purposeOfUse of ['ETREAT', 'planned-care', 'HRESCH']) {
      await cardOf(t, caller, {
        ...leapReadmeRequest(nhs),
        context: { ...leapReadmeRequest(nhs).context, purposeOfUse }
      })
    }
    await cardOf(t, caller, {
      ...leapReadmeRequest(nhs),
      context: {
        patientId: [{ system: NHS_SYSTEM, value: patient() }],
        purposeOfUse: 'summary-care-record',
        pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Unconscious on arrival' },
        userId: 'Practitioner/555021935107'
      }
    })
  })
})

describe('LEAP_TREAT_PURPOSE set to unplanned-care', () => {
  const t = useTestApp({ LEAP_TREAT_PURPOSE: 'unplanned-care' })

  it('TREAT and a request with no purpose are decided for unplanned-care', async () => {
    const caller = await clientWithToken(t.app, { purposes: ALL_PURPOSES })
    const nhs = patient()
    await recordChoice(t.app, caller.auth, nhs, { purpose: 'unplanned-care', decision: 'deny' })
    const c = await cardOf(t, caller, leapReadmeRequest(nhs))
    expect(c).toMatchObject({
      summary: 'CONSENT_DENY',
      extension: { consentDecision: { purpose: 'unplanned-care', basis: 'patient-preference' } }
    })
    expect(c.detail).toMatch(/TREAT was decided as unplanned-care/)
    const none = leapOlderRequest(nhs, 'x')
    delete none.context.purposeOfUse
    expect((await cardOf(t, caller, none)).extension.consentDecision.purpose).toBe('unplanned-care')
  })
})

describe('LEAP_TREAT_PURPOSE naming a purpose that is not direct care', () => {
  const t = useTestApp({ LEAP_TREAT_PURPOSE: 'planning-research' })

  it('TREAT is a 400 that names the variable, never a research decision', async () => {
    const caller = await clientWithToken(t.app, { purposes: ALL_PURPOSES })
    expectProblem(await post(t, caller, leapReadmeRequest(patient())), 400, {
      path: '/context/purposeOfUse',
      detail: /LEAP_TREAT_PURPOSE/
    })
  })
})

describe('LEAP_TREAT_PURPOSE is checked at start', () => {
  it('a value that is not a purpose code stops the service, naming the variable', async () => {
    const store = await freshStore()
    try {
      expect(() => testConfig(store, '/tmp', { LEAP_TREAT_PURPOSE: 'Planned Care' })).toThrow(/LEAP_TREAT_PURPOSE/)
      expect(testConfig(store, '/tmp').leapTreatPurpose).toBe('planned-care')
    } finally {
      await store.drop()
    }
  })
})
