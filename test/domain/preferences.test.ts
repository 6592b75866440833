import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  currentChoices,
  effectiveRecord,
  GP_CODES,
  mapGpCode,
  summarisePreference,
  SOURCES,
  PROXY_ROLES,
  type PreferenceRecord
} from '../../src/domain/preferences.ts'
import { rec, day, DAY, T } from './fixtures.ts'

const at = T.getTime()

describe('effectiveRecord (SPEC §2 rule 2)', () => {
  it('is null with no records, or none for the purpose', () => {
    expect(effectiveRecord([], 'planning-research', at)).toBeNull()
    expect(effectiveRecord([rec('gp-data-secondary-use', 'deny', -1)], 'planning-research', at)).toBeNull()
  })

  it('picks the active record with the latest effectiveFrom <= T', () => {
    const a = rec('planning-research', 'deny', -30)
    const b = rec('planning-research', 'permit', -10)
    const c = rec('planning-research', 'deny', -20)
    expect(effectiveRecord([a, b, c], 'planning-research', at)).toBe(b)
    expect(effectiveRecord([c, b, a], 'planning-research', at)).toBe(b)
  })

  it('counts a record effective exactly at T', () => {
    const a = rec('planning-research', 'permit', -10)
    const b = rec('planning-research', 'deny', 0)
    expect(effectiveRecord([a, b], 'planning-research', at)).toBe(b)
    expect(effectiveRecord([a, b], 'planning-research', at - 1)).toBe(a)
  })

  it('ignores future-dated records', () => {
    const a = rec('planning-research', 'permit', -10)
    const future = rec('planning-research', 'deny', 1)
    expect(effectiveRecord([a, future], 'planning-research', at)).toBe(a)
    expect(effectiveRecord([future], 'planning-research', at)).toBeNull()
    expect(effectiveRecord([a, future], 'planning-research', day(1).getTime())).toBe(future)
  })

  it('breaks a tie on effectiveFrom by the latest recordedAt, whatever the order', () => {
    const from = day(-5)
    const early = rec('planning-research', 'deny', from, { recordedAt: -5 })
    const late = rec('planning-research', 'permit', from, { recordedAt: -1 })
    expect(effectiveRecord([early, late], 'planning-research', at)).toBe(late)
    expect(effectiveRecord([late, early], 'planning-research', at)).toBe(late)
  })

  it('a back-dated record recorded later takes effect from its effectiveFrom, not its recordedAt', () => {
    const permitMarch = rec('planning-research', 'permit', -60, { recordedAt: -60 })
    const denyBackDated = rec('planning-research', 'deny', -90, { recordedAt: -1 })
    // the back-dated deny is older in effect, so the March permit is effective now
    expect(effectiveRecord([permitMarch, denyBackDated], 'planning-research', at)).toBe(permitMarch)
    // between the two effective dates, the back-dated deny applies
    expect(effectiveRecord([permitMarch, denyBackDated], 'planning-research', day(-70).getTime())).toBe(denyBackDated)
  })

  it('ignores entered-in-error records, even the latest', () => {
    const a = rec('planning-research', 'permit', -10)
    const wrong = rec('planning-research', 'deny', -1, { status: 'entered-in-error' })
    expect(effectiveRecord([a, wrong], 'planning-research', at)).toBe(a)
    expect(effectiveRecord([wrong], 'planning-research', at)).toBeNull()
    const tieWrong = rec('planning-research', 'deny', a.effectiveFrom, { recordedAt: 0, status: 'entered-in-error' })
    expect(effectiveRecord([a, tieWrong], 'planning-research', at)).toBe(a)
  })

  it('property: the chosen record is active, for the purpose, <= T, and no other qualifying record beats it', () => {
    const recordArb = fc
      .record({
        purpose: fc.constantFrom('planning-research', 'gp-data-secondary-use'),
        decision: fc.constantFrom('permit' as const, 'deny' as const),
        from: fc.integer({ min: -5, max: 5 }),
        recorded: fc.integer({ min: -5, max: 5 }),
        status: fc.constantFrom('active' as const, 'active' as const, 'entered-in-error' as const)
      })
      .map(r => rec(r.purpose, r.decision, r.from, { recordedAt: r.recorded, status: r.status }))
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 10 }), (records: PreferenceRecord[]) => {
        const best = effectiveRecord(records, 'planning-research', at)
        const qualifying = records.filter(
          r => r.purpose === 'planning-research' && r.status === 'active' && r.effectiveFrom.getTime() <= at
        )
        if (best === null) {
          expect(qualifying).toEqual([])
          return
        }
        expect(qualifying).toContain(best)
        for (const r of qualifying) {
          const later =
            r.effectiveFrom > best.effectiveFrom ||
            (r.effectiveFrom.getTime() === best.effectiveFrom.getTime() && r.recordedAt > best.recordedAt)
          expect(later).toBe(false)
        }
      }),
      { numRuns: 500 }
    )
  })
})

describe('GP codes (SPEC §2 Read v2 table)', () => {
  it.each([
    ['9Nu0', 'gp-data-secondary-use', 'deny'],
    ['9Nu1', 'gp-data-secondary-use', 'permit'],
    ['9Nu4', 'planning-research', 'deny'],
    ['9Ndo', 'summary-care-record', 'deny'],
    ['9Ndl', 'summary-care-record', 'permit'],
    ['9Ndm', 'summary-care-record', 'permit'],
    ['9Ndn', 'summary-care-record', 'permit']
  ])('maps %s to %s %s', (code, purpose, decision) => {
    expect(mapGpCode(code)).toMatchObject({ purpose, decision })
    expect(GP_CODES[code].meaning.length).toBeGreaterThan(0)
  })

  it('has exactly the seven codes of the table', () => {
    expect(Object.keys(GP_CODES).sort()).toEqual(['9Ndl', '9Ndm', '9Ndn', '9Ndo', '9Nu0', '9Nu1', '9Nu4'])
  })

  it.each(['9Nu2', '9nu0', '9NU0', '', ' 9Nu0', 'toString', '__proto__', 'constructor', 'hasOwnProperty'])(
    'rejects unknown code %j',
    code => {
      expect(mapGpCode(code)).toBeUndefined()
    }
  )
})

describe('summarisePreference', () => {
  it('carries id, purpose, decision, ISO dates and source, and nothing else (no NHS number, no status)', () => {
    const r = rec('planning-research', 'deny', new Date('2025-01-02T03:04:05.678Z'), {
      id: 'p1',
      recordedAt: new Date('2025-01-03T00:00:00.000Z'),
      source: 'paper-form'
    })
    expect(summarisePreference(r)).toEqual({
      id: 'p1',
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: '2025-01-02T03:04:05.678Z',
      recordedAt: '2025-01-03T00:00:00.000Z',
      source: 'paper-form'
    })
  })
})

describe('sources and proxy roles', () => {
  it('lists the SPEC sources', () => {
    expect([...SOURCES]).toEqual(['gp-practice', 'paper-form', 'online', 'telephone', 'import'])
  })

  it('includes the SPEC proxy roles (parent, guardian, lasting power of attorney)', () => {
    expect(PROXY_ROLES).toEqual(expect.arrayContaining(['parent', 'guardian', 'lasting-power-of-attorney']))
  })
})

describe("currentChoices (what a patient's record shows as in force)", () => {
  it('is the effective record per purpose, in code order; none with only future or voided records', () => {
    const research = rec('planning-research', 'deny', -10)
    const changedMind = rec('planning-research', 'permit', -2)
    const scr = rec('summary-care-record', 'deny', -5)
    const scheduled = rec('gp-data-secondary-use', 'deny', 3)
    const voided = rec('unplanned-care', 'deny', -1, { status: 'entered-in-error' })
    const current = currentChoices([scr, research, scheduled, changedMind, voided], at)
    expect(current).toEqual([changedMind, scr])
    // Once the scheduled one's day comes, it is current too.
    expect(currentChoices([scr, research, scheduled, changedMind, voided], at + 3 * DAY).map(r => r.id)).toEqual([
      scheduled.id,
      changedMind.id,
      scr.id
    ])
    expect(currentChoices([], at)).toEqual([])
  })
})
