import { describe, it, expect } from 'vitest'
import {
  decideConsent,
  checkPointOfCare,
  checkPurposeRequest,
  type DecisionContext,
  type PointOfCare
} from '../../src/domain/decision.ts'
import type { Exemption } from '../../src/domain/exemptions.ts'
import type { PreferenceRecord } from '../../src/domain/preferences.ts'
import { PurposeCatalog, SEED_PURPOSES } from '../../src/domain/purposes.ts'
import { makeCatalog, rec, day, T, PROGRAMME } from './fixtures.ts'

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
      exemption: null
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

  it('rule 5: pointOfCare is ignored for purposes without requiresPermissionToView', () => {
    for (const pointOfCare of [GRANTED, REFUSED, UNABLE]) {
      expect(decide(UNPLANNED, [], { pointOfCare })).toEqual(decide(UNPLANNED))
      const out = rec('planned-care', 'deny', -1)
      expect(decide('planned-care', [out], { pointOfCare })).toEqual(decide('planned-care', [out]))
      const ndoo = rec(NDOO, 'deny', -1)
      expect(decide(TYPE1, [ndoo], { pointOfCare })).toEqual(decide(TYPE1, [ndoo]))
      expect(decide(PROGRAMME.code, [], { pointOfCare })).toEqual(decide(PROGRAMME.code))
    }
    expect(decide(UNPLANNED, [], { pointOfCare: UNABLE }).emergencyAccess).toBe(false)
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
    const first = rec(NDOO, 'deny', 3)
    const second = rec(NDOO, 'permit', 6)
    expect(decide(NDOO, [second, first]).pendingChange).toMatchObject({ id: first.id, outcome: 'deny' })
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
