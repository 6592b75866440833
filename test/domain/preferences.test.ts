import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  cancelledBy,
  currentChoices,
  effectiveRecord,
  GP_CODES,
  inForce,
  mapGpCode,
  summarisePreference,
  SOURCES,
  PROXY_ROLES,
  type PreferenceRecord
} from '../../src/domain/preferences.ts'
import { rec, day, DAY, T } from './fixtures.ts'

const at = T.getTime()

/** Rule 2's cancellation, written out from the SPEC's words (not the engine's). */
function isCancelled (records: readonly PreferenceRecord[], r: PreferenceRecord): boolean {
  return records.some(
    s =>
      s.status === 'active' &&
      s.purpose === r.purpose &&
      s.nhsNumber === r.nhsNumber &&
      r.recordedAt.getTime() < s.recordedAt.getTime() &&
      r.effectiveFrom.getTime() > s.recordedAt.getTime()
  )
}

function permutations<X> (items: readonly X[]): X[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map(rest => [x, ...rest]))
}

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
    // Small ranges, so that ties on effectiveFrom and on recordedAt, full ties and pending records
    // cancelled by later ones all come up in every run.
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
          r =>
            r.purpose === 'planning-research' &&
            r.status === 'active' &&
            !isCancelled(records, r) &&
            r.effectiveFrom.getTime() <= at
        )
        if (best === null) {
          expect(qualifying).toEqual([])
          return
        }
        expect(qualifying).toContain(best)
        for (const r of qualifying) {
          const later =
            r.effectiveFrom > best.effectiveFrom ||
            (r.effectiveFrom.getTime() === best.effectiveFrom.getTime() && r.recordedAt > best.recordedAt) ||
            (r.effectiveFrom.getTime() === best.effectiveFrom.getTime() &&
              r.recordedAt.getTime() === best.recordedAt.getTime() &&
              r.decision === 'deny' &&
              best.decision === 'permit')
          expect(later).toBe(false)
        }
      }),
      { numRuns: 500 }
    )
  })

  it('a full tie (same effectiveFrom and recordedAt, as imports write) is won by the deny, in any order', () => {
    const from = day(-5)
    const permits = ['p1', 'p9'].map(id => rec('planning-research', 'permit', from, { id, recordedAt: -4 }))
    const denies = ['d1', 'd5'].map(id => rec('planning-research', 'deny', from, { id, recordedAt: -4 }))
    for (const records of permutations([...permits, ...denies])) {
      expect(effectiveRecord(records, 'planning-research', at)?.id).toBe('d5')
    }
    for (const records of permutations([permits[0], permits[1], denies[0]])) {
      expect(effectiveRecord(records, 'planning-research', at)?.id).toBe('d1')
    }
    // Of equal decisions, the greater id, in any order.
    for (const records of permutations(permits)) {
      expect(effectiveRecord(records, 'planning-research', at)?.id).toBe('p9')
    }
    for (const records of permutations(denies)) expect(effectiveRecord(records, 'planning-research', at)?.id).toBe('d5')
    // A tie on effectiveFrom alone is still decided by recordedAt, whatever the decisions.
    const laterPermit = rec('planning-research', 'permit', from, { id: 'p0', recordedAt: -3 })
    for (const records of permutations([laterPermit, ...denies])) {
      expect(effectiveRecord(records, 'planning-research', at)).toBe(laterPermit)
    }
  })

  it('property: the effective record does not depend on the order of the records, full ties included', () => {
    const recordArb = fc.record({
      decision: fc.constantFrom('permit' as const, 'deny' as const),
      from: fc.integer({ min: -2, max: 2 }),
      recorded: fc.integer({ min: -2, max: 2 })
    })
    // Every record gets a twin with the same dates: full ties in every case, with either decision.
    const arb = fc
      .array(fc.tuple(recordArb, fc.constantFrom('permit' as const, 'deny' as const)), { minLength: 1, maxLength: 5 })
      .map(rows =>
        rows.flatMap(([r, twin], i) => [
          rec('planning-research', r.decision, r.from, { id: `a${i}`, recordedAt: r.recorded }),
          rec('planning-research', twin, r.from, { id: `b${i}`, recordedAt: r.recorded })
        ])
      )
      .chain(records =>
        fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }).map(shuffled => ({
          records,
          shuffled
        }))
      )
    fc.assert(
      fc.property(arb, fc.integer({ min: -3, max: 3 }), ({ records, shuffled }, atDay) => {
        const t = at + atDay * DAY
        const best = effectiveRecord(records, 'planning-research', t)
        expect(effectiveRecord(shuffled, 'planning-research', t)).toBe(best)
        expect(effectiveRecord([...records].reverse(), 'planning-research', t)).toBe(best)
      }),
      { numRuns: 500 }
    )
  })
})

describe('rule 2: cancellation (cancelledBy, inForce)', () => {
  const P = 'planning-research'

  it('a record still pending when a later one is recorded is cancelled by it, and no longer in force', () => {
    const pending = rec(P, 'permit', 30, { recordedAt: -5 })
    const newer = rec(P, 'deny', 0, { recordedAt: 0 })
    expect(cancelledBy([pending, newer], pending)).toBe(newer)
    expect(inForce([pending, newer], pending)).toBe(false)
    expect(cancelledBy([pending, newer], newer)).toBeNull()
    expect(inForce([pending, newer], newer)).toBe(true)
    // The newer record need not take effect first: a later wish replaces a pending one whatever its date.
    const newerLater = rec(P, 'deny', 60, { recordedAt: 0 })
    expect(cancelledBy([pending, newerLater], pending)).toBe(newerLater)
    // A back-dated form recorded later cancels it too.
    const backDated = rec(P, 'deny', -90, { recordedAt: 0 })
    expect(cancelledBy([pending, backDated], pending)).toBe(backDated)
    expect(inForce([pending, backDated], backDated)).toBe(true)
  })

  it('a cancelled record is never effective, at any time', () => {
    const pending = rec(P, 'deny', 3, { recordedAt: -5 })
    const newer = rec(P, 'permit', 10, { recordedAt: -1 })
    for (const t of [3, 5, 10, 100]) {
      expect(effectiveRecord([pending, newer], P, at + t * DAY)).toBe(t >= 10 ? newer : null)
    }
    expect(currentChoices([pending, newer], at + 5 * DAY)).toEqual([])
  })

  it('a record is not cancelled by one recorded at the same instant or earlier', () => {
    const a = rec(P, 'deny', 10, { recordedAt: -1 })
    const sameInstant = rec(P, 'permit', 0, { recordedAt: -1 })
    const earlier = rec(P, 'permit', 0, { recordedAt: -2 })
    expect(cancelledBy([a, sameInstant, earlier], a)).toBeNull()
    expect(inForce([a, sameInstant, earlier], a)).toBe(true)
  })

  it(
    'a record already effective when the later one was recorded is not cancelled ' + '(not even at that exact instant)',
    () => {
      const effective = rec(P, 'deny', -3, { recordedAt: -5 })
      const atThatInstant = rec(P, 'deny', -1, { recordedAt: -5 })
      const newer = rec(P, 'permit', 5, { recordedAt: -1 })
      expect(cancelledBy([effective, atThatInstant, newer], effective)).toBeNull()
      expect(cancelledBy([effective, atThatInstant, newer], atThatInstant)).toBeNull()
      // One millisecond later it was still pending.
      const justPending = rec(P, 'deny', new Date(day(-1).getTime() + 1), { recordedAt: -5 })
      expect(cancelledBy([justPending, newer], justPending)).toBe(newer)
    }
  )

  it('an entered-in-error record cancels nothing, and a voided record is not in force', () => {
    const pending = rec(P, 'deny', 10, { recordedAt: -5 })
    const voided = rec(P, 'permit', 0, { recordedAt: -1, status: 'entered-in-error' })
    expect(cancelledBy([pending, voided], pending)).toBeNull()
    expect(inForce([pending, voided], pending)).toBe(true)
    expect(inForce([pending, voided], voided)).toBe(false)
  })

  it('only a record for the same purpose and the same patient cancels', () => {
    const pending = rec(P, 'deny', 10, { recordedAt: -5 })
    const otherPurpose = rec('gp-data-secondary-use', 'permit', 0, { recordedAt: -1 })
    const otherPatient = { ...rec(P, 'permit', 0, { recordedAt: -1 }), nhsNumber: '9000000009' }
    expect(cancelledBy([pending, otherPurpose, otherPatient], pending)).toBeNull()
    expect(inForce([pending, otherPurpose, otherPatient], pending)).toBe(true)
  })

  it('names the first-recorded of several cancelling records, then the smaller id, in any order', () => {
    const pending = rec(P, 'deny', 10, { recordedAt: -5 })
    const first = rec(P, 'permit', 0, { id: 'z', recordedAt: -3 })
    const tieA = rec(P, 'permit', 0, { id: 'a', recordedAt: -2 })
    const tieB = rec(P, 'permit', 0, { id: 'b', recordedAt: -2 })
    const last = rec(P, 'deny', 0, { id: '0', recordedAt: -1 })
    for (const records of permutations([pending, first, tieA, tieB, last])) {
      expect(cancelledBy(records, pending)).toBe(first)
    }
    for (const records of permutations([pending, tieB, last, tieA])) {
      expect(cancelledBy(records, pending)).toBe(tieA)
    }
  })

  it('a cancelled record still cancels the records pending when it was recorded', () => {
    // Each wish replaced the one before it: the first never took effect, nor did the second.
    const first = rec(P, 'deny', 20, { recordedAt: -10 })
    const second = rec(P, 'permit', 15, { recordedAt: -5 })
    const third = rec(P, 'deny', 1, { recordedAt: -1 })
    const records = [first, second, third]
    expect(cancelledBy(records, first)).toBe(second)
    expect(cancelledBy(records, second)).toBe(third)
    expect(effectiveRecord(records, P, at + 30 * DAY)).toBe(third)
  })

  it('property: cancelledBy agrees with the rule written out, and never names a voided record', () => {
    const recordArb = fc.record({
      purpose: fc.constantFrom(P, 'gp-data-secondary-use'),
      from: fc.integer({ min: -4, max: 4 }),
      recorded: fc.integer({ min: -4, max: 4 }),
      status: fc.constantFrom('active' as const, 'active' as const, 'entered-in-error' as const)
    })
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 8 }), specs => {
        const records = specs.map((s, i) =>
          rec(s.purpose, 'deny', s.from, { id: `r${i}`, recordedAt: s.recorded, status: s.status })
        )
        for (const r of records) {
          const by = cancelledBy(records, r)
          expect(by !== null).toBe(isCancelled(records, r))
          if (by !== null) {
            expect(by.status).toBe('active')
            expect(by.purpose).toBe(r.purpose)
            expect(by.recordedAt.getTime()).toBeGreaterThan(r.recordedAt.getTime())
            expect(r.effectiveFrom.getTime()).toBeGreaterThan(by.recordedAt.getTime())
          }
          expect(inForce(records, r)).toBe(r.status === 'active' && by === null)
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
