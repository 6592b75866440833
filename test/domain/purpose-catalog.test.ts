// PurposeCatalog built inside each test, never when the file loads: a fault in building a catalogue
// then fails these tests instead of stopping every file that builds one at load time (which a test
// runner reports as a file error, not as a failed test, and mutation testing as a survivor).
import { describe, it, expect } from 'vitest'
import { PurposeCatalog, SEED_PURPOSES } from '../../src/domain/purposes.ts'

describe('PurposeCatalog construction', () => {
  it('indexes the purposes it is given by code, the last of a code winning', () => {
    const catalog = new PurposeCatalog(SEED_PURPOSES)
    for (const p of SEED_PURPOSES) expect(catalog.get(p.code)).toBe(p)
    const renamed = { ...SEED_PURPOSES[0], name: 'Referrals' }
    expect(new PurposeCatalog([...SEED_PURPOSES, renamed]).get('planned-care')?.name).toBe('Referrals')
    expect(new PurposeCatalog([]).all()).toEqual([])
  })

  it('takes any iterable of purposes', () => {
    const catalog = new PurposeCatalog(new Set(SEED_PURPOSES).values())
    expect(catalog.chain('gp-data-secondary-use').map(p => p.code)).toEqual([
      'gp-data-secondary-use',
      'planning-research'
    ])
  })
})
