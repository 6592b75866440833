import { describe, it, expect } from 'vitest'
import {
  decideConsent,
  decideOutcome,
  checkPointOfCare,
  checkPurposeRequest,
  type DecisionContext,
  type PointOfCare
} from '../../src/domain/decision.ts'
import type { Exemption } from '../../src/domain/exemptions.ts'
import { summarisePreference as summary, type PreferenceRecord } from '../../src/domain/preferences.ts'
import { PurposeCatalog, SEED_PURPOSES } from '../../src/domain/purposes.ts'
import { makeCatalog, rec, day, T, PROGRAMME, VIEW_OPT_IN } from './fixtures.ts'

const catalog = makeCatalog()

function decide (
  purpose: string,
  records: PreferenceRecord[] = [],
  opts: { exemptions?: Exemption[]; pointOfCare?: PointOfCare; at?: Date } = {}
) {
  const ctx: DecisionContext = {
    catalog,
    purpose,
    records,
    exemptions: opts.exemptions ?? [],
    at: opts.at ?? T
  }
  if (opts.pointOfCare !== undefined) ctx.pointOfCare = opts.pointOfCare
  return decideConsent(ctx)
}

const ex = (
  purpose: string,
  basis: Exemption['basis'] = 'legal-requirement',
  reference = `REF-${purpose}`
): Exemption => ({ purpose, basis, reference })
const NDOO = 'planning-research'
const TYPE1 = 'gp-data-secondary-use'
const SCR = 'summary-care-record'
const UNPLANNED = 'unplanned-care'
const GRANTED: PointOfCare = { permissionToView: 'granted' }
const REFUSED: PointOfCare = { permissionToView: 'refused' }
const UNABLE: PointOfCare = { permissionToView: 'unable-to-ask', reason: 'Patient unconscious on arrival' }

describe('rule 1: validate the purpose request (checkPurposeRequest)', () => {
  it('rule 1: unknown purpose is a 400 at /purpose', () => {
    expect(checkPurposeRequest(catalog, ['planning-research'], 'no-such-purpose')).toMatchObject({
      kind: 'invalid',
      errors: [{ path: '/purpose', message: expect.stringContaining('unknown purpose') }]
    })
  })

  it('rule 1: inactive purpose is a 400 at /purpose, even when the caller is allowed it', () => {
    const problem = checkPurposeRequest(catalog, ['care-data', 'planning-research'], 'care-data')
    expect(problem).toMatchObject({
      kind: 'invalid',
      errors: [{ path: '/purpose', message: expect.stringMatching(/no longer active/) }]
    })
  })

  it('rule 1: inactive is reported (400) before not-allowed (403)', () => {
    expect(checkPurposeRequest(catalog, [], 'care-data')?.kind).toBe('invalid')
  })

  it('rule 1: a purpose the caller is not registered for is a 403', () => {
    expect(checkPurposeRequest(catalog, ['planned-care'], 'planning-research')).toMatchObject({
      kind: 'forbidden',
      errors: [{ path: '/purpose', message: expect.stringContaining("'planning-research'") }]
    })
    expect(checkPurposeRequest(catalog, [], 'planned-care')?.kind).toBe('forbidden')
  })

  it('rule 1: a purpose listed on the registration is allowed', () => {
    expect(checkPurposeRequest(catalog, ['summary-care-record'], 'summary-care-record')).toBeNull()
  })

  it('rule 1: a purpose is allowed via an ancestor on the registration', () => {
    expect(checkPurposeRequest(catalog, ['unplanned-care'], 'summary-care-record')).toBeNull()
    expect(checkPurposeRequest(catalog, ['planning-research'], 'gp-data-secondary-use')).toBeNull()
    expect(checkPurposeRequest(catalog, ['planning-research'], 'cancer-sub-study')).toBeNull()
  })

  it('rule 1: being allowed a child does not allow its parent (403)', () => {
    expect(checkPurposeRequest(catalog, ['summary-care-record'], 'unplanned-care')?.kind).toBe('forbidden')
    expect(checkPurposeRequest(catalog, ['gp-data-secondary-use'], 'planning-research')?.kind).toBe('forbidden')
  })
})

describe('rule 2: the effective preference per level', () => {
  it('rule 2: no records at all: the default decides', () => {
    const d = decide(NDOO)
    expect(d).toMatchObject({
      decision: 'permit',
      basis: 'default',
      preference: null,
      exemption: null,
      emergencyAccess: false,
      pendingChange: null
    })
  })

  it('rule 2: a back-dated opt-out (signed earlier, recorded now) applies from its effectiveFrom', () => {
    const optOut = rec(NDOO, 'deny', -30, { recordedAt: 0 })
    expect(decide(NDOO, [optOut])).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: optOut.id }
    })
    // asked as of a time between the signing and the recording, it already applies
    expect(decide(NDOO, [optOut], { at: day(-10) }).decision).toBe('deny')
    // before it was signed it does not
    expect(decide(NDOO, [optOut], { at: day(-31) }).decision).toBe('permit')
  })

  it('rule 2: a back-dated record does not beat a record with a later effectiveFrom recorded earlier', () => {
    const permit = rec(NDOO, 'permit', -10, { recordedAt: -10 })
    const backDatedDeny = rec(NDOO, 'deny', -20, { recordedAt: -1 })
    expect(decide(NDOO, [permit, backDatedDeny])).toMatchObject({
      decision: 'permit',
      basis: 'patient-preference',
      preference: { id: permit.id }
    })
    expect(decide(NDOO, [permit, backDatedDeny], { at: day(-15) })).toMatchObject({
      decision: 'deny',
      preference: { id: backDatedDeny.id }
    })
  })

  it('rule 2: a future-dated opt-out does not apply yet, but does from its effectiveFrom', () => {
    const future = rec(NDOO, 'deny', 7, { recordedAt: 0 })
    expect(decide(NDOO, [future])).toMatchObject({ decision: 'permit', basis: 'default' })
    expect(decide(NDOO, [future], { at: day(7) })).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
    expect(decide(NDOO, [future], { at: new Date(day(7).getTime() - 1) }).decision).toBe('permit')
  })

  it('rule 2: a tie on effectiveFrom is broken by the latest recordedAt, whatever the record order', () => {
    const deny = rec(NDOO, 'deny', -5, { recordedAt: -5 })
    const permit = rec(NDOO, 'permit', -5, { recordedAt: -2 })
    expect(decide(NDOO, [deny, permit])).toMatchObject({ decision: 'permit', preference: { id: permit.id } })
    expect(decide(NDOO, [permit, deny])).toMatchObject({ decision: 'permit', preference: { id: permit.id } })
    const laterDeny = rec(NDOO, 'deny', -5, { recordedAt: -1 })
    expect(decide(NDOO, [deny, laterDeny, permit])).toMatchObject({
      decision: 'deny',
      preference: { id: laterDeny.id }
    })
  })

  it('rule 2: entered-in-error records are ignored', () => {
    const wrong = rec(NDOO, 'deny', -1, { status: 'entered-in-error' })
    expect(decide(NDOO, [wrong])).toMatchObject({ decision: 'permit', basis: 'default', preference: null })
    const earlier = rec(NDOO, 'permit', -10)
    expect(decide(NDOO, [earlier, wrong])).toMatchObject({
      decision: 'permit',
      basis: 'patient-preference',
      preference: { id: earlier.id }
    })
    const earlierDeny = rec(TYPE1, 'deny', -10)
    const wrongPermit = rec(TYPE1, 'permit', -1, { status: 'entered-in-error' })
    expect(decide(TYPE1, [earlierDeny, wrongPermit])).toMatchObject({
      decision: 'deny',
      preference: { id: earlierDeny.id }
    })
  })

  it('rule 2: a change of mind is a new record and the latest one applies', () => {
    const optOut = rec(NDOO, 'deny', -100)
    const withdrawn = rec(NDOO, 'permit', -50)
    expect(decide(NDOO, [optOut, withdrawn])).toMatchObject({
      decision: 'permit',
      basis: 'patient-preference',
      preference: { id: withdrawn.id }
    })
    const again = rec(NDOO, 'deny', -10)
    expect(decide(NDOO, [optOut, withdrawn, again])).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: again.id }
    })
    expect(decide(NDOO, [optOut, withdrawn, again], { at: day(-60) }).preference?.id).toBe(optOut.id)
  })

  it("rule 2: the preference summary carries the record's id, purpose, decision, ISO dates and source", () => {
    const r = rec(NDOO, 'deny', -3, { source: 'paper-form' })
    expect(decide(TYPE1, [r]).preference).toEqual({
      id: r.id,
      purpose: NDOO,
      decision: 'deny',
      effectiveFrom: r.effectiveFrom.toISOString(),
      recordedAt: r.recordedAt.toISOString(),
      source: 'paper-form'
    })
  })

  it('rule 2: records for unrelated purposes are ignored', () => {
    const d = decide(NDOO, [rec('planned-care', 'deny', -1), rec(SCR, 'deny', -1), rec(TYPE1, 'deny', -1)])
    expect(d).toMatchObject({ decision: 'permit', basis: 'default' })
  })
})

describe('rule 3: combine along the hierarchy', () => {
  it(
    'rule 3: a planning-research opt-out (National Data Opt-out) covers ' +
      'gp-data-secondary-use and reports the planning-research record',
    () => {
      const ndoo = rec(NDOO, 'deny', -1)
      const d = decide(TYPE1, [ndoo])
      expect(d).toMatchObject({
        decision: 'deny',
        basis: 'patient-preference',
        preference: { id: ndoo.id, purpose: NDOO, decision: 'deny' },
        exemption: null
      })
      expect(d.reason).toContain(NDOO)
      expect(d.reason).toContain(TYPE1)
    }
  )

  it('rule 3: the National Data Opt-out covers an opt-in programme under planning-research too', () => {
    const ndoo = rec(NDOO, 'deny', -1)
    expect(decide(PROGRAMME.code, [ndoo])).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: ndoo.id }
    })
    expect(decide('cancer-sub-study', [ndoo])).toMatchObject({ decision: 'deny', preference: { id: ndoo.id } })
  })

  it('rule 3: a Type 1 opt-out (deny on gp-data-secondary-use) does not touch planning-research', () => {
    const type1 = rec(TYPE1, 'deny', -1)
    expect(decide(NDOO, [type1])).toMatchObject({ decision: 'permit', basis: 'default', preference: null })
    expect(decide(TYPE1, [type1])).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: type1.id }
    })
  })

  it('rule 3: a Type 1 opt-out does not touch a sibling programme', () => {
    const type1 = rec(TYPE1, 'deny', -1)
    const optIn = rec(PROGRAMME.code, 'permit', -1)
    expect(decide(PROGRAMME.code, [type1, optIn])).toMatchObject({
      decision: 'permit',
      basis: 'patient-preference',
      preference: { id: optIn.id }
    })
  })

  it('rule 3: an SCR opt-out does not stop other unplanned-care sharing', () => {
    const scrOut = rec(SCR, 'deny', -1)
    expect(decide(UNPLANNED, [scrOut])).toMatchObject({ decision: 'permit', basis: 'default' })
    expect(decide(SCR, [scrOut], { pointOfCare: GRANTED })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: scrOut.id }
    })
  })

  it('rule 3: an opt-out of one direct-care purpose does not touch another root', () => {
    expect(decide(UNPLANNED, [rec('planned-care', 'deny', -1)])).toMatchObject({ decision: 'permit', basis: 'default' })
    expect(decide('planned-care', [rec('planned-care', 'deny', -1)])).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference'
    })
  })

  it('rule 3: a permit recorded at the purpose itself permits (basis patient-preference)', () => {
    const type1Withdrawn = rec(TYPE1, 'permit', -1)
    const d = decide(TYPE1, [type1Withdrawn])
    expect(d).toMatchObject({
      decision: 'permit',
      basis: 'patient-preference',
      preference: { id: type1Withdrawn.id },
      exemption: null,
      emergencyAccess: false
    })
  })

  it('rule 3: a permit recorded only at an ancestor leaves the child to its default (basis default)', () => {
    const d = decide(TYPE1, [rec(NDOO, 'permit', -1)])
    expect(d).toMatchObject({ decision: 'permit', basis: 'default', preference: null })
  })

  it("rule 3: a permit at an ancestor does not override an opt-in child's deny default", () => {
    const d = decide(PROGRAMME.code, [rec(NDOO, 'permit', -1)])
    expect(d).toMatchObject({ decision: 'deny', basis: 'default', preference: null })
    expect(d.reason).toMatch(/opt-in/)
  })

  it('rule 3: a permit at the parent does not override an own-level deny', () => {
    const own = rec(TYPE1, 'deny', -1)
    expect(decide(TYPE1, [rec(NDOO, 'permit', -1), own])).toMatchObject({
      decision: 'deny',
      preference: { id: own.id }
    })
  })

  it('rule 3: an opt-in programme stays denied until the patient opts in to it', () => {
    expect(decide(PROGRAMME.code)).toMatchObject({ decision: 'deny', basis: 'default', preference: null })
    const optIn = rec(PROGRAMME.code, 'permit', -1)
    expect(decide(PROGRAMME.code, [optIn])).toMatchObject({
      decision: 'permit',
      basis: 'patient-preference',
      preference: { id: optIn.id }
    })
    // a future opt-in does not count yet
    expect(decide(PROGRAMME.code, [rec(PROGRAMME.code, 'permit', 3)])).toMatchObject({
      decision: 'deny',
      basis: 'default'
    })
  })

  it("rule 3: a deny at the opt-in programme's parent still denies after opting in", () => {
    const optIn = rec(PROGRAMME.code, 'permit', -10)
    const ndoo = rec(NDOO, 'deny', -1)
    expect(decide(PROGRAMME.code, [optIn, ndoo])).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: ndoo.id }
    })
    // even when the opt-in is more recent than the National Data Opt-out
    const laterOptIn = rec(PROGRAMME.code, 'permit', -0.5)
    expect(decide(PROGRAMME.code, [ndoo, laterOptIn])).toMatchObject({ decision: 'deny', preference: { id: ndoo.id } })
  })

  it('rule 3: a sub-study inherits the opt-in default and needs its own opt-in', () => {
    expect(decide('cancer-sub-study', [rec(PROGRAMME.code, 'permit', -1)])).toMatchObject({
      decision: 'deny',
      basis: 'default'
    })
    expect(decide('cancer-sub-study', [rec('cancer-sub-study', 'permit', -1)])).toMatchObject({
      decision: 'permit',
      basis: 'patient-preference'
    })
  })

  it('rule 3: with denies at several levels, the most specific deny is reported', () => {
    const ndoo = rec(NDOO, 'deny', -20)
    const type1 = rec(TYPE1, 'deny', -30)
    expect(decide(TYPE1, [ndoo, type1])).toMatchObject({ decision: 'deny', preference: { id: type1.id } })
    expect(decide(TYPE1, [type1, ndoo])).toMatchObject({ decision: 'deny', preference: { id: type1.id } })
    const prog = rec(PROGRAMME.code, 'deny', -5)
    const sub = rec('cancer-sub-study', 'deny', -40)
    expect(decide('cancer-sub-study', [ndoo, prog, sub]).preference?.id).toBe(sub.id)
    expect(decide('cancer-sub-study', [ndoo, prog]).preference?.id).toBe(prog.id)
    const unplanned = rec(UNPLANNED, 'deny', -1)
    const scr = rec(SCR, 'deny', -2)
    expect(decide(SCR, [unplanned, scr], { pointOfCare: GRANTED }).preference?.id).toBe(scr.id)
  })

  it('rule 3: the reason says what was opted out of', () => {
    expect(decide(TYPE1, [rec(TYPE1, 'deny', -1)]).reason).toMatch(/opted out of gp-data-secondary-use/)
    expect(decide(TYPE1).reason).toMatch(/unless the patient opts out/)
  })
})

describe('rule 4: exemptions (secondary use only)', () => {
  it(
    'rule 4: a legal-requirement exemption on planning-research lifts a ' +
      'National Data Opt-out when asking gp-data-secondary-use',
    () => {
      const ndoo = rec(NDOO, 'deny', -1)
      const d = decide(TYPE1, [ndoo], { exemptions: [ex(NDOO)] })
      expect(d).toMatchObject({
        decision: 'permit',
        basis: 'exemption',
        exemption: { purpose: NDOO, basis: 'legal-requirement', reference: `REF-${NDOO}` },
        preference: { id: ndoo.id },
        emergencyAccess: false
      })
      expect(d.reason).toContain('legal-requirement')
    }
  )

  it('rule 4: a planning-research exemption does not lift a Type 1 opt-out when asking gp-data-secondary-use', () => {
    const ndoo = rec(NDOO, 'deny', -1)
    const type1 = rec(TYPE1, 'deny', -1)
    expect(decide(TYPE1, [ndoo, type1], { exemptions: [ex(NDOO)] })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: type1.id },
      exemption: null
    })
    expect(decide(TYPE1, [type1], { exemptions: [ex(NDOO)] })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: type1.id }
    })
  })

  it('rule 4: an exemption on gp-data-secondary-use lifts only the Type 1 deny', () => {
    const ndoo = rec(NDOO, 'deny', -1)
    const type1 = rec(TYPE1, 'deny', -1)
    expect(decide(TYPE1, [type1], { exemptions: [ex(TYPE1, 'copi-regulation-3')] })).toMatchObject({
      decision: 'permit',
      basis: 'exemption',
      exemption: { purpose: TYPE1, basis: 'copi-regulation-3' },
      preference: { id: type1.id }
    })
    expect(decide(TYPE1, [ndoo, type1], { exemptions: [ex(TYPE1)] })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: ndoo.id }
    })
    expect(decide(TYPE1, [ndoo], { exemptions: [ex(TYPE1)] })).toMatchObject({
      decision: 'deny',
      preference: { id: ndoo.id }
    })
  })

  it('rule 4: an exemption on a descendant does not lift a deny when asking the ancestor', () => {
    const ndoo = rec(NDOO, 'deny', -1)
    expect(decide(NDOO, [ndoo], { exemptions: [ex(TYPE1), ex(PROGRAMME.code)] })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference'
    })
  })

  it('rule 4: exemptions on both levels lift both denies', () => {
    const ndoo = rec(NDOO, 'deny', -1)
    const type1 = rec(TYPE1, 'deny', -1)
    const exemptions = [ex(NDOO, 'legal-requirement'), ex(TYPE1, 'overriding-public-interest')]
    const d = decide(TYPE1, [ndoo, type1], { exemptions })
    expect(d).toMatchObject({ decision: 'permit', basis: 'exemption', preference: { id: type1.id } })
    expect(exemptions).toContainEqual(d.exemption)
    expect(d.reason).toContain(NDOO)
    expect(d.reason).toContain(TYPE1)
  })

  it('rule 4: an exemption is not used when there is no deny to lift', () => {
    expect(decide(TYPE1, [], { exemptions: [ex(NDOO), ex(TYPE1)] })).toMatchObject({
      decision: 'permit',
      basis: 'default',
      exemption: null
    })
    const own = rec(TYPE1, 'permit', -1)
    expect(decide(TYPE1, [own], { exemptions: [ex(TYPE1)] })).toMatchObject({
      decision: 'permit',
      basis: 'patient-preference',
      exemption: null
    })
  })

  it(
    'rule 4: lifting a deny recorded at an opt-in programme leaves it ' +
      'denied by default (the patient never opted in)',
    () => {
      const out = rec(PROGRAMME.code, 'deny', -1)
      expect(
        decide(PROGRAMME.code, [out], { exemptions: [ex(PROGRAMME.code, 'cag-specific-exemption')] })
      ).toMatchObject({ decision: 'deny', basis: 'default' })
    }
  )

  it('rule 4: an exemption does not opt the patient in to an opt-in programme (no deny to lift)', () => {
    expect(decide(PROGRAMME.code, [], { exemptions: [ex(PROGRAMME.code), ex(NDOO)] })).toMatchObject({
      decision: 'deny',
      basis: 'default',
      exemption: null
    })
  })

  it(
    'rule 4: lifting a National Data Opt-out must not opt the patient in ' + 'to an opt-in programme they never joined',
    () => {
      // Without the opt-out the patient is excluded (opt-in programme, no opt-in): deny, basis default.
      expect(decide(PROGRAMME.code, [], { exemptions: [ex(NDOO)] })).toMatchObject({
        decision: 'deny',
        basis: 'default'
      })
      // Recording an opt-out must not make the patient *more* shared. SPEC rule 3: "an opt-in programme
      // stays denied until the patient opts in to it, whatever its ancestors say".
      const ndoo = rec(NDOO, 'deny', -1)
      expect(decide(PROGRAMME.code, [ndoo], { exemptions: [ex(NDOO)] })).toMatchObject({
        decision: 'deny',
        basis: 'default'
      })
    }
  )

  it('rule 4: exemptions never apply to direct-care purposes, even if passed in', () => {
    const scrOut = rec(SCR, 'deny', -1)
    const unplannedOut = rec(UNPLANNED, 'deny', -1)
    const plannedOut = rec('planned-care', 'deny', -1)
    const all = ['planned-care', UNPLANNED, SCR, 'gp-record-view'].map(p => ex(p))
    expect(decide(SCR, [scrOut], { exemptions: all, pointOfCare: GRANTED })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      exemption: null
    })
    expect(decide(SCR, [unplannedOut], { exemptions: all, pointOfCare: GRANTED })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      exemption: null
    })
    expect(decide(UNPLANNED, [unplannedOut], { exemptions: all })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      exemption: null
    })
    expect(decide('planned-care', [plannedOut], { exemptions: all })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      exemption: null
    })
  })
})

describe('rule 5: point of care (purposes with requiresPermissionToView)', () => {
  it('rule 5: a recorded SCR deny stays deny even with permission granted', () => {
    const out = rec(SCR, 'deny', -1)
    expect(decide(SCR, [out], { pointOfCare: GRANTED })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: out.id },
      emergencyAccess: false
    })
  })

  it(
    'rule 5: a recorded SCR deny stays deny when unable to ask (an ' + 'emergency never overrides a recorded dissent)',
    () => {
      const out = rec(SCR, 'deny', -1)
      expect(decide(SCR, [out], { pointOfCare: UNABLE })).toMatchObject({
        decision: 'deny',
        basis: 'patient-preference',
        emergencyAccess: false
      })
      expect(decide(SCR, [out])).toMatchObject({ decision: 'deny', basis: 'patient-preference' })
    }
  )

  it('rule 5: an unplanned-care (ancestor) deny also stays deny for SCR', () => {
    const out = rec(UNPLANNED, 'deny', -1)
    for (const pointOfCare of [GRANTED, UNABLE, REFUSED]) {
      expect(decide(SCR, [out], { pointOfCare })).toMatchObject({
        decision: 'deny',
        basis: 'patient-preference',
        preference: { id: out.id },
        emergencyAccess: false
      })
    }
  })

  it('rule 5: granted permits with basis point-of-care', () => {
    const d = decide(SCR, [], { pointOfCare: GRANTED })
    expect(d).toMatchObject({ decision: 'permit', basis: 'point-of-care', emergencyAccess: false, exemption: null })
  })

  it('rule 5: a recorded SCR consent (e.g. 9Ndm) still needs permission at the point of care', () => {
    const consent = rec(SCR, 'permit', -1)
    expect(decide(SCR, [consent], { pointOfCare: GRANTED })).toMatchObject({
      decision: 'permit',
      basis: 'point-of-care'
    })
    expect(decide(SCR, [consent])).toMatchObject({ decision: 'deny', basis: 'point-of-care' })
    expect(decide(SCR, [consent], { pointOfCare: REFUSED })).toMatchObject({ decision: 'deny', basis: 'point-of-care' })
  })

  it('rule 5: refused denies with basis point-of-care', () => {
    const d = decide(SCR, [], { pointOfCare: REFUSED })
    expect(d).toMatchObject({ decision: 'deny', basis: 'point-of-care', emergencyAccess: false })
    expect(d.reason).toMatch(/refused/)
  })

  it('rule 5: unable-to-ask with a reason permits with basis emergency-access and emergencyAccess true', () => {
    const d = decide(SCR, [], { pointOfCare: UNABLE })
    expect(d).toMatchObject({ decision: 'permit', basis: 'emergency-access', emergencyAccess: true, exemption: null })
  })

  it(
    'rule 5: unable-to-ask without a reason, or with a blank one, is ' +
      'refused (a 400 naming the field), never decided',
    () => {
      for (const pointOfCare of [
        { permissionToView: 'unable-to-ask' as const },
        { permissionToView: 'unable-to-ask' as const, reason: '' },
        { permissionToView: 'unable-to-ask' as const, reason: '  \t ' }
      ]) {
        expect(checkPointOfCare(pointOfCare)).toMatchObject({
          kind: 'invalid',
          errors: [{ path: '/pointOfCare/reason', message: expect.stringMatching(/reason is required/) }]
        })
        expect(() => decide(SCR, [], { pointOfCare })).toThrow(/reason is required/)
      }
      expect(checkPointOfCare(UNABLE)).toBeNull()
      expect(checkPointOfCare(undefined)).toBeNull()
      expect(checkPointOfCare({ permissionToView: 'granted' })).toBeNull()
    }
  )

  it('rule 5: a missing pointOfCare denies with a reason saying permission to view must be asked', () => {
    const d = decide(SCR)
    expect(d).toMatchObject({ decision: 'deny', basis: 'point-of-care', emergencyAccess: false })
    expect(d.reason).toMatch(/permission to view/i)
    expect(d.reason).toMatch(/ask/i)
  })

  it('rule 5: unable-to-ask on a purpose whose emergencyAccess is never denies', () => {
    expect(decide('gp-record-view', [], { pointOfCare: UNABLE })).toMatchObject({
      decision: 'deny',
      basis: 'point-of-care',
      emergencyAccess: false
    })
    expect(decide('gp-record-view', [], { pointOfCare: GRANTED })).toMatchObject({
      decision: 'permit',
      basis: 'point-of-care'
    })
    expect(decide('gp-record-view')).toMatchObject({ decision: 'deny', basis: 'point-of-care' })
  })

  it('rule 5: a deny at the ancestor of a never-emergency purpose stays a patient-preference deny', () => {
    const out = rec('planned-care', 'deny', -1)
    expect(decide('gp-record-view', [out], { pointOfCare: GRANTED })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: out.id }
    })
  })

  it('rule 5: granted and unable-to-ask change nothing on a purpose without requiresPermissionToView', () => {
    for (const pointOfCare of [GRANTED, UNABLE]) {
      expect(decide(UNPLANNED, [], { pointOfCare })).toEqual(decide(UNPLANNED))
      const out = rec('planned-care', 'deny', -1)
      expect(decide('planned-care', [out], { pointOfCare })).toEqual(decide('planned-care', [out]))
      const ndoo = rec(NDOO, 'deny', -1)
      expect(decide(TYPE1, [ndoo], { pointOfCare })).toEqual(decide(TYPE1, [ndoo]))
      expect(decide(TYPE1, [ndoo], { pointOfCare, exemptions: [ex(NDOO)] })).toEqual(
        decide(TYPE1, [ndoo], { exemptions: [ex(NDOO)] })
      )
      expect(decide(PROGRAMME.code, [], { pointOfCare })).toEqual(decide(PROGRAMME.code))
    }
    expect(decide(UNPLANNED, [], { pointOfCare: UNABLE }).emergencyAccess).toBe(false)
  })

  it('rule 5: refused denies on any purpose, basis point-of-care (a refusal told to a clinician is a dissent)', () => {
    for (const purpose of ['planned-care', UNPLANNED, SCR, NDOO, TYPE1, PROGRAMME.code, 'gp-record-view']) {
      expect(decide(purpose, [], { pointOfCare: REFUSED })).toEqual({
        decision: 'deny',
        basis: 'point-of-care',
        reason: 'Patient refused permission to view at the point of care',
        preference: null,
        exemption: null,
        emergencyAccess: false,
        pendingChange: null
      })
    }
  })

  it("rule 5: a refusal denies over the patient's recorded permit, which the answer still names", () => {
    const optIn = rec('planned-care', 'permit', -3)
    expect(decide('planned-care', [optIn], { pointOfCare: REFUSED })).toMatchObject({
      decision: 'deny',
      basis: 'point-of-care',
      preference: { id: optIn.id, decision: 'permit' },
      exemption: null,
      emergencyAccess: false
    })
    const joined = rec(PROGRAMME.code, 'permit', -3)
    expect(decide(PROGRAMME.code, [joined], { pointOfCare: REFUSED })).toMatchObject({
      decision: 'deny',
      basis: 'point-of-care'
    })
  })

  it('rule 5: a refusal denies even when an exemption lifts the opt-out (no exemption is reported)', () => {
    const ndoo = rec(NDOO, 'deny', -1)
    expect(decide(TYPE1, [ndoo], { exemptions: [ex(NDOO)] })).toMatchObject({ decision: 'permit', basis: 'exemption' })
    expect(decide(TYPE1, [ndoo], { exemptions: [ex(NDOO)], pointOfCare: REFUSED })).toMatchObject({
      decision: 'deny',
      basis: 'point-of-care',
      exemption: null,
      emergencyAccess: false
    })
  })

  it('rule 5: a recorded patient-preference deny still decides over a refusal, on any purpose', () => {
    for (const [purpose, out] of [
      ['planned-care', rec('planned-care', 'deny', -1)],
      [TYPE1, rec(NDOO, 'deny', -1)],
      [SCR, rec(UNPLANNED, 'deny', -1)]
    ] as const) {
      expect(decide(purpose, [out], { pointOfCare: REFUSED })).toMatchObject({
        decision: 'deny',
        basis: 'patient-preference',
        preference: { id: out.id }
      })
    }
  })

  it('rule 5: a refusal denies from now on, so a future change of choice is no pending change', () => {
    const future = rec('planned-care', 'deny', 5, { recordedAt: 0 })
    expect(decide('planned-care', [future]).pendingChange).toMatchObject({ id: future.id, outcome: 'deny' })
    expect(decide('planned-care', [future], { pointOfCare: REFUSED }).pendingChange).toBeNull()
  })

  it('rule 5: a deny default does not end rule 5: permission at the point of care still decides', () => {
    const code = VIEW_OPT_IN.code
    expect(decide(code)).toMatchObject({ decision: 'deny', basis: 'point-of-care', preference: null })
    expect(decide(code).reason).toBe(
      `Permission to view must be asked at the point of care for ${code}: ` +
        'send pointOfCare.permissionToView (granted, refused, or unable-to-ask with a reason)'
    )
    expect(decide(code, [], { pointOfCare: GRANTED })).toMatchObject({ decision: 'permit', basis: 'point-of-care' })
    expect(decide(code, [], { pointOfCare: UNABLE })).toMatchObject({
      decision: 'permit',
      basis: 'emergency-access',
      emergencyAccess: true
    })
    expect(decide(code, [], { pointOfCare: REFUSED })).toMatchObject({ decision: 'deny', basis: 'point-of-care' })
    const out = rec(code, 'deny', -1)
    expect(decide(code, [out], { pointOfCare: GRANTED })).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: out.id }
    })
  })
})

describe('rule 2: a newer choice cancels the choices still pending', () => {
  it('rule 2: "from next month I withdraw my Type 1 dissent", then "keep it" today: still opted out next month', () => {
    const dissent = rec(TYPE1, 'deny', -400, { recordedAt: -400 })
    const withdrawFromNextMonth = rec(TYPE1, 'permit', 30, { recordedAt: -5 })
    const keepIt = rec(TYPE1, 'deny', 0, { recordedAt: 0 })
    const records = [dissent, withdrawFromNextMonth, keepIt]
    expect(decide(TYPE1, records)).toMatchObject({
      decision: 'deny',
      basis: 'patient-preference',
      preference: { id: keepIt.id },
      pendingChange: null
    })
    expect(decide(TYPE1, records, { at: day(30) })).toMatchObject({ decision: 'deny', preference: { id: keepIt.id } })
    expect(decide(TYPE1, records, { at: day(400) })).toMatchObject({ decision: 'deny', preference: { id: keepIt.id } })
    // Without the call today the withdrawal would have taken effect.
    expect(decide(TYPE1, [dissent, withdrawFromNextMonth], { at: day(30) })).toMatchObject({
      decision: 'permit',
      preference: { id: withdrawFromNextMonth.id }
    })
  })

  it('rule 2: a cancelled record never decides and is never a pendingChange, even once its date has come', () => {
    const pending = rec(NDOO, 'deny', 10, { recordedAt: -3 })
    const newer = rec(NDOO, 'permit', 20, { recordedAt: -1 })
    const d = decide(NDOO, [pending, newer])
    expect(d).toMatchObject({ decision: 'permit', basis: 'default', preference: null, pendingChange: null })
    expect(decide(NDOO, [pending, newer], { at: day(15) })).toMatchObject({ decision: 'permit', basis: 'default' })
    expect(decide(NDOO, [pending, newer], { at: day(20) })).toMatchObject({
      decision: 'permit',
      basis: 'patient-preference',
      preference: { id: newer.id }
    })
  })

  it(
    'rule 2: cancellation is per purpose: a newer choice for the child ' + 'leaves a pending ancestor choice in force',
    () => {
      const pendingNdoo = rec(NDOO, 'deny', 10, { recordedAt: -3 })
      const newerType1 = rec(TYPE1, 'permit', 1, { recordedAt: -1 })
      expect(decide(TYPE1, [pendingNdoo, newerType1]).pendingChange).toMatchObject({
        id: pendingNdoo.id,
        outcome: 'deny'
      })
      expect(decide(TYPE1, [pendingNdoo, newerType1], { at: day(10) })).toMatchObject({
        decision: 'deny',
        preference: { id: pendingNdoo.id }
      })
    }
  )

  it('rule 2: a back-dated form entered later still counts from the day it was signed', () => {
    // Recorded today, signed 30 days ago: it was never pending, so nothing cancels it, and it
    // cancels the change still waiting to take effect.
    const pending = rec(NDOO, 'permit', 10, { recordedAt: -20 })
    const signedEarlier = rec(NDOO, 'deny', -30, { recordedAt: 0, source: 'paper-form' })
    const records = [pending, signedEarlier]
    expect(decide(NDOO, records, { at: day(-10) })).toMatchObject({
      decision: 'deny',
      preference: { id: signedEarlier.id }
    })
    expect(decide(NDOO, records)).toMatchObject({ decision: 'deny', pendingChange: null })
    expect(decide(NDOO, records, { at: day(10) })).toMatchObject({
      decision: 'deny',
      preference: { id: signedEarlier.id }
    })
  })

  it('rule 2: a record already in force when a newer one was recorded is superseded, not cancelled', () => {
    const inForce = rec(NDOO, 'deny', -10, { recordedAt: -10 })
    const newer = rec(NDOO, 'permit', 5, { recordedAt: -1 })
    expect(decide(NDOO, [inForce, newer])).toMatchObject({
      decision: 'deny',
      preference: { id: inForce.id },
      pendingChange: { id: newer.id, outcome: 'permit' }
    })
    // Effective exactly when the newer one was recorded: no longer pending, so not cancelled.
    const justInForce = rec(NDOO, 'deny', -1, { recordedAt: -2 })
    expect(decide(NDOO, [justInForce, newer])).toMatchObject({ decision: 'deny', preference: { id: justInForce.id } })
  })

  it('rule 2: a record recorded at the same instant as a pending one does not cancel it', () => {
    // Imports write a batch with one recordedAt: the rule is "later-recorded", strictly.
    const a = rec(NDOO, 'deny', 5, { recordedAt: -1 })
    const b = rec(NDOO, 'permit', 8, { recordedAt: -1 })
    expect(decide(NDOO, [a, b]).pendingChange).toMatchObject({ id: a.id, outcome: 'deny' })
    expect(decide(NDOO, [a, b], { at: day(8) })).toMatchObject({ decision: 'permit', preference: { id: b.id } })
  })

  it('rule 2: an entered-in-error record cancels nothing', () => {
    const pending = rec(NDOO, 'deny', 10, { recordedAt: -3 })
    const voided = rec(NDOO, 'permit', 0, { recordedAt: -1, status: 'entered-in-error' })
    expect(decide(NDOO, [pending, voided]).pendingChange).toMatchObject({ id: pending.id, outcome: 'deny' })
    expect(decide(NDOO, [pending, voided], { at: day(10) })).toMatchObject({
      decision: 'deny',
      preference: { id: pending.id }
    })
  })
})

describe('pendingChange', () => {
  it('is null when nothing is pending', () => {
    expect(decide(TYPE1).pendingChange).toBeNull()
    expect(decide(TYPE1, [rec(TYPE1, 'deny', -1), rec(NDOO, 'permit', -2)]).pendingChange).toBeNull()
  })

  it('reports a future opt-out with outcome deny', () => {
    const future = rec(TYPE1, 'deny', 7, { recordedAt: 0, source: 'online' })
    const d = decide(TYPE1, [future])
    expect(d.decision).toBe('permit')
    expect(d.pendingChange).toEqual({
      id: future.id,
      purpose: TYPE1,
      decision: 'deny',
      effectiveFrom: future.effectiveFrom.toISOString(),
      recordedAt: future.recordedAt.toISOString(),
      source: 'online',
      outcome: 'deny'
    })
  })

  it('reports a future opt-out at an ancestor', () => {
    const future = rec(NDOO, 'deny', 2)
    expect(decide(TYPE1, [future]).pendingChange).toMatchObject({ id: future.id, purpose: NDOO, outcome: 'deny' })
  })

  it('does not report a future record that does not change the outcome, but does report a later one that does', () => {
    const noChange = rec(TYPE1, 'permit', 1)
    const change = rec(TYPE1, 'deny', 5)
    const d = decide(TYPE1, [change, noChange])
    expect(d.decision).toBe('permit')
    expect(d.pendingChange).toMatchObject({ id: change.id, outcome: 'deny' })
    const current = rec(NDOO, 'deny', -5)
    const stillDeny = rec(NDOO, 'deny', 2)
    const optBackIn = rec(NDOO, 'permit', 4)
    expect(decide(TYPE1, [current, stillDeny, optBackIn]).pendingChange).toMatchObject({
      id: optBackIn.id,
      decision: 'permit',
      outcome: 'permit'
    })
  })

  it('reports the first change only', () => {
    // Asked as of a time before both were recorded, both are pending and neither cancelled the other
    // (the first took effect before the second was recorded).
    const first = rec(NDOO, 'deny', -3, { recordedAt: -5 })
    const second = rec(NDOO, 'permit', 6, { recordedAt: -1 })
    const d = decide(NDOO, [second, first], { at: day(-10) })
    expect(d.pendingChange).toEqual({ ...summary(first), outcome: 'deny' })
    // And across levels: the ancestor's opt-out comes first, the own one later changes nothing more.
    const ndoo = rec(NDOO, 'deny', 3, { recordedAt: -1 })
    const type1 = rec(TYPE1, 'deny', 6, { recordedAt: -2 })
    expect(decide(TYPE1, [type1, ndoo]).pendingChange).toEqual({ ...summary(ndoo), outcome: 'deny' })
  })

  it("skips a voided record and another purpose's record taking effect earlier", () => {
    const voided = rec(TYPE1, 'deny', 2, { recordedAt: -1, status: 'entered-in-error' })
    const scr = rec(SCR, 'deny', 3, { recordedAt: -1 })
    const change = rec(TYPE1, 'deny', 5, { recordedAt: -2 })
    expect(decide(TYPE1, [voided, scr, change]).pendingChange).toEqual({ ...summary(change), outcome: 'deny' })
    expect(decide(TYPE1, [change, scr, voided]).pendingChange).toEqual({ ...summary(change), outcome: 'deny' })
  })

  it('names the deciding record of several taking effect at one instant, whatever their order', () => {
    const from = day(4)
    const ndoo = rec(NDOO, 'deny', from, { recordedAt: -3 })
    const sub = rec('cancer-sub-study', 'deny', from, { recordedAt: -2 })
    const prog = rec(PROGRAMME.code, 'deny', from, { recordedAt: -1 })
    const optIn = rec('cancer-sub-study', 'permit', -5)
    for (const records of [
      [optIn, ndoo, sub, prog],
      [optIn, prog, sub, ndoo],
      [sub, optIn, ndoo, prog]
    ]) {
      expect(decide('cancer-sub-study', records).pendingChange).toEqual({ ...summary(sub), outcome: 'deny' })
    }
  })

  it("names an ancestor's opt-out that decides over the purpose's own permit taking effect at the same instant", () => {
    const from = day(4)
    const ownPermit = rec(TYPE1, 'permit', from, { recordedAt: -2 })
    const ndooOut = rec(NDOO, 'deny', from, { recordedAt: -1 })
    for (const records of [
      [ownPermit, ndooOut],
      [ndooOut, ownPermit]
    ]) {
      expect(decide(TYPE1, records).pendingChange).toEqual({ ...summary(ndooOut), outcome: 'deny' })
    }
  })

  it('in a full tie at one instant (same effectiveFrom and recordedAt), names the deny that wins, in any order', () => {
    const permit = rec(NDOO, 'permit', 4, { id: 'b', recordedAt: -1 })
    const deny = rec(NDOO, 'deny', 4, { id: 'a', recordedAt: -1 })
    expect(decide(NDOO, [permit, deny]).pendingChange).toEqual({ ...summary(deny), outcome: 'deny' })
    expect(decide(NDOO, [deny, permit]).pendingChange).toEqual({ ...summary(deny), outcome: 'deny' })
  })

  it("names the ancestor's record that lifts a deny when the purpose's own earlier permit then decides", () => {
    const ownPermit = rec(TYPE1, 'permit', -10, { recordedAt: -10 })
    const ndooOut = rec(NDOO, 'deny', -5, { recordedAt: -5 })
    const ndooBack = rec(NDOO, 'permit', 3, { recordedAt: -1 })
    const type1Later = rec(TYPE1, 'permit', 3, { recordedAt: -1 })
    const d = decide(TYPE1, [ownPermit, ndooOut, ndooBack])
    expect(d).toMatchObject({ decision: 'deny', preference: { id: ndooOut.id } })
    expect(d.pendingChange).toEqual({ ...summary(ndooBack), outcome: 'permit' })
    // When the purpose's own record taking effect at that instant decides, it is the one named.
    expect(decide(TYPE1, [ownPermit, ndooOut, ndooBack, type1Later]).pendingChange).toEqual({
      ...summary(type1Later),
      outcome: 'permit'
    })
    // With no own record, the default then decides and the ancestor's record is named.
    expect(decide(TYPE1, [ndooOut, ndooBack]).pendingChange).toEqual({ ...summary(ndooBack), outcome: 'permit' })
  })

  it('is null when the only future records are entered-in-error or for other purposes', () => {
    expect(decide(TYPE1, [rec(TYPE1, 'deny', 3, { status: 'entered-in-error' })]).pendingChange).toBeNull()
    expect(decide(TYPE1, [rec(SCR, 'deny', 3), rec('cancer-research-programme', 'deny', 3)]).pendingChange).toBeNull()
    // a future Type 1 opt-out does not change planning-research
    expect(decide(NDOO, [rec(TYPE1, 'deny', 3)]).pendingChange).toBeNull()
  })

  it('takes exemptions into account: a future opt-out lifted by an exemption is not a change', () => {
    expect(decide(TYPE1, [rec(NDOO, 'deny', 3)], { exemptions: [ex(NDOO)] }).pendingChange).toBeNull()
    expect(decide(TYPE1, [rec(TYPE1, 'deny', 3)], { exemptions: [ex(NDOO)] }).pendingChange).toMatchObject({
      outcome: 'deny'
    })
  })

  it('takes the point of care into account for SCR', () => {
    const future = rec(SCR, 'deny', 3)
    expect(decide(SCR, [future], { pointOfCare: GRANTED }).pendingChange).toMatchObject({
      id: future.id,
      outcome: 'deny'
    })
    // already denied (no permission asked): a future opt-out does not change the decision
    expect(decide(SCR, [future]).pendingChange).toBeNull()
  })

  it('reports a future opt-in to an opt-in programme', () => {
    const optIn = rec(PROGRAMME.code, 'permit', 10)
    expect(decide(PROGRAMME.code, [optIn]).pendingChange).toMatchObject({ id: optIn.id, outcome: 'permit' })
  })

  it('with several records taking effect at the same instant, names the one that decides', () => {
    const from = day(4)
    const type1 = rec(TYPE1, 'deny', from, { recordedAt: -2 })
    const ndoo = rec(NDOO, 'deny', from, { recordedAt: -1 })
    const d = decide(TYPE1, [type1, ndoo])
    expect(d.pendingChange).toMatchObject({ id: type1.id, effectiveFrom: from.toISOString(), outcome: 'deny' })
  })
})

describe('reasons (the words the answer and the audit carry)', () => {
  it('each basis says why, and emergency access in the words of SPEC §3', () => {
    const ndoo = rec(NDOO, 'deny', -1)
    const type1 = rec(TYPE1, 'deny', -1)
    const cases: Array<[ReturnType<typeof decide>, string]> = [
      [decide(NDOO), 'No recorded choice applies; planning-research is shared unless the patient opts out'],
      [
        decide(PROGRAMME.code),
        'No recorded choice applies; cancer-research-programme is opt-in and the patient has not opted in'
      ],
      [decide(TYPE1, [rec(TYPE1, 'permit', -1)]), "Patient's recorded choice permits gp-data-secondary-use"],
      [decide(TYPE1, [type1]), 'Patient opted out of gp-data-secondary-use'],
      [decide(TYPE1, [ndoo]), 'Patient opted out of planning-research, which covers gp-data-secondary-use'],
      [
        decide(TYPE1, [ndoo], { exemptions: [ex(NDOO, 'legal-requirement', 'Court order 17')] }),
        "Patient's opt-out of planning-research is lifted by the caller's legal-requirement exemption (Court order 17)"
      ],
      [
        decide(TYPE1, [type1, ndoo], { exemptions: [ex(TYPE1, 'copi-regulation-3', 'COPI'), ex(NDOO)] }),
        "Patient's opt-out of gp-data-secondary-use and planning-research is lifted by the caller's " +
          'copi-regulation-3 exemption (COPI)'
      ],
      [decide(SCR, [], { pointOfCare: GRANTED }), 'Patient gave permission to view at the point of care'],
      [decide(SCR, [], { pointOfCare: REFUSED }), 'Patient refused permission to view at the point of care'],
      [
        decide(SCR, [], { pointOfCare: UNABLE }),
        'Patient unable to give permission to view; emergency access recorded'
      ],
      [
        decide('gp-record-view', [], { pointOfCare: UNABLE }),
        'Emergency access is not allowed for gp-record-view; permission to view must be given'
      ],
      [
        decide(SCR),
        'Permission to view must be asked at the point of care for summary-care-record: ' +
          'send pointOfCare.permissionToView (granted, refused, or unable-to-ask with a reason)'
      ]
    ]
    for (const [d, reason] of cases) expect(d.reason).toBe(reason)
  })
})

describe('decideOutcome (the bulk filter: decision and basis only)', () => {
  it("gives decideConsent's decision and basis", () => {
    const ndoo = rec(NDOO, 'deny', -1)
    const cases: Array<[string, PreferenceRecord[], Exemption[]]> = [
      [NDOO, [], []],
      [NDOO, [ndoo], []],
      [TYPE1, [ndoo], [ex(NDOO)]],
      [PROGRAMME.code, [], []],
      [TYPE1, [rec(TYPE1, 'permit', -1)], []]
    ]
    for (const [purpose, records, exemptions] of cases) {
      const ctx: DecisionContext = { catalog, purpose, records, exemptions, at: T }
      const d = decideConsent(ctx)
      expect(decideOutcome(ctx)).toEqual({ decision: d.decision, basis: d.basis })
    }
    expect(decideOutcome({ catalog, purpose: NDOO, records: [], exemptions: [], at: T })).toEqual({
      decision: 'permit',
      basis: 'default'
    })
  })

  it('refuses an unable-to-ask without a reason, as decideConsent does', () => {
    const ctx: DecisionContext = {
      catalog,
      purpose: NDOO,
      records: [],
      exemptions: [],
      pointOfCare: { permissionToView: 'unable-to-ask' },
      at: T
    }
    expect(() => decideOutcome(ctx)).toThrow(/reason is required/)
    expect(decideOutcome({ ...ctx, pointOfCare: REFUSED })).toEqual({ decision: 'deny', basis: 'point-of-care' })
  })
})

describe('decideConsent with only the seeded catalogue', () => {
  it('works with a catalogue of just the seed', () => {
    const d = decideConsent({
      catalog: new PurposeCatalog(SEED_PURPOSES),
      purpose: TYPE1,
      records: [rec(NDOO, 'deny', -1)],
      exemptions: [],
      at: T
    })
    expect(d.decision).toBe('deny')
  })
})
