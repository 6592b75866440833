// Exemptions from patients' opt-outs (SPEC §2 rule 4). Registered on a client by an administrator
// for one secondary-use purpose; they lift only the denies recorded at that purpose.
import type { PurposeCatalog } from './purposes.ts'

export const EXEMPTION_BASES = [
  'explicit-consent',
  'legal-requirement',
  'overriding-public-interest',
  'copi-regulation-3',
  'anonymised-ico-code',
  'cag-specific-exemption'
] as const

export type ExemptionBasis = (typeof EXEMPTION_BASES)[number]

export interface Exemption {
  purpose: string
  basis: ExemptionBasis
  reference: string
}

// Any basis naming section 251 ("section 251 support", "s.251", "s251"...) gets the explanation.
const SECTION_251 = /(^|[^0-9])251([^0-9]|$)/

/** Problems with one exemption as { path, message }, relative to the exemption. */
export function validateExemption (
  catalog: PurposeCatalog,
  e: { purpose: unknown; basis: unknown; reference: unknown }
): Array<{ path: string; message: string }> {
  const errors: Array<{ path: string; message: string }> = []
  if (typeof e.basis === 'string' && SECTION_251.test(e.basis)) {
    errors.push({
      path: '/basis',
      message:
        'section 251 support alone is not an exemption from the National Data Opt-out; use cag-specific-exemption ' +
        'with the CAG reference when the Confidentiality Advisory Group has granted one'
    })
  } else if (!(EXEMPTION_BASES as readonly unknown[]).includes(e.basis)) {
    errors.push({ path: '/basis', message: `basis must be one of ${EXEMPTION_BASES.join(', ')}` })
  }
  if (typeof e.reference !== 'string' || e.reference.trim() === '') {
    errors.push({ path: '/reference', message: 'reference is required (e.g. the CAG or court reference)' })
  }
  const purpose = typeof e.purpose === 'string' ? catalog.get(e.purpose) : undefined
  if (purpose === undefined) {
    errors.push({ path: '/purpose', message: `unknown purpose '${String(e.purpose)}'` })
  } else if (purpose.category !== 'secondary-use') {
    errors.push({
      path: '/purpose',
      message: `exemptions never apply to direct care; '${purpose.code}' is a direct-care purpose`
    })
  }
  return errors
}

/**
 * The exemptions (by index) whose purpose the client is not registered for (neither it nor an
 * ancestor is among `purposes`): an exemption lifts opt-outs only where the client may ask at
 * all, so one for another purpose is a mistake. Exemptions for unknown purposes are left to
 * validateExemption.
 */
export function exemptionsOutsidePurposes (
  catalog: PurposeCatalog,
  purposes: readonly string[],
  exemptions: ReadonlyArray<{ purpose: string }>
): number[] {
  const outside: number[] = []
  exemptions.forEach((e, i) => {
    if (catalog.get(e.purpose) !== undefined && !catalog.isAllowed(purposes, e.purpose)) outside.push(i)
  })
  return outside
}
