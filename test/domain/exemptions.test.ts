import { describe, it, expect } from 'vitest'
import { exemptionsOutsidePurposes, validateExemption, EXEMPTION_BASES } from '../../src/domain/exemptions.ts'
import { makeCatalog } from './fixtures.ts'

const catalog = makeCatalog()
const ok = { purpose: 'planning-research', basis: 'legal-requirement', reference: 'CAG 10-02(b)/2024' }

describe('EXEMPTION_BASES (SPEC §2 rule 4)', () => {
  it('are exactly the six SPEC bases, and section 251 is not one', () => {
    expect([...EXEMPTION_BASES]).toEqual([
      'explicit-consent',
      'legal-requirement',
      'overriding-public-interest',
      'copi-regulation-3',
      'anonymised-ico-code',
      'cag-specific-exemption'
    ])
    expect(EXEMPTION_BASES.some(b => b.includes('251'))).toBe(false)
  })
})

describe('rule 4: validateExemption', () => {
  it.each([...EXEMPTION_BASES])('rule 4: accepts basis %s on a secondary-use purpose', basis => {
    expect(validateExemption(catalog, { ...ok, basis })).toEqual([])
  })

  it.each(['planning-research', 'gp-data-secondary-use', 'cancer-research-programme', 'cancer-sub-study'])(
    'rule 4: accepts secondary-use purpose %s',
    purpose => {
      expect(validateExemption(catalog, { ...ok, purpose })).toEqual([])
    }
  )

  it.each([
    'section-251',
    'section 251',
    'Section 251',
    'SECTION 251',
    'section_251',
    'section251',
    'Section-251',
    's251',
    'S251',
    's 251',
    's-251',
    's_251',
    'section-251-support',
    'cag-section-251',
    '  section 251  '
  ])('rule 4: rejects section 251 spelt %j with a message saying section 251 support is not an exemption', basis => {
    const errors = validateExemption(catalog, { ...ok, basis })
    expect(errors).toHaveLength(1)
    expect(errors[0].path).toBe('/basis')
    expect(errors[0].message).toMatch(/section 251/i)
    expect(errors[0].message).toMatch(/not an exemption/i)
  })

  it(
    'rule 4: rejects "Section 251 support" (the SPEC\'s own wording) and ' +
      'other common spellings with the section 251 message',
    () => {
      const spellings = ['section 251 support', 'Section 251 Support', 'section_251_support', 's.251', 'S.251 support']
      const withoutSection251Message = spellings.filter(basis => {
        const errors = validateExemption(catalog, { ...ok, basis })
        return !errors.some(e => e.path === '/basis' && /section 251/i.test(e.message))
      })
      // every spelling is rejected, but these get the generic "basis must be one of" message instead
      expect(withoutSection251Message).toEqual([])
    }
  )

  it.each(['251', ' 251 ', '251 support', 'support under 251'])(
    'rule 4: rejects %j (251 alone names section 251) with the section 251 message',
    basis => {
      expect(validateExemption(catalog, { ...ok, basis })).toEqual([
        {
          path: '/basis',
          message:
            'section 251 support alone is not an exemption from the National Data Opt-out; use ' +
            'cag-specific-exemption with the CAG reference when the Confidentiality Advisory Group has granted one'
        }
      ])
    }
  )

  it.each(['2510', '1251', 'cag-2512', 'ref-12512'])(
    'rule 4: rejects %j with the generic message (a longer number is not section 251)',
    basis => {
      expect(validateExemption(catalog, { ...ok, basis })).toEqual([
        { path: '/basis', message: `basis must be one of ${EXEMPTION_BASES.join(', ')}` }
      ])
    }
  )

  it.each(['consent', 'Legal-Requirement', 'legal requirement', '', 'gdpr-6-1-e', 'cag'])(
    'rule 4: rejects unknown basis %j listing the allowed bases',
    basis => {
      const errors = validateExemption(catalog, { ...ok, basis })
      expect(errors).toHaveLength(1)
      expect(errors[0].path).toBe('/basis')
      for (const b of EXEMPTION_BASES) expect(errors[0].message).toContain(b)
    }
  )

  it.each([undefined, null, 42, 251, {}, ['legal-requirement']])('rule 4: rejects non-string basis %j', basis => {
    expect(validateExemption(catalog, { ...ok, basis })).toEqual([
      { path: '/basis', message: `basis must be one of ${EXEMPTION_BASES.join(', ')}` }
    ])
  })

  it.each(['', '   ', '\t\n', undefined, null, 7])('rule 4: rejects empty or missing reference %j', reference => {
    const errors = validateExemption(catalog, { ...ok, reference })
    expect(errors).toHaveLength(1)
    expect(errors[0].path).toBe('/reference')
    expect(errors[0].message).toMatch(/reference/)
  })

  it.each(['planned-care', 'unplanned-care', 'summary-care-record', 'gp-record-view'])(
    'rule 4: rejects direct-care purpose %s (exemptions never apply to direct care)',
    purpose => {
      const errors = validateExemption(catalog, { ...ok, purpose })
      expect(errors).toHaveLength(1)
      expect(errors[0].path).toBe('/purpose')
      expect(errors[0].message).toMatch(/direct care/)
      expect(errors[0].message).toContain(purpose)
    }
  )

  it.each(['no-such-purpose', '', undefined, null, 5])('rule 4: rejects unknown purpose %j', purpose => {
    const errors = validateExemption(catalog, { ...ok, purpose })
    expect(errors).toHaveLength(1)
    expect(errors[0].path).toBe('/purpose')
    expect(errors[0].message).toMatch(/unknown purpose/)
  })

  it('rule 4: reports every problem at once', () => {
    const errors = validateExemption(catalog, { purpose: 'summary-care-record', basis: 'section 251', reference: '' })
    expect(errors.map(e => e.path).sort()).toEqual(['/basis', '/purpose', '/reference'])
  })

  it('rule 4: says exactly what is wrong with the reference and the purpose', () => {
    expect(validateExemption(catalog, { ...ok, reference: ' ' })).toEqual([
      { path: '/reference', message: 'reference is required (e.g. the CAG or court reference)' }
    ])
    expect(validateExemption(catalog, { ...ok, purpose: 'nope' })).toEqual([
      { path: '/purpose', message: "unknown purpose 'nope'" }
    ])
    expect(validateExemption(catalog, { ...ok, purpose: 'planned-care' })).toEqual([
      { path: '/purpose', message: "exemptions never apply to direct care; 'planned-care' is a direct-care purpose" }
    ])
  })
})

describe("rule 4: exemptionsOutsidePurposes (an exemption only for the client's own purposes)", () => {
  const ex = (...purposes: string[]): Array<{ purpose: string }> => purposes.map(purpose => ({ purpose }))

  it('names, by index, each exemption for a purpose the client is not registered for', () => {
    expect(
      exemptionsOutsidePurposes(catalog, ['gp-data-secondary-use'], ex('planning-research', 'gp-data-secondary-use'))
    ).toEqual([0])
    expect(
      exemptionsOutsidePurposes(catalog, ['planned-care'], ex('gp-data-secondary-use', 'planning-research'))
    ).toEqual([0, 1])
    expect(exemptionsOutsidePurposes(catalog, [], ex('planning-research'))).toEqual([0])
  })

  it('allows an exemption for a registered purpose or one below it', () => {
    expect(
      exemptionsOutsidePurposes(catalog, ['planning-research'], ex('planning-research', 'gp-data-secondary-use'))
    ).toEqual([])
    expect(exemptionsOutsidePurposes(catalog, ['planning-research'], [])).toEqual([])
  })

  it('leaves an unknown purpose to validateExemption', () => {
    expect(exemptionsOutsidePurposes(catalog, ['planning-research'], ex('no-such-purpose', 'planned-care'))).toEqual([
      1
    ])
  })
})
