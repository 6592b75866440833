// POST /v1/decisions over HTTP against the real store (SPEC §2 "Decision rules", §3). Test names
// carry the SPEC rule they check.
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import {
  ALL_PURPOSES,
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
} from '../../helpers/app.ts'
import { storeOf } from '../../helpers/store.ts'

const t = useTestApp()
/** The person at the keyboard (SPEC §2 "Who asked"): every request with a point of care names one. */
const clinician = { id: '555021935107', name: 'Dr Jane Example', role: 'R8000', organisation: 'RBA' }
let main: TestCaller
/** A patient no other test touches. */
const patient = patientSupply(60, 11)

async function decide (
  body: unknown,
  auth: Auth = main.auth,
  headers: Record<string, string> = {}
): Promise<LightMyRequestResponse> {
  return await t.app.inject({
    method: 'POST',
    url: '/v1/decisions',
    headers: { ...auth, ...headers },
    payload: body as Record<string, unknown>
  })
}

async function decided (body: Json, auth: Auth = main.auth): Promise<Json> {
  const res = await decide(body, auth)
  expect(res.statusCode, res.body).toBe(200)
  return res.json()
}

const recordChoice = async (nhsNumber: string, body: Json): Promise<Json> =>
  await recordChoiceWith(t.app, main.auth, nhsNumber, body)

beforeAll(async () => {
  main = await clientWithToken(t.app)
})

describe('rule 1: validate the request', () => {
  it('rule 1: accepts the plain, spaced and hyphenated NHS number forms and answers in the 10-digit form', async () => {
    for (const form of ['9434765919', '943 476 5919', '943-476-5919']) {
      const d = await decided({ nhsNumber: form, purpose: 'planned-care' })
      expect(d.nhsNumber).toBe('9434765919')
    }
  })

  it(
    'rule 1: an invalid NHS number is a 400 problem+json on /nhsNumber whose message says what is wrong, ' +
      'never echoing the number',
    async () => {
      const cases = [
        { input: '943476591', says: /10 digits/ }, // length
        { input: '94347659191', says: /10 digits/ }, // length
        { input: '94347A5919', says: /digits 0-9/ }, // non-digit
        { input: '9434765918', says: /check digit/ }, // wrong check digit
        { input: '9434765030', says: /check digit.*10/ } // check digit calculation gives 10
      ]
      const messages = new Set<string>()
      for (const c of cases) {
        const body = expectProblem(await decide({ nhsNumber: c.input, purpose: 'planned-care' }), 400)
        expect(body.errors[0].path).toBe('/nhsNumber')
        expect(body.errors[0].message).toMatch(c.says)
        expect(body.detail).not.toContain(c.input)
        expect(JSON.stringify(body)).not.toContain(c.input)
        messages.add(body.errors[0].message)
      }
      // length (9 and 11 digits say how many they found), non-digit, check digit, check digit 10
      expect(messages.size).toBe(5)
    }
  )

  it('rule 1: an unknown purpose is a 400 on /purpose', async () => {
    const body = expectProblem(await decide({ nhsNumber: patient(), purpose: 'no-such-purpose' }), 400)
    expect(body.errors[0].path).toBe('/purpose')
    expect(body.errors[0].message).toMatch(/unknown purpose/)
  })

  it('rule 1: a purpose the client is not registered for is a 403', async () => {
    const planned = await clientWithToken(t.app, { purposes: ['planned-care'] })
    expectProblem(await decide({ nhsNumber: patient(), purpose: 'planning-research' }, planned.auth), 403)
    expectProblem(await decide({ nhsNumber: patient(), purpose: 'gp-data-secondary-use' }, planned.auth), 403)
    expect((await decided({ nhsNumber: patient(), purpose: 'planned-care' }, planned.auth)).decision).toBe('permit')
  })

  it('rule 1: a client registered for an ancestor purpose is allowed the purposes under it', async () => {
    const ed = await clientWithToken(t.app, { purposes: ['unplanned-care'] })
    const d = await decided(
      {
        nhsNumber: patient(),
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'granted' },
        endUser: clinician
      },
      ed.auth
    )
    expect(d).toMatchObject({ purpose: 'summary-care-record', decision: 'permit' })
    expectProblem(await decide({ nhsNumber: patient(), purpose: 'planned-care' }, ed.auth), 403)
  })

  it('rule 1: a token without consent:check is a 403; no token is a 401', async () => {
    const reader = await registerClient(t.app, { scopes: ['consent:read', 'consent:write'] })
    const token = await tokenFor(t.app, reader)
    const body = expectProblem(await decide({ nhsNumber: patient(), purpose: 'planned-care' }, bearer(token)), 403)
    expect(body.detail).toMatch(/consent:check/)
    // A client that holds the scope but asked for a token without it.
    const narrow = await tokenFor(t.app, main, 'consent:read')
    expectProblem(await decide({ nhsNumber: patient(), purpose: 'planned-care' }, bearer(narrow)), 403)
    expectProblem(
      await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        payload: { nhsNumber: patient(), purpose: 'planned-care' }
      }),
      401
    )
  })

  it('rule 1: an unknown body field, a missing field or a wrong type is a 400 naming the field', async () => {
    let body = expectProblem(await decide({ nhsNumber: patient(), purpose: 'planned-care', colour: 'blue' }), 400)
    expect(body.errors[0].path).toBe('/colour')
    body = expectProblem(await decide({ nhsNumber: patient() }), 400)
    expect(body.errors[0].path).toBe('/purpose')
    body = expectProblem(await decide({ nhsNumber: 9434765919, purpose: 'planned-care' }), 400)
    expect(body.errors[0].path).toBe('/nhsNumber')
    body = expectProblem(await decide({ nhsNumber: patient(), purpose: 'planned-care', asOf: 'yesterday' }), 400)
    expect(body.errors[0].path).toBe('/asOf')
    body = expectProblem(
      await decide({
        nhsNumber: patient(),
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'maybe' }
      }),
      400
    )
    expect(body.errors[0].path).toBe('/pointOfCare/permissionToView')
  })
})

describe('rules 2-3: effective preference and combination', () => {
  it('rule 3: with no recorded choice the purpose default permits (basis default)', async () => {
    const d = await decided({ nhsNumber: patient(), purpose: 'planning-research' })
    expect(d).toMatchObject({
      decision: 'permit',
      basis: 'default',
      preference: null,
      pendingChange: null,
      exemption: null,
      alertId: null
    })
  })

  it(
    'rule 3: a National Data Opt-out (planning-research deny) denies gp-data-secondary-use, ' +
      'reporting the planning-research record',
    async () => {
      const nhs = patient()
      const ndoo = await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny' })
      const d = await decided({ nhsNumber: nhs, purpose: 'gp-data-secondary-use' })
      expect(d).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
      expect(d.preference).toEqual({
        id: ndoo.id,
        purpose: 'planning-research',
        decision: 'deny',
        effectiveFrom: ndoo.effectiveFrom,
        recordedAt: ndoo.recordedAt,
        source: 'gp-practice'
      })
      expect((await decided({ nhsNumber: nhs, purpose: 'planning-research' })).decision).toBe('deny')
    }
  )

  it('rule 3: a Type 1 opt-out (gp-data-secondary-use deny) does not deny other planning and research', async () => {
    const nhs = patient()
    const type1 = await recordChoice(nhs, { purpose: 'gp-data-secondary-use', decision: 'deny' })
    expect(await decided({ nhsNumber: nhs, purpose: 'planning-research' })).toMatchObject({
      decision: 'permit',
      basis: 'default'
    })
    const d = await decided({ nhsNumber: nhs, purpose: 'gp-data-secondary-use' })
    expect(d).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
    expect(d.preference.id).toBe(type1.id)
  })

  it('rule 3: an SCR opt-out does not stop other unplanned-care sharing', async () => {
    const nhs = patient()
    await recordChoice(nhs, { purpose: 'summary-care-record', decision: 'deny' })
    expect(await decided({ nhsNumber: nhs, purpose: 'unplanned-care' })).toMatchObject({
      decision: 'permit',
      basis: 'default'
    })
    expect(
      await decided({
        nhsNumber: nhs,
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'granted' },
        endUser: clinician
      })
    ).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
  })

  it('rule 3: an opt-out of unplanned care covers the Summary Care Record below it', async () => {
    const nhs = patient()
    await recordChoice(nhs, { purpose: 'unplanned-care', decision: 'deny' })
    const d = await decided({
      nhsNumber: nhs,
      purpose: 'summary-care-record',
      pointOfCare: { permissionToView: 'granted' },
      endUser: clinician
    })
    expect(d).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
    expect(d.preference.purpose).toBe('unplanned-care')
  })

  it('rule 3: a permit recorded at the purpose itself permits with basis patient-preference', async () => {
    const nhs = patient()
    await recordChoice(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2024-01-01T00:00:00.000Z'
    })
    const permit = await recordChoice(nhs, {
      purpose: 'planning-research',
      decision: 'permit',
      effectiveFrom: '2024-06-01T00:00:00.000Z'
    })
    const d = await decided({ nhsNumber: nhs, purpose: 'planning-research' })
    expect(d).toMatchObject({ decision: 'permit', basis: 'patient-preference' })
    expect(d.preference.id).toBe(permit.id)
  })

  it('rule 2: the record with the latest effectiveFrom decides, not the one recorded last', async () => {
    const nhs = patient()
    const deny = await recordChoice(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2024-06-01T00:00:00.000Z'
    })
    // Recorded later, but a form signed earlier: superseded by the deny already in force.
    await recordChoice(nhs, {
      purpose: 'planning-research',
      decision: 'permit',
      effectiveFrom: '2024-01-01T00:00:00.000Z'
    })
    const d = await decided({ nhsNumber: nhs, purpose: 'planning-research' })
    expect(d).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
    expect(d.preference.id).toBe(deny.id)
  })
})

describe('rule 4: exemptions', () => {
  const exemption = { purpose: 'planning-research', basis: 'legal-requirement' as const, reference: 'Court order 1' }

  it('rule 4: a legal-requirement exemption on planning-research lifts a National Data Opt-out', async () => {
    const exempt = await clientWithToken(t.app, { purposes: ALL_PURPOSES, exemptions: [exemption] })
    const nhs = patient()
    const ndoo = await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny' })
    const d = await decided({ nhsNumber: nhs, purpose: 'planning-research' }, exempt.auth)
    expect(d).toMatchObject({ decision: 'permit', basis: 'exemption' })
    expect(d.exemption).toEqual(exemption)
    expect(d.preference.id).toBe(ndoo.id)
    // The same patient, asked by a caller without the exemption, stays opted out.
    expect(await decided({ nhsNumber: nhs, purpose: 'planning-research' })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      exemption: null
    })
  })

  it('rule 4: the planning-research exemption does not lift a Type 1 opt-out on gp-data-secondary-use', async () => {
    const exempt = await clientWithToken(t.app, { purposes: ALL_PURPOSES, exemptions: [exemption] })
    const nhs = patient()
    await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny' })
    const type1 = await recordChoice(nhs, { purpose: 'gp-data-secondary-use', decision: 'deny' })
    expect(await decided({ nhsNumber: nhs, purpose: 'planning-research' }, exempt.auth)).toMatchObject({
      decision: 'permit',
      basis: 'exemption'
    })
    const d = await decided({ nhsNumber: nhs, purpose: 'gp-data-secondary-use' }, exempt.auth)
    expect(d).toMatchObject({ decision: 'deny', basis: 'patient-preference', exemption: null })
    expect(d.preference.id).toBe(type1.id)
  })
})

describe('rule 5: point of care for summary-care-record', () => {
  it(
    'rule 5: without pointOfCare the answer is deny, basis point-of-care, ' + 'saying permission to view must be asked',
    async () => {
      const d = await decided({ nhsNumber: patient(), purpose: 'summary-care-record' })
      expect(d).toMatchObject({ decision: 'deny', basis: 'point-of-care', alertId: null })
      expect(d.reason).toMatch(/permission to view/i)
    }
  )

  it('rule 5: permission granted permits; refused denies', async () => {
    const nhs = patient()
    expect(
      await decided({
        nhsNumber: nhs,
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'granted' },
        endUser: clinician
      })
    ).toMatchObject({ decision: 'permit', basis: 'point-of-care', alertId: null })
    expect(
      await decided({
        nhsNumber: nhs,
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'refused' },
        endUser: clinician
      })
    ).toMatchObject({ decision: 'deny', basis: 'point-of-care', alertId: null })
  })

  it(
    'rule 5: unable-to-ask with a reason permits as emergency access and raises an open alert for the privacy ' +
      'officer',
    async () => {
      const nhs = patient()
      const reason = 'Patient unconscious on arrival'
      const d = await decided({
        nhsNumber: nhs,
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'unable-to-ask', reason },
        endUser: clinician
      })
      expect(d).toMatchObject({ decision: 'permit', basis: 'emergency-access', preference: null, exemption: null })
      expect(d.alertId).toEqual(expect.any(String))
      const res = await t.app.inject({ method: 'GET', url: '/v1/alerts?status=open', headers: main.auth })
      expect(res.statusCode, res.body).toBe(200)
      const alert = (res.json().items as Json[]).find(a => a.id === d.alertId)
      expect(alert).toMatchObject({
        id: d.alertId,
        auditId: d.auditId,
        nhsNumber: nhs,
        purpose: 'summary-care-record',
        clientId: main.id,
        reason,
        status: 'open'
      })
    }
  )

  it('rule 5: unable-to-ask without a reason (or a blank one) is a 400 on /pointOfCare/reason', async () => {
    for (const pointOfCare of [
      { permissionToView: 'unable-to-ask' },
      { permissionToView: 'unable-to-ask', reason: '   ' }
    ]) {
      const body = expectProblem(
        await decide({ nhsNumber: patient(), purpose: 'summary-care-record', pointOfCare }),
        400
      )
      expect(body.errors[0].path).toBe('/pointOfCare/reason')
    }
  })

  it(
    'rule 5: a recorded SCR dissent stays deny even when the patient is unable to be asked, ' + 'and raises no alert',
    async () => {
      const nhs = patient()
      const dissent = await recordChoice(nhs, { purpose: 'summary-care-record', decision: 'deny' })
      const d = await decided({
        nhsNumber: nhs,
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Unconscious' },
        endUser: clinician
      })
      expect(d).toMatchObject({ decision: 'deny', basis: 'patient-preference', alertId: null })
      expect(d.preference.id).toBe(dissent.id)
      const alerts = (await t.app.inject({ method: 'GET', url: '/v1/alerts', headers: main.auth })).json()
        .items as Json[]
      expect(alerts.filter(a => a.nhsNumber === nhs)).toEqual([])
    }
  )

  it(
    'rule 5: unable-to-ask is not emergency access for a purpose that does not require permission to ' + 'view',
    async () => {
      const d = await decided({
        nhsNumber: patient(),
        purpose: 'unplanned-care',
        pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Unconscious' },
        endUser: clinician
      })
      expect(d).toMatchObject({ decision: 'permit', basis: 'default', alertId: null })
    }
  )

  it(
    'rule 5: permissionToView refused denies on any purpose (planned-care), over a recorded permit and an ' +
      'exemption, and the refusal is in the audit',
    async () => {
      const nhs = patient()
      await recordChoice(nhs, { purpose: 'planned-care', decision: 'permit' })
      for (const purpose of ['planned-care', 'unplanned-care']) {
        const d = await decided({
          nhsNumber: nhs,
          purpose,
          pointOfCare: { permissionToView: 'refused' },
          endUser: clinician
        })
        expect(d).toMatchObject({
          decision: 'deny',
          basis: 'point-of-care',
          reason: 'Patient refused permission to view at the point of care',
          alertId: null
        })
        const event = await storeOf(t.app).auditRow(d.auditId)
        expect(JSON.parse(event?.details ?? '{}').pointOfCare).toEqual({ permissionToView: 'refused' })
      }
      // An exemption lifts opt-outs, never a refusal told to a clinician at that moment.
      const exempt = await clientWithToken(t.app, {
        purposes: ALL_PURPOSES,
        exemptions: [{ purpose: 'planning-research', basis: 'legal-requirement', reference: 'Court order 5' }]
      })
      const refused = await decided(
        {
          nhsNumber: nhs,
          purpose: 'planning-research',
          pointOfCare: { permissionToView: 'refused' },
          endUser: clinician
        },
        exempt.auth
      )
      expect(refused).toMatchObject({ decision: 'deny', basis: 'point-of-care' })
      // Without the refusal the same patient is permitted for planned care.
      expect(await decided({ nhsNumber: nhs, purpose: 'planned-care' })).toMatchObject({
        decision: 'permit',
        basis: 'patient-preference'
      })
    }
  )
})

describe('rule 2: time (asOf) and pendingChange', () => {
  it('rule 2: a decision as of a time before an opt-out took effect permits', async () => {
    const nhs = patient()
    const optOut = await recordChoice(nhs, {
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2025-06-01T00:00:00.000Z'
    })
    const before = await decided({ nhsNumber: nhs, purpose: 'planning-research', asOf: '2025-01-01T00:00:00.000Z' })
    expect(before).toMatchObject({ decision: 'permit', basis: 'default' })
    expect(before.pendingChange).toMatchObject({ id: optOut.id, outcome: 'deny' })
    expect(await decided({ nhsNumber: nhs, purpose: 'planning-research' })).toMatchObject({
      decision: 'deny',
      pendingChange: null
    })
    // The caller holds audit:read, so this is a replay (rule 8), and says so in the answer and its audit event.
    expect(before).toMatchObject({ replay: true, asOf: '2025-01-01T00:00:00.000Z' })
    const row = await storeOf(t.app).auditRow(before.auditId as string)
    expect(row?.type).toBe('decision.replay')
    expect(JSON.parse(row?.details ?? '{}')).toMatchObject({ asOf: '2025-01-01T00:00:00.000Z', replay: true })
  })

  it(
    'pendingChange: a future-dated opt-out is reported with outcome deny while the answer is still ' + 'permit',
    async () => {
      const nhs = patient()
      const from = new Date(Date.now() + 30 * 86_400_000).toISOString()
      const optOut = await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny', effectiveFrom: from })
      const d = await decided({ nhsNumber: nhs, purpose: 'gp-data-secondary-use' })
      expect(d).toMatchObject({ decision: 'permit', basis: 'default' })
      expect(d.pendingChange).toEqual({
        id: optOut.id,
        purpose: 'planning-research',
        decision: 'deny',
        effectiveFrom: from,
        recordedAt: optOut.recordedAt,
        source: 'gp-practice',
        outcome: 'deny'
      })
    }
  )
})

describe('the decision answer (SPEC §3)', () => {
  it('has every field of the SPEC example, with the request id echoed', async () => {
    const requestId = '6f1c9a52-7f0e-4a8e-9a44-1d1a3c0f9b21'
    const res = await decide(
      {
        nhsNumber: '943 476 5919',
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Patient unconscious on arrival' },
        endUser: clinician
      },
      main.auth,
      { 'x-request-id': requestId }
    )
    expect(res.statusCode, res.body).toBe(200)
    expect(res.headers['x-request-id']).toBe(requestId)
    const d = res.json()
    expect(Object.keys(d).sort()).toEqual([
      'alertId',
      'asOf',
      'auditId',
      'basis',
      'decidedAt',
      'decision',
      'exemption',
      'nhsNumber',
      'pendingChange',
      'preference',
      'purpose',
      'reason',
      'replay'
    ])
    expect(d).toMatchObject({
      nhsNumber: '9434765919',
      purpose: 'summary-care-record',
      decision: 'permit',
      basis: 'emergency-access',
      reason: expect.any(String),
      preference: null,
      pendingChange: null,
      exemption: null,
      alertId: expect.any(String),
      auditId: expect.any(String)
    })
    expect(new Date(d.decidedAt).toISOString()).toBe(d.decidedAt)
    expect(Math.abs(Date.parse(d.decidedAt) - Date.now())).toBeLessThan(60_000)
  })
})

describe('rule 7: every decision is audited before the answer', () => {
  it(
    'rule 7: each decision, permit or deny, names an audit event that is already committed and listed in GET ' +
      '/v1/audit',
    async () => {
      const nhs = patient()
      await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny' })
      const bodies: Json[] = [
        { nhsNumber: nhs, purpose: 'planned-care' },
        { nhsNumber: nhs, purpose: 'planning-research' },
        { nhsNumber: nhs, purpose: 'summary-care-record' },
        {
          nhsNumber: nhs,
          purpose: 'summary-care-record',
          pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Unconscious' },
          endUser: clinician
        }
      ]
      const answers: Array<{ d: Json; requestId: string }> = []
      for (const body of bodies) {
        const res = await decide(body)
        expect(res.statusCode, res.body).toBe(200)
        const d = res.json()
        // Read the store directly, without the flush GET /v1/audit does: the row is already there.
        const row = await storeOf(t.app).auditRow(d.auditId)
        expect(row).toMatchObject({
          type: 'decision',
          nhsNumber: nhs,
          purpose: body.purpose,
          outcome: d.decision,
          clientId: main.id,
          requestId: res.headers['x-request-id']
        })
        answers.push({ d, requestId: String(res.headers['x-request-id']) })
      }
      expect(new Set(answers.map(a => a.d.decision))).toEqual(new Set(['permit', 'deny']))
      const res = await t.app.inject({
        method: 'GET',
        url: `/v1/audit?nhsNumber=${nhs}&type=decision`,
        headers: main.auth
      })
      expect(res.statusCode, res.body).toBe(200)
      const events = res.json().items as Json[]
      for (const { d, requestId } of answers) {
        const e = events.find(x => x.id === d.auditId)
        expect(e).toMatchObject({
          type: 'decision',
          nhsNumber: nhs,
          purpose: d.purpose,
          outcome: d.decision,
          clientId: main.id,
          requestId
        })
        expect(e?.details).toMatchObject({ basis: d.basis, alertId: d.alertId })
      }
    }
  )
})

describe('rule 6: fail closed', () => {
  it('rule 6: when the audit cannot be written the answer is 503 problem+json, never a permit', async () => {
    const broken = await buildTestApp()
    try {
      const caller = await clientWithToken(broken.app)
      const ok = await broken.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: caller.auth,
        payload: { nhsNumber: '9434765919', purpose: 'planned-care' }
      })
      expect(ok.statusCode).toBe(200)
      await storeOf(broken.app).dropTable('audit_events')
      for (const payload of [
        { nhsNumber: '9434765919', purpose: 'planned-care' },
        { nhsNumber: '9434765919', purpose: 'planning-research' },
        {
          nhsNumber: '9434765919',
          purpose: 'summary-care-record',
          pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Unconscious' },
          endUser: clinician
        }
      ]) {
        const res = await broken.app.inject({ method: 'POST', url: '/v1/decisions', headers: caller.auth, payload })
        const body = expectProblem(res, 503)
        expect(body).not.toHaveProperty('decision')
        expect(res.headers['retry-after']).toBeDefined()
        expect(body.detail).not.toContain('9434765919')
      }
    } finally {
      await broken.close()
    }
  })

  it('rule 6: when the store cannot be read (the change feed is stale) the answer is 503, never a permit', async () => {
    const broken = await buildTestApp({ STORE_STALE_AFTER_MS: '1000' })
    try {
      const caller = await clientWithToken(broken.app)
      await storeOf(broken.app).dropTable('changes')
      const deadline = Date.now() + 10_000
      let res: LightMyRequestResponse
      do {
        await new Promise(resolve => setTimeout(resolve, 200))
        res = await broken.app.inject({
          method: 'POST',
          url: '/v1/decisions',
          headers: caller.auth,
          payload: { nhsNumber: '9434765919', purpose: 'planned-care' }
        })
      } while (res.statusCode === 200 && Date.now() < deadline)
      const body = expectProblem(res, 503)
      expect(body).not.toHaveProperty('decision')
    } finally {
      await broken.close()
    }
  })
})

describe('rule 8: asOf is a replay, never an authorisation', () => {
  const research = async (): Promise<TestCaller> =>
    await clientWithToken(t.app, {
      name: 'Research extract',
      scopes: ['consent:check', 'consent:filter'],
      purposes: ['planning-research']
    })
  const auditorClient = async (): Promise<TestCaller> =>
    await clientWithToken(t.app, { name: 'Privacy officer', scopes: ['audit:read'], purposes: [] })

  it(
    'rule 8: a research client replaying asOf 2020 gets 403 over an opt-out recorded today, ' +
      'saying audit:read is needed',
    async () => {
      const researcher = await research()
      for (const purpose of ['planning-research', 'gp-data-secondary-use']) {
        const nhs = patient()
        await recordChoice(nhs, { purpose, decision: 'deny' })
        for (const asOf of ['2020-01-01', '2020-01-01T00:00:00Z', new Date(Date.now() - 1000).toISOString()]) {
          const body = expectProblem(await decide({ nhsNumber: nhs, purpose, asOf }, researcher.auth), 403, {
            path: '/asOf'
          })
          expect(body.detail).toMatch(/replay/)
          expect(body.detail).toMatch(/audit:read/)
          expect(body).not.toHaveProperty('decision')
        }
        // Asked about now, the opt-out denies.
        expect(await decided({ nhsNumber: nhs, purpose }, researcher.auth)).toMatchObject({
          decision: 'deny',
          basis: 'patient-preference',
          replay: false,
          asOf: null
        })
      }
    }
  )

  it("rule 8: an auditor's replay answers replay: true and asOf and is audited as decision.replay", async () => {
    const auditor = await auditorClient()
    const nhs = patient()
    await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny' })
    const res = await decide({ nhsNumber: nhs, purpose: 'gp-data-secondary-use', asOf: '2020-01-01' }, auditor.auth, {
      'x-correlation-id': 'investigation-2026-42'
    })
    expect(res.statusCode, res.body).toBe(200)
    const d = res.json()
    expect(d).toMatchObject({
      decision: 'permit',
      basis: 'default',
      replay: true,
      asOf: '2020-01-01T00:00:00.000Z',
      alertId: null
    })
    expect(Math.abs(Date.parse(d.decidedAt) - Date.now())).toBeLessThan(60_000)
    const row = await storeOf(t.app).auditRow(d.auditId as string)
    expect(row).toMatchObject({
      type: 'decision.replay',
      clientId: auditor.id,
      nhsNumber: nhs,
      purpose: 'gp-data-secondary-use',
      outcome: 'permit',
      requestId: res.headers['x-request-id'],
      correlationId: 'investigation-2026-42'
    })
    expect(JSON.parse(row?.details ?? '{}')).toMatchObject({ asOf: '2020-01-01T00:00:00.000Z', replay: true })
    const listed = await t.app.inject({
      method: 'GET',
      url: `/v1/audit?nhsNumber=${nhs}&type=decision.replay`,
      headers: auditor.auth
    })
    expect(listed.statusCode, listed.body).toBe(200)
    expect((listed.json().items as Json[]).map(e => e.id)).toEqual([d.auditId])
    // A moment ago is in the past too: still a replay, never a decision about now.
    const recent = await decided(
      { nhsNumber: nhs, purpose: 'planning-research', asOf: new Date(Date.now() - 1).toISOString() },
      auditor.auth
    )
    expect(recent).toMatchObject({ replay: true })
  })

  it("rule 8: a replay may name any purpose that exists, not only the caller's; an unknown one is a 400", async () => {
    const auditor = await auditorClient()
    const nhs = patient()
    for (const purpose of ['planned-care', 'summary-care-record', 'planning-research']) {
      expect(await decided({ nhsNumber: nhs, purpose, asOf: '2024-06-01' }, auditor.auth)).toMatchObject({
        purpose,
        replay: true
      })
    }
    expectProblem(await decide({ nhsNumber: nhs, purpose: 'no-such-purpose', asOf: '2024-06-01' }, auditor.auth), 400, {
      path: '/purpose'
    })
  })

  it('rule 8: audit:read alone cannot decide about now or a future date (403, consent:check needed)', async () => {
    const auditor = await auditorClient()
    const future = new Date(Date.now() + 86_400_000).toISOString()
    for (const body of [
      { nhsNumber: patient(), purpose: 'planned-care' },
      { nhsNumber: patient(), purpose: 'planned-care', asOf: future }
    ]) {
      const problem = expectProblem(await decide(body, auditor.auth), 403)
      expect(problem.detail).toMatch(/consent:check/)
    }
  })

  it(
    'rule 8: an ED client sending asOf with permissionToView granted or unable-to-ask over a recorded SCR ' +
      'dissent is refused (403, or 400 with audit:read), never a permit, and raises no alert',
    async () => {
      const ed = await clientWithToken(t.app, { name: 'ED', scopes: ['consent:check'], purposes: ['unplanned-care'] })
      const nhs = patient()
      await recordChoice(nhs, { purpose: 'summary-care-record', decision: 'deny' })
      const pointsOfCare = [
        { permissionToView: 'granted' },
        { permissionToView: 'unable-to-ask', reason: 'Unconscious on arrival' }
      ]
      for (const pointOfCare of pointsOfCare) {
        const body = { nhsNumber: nhs, purpose: 'summary-care-record', pointOfCare, endUser: clinician }
        expectProblem(await decide({ ...body, asOf: '2020-01-01' }, ed.auth), 403, { path: '/asOf' })
        // A caller that may replay still cannot replay a point of care.
        const replayed = expectProblem(await decide({ ...body, asOf: '2020-01-01' }), 400, { path: '/pointOfCare' })
        expect(replayed.detail).toMatch(/replay/)
        // Asked about now, the dissent stands.
        expect(await decided(body, ed.auth)).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
      }
      const alerts = (await t.app.inject({ method: 'GET', url: '/v1/alerts?limit=500', headers: main.auth })).json()
        .items as Json[]
      expect(alerts.filter(a => a.nhsNumber === nhs)).toEqual([])
    }
  )

  it(
    'rule 8: a future asOf is answered for consent:check, echoed with replay false and audited as a ' +
      'decision; a decision about now answers replay false and asOf null',
    async () => {
      const researcher = await research()
      const nhs = patient()
      const from = new Date(Date.now() + 10 * 86_400_000).toISOString()
      const later = new Date(Date.now() + 20 * 86_400_000).toISOString()
      await recordChoice(nhs, { purpose: 'planning-research', decision: 'deny', effectiveFrom: from })
      const d = await decided({ nhsNumber: nhs, purpose: 'planning-research', asOf: later }, researcher.auth)
      expect(d).toMatchObject({ decision: 'deny', replay: false, asOf: later, alertId: null })
      expect((await storeOf(t.app).auditRow(d.auditId as string))?.type).toBe('decision')
      const now = await decided({ nhsNumber: nhs, purpose: 'planning-research' }, researcher.auth)
      expect(now).toMatchObject({ decision: 'permit', replay: false, asOf: null })
      expect(now.pendingChange).toMatchObject({ outcome: 'deny', effectiveFrom: from })
    }
  )
})

describe('who asked: the end user (SPEC §2)', () => {
  it('pointOfCare without endUser is 400 at /endUser, whatever permissionToView says', async () => {
    for (const pointOfCare of [
      { permissionToView: 'granted' },
      { permissionToView: 'refused' },
      { permissionToView: 'unable-to-ask', reason: 'Unconscious' }
    ]) {
      const body = expectProblem(
        await decide({ nhsNumber: patient(), purpose: 'summary-care-record', pointOfCare }),
        400,
        { path: '/endUser' }
      )
      expect(body.detail).toMatch(/pointOfCare/)
    }
    // On a purpose that does not need permission to view, too: the point of care is still in the audit.
    expectProblem(
      await decide({ nhsNumber: patient(), purpose: 'unplanned-care', pointOfCare: { permissionToView: 'granted' } }),
      400,
      { path: '/endUser' }
    )
  })

  it('an endUser whose id is not an SDS user ID, or with an unknown field, is a 400 naming the field', async () => {
    const base = { nhsNumber: patient(), purpose: 'planned-care' }
    expectProblem(await decide({ ...base, endUser: { id: 'jane' } }), 400, { path: '/endUser/id' })
    expectProblem(await decide({ ...base, endUser: { id: '555021935107', role: 'doctor' } }), 400, {
      path: '/endUser/role'
    })
    expectProblem(await decide({ ...base, endUser: { id: '555021935107', email: 'x@nhs.net' } }), 400, {
      path: '/endUser/email'
    })
  })

  it('a client registered with requireEndUser must name the end user on every decision (400 at /endUser)', async () => {
    const strict = await clientWithToken(t.app, {
      name: 'Strict ED',
      scopes: ['consent:check'],
      purposes: ['unplanned-care']
    })
    const patched = await t.app.inject({
      method: 'PATCH',
      url: `/v1/clients/${strict.id}`,
      headers: main.auth,
      payload: { requireEndUser: true }
    })
    expect(patched.statusCode, patched.body).toBe(200)
    const body = expectProblem(await decide({ nhsNumber: patient(), purpose: 'unplanned-care' }, strict.auth), 400, {
      path: '/endUser'
    })
    expect(body.detail).toMatch(/registered/)
    expect(
      await decided({ nhsNumber: patient(), purpose: 'unplanned-care', endUser: clinician }, strict.auth)
    ).toMatchObject({ decision: 'permit' })
  })

  it("the end user and the correlation id are stored on the decision's audit event", async () => {
    const nhs = patient()
    const res = await decide(
      {
        nhsNumber: nhs,
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'granted' },
        endUser: clinician
      },
      main.auth,
      { 'x-correlation-id': 'ed-visit-7731' }
    )
    expect(res.statusCode, res.body).toBe(200)
    const row = await storeOf(t.app).auditRow(res.json().auditId as string)
    expect(row).toMatchObject({
      type: 'decision',
      clientId: main.id,
      requestId: res.headers['x-request-id'],
      correlationId: 'ed-visit-7731'
    })
    expect(JSON.parse(String(row?.endUser))).toEqual(clinician)
    // Without a point of care and without requireEndUser, the end user is optional (and none is stored).
    const plain = await decided({ nhsNumber: nhs, purpose: 'planned-care' })
    expect((await storeOf(t.app).auditRow(plain.auditId as string))?.endUser ?? null).toBeNull()
  })
})
