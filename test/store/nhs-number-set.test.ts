// The filter's numeric set must agree with a JavaScript Set under any sequence of changes: a wrong
// "no choices" answer would let an opted-out patient through the filter.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { NhsNumberSet } from '../../src/store/nhs-number-set.ts'

describe('NhsNumberSet', () => {
  it('agrees with Set for any sequence of adds and deletes, including 0 and numbers above 2^32', () => {
    const value = fc.oneof(fc.constantFrom(0, 1, 4294967296, 9999999999), fc.integer({ min: 0, max: 9_999_999_999 }), fc.integer({ min: 0, max: 50 }))
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), value), { maxLength: 3000 }), ops => {
      const set = new NhsNumberSet()
      const model = new Set<number>()
      for (const [add, n] of ops) {
        if (add) { set.add(n); model.add(n) } else { set.delete(n); model.delete(n) }
      }
      expect(set.size).toBe(model.size)
      for (const [, n] of ops) expect(set.has(n)).toBe(model.has(n))
      expect(set.has(1234567890)).toBe(model.has(1234567890))
    }), { numRuns: 200 })
  })
})
