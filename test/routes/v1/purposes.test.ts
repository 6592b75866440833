// The purpose catalogue API (SPEC §2 "Purposes", §3): the seeded purposes, opt-in programmes added
// by administrators, deactivation, and codes that are never reused.
import { beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import { clientWithToken, expectProblem, nhsNumbers, useTestApp, type TestCaller } from '../../helpers/app.ts'
import { storeOf } from '../../helpers/store.ts'

const t = useTestApp()
let admin: TestCaller
let gp: TestCaller
let reader: TestCaller
let auditor: TestCaller
const patients = nhsNumbers(10, 42)

interface PurposeJson {
  code: string
  name: string
  description: string
  category: string
  parent: string | null
  defaultDecision: string
  requiresPermissionToView: boolean
  emergencyAccess: string
  active: boolean
}

beforeAll(async () => {
  admin = await clientWithToken(t.app, { name: 'Admin', scopes: ['admin'] })
  // A research data service: checks and records choices for planning and research (and all below it).
  gp = await clientWithToken(t.app, {
    name: 'Research hub',
    scopes: ['consent:check', 'consent:write', 'consent:read'],
    purposes: ['planning-research']
  })
  reader = await clientWithToken(t.app, { name: 'Reader', scopes: ['consent:read'], purposes: ['planned-care'] })
  auditor = await clientWithToken(t.app, { name: 'Privacy officer', scopes: ['audit:read'], purposes: [] })
})

async function createPurpose (body: Record<string, unknown>, auth = admin.auth): Promise<LightMyRequestResponse> {
  return await t.app.inject({ method: 'POST', url: '/v1/purposes', headers: auth, payload: body })
}

async function patchPurpose (
  code: string,
  body: Record<string, unknown>,
  auth = admin.auth
): Promise<LightMyRequestResponse> {
  return await t.app.inject({ method: 'PATCH', url: `/v1/purposes/${code}`, headers: auth, payload: body })
}

async function decide (nhsNumber: string, purpose: string): Promise<LightMyRequestResponse> {
  return await t.app.inject({ method: 'POST', url: '/v1/decisions', headers: gp.auth, payload: { nhsNumber, purpose } })
}

async function record (nhsNumber: string, purpose: string, decision: 'permit' | 'deny'): Promise<void> {
  const res = await t.app.inject({
    method: 'POST',
    url: `/v1/patients/${nhsNumber}/preferences`,
    headers: gp.auth,
    payload: { purpose, decision, source: 'paper-form' }
  })
  expect(res.statusCode, res.body).toBe(201)
}

describe('GET /v1/purposes', () => {
  it('lists the five seeded purposes as the SPEC §2 table says', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/purposes', headers: reader.auth })
    expect(res.statusCode, res.body).toBe(200)
    const body = res.json() as { items: PurposeJson[]; nextCursor: string | null }
    expect(body.nextCursor).toBeNull()
    const byCode = new Map(body.items.map(p => [p.code, p]))
    expect([...byCode.keys()].sort()).toEqual([
      'gp-data-secondary-use',
      'planned-care',
      'planning-research',
      'summary-care-record',
      'unplanned-care'
    ])
    const expected: Array<[string, string | null, string, string]> = [
      ['planned-care', null, 'direct-care', 'permit'],
      ['unplanned-care', null, 'direct-care', 'permit'],
      ['summary-care-record', 'unplanned-care', 'direct-care', 'permit'],
      ['planning-research', null, 'secondary-use', 'permit'],
      ['gp-data-secondary-use', 'planning-research', 'secondary-use', 'permit']
    ]
    for (const [code, parent, category, defaultDecision] of expected) {
      const p = byCode.get(code)
      expect(p, code).toBeDefined()
      expect(p).toMatchObject({ code, parent, category, defaultDecision, active: true })
      expect(p?.name).toEqual(expect.any(String))
      expect(p?.description).toEqual(expect.any(String))
    }
    expect(byCode.get('summary-care-record')).toMatchObject({
      requiresPermissionToView: true,
      emergencyAccess: 'when-unable-to-ask'
    })
    for (const code of ['planned-care', 'unplanned-care', 'planning-research', 'gp-data-secondary-use']) {
      expect(byCode.get(code)).toMatchObject({ requiresPermissionToView: false, emergencyAccess: 'never' })
    }
  })

  it('needs a token (any scope), not a particular one', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/purposes' })
    expectProblem(res, 401)
  })

  it('GET /v1/purposes/{code} answers one purpose, 404 for an unknown code', async () => {
    const one = await t.app.inject({ method: 'GET', url: '/v1/purposes/summary-care-record', headers: reader.auth })
    expect(one.statusCode).toBe(200)
    expect(one.json()).toMatchObject({ code: 'summary-care-record', parent: 'unplanned-care' })
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/purposes/no-such-purpose', headers: reader.auth }), 404)
  })
})

describe('an opt-in research programme', () => {
  const code = 'diabetes-research-programme'

  it('is created under planning-research with defaultDecision deny: 201, audited', async () => {
    const res = await createPurpose({
      code,
      name: 'Diabetes research programme',
      description: 'Opt-in cohort study',
      category: 'secondary-use',
      parent: 'planning-research',
      defaultDecision: 'deny'
    })
    expect(res.statusCode, res.body).toBe(201)
    expect(res.headers.location).toBe(`/v1/purposes/${code}`)
    expect(res.json()).toMatchObject({
      code,
      name: 'Diabetes research programme',
      category: 'secondary-use',
      parent: 'planning-research',
      defaultDecision: 'deny',
      requiresPermissionToView: false,
      emergencyAccess: 'never',
      active: true
    })
    // Listed at once.
    const list = (await t.app.inject({ method: 'GET', url: '/v1/purposes', headers: reader.auth })).json() as {
      items: PurposeJson[]
    }
    expect(list.items.map(p => p.code)).toContain(code)

    const auditor = await clientWithToken(t.app, { scopes: ['audit:read'] })
    const events = (
      await t.app.inject({ method: 'GET', url: '/v1/audit?type=purpose.created', headers: auditor.auth })
    ).json() as { items: Array<{ purpose: string; clientId: string }> }
    expect(events.items.find(e => e.purpose === code)).toMatchObject({ clientId: admin.id })
  })

  it('denies a patient with no choice (basis default), whatever planning-research says', async () => {
    const res = await decide(patients[0], code)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({
      nhsNumber: patients[0],
      purpose: code,
      decision: 'deny',
      basis: 'default',
      preference: null
    })
    // The parent alone still permits by default.
    expect((await decide(patients[0], 'planning-research')).json()).toMatchObject({
      decision: 'permit',
      basis: 'default'
    })
  })

  it('permits once the patient opts in to the programme', async () => {
    await record(patients[1], code, 'permit')
    const res = await decide(patients[1], code)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({
      decision: 'permit',
      basis: 'patient-preference',
      preference: { purpose: code, decision: 'permit' }
    })
  })

  it('a permit on planning-research does not opt the patient in to the programme', async () => {
    await record(patients[2], 'planning-research', 'permit')
    expect((await decide(patients[2], code)).json()).toMatchObject({ decision: 'deny', basis: 'default' })
  })

  it('a planning-research opt-out (National Data Opt-out) still denies an opted-in patient', async () => {
    await record(patients[3], code, 'permit')
    expect((await decide(patients[3], code)).json()).toMatchObject({ decision: 'permit' })
    await record(patients[3], 'planning-research', 'deny')
    const res = await decide(patients[3], code)
    expect(res.json()).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { purpose: 'planning-research', decision: 'deny' }
    })
  })

  it('refuses an existing code: 409', async () => {
    const res = await createPurpose({
      code,
      name: 'Again',
      category: 'secondary-use',
      parent: 'planning-research',
      defaultDecision: 'deny'
    })
    expect(expectProblem(res, 409).detail).toMatch(/already exists/)
    expectProblem(
      await createPurpose({ code: 'planned-care', name: 'Seeded', category: 'direct-care', defaultDecision: 'permit' }),
      409
    )
  })

  it('is deactivated with PATCH active:false; decisions then answer 400 saying it is not active', async () => {
    const other = 'asthma-research-programme'
    expect(
      (
        await createPurpose({
          code: other,
          name: 'Asthma research',
          category: 'secondary-use',
          parent: 'planning-research',
          defaultDecision: 'deny'
        })
      ).statusCode
    ).toBe(201)
    await record(patients[4], other, 'permit')
    expect((await decide(patients[4], other)).json()).toMatchObject({ decision: 'permit' })

    const res = await patchPurpose(other, { active: false })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({ code: other, active: false })

    const after = expectProblem(await decide(patients[4], other), 400)
    expect(after.detail).toMatch(/not active|no longer active/)
    expect(after.errors?.[0]).toMatchObject({ path: '/purpose' })
    // Recording a choice for it is refused too.
    const rec = await t.app.inject({
      method: 'POST',
      url: `/v1/patients/${patients[5]}/preferences`,
      headers: gp.auth,
      payload: { purpose: other, decision: 'permit', source: 'paper-form' }
    })
    expectProblem(rec, 400)
    // Still listed, as inactive.
    const listed = (
      (await t.app.inject({ method: 'GET', url: '/v1/purposes', headers: reader.auth })).json() as {
        items: PurposeJson[]
      }
    ).items.find(p => p.code === other)
    expect(listed).toMatchObject({ active: false })

    // Its code is never reused.
    const again = await createPurpose({
      code: other,
      name: 'Asthma research 2',
      category: 'secondary-use',
      parent: 'planning-research',
      defaultDecision: 'deny'
    })
    expect(expectProblem(again, 409).detail).toMatch(/never reused/)
  })

  it('PATCH changes editable fields and audits purpose.updated; 404 for an unknown code', async () => {
    const res = await patchPurpose(code, { name: 'Diabetes research programme (2026)', description: 'Renamed' })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({
      code,
      name: 'Diabetes research programme (2026)',
      description: 'Renamed',
      defaultDecision: 'deny',
      active: true
    })
    expectProblem(await patchPurpose('no-such-purpose', { name: 'x' }), 404)
  })

  it('PATCH refuses a change to code, category or parent: a 400 naming the field, nothing stored', async () => {
    for (const [field, value] of [
      ['code', 'renamed'],
      ['category', 'direct-care'],
      ['parent', 'planned-care'],
      ['parent', null]
    ] as const) {
      const body = expectProblem(await patchPurpose(code, { [field]: value, name: 'Must not be stored' }), 400)
      expect(body.errors, field).toEqual([
        { path: `/${field}`, message: `${field} cannot change once a purpose is created` }
      ])
    }
    const after = (await t.app.inject({ method: 'GET', url: `/v1/purposes/${code}`, headers: reader.auth })).json()
    expect(after).toMatchObject({ code, category: 'secondary-use', parent: 'planning-research' })
    expect(after.name).not.toBe('Must not be stored')
  })

  it('PATCH accepts code, category and parent sent unchanged, and still refuses an unknown field', async () => {
    const res = await patchPurpose(code, {
      code,
      category: 'secondary-use',
      parent: 'planning-research',
      description: 'Unchanged placement'
    })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toMatchObject({ code, parent: 'planning-research', description: 'Unchanged placement' })
    const unknown = expectProblem(await patchPurpose(code, { colour: 'blue' }), 400)
    expect(unknown.errors?.[0]).toEqual({ path: '/colour', message: 'is not a known field' })
  })
})

describe('POST /v1/purposes validation', () => {
  it('refuses a code that is not kebab-case', async () => {
    for (const code of [
      'Diabetes-Research',
      'diabetes_research',
      'diabetes--research',
      '-diabetes',
      'diabetes research'
    ]) {
      const body = expectProblem(
        await createPurpose({ code, name: 'Bad code', category: 'secondary-use', parent: 'planning-research' }),
        400
      )
      expect(
        body.errors?.some(e => e.path === '/code'),
        `${code}: ${JSON.stringify(body)}`
      ).toBe(true)
    }
  })

  it('refuses an unknown parent', async () => {
    const body = expectProblem(
      await createPurpose({
        code: 'orphan-programme',
        name: 'Orphan',
        category: 'secondary-use',
        parent: 'no-such-parent',
        defaultDecision: 'deny'
      }),
      400
    )
    expect(body.errors).toEqual(
      expect.arrayContaining([{ path: '/parent', message: expect.stringMatching(/does not exist/) }])
    )
  })

  it("refuses a category different from the parent's", async () => {
    const body = expectProblem(
      await createPurpose({
        code: 'mixed-programme',
        name: 'Mixed',
        category: 'direct-care',
        parent: 'planning-research'
      }),
      400
    )
    expect(body.errors?.some(e => e.path === '/category')).toBe(true)
  })

  it('refuses a top-level purpose without defaultDecision, an unknown category and an unknown field', async () => {
    expect(
      expectProblem(
        await createPurpose({ code: 'top-level-thing', name: 'Top', category: 'secondary-use' }),
        400
      ).errors?.some(e => e.path === '/defaultDecision')
    ).toBe(true)
    expect(
      expectProblem(
        await createPurpose({ code: 'weird-category', name: 'W', category: 'marketing', defaultDecision: 'deny' }),
        400
      ).errors?.some(e => e.path === '/category')
    ).toBe(true)
    expect(
      expectProblem(
        await createPurpose({
          code: 'extra-field',
          name: 'E',
          category: 'secondary-use',
          parent: 'planning-research',
          colour: 'red'
        }),
        400
      ).errors?.some(e => e.path === '/colour')
    ).toBe(true)
  })

  it("a child inherits its parent's default when it sets none", async () => {
    const res = await createPurpose({
      code: 'service-evaluation',
      name: 'Service evaluation',
      category: 'secondary-use',
      parent: 'planning-research'
    })
    expect(res.statusCode, res.body).toBe(201)
    expect(res.json()).toMatchObject({ defaultDecision: 'permit', ownDefaultDecision: null })
    expect((await decide(patients[6], 'service-evaluation')).json()).toMatchObject({
      decision: 'permit',
      basis: 'default'
    })
  })
})

describe('authorisation', () => {
  it('POST and PATCH need the admin scope: 403 for others, 401 without a token', async () => {
    expectProblem(
      await createPurpose(
        { code: 'not-allowed', name: 'No', category: 'secondary-use', parent: 'planning-research' },
        gp.auth
      ),
      403
    )
    expectProblem(await patchPurpose('planned-care', { active: false }, gp.auth), 403)
    expectProblem(
      await t.app.inject({
        method: 'POST',
        url: '/v1/purposes',
        payload: { code: 'anon', name: 'A', category: 'secondary-use', parent: 'planning-research' }
      }),
      401
    )
    // Nothing changed.
    const p = (
      await t.app.inject({ method: 'GET', url: '/v1/purposes/planned-care', headers: reader.auth })
    ).json() as PurposeJson
    expect(p.active).toBe(true)
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/purposes/not-allowed', headers: reader.auth }), 404)
  })
})

describe('audit (SPEC §3 "Audit")', () => {
  it('purpose.created and purpose.updated record the caller, the request id and the X-Correlation-ID', async () => {
    const headers = (correlationId: string): Record<string, string> => ({
      ...admin.auth,
      'x-correlation-id': correlationId
    })
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/purposes',
      headers: headers('catalogue-change-7'),
      payload: {
        code: 'asthma-audit-2027',
        name: 'Asthma audit',
        category: 'secondary-use',
        parent: 'planning-research'
      }
    })
    expect(created.statusCode, created.body).toBe(201)
    const updated = await t.app.inject({
      method: 'PATCH',
      url: '/v1/purposes/asthma-audit-2027',
      headers: headers('catalogue-change-8'),
      payload: { description: 'National asthma audit' }
    })
    expect(updated.statusCode, updated.body).toBe(200)
    for (const [res, type, correlationId] of [
      [created, 'purpose.created', 'catalogue-change-7'],
      [updated, 'purpose.updated', 'catalogue-change-8']
    ] as const) {
      const audit = await t.app.inject({
        method: 'GET',
        url: `/v1/audit?type=${type}&clientId=${admin.id}`,
        headers: auditor.auth
      })
      expect(audit.statusCode, audit.body).toBe(200)
      const event = (audit.json().items as Array<Record<string, unknown>>).find(
        e => e.requestId === res.headers['x-request-id']
      )
      expect(event).toMatchObject({ type, clientId: admin.id, purpose: 'asthma-audit-2027' })
      const row = await storeOf(t.app).auditRow(String(event?.id))
      expect(row?.correlationId).toBe(correlationId)
    }
  })
})
