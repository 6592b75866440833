// The compact preference index must answer exactly as a plain map of records would, under any
// sequence of new, replaced and voided records: a wrong answer here is a wrong decision.
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { PreferenceRecord } from '../../src/domain/preferences.ts'
import { PreferenceIndex } from '../../src/store/preference-index.ts'

const patients = ['9434765919', '9434765870', '0000000000', '4010232137', '9999999999']
const ids = [...Array.from({ length: 6 }, () => randomUUID()), 'legacy-id-1', 'LEGACY-2']

const recordArb: fc.Arbitrary<PreferenceRecord> = fc.record({
  id: fc.constantFrom(...ids),
  nhsNumber: fc.constantFrom(...patients),
  purpose: fc.constantFrom('planning-research', 'gp-data-secondary-use', 'summary-care-record', 'a-new-programme'),
  decision: fc.constantFrom('permit' as const, 'deny' as const),
  effectiveFrom: fc.integer({ min: 0, max: 4_000_000_000_000 }).map(t => new Date(t)),
  recordedAt: fc.integer({ min: 0, max: 4_000_000_000_000 }).map(t => new Date(t)),
  source: fc.constantFrom('gp-practice' as const, 'import' as const, 'online' as const),
  status: fc.constantFrom('active' as const, 'active' as const, 'entered-in-error' as const)
})

describe('PreferenceIndex', () => {
  it('agrees with a plain map of records for any sequence of applies', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 200 }), records => {
        const index = new PreferenceIndex()
        // The model: per patient, records by id (an id belongs to one patient in real data).
        const model = new Map<string, Map<string, PreferenceRecord>>()
        const owner = new Map<string, string>()
        for (const r of records) {
          const nhs = owner.get(r.id) ?? r.nhsNumber
          owner.set(r.id, nhs)
          const record = { ...r, nhsNumber: nhs }
          index.apply(record)
          const byId = model.get(nhs) ?? new Map<string, PreferenceRecord>()
          if (record.status === 'active') byId.set(record.id, record)
          else byId.delete(record.id)
          model.set(nhs, byId)
        }
        let total = 0
        for (const nhs of patients) {
          const expected = [...(model.get(nhs)?.values() ?? [])]
          total += expected.length
          const actual = index.recordsFor(nhs)
          const key = (r: PreferenceRecord): string => r.id
          expect([...actual].sort((a, b) => key(a).localeCompare(key(b)))).toEqual(
            expected.sort((a, b) => key(a).localeCompare(key(b)))
          )
          expect(index.hasChoices(Number(nhs))).toBe(expected.length > 0)
        }
        expect(index.size).toBe(total)
      }),
      { numRuns: 500 }
    )
  })
})
