import { describe, it, expect } from 'vitest'
import {
  PurposeCatalog,
  SEED_PURPOSES,
  validateNewPurpose,
  checkPurposeUpdate,
  editablePart,
  unusablePurpose,
  EDITABLE_PURPOSE_FIELDS,
  PURPOSE_CODE_PATTERN,
  type Purpose
} from '../../src/domain/purposes.ts'
import { makeCatalog, PROGRAMME, SUB_STUDY } from './fixtures.ts'

const seeded = new PurposeCatalog(SEED_PURPOSES)
const catalog = makeCatalog()
const codes = (ps: readonly Purpose[]): string[] => ps.map(p => p.code)

function purpose (overrides: Partial<Purpose>): Purpose {
  return {
    code: 'new-programme',
    name: 'New programme',
    description: 'A new purpose.',
    category: 'secondary-use',
    parent: 'planning-research',
    defaultDecision: 'deny',
    requiresPermissionToView: false,
    emergencyAccess: 'never',
    active: true,
    ...overrides
  }
}

describe('SEED_PURPOSES (SPEC §2 table)', () => {
  it('has exactly the five seeded purposes with their parents, categories and defaults', () => {
    const rows = SEED_PURPOSES.map(p => [p.code, p.parent, p.category, p.defaultDecision, p.active])
    expect(rows).toEqual([
      ['planned-care', null, 'direct-care', 'permit', true],
      ['unplanned-care', null, 'direct-care', 'permit', true],
      ['summary-care-record', 'unplanned-care', 'direct-care', 'permit', true],
      ['planning-research', null, 'secondary-use', 'permit', true],
      ['gp-data-secondary-use', 'planning-research', 'secondary-use', 'permit', true]
    ])
  })

  it('only the Summary Care Record requires permission to view and allows emergency access when unable to ask', () => {
    for (const p of SEED_PURPOSES) {
      const scr = p.code === 'summary-care-record'
      expect(p.requiresPermissionToView).toBe(scr)
      expect(p.emergencyAccess).toBe(scr ? 'when-unable-to-ask' : 'never')
    }
  })

  it("names and describes each seeded purpose in the leaflet's words", () => {
    expect(SEED_PURPOSES.map(p => [p.code, p.name, p.description])).toEqual([
      ['planned-care', 'Planned care', 'Referrals by the GP to another service for tests or treatment.'],
      ['unplanned-care', 'Unplanned care', 'Emergency Departments, Minor Injuries Units and Out of Hours GP services.'],
      [
        'summary-care-record',
        'Summary Care Record',
        'The national Summary Care Record (medications, allergies, reactions), ' +
          "viewed with the patient's permission at the time of a visit or call."
      ],
      [
        'planning-research',
        'Planning and research',
        'Use of health records for planning and research (National Data Opt-out semantics).'
      ],
      [
        'gp-data-secondary-use',
        'GP data for secondary use',
        'GP patient-identifiable data leaving the practice for purposes beyond direct care (Type 1 opt-out).'
      ]
    ])
  })

  it('all seeded codes are kebab-case and pass validation against the rest of the seed', () => {
    for (const p of SEED_PURPOSES) {
      expect(p.code).toMatch(new RegExp(PURPOSE_CODE_PATTERN))
      const others = new PurposeCatalog(SEED_PURPOSES.filter(q => q.code !== p.code))
      expect(validateNewPurpose(others, p)).toEqual([])
    }
  })
})

describe('PurposeCatalog.get / all', () => {
  it('finds purposes by code and lists them all', () => {
    expect(seeded.get('planning-research')?.name).toBe('Planning and research')
    expect(seeded.get('nope')).toBeUndefined()
    expect(codes(seeded.all()).sort()).toEqual(codes(SEED_PURPOSES).sort())
  })

  it('all() returns a copy that does not change the catalogue', () => {
    const list = seeded.all()
    list.pop()
    expect(seeded.all()).toHaveLength(5)
  })
})

describe('PurposeCatalog.chain', () => {
  it('is the purpose followed by its ancestors, most specific first', () => {
    expect(codes(catalog.chain('summary-care-record'))).toEqual(['summary-care-record', 'unplanned-care'])
    expect(codes(catalog.chain('gp-data-secondary-use'))).toEqual(['gp-data-secondary-use', 'planning-research'])
    expect(codes(catalog.chain('cancer-sub-study'))).toEqual([
      'cancer-sub-study',
      'cancer-research-programme',
      'planning-research'
    ])
  })

  it('is just the purpose for a root', () => {
    expect(codes(catalog.chain('planned-care'))).toEqual(['planned-care'])
    expect(codes(catalog.chain('planning-research'))).toEqual(['planning-research'])
  })

  it('is empty for an unknown code', () => {
    expect(catalog.chain('unknown')).toEqual([])
  })

  it('stops at a missing parent', () => {
    const orphan = purpose({ code: 'orphan', parent: 'missing' })
    expect(codes(new PurposeCatalog([orphan]).chain('orphan'))).toEqual(['orphan'])
  })

  it('terminates on a cycle', () => {
    const a = purpose({ code: 'a', parent: 'b' })
    const b = purpose({ code: 'b', parent: 'a' })
    expect(codes(new PurposeCatalog([a, b]).chain('a'))).toEqual(['a', 'b'])
  })

  it('gives the same answer when asked again (cached)', () => {
    expect(catalog.chain('cancer-sub-study')).toBe(catalog.chain('cancer-sub-study'))
  })
})

describe('PurposeCatalog.defaultDecision (inherited from the parent when unset)', () => {
  it("uses the purpose's own default", () => {
    expect(catalog.defaultDecision('planning-research')).toBe('permit')
    expect(catalog.defaultDecision('gp-data-secondary-use')).toBe('permit')
    expect(catalog.defaultDecision('cancer-research-programme')).toBe('deny')
  })

  it('an opt-in child overrides its permit parent', () => {
    expect(PROGRAMME.defaultDecision).toBe('deny')
    expect(catalog.defaultDecision(PROGRAMME.code)).toBe('deny')
  })

  it("a child with defaultDecision null inherits its parent's default", () => {
    expect(SUB_STUDY.defaultDecision).toBeNull()
    expect(catalog.defaultDecision('cancer-sub-study')).toBe('deny')
    const permitChild = purpose({ code: 'permit-child', defaultDecision: null })
    const c = new PurposeCatalog([...SEED_PURPOSES, permitChild])
    expect(c.defaultDecision('permit-child')).toBe('permit')
    expect(catalog.defaultDecision('gp-record-view')).toBe('permit')
  })

  it('inherits from the nearest ancestor that sets one', () => {
    const grandchild = purpose({ code: 'grandchild', parent: 'cancer-sub-study', defaultDecision: null })
    expect(new PurposeCatalog([...catalog.all(), grandchild]).defaultDecision('grandchild')).toBe('deny')
    const permitUnderDeny = purpose({
      code: 'permit-under-deny',
      parent: 'cancer-research-programme',
      defaultDecision: 'permit'
    })
    const inherits = purpose({ code: 'inherits', parent: 'permit-under-deny', defaultDecision: null })
    const c = new PurposeCatalog([...catalog.all(), permitUnderDeny, inherits])
    expect(c.defaultDecision('inherits')).toBe('permit')
  })

  it('is deny (fail closed) when nothing in the chain sets one, or the purpose is unknown', () => {
    const bare = purpose({ code: 'bare', parent: null, defaultDecision: null })
    expect(new PurposeCatalog([bare]).defaultDecision('bare')).toBe('deny')
    expect(catalog.defaultDecision('unknown')).toBe('deny')
  })
})

describe('PurposeCatalog.isAllowed', () => {
  it('allows a purpose listed on the registration', () => {
    expect(catalog.isAllowed(['summary-care-record'], 'summary-care-record')).toBe(true)
  })

  it('allows a purpose whose ancestor is listed', () => {
    expect(catalog.isAllowed(['unplanned-care'], 'summary-care-record')).toBe(true)
    expect(catalog.isAllowed(['planning-research'], 'gp-data-secondary-use')).toBe(true)
    expect(catalog.isAllowed(['planning-research'], 'cancer-sub-study')).toBe(true)
    expect(catalog.isAllowed(['cancer-research-programme'], 'cancer-sub-study')).toBe(true)
  })

  it('does not allow an ancestor of a listed purpose, nor a sibling, nor an unrelated purpose', () => {
    expect(catalog.isAllowed(['summary-care-record'], 'unplanned-care')).toBe(false)
    expect(catalog.isAllowed(['gp-data-secondary-use'], 'planning-research')).toBe(false)
    expect(catalog.isAllowed(['gp-data-secondary-use'], 'cancer-research-programme')).toBe(false)
    expect(catalog.isAllowed(['planned-care'], 'unplanned-care')).toBe(false)
  })

  it('allows nothing with an empty registration, and nothing unknown', () => {
    expect(catalog.isAllowed([], 'planned-care')).toBe(false)
    expect(catalog.isAllowed(['planned-care'], 'unknown')).toBe(false)
  })
})

describe('validateNewPurpose', () => {
  it('accepts a valid opt-in programme under planning-research', () => {
    expect(validateNewPurpose(seeded, purpose({}))).toEqual([])
  })

  it('accepts a child with no default (it inherits) and a root with a default', () => {
    expect(validateNewPurpose(seeded, purpose({ defaultDecision: null }))).toEqual([])
    expect(
      validateNewPurpose(seeded, purpose({ parent: null, defaultDecision: 'permit', category: 'direct-care' }))
    ).toEqual([])
  })

  it('accepts a direct-care purpose that requires permission to view with emergency access', () => {
    const p = purpose({
      category: 'direct-care',
      parent: 'unplanned-care',
      requiresPermissionToView: true,
      emergencyAccess: 'when-unable-to-ask'
    })
    expect(validateNewPurpose(seeded, p)).toEqual([])
  })

  it.each(['a', 'abc', 'a1', 'a-b', 'a1-b2-c3', '123', 'x-1'])('accepts kebab-case code %j', code => {
    expect(validateNewPurpose(seeded, purpose({ code }))).toEqual([])
  })

  it.each([
    '',
    'Cancer-Research',
    'cancer_research',
    'cancer--research',
    '-cancer',
    'cancer-',
    'cancer research',
    'cancer.research',
    'CANCER',
    'café'
  ])('rejects non-kebab-case code %j at /code', code => {
    const errors = validateNewPurpose(seeded, purpose({ code }))
    expect(errors).toHaveLength(1)
    expect(errors[0].path).toBe('/code')
    expect(errors[0].message).toMatch(/kebab-case/)
  })

  it('rejects an unknown parent at /parent, naming it', () => {
    const errors = validateNewPurpose(seeded, purpose({ parent: 'no-such-purpose' }))
    expect(errors).toEqual([{ path: '/parent', message: expect.stringContaining("'no-such-purpose'") }])
  })

  it("rejects a category that differs from the parent's at /category", () => {
    const errors = validateNewPurpose(seeded, purpose({ parent: 'unplanned-care', category: 'secondary-use' }))
    expect(errors).toEqual([{ path: '/category', message: expect.stringContaining('direct-care') }])
    const errors2 = validateNewPurpose(seeded, purpose({ parent: 'planning-research', category: 'direct-care' }))
    expect(errors2.map(e => e.path)).toEqual(['/category'])
  })

  it('rejects a root purpose without a default at /defaultDecision', () => {
    const errors = validateNewPurpose(seeded, purpose({ parent: null, defaultDecision: null }))
    expect(errors.map(e => e.path)).toEqual(['/defaultDecision'])
  })

  it('rejects emergency access on a purpose that does not require permission to view', () => {
    const errors = validateNewPurpose(
      seeded,
      purpose({ category: 'direct-care', parent: 'unplanned-care', emergencyAccess: 'when-unable-to-ask' })
    )
    expect(errors.map(e => e.path)).toEqual(['/emergencyAccess'])
  })

  it('rejects requiresPermissionToView on a secondary-use purpose', () => {
    const errors = validateNewPurpose(seeded, purpose({ requiresPermissionToView: true }))
    expect(errors.map(e => e.path)).toEqual(['/requiresPermissionToView'])
  })

  it('says exactly what is wrong, field by field', () => {
    expect(validateNewPurpose(seeded, purpose({ code: 'Bad_Code' }))).toEqual([
      { path: '/code', message: 'code must be kebab-case: lower-case letters and digits separated by single hyphens' }
    ])
    expect(validateNewPurpose(seeded, purpose({ parent: 'missing' }))).toEqual([
      { path: '/parent', message: "parent purpose 'missing' does not exist" }
    ])
    expect(validateNewPurpose(seeded, purpose({ parent: 'unplanned-care' }))).toEqual([
      { path: '/category', message: "category must match the parent's category 'direct-care'" }
    ])
    expect(validateNewPurpose(seeded, purpose({ parent: null, defaultDecision: null }))).toEqual([
      { path: '/defaultDecision', message: 'a purpose without a parent must set defaultDecision (permit or deny)' }
    ])
    expect(
      validateNewPurpose(
        seeded,
        purpose({ category: 'direct-care', parent: 'unplanned-care', emergencyAccess: 'when-unable-to-ask' })
      )
    ).toEqual([
      { path: '/emergencyAccess', message: 'emergencyAccess applies only to purposes that require permission to view' }
    ])
    expect(validateNewPurpose(seeded, purpose({ requiresPermissionToView: true }))).toEqual([
      {
        path: '/requiresPermissionToView',
        message: 'permission to view at the point of care applies only to direct-care purposes'
      }
    ])
  })

  it('reports every problem at once', () => {
    const errors = validateNewPurpose(
      seeded,
      purpose({ code: 'Bad_Code', parent: 'missing', emergencyAccess: 'when-unable-to-ask' })
    )
    expect(errors.map(e => e.path).sort()).toEqual(['/code', '/emergencyAccess', '/parent'])
    const errors2 = validateNewPurpose(
      seeded,
      purpose({ code: 'X', parent: null, defaultDecision: null, requiresPermissionToView: true })
    )
    expect(errors2.map(e => e.path).sort()).toEqual(['/code', '/defaultDecision', '/requiresPermissionToView'])
  })

  it('accepts a child of a purpose added later to the catalogue', () => {
    expect(
      validateNewPurpose(catalog, purpose({ code: 'sub-sub', parent: 'cancer-sub-study', defaultDecision: null }))
    ).toEqual([])
  })
})

describe('checkPurposeUpdate (what may change once a purpose exists)', () => {
  const existing = catalog.get(PROGRAMME.code) as Purpose

  it('accepts a change to any editable field, and deactivation', () => {
    expect(checkPurposeUpdate(catalog, existing, { name: 'Renamed', description: 'New text' })).toEqual([])
    expect(checkPurposeUpdate(catalog, existing, { active: false })).toEqual([])
    expect(checkPurposeUpdate(catalog, existing, { defaultDecision: 'permit' })).toEqual([])
    // A child may drop its own default and inherit its parent's.
    expect(checkPurposeUpdate(catalog, existing, { defaultDecision: null })).toEqual([])
    expect(EDITABLE_PURPOSE_FIELDS).not.toContain('code')
  })

  it('refuses a change of code, category or parent, naming each field', () => {
    const errors = checkPurposeUpdate(catalog, existing, {
      code: 'renamed',
      category: 'direct-care',
      parent: 'unplanned-care'
    })
    expect(errors.map(e => e.path)).toEqual(['/code', '/category', '/parent'])
    expect(errors[0].message).toMatch(/cannot change/)
    // Restating the value it already has changes nothing.
    expect(checkPurposeUpdate(catalog, existing, { code: existing.code, parent: existing.parent })).toEqual([])
  })

  it('does not check again the code of a purpose that exists, only the rest of it', () => {
    // A purpose stored before the kebab-case rule (or seeded) keeps its code and can still be edited.
    const legacy: Purpose = { ...PROGRAMME, code: 'Legacy_Programme' }
    expect(checkPurposeUpdate(catalog, legacy, { name: 'Renamed' })).toEqual([])
    expect(checkPurposeUpdate(catalog, legacy, { requiresPermissionToView: true })).toEqual([
      {
        path: '/requiresPermissionToView',
        message: 'permission to view at the point of care applies only to direct-care purposes'
      }
    ])
  })

  it('names each fixed field it refuses to change', () => {
    expect(checkPurposeUpdate(catalog, existing, { category: 'direct-care' })).toEqual([
      { path: '/category', message: 'category cannot change once a purpose is created' }
    ])
  })

  it('checks the purpose as changed: a root keeps a default, emergency access needs permission to view', () => {
    const root = catalog.get('planning-research') as Purpose
    expect(checkPurposeUpdate(catalog, root, { defaultDecision: null }).map(e => e.path)).toEqual(['/defaultDecision'])
    expect(checkPurposeUpdate(catalog, existing, { requiresPermissionToView: true }).map(e => e.path)).toEqual([
      '/requiresPermissionToView'
    ])
    const scr = catalog.get('summary-care-record') as Purpose
    expect(checkPurposeUpdate(catalog, scr, { requiresPermissionToView: false }).map(e => e.path)).toEqual([
      '/emergencyAccess'
    ])
  })
})

describe('editablePart (what an accepted change stores)', () => {
  it('keeps the editable fields and leaves out code, category and parent sent unchanged', () => {
    const existing = catalog.get(PROGRAMME.code) as Purpose
    expect(
      editablePart({ code: existing.code, category: existing.category, parent: existing.parent, active: false })
    ).toEqual({ active: false })
    expect(editablePart({ name: 'Renamed', defaultDecision: null })).toEqual({ name: 'Renamed', defaultDecision: null })
  })
})

describe('unusablePurpose (rule 1: the purpose exists and is active)', () => {
  const retired = new PurposeCatalog([...SEED_PURPOSES, { ...PROGRAMME, code: 'retired-programme', active: false }])

  it('is null for an active purpose', () => {
    expect(unusablePurpose(retired, 'planned-care')).toBeNull()
  })

  it('says a purpose is unknown, cutting a long code short', () => {
    expect(unusablePurpose(retired, 'no-such-purpose')).toBe("unknown purpose 'no-such-purpose'")
    expect(unusablePurpose(retired, 'x'.repeat(5000))).toBe(`unknown purpose '${'x'.repeat(100)}'`)
  })

  it('says a deactivated purpose is no longer active', () => {
    expect(unusablePurpose(retired, 'retired-programme')).toBe("purpose 'retired-programme' is no longer active")
  })
})
