// Purposes and their hierarchy (SPEC §2 "Purposes"). A purpose inherits its default decision from
// its parent when it has none of its own; a caller allowed a purpose is allowed all below it.
import type { FieldError } from './problems.ts'

export const PURPOSE_CATEGORIES = ['direct-care', 'secondary-use'] as const
export type PurposeCategory = (typeof PURPOSE_CATEGORIES)[number]
export const DECISIONS = ['permit', 'deny'] as const
export type Decision = (typeof DECISIONS)[number]
export const EMERGENCY_ACCESS = ['never', 'when-unable-to-ask'] as const
export type EmergencyAccess = (typeof EMERGENCY_ACCESS)[number]

export interface Purpose {
  code: string
  name: string
  description: string
  category: PurposeCategory
  parent: string | null
  defaultDecision: Decision | null
  requiresPermissionToView: boolean
  emergencyAccess: EmergencyAccess
  active: boolean
}

/** What an administrator may change after a purpose is created; code, category and parent are fixed. */
export const EDITABLE_PURPOSE_FIELDS = [
  'name',
  'description',
  'defaultDecision',
  'requiresPermissionToView',
  'emergencyAccess',
  'active'
] as const
export type PurposePatch = Partial<Pick<Purpose, (typeof EDITABLE_PURPOSE_FIELDS)[number]>>
/** A change as an administrator sends it: the fixed fields may be sent, but only unchanged. */
export type PurposeChange = PurposePatch & Partial<Pick<Purpose, 'code' | 'category' | 'parent'>>

export const PURPOSE_CODE_PATTERN = '^[a-z0-9]+(-[a-z0-9]+)*$'
const PURPOSE_CODE = new RegExp(PURPOSE_CODE_PATTERN)

export const SEED_PURPOSES: readonly Purpose[] = [
  {
    code: 'planned-care',
    name: 'Planned care',
    description: 'Referrals by the GP to another service for tests or treatment.',
    category: 'direct-care',
    parent: null,
    defaultDecision: 'permit',
    requiresPermissionToView: false,
    emergencyAccess: 'never',
    active: true
  },
  {
    code: 'unplanned-care',
    name: 'Unplanned care',
    description: 'Emergency Departments, Minor Injuries Units and Out of Hours GP services.',
    category: 'direct-care',
    parent: null,
    defaultDecision: 'permit',
    requiresPermissionToView: false,
    emergencyAccess: 'never',
    active: true
  },
  {
    code: 'summary-care-record',
    name: 'Summary Care Record',
    description:
      'The national Summary Care Record (medications, allergies, reactions), ' +
      "viewed with the patient's permission at the time of a visit or call.",
    category: 'direct-care',
    parent: 'unplanned-care',
    defaultDecision: 'permit',
    requiresPermissionToView: true,
    emergencyAccess: 'when-unable-to-ask',
    active: true
  },
  {
    code: 'planning-research',
    name: 'Planning and research',
    description: 'Use of health records for planning and research (National Data Opt-out semantics).',
    category: 'secondary-use',
    parent: null,
    defaultDecision: 'permit',
    requiresPermissionToView: false,
    emergencyAccess: 'never',
    active: true
  },
  {
    code: 'gp-data-secondary-use',
    name: 'GP data for secondary use',
    description: 'GP patient-identifiable data leaving the practice for purposes beyond direct care (Type 1 opt-out).',
    category: 'secondary-use',
    parent: 'planning-research',
    defaultDecision: 'permit',
    requiresPermissionToView: false,
    emergencyAccess: 'never',
    active: true
  }
]

/** An immutable view of all purposes, answering hierarchy questions without any I/O. */
export class PurposeCatalog {
  private readonly byCode: ReadonlyMap<string, Purpose>
  private readonly chains = new Map<string, readonly Purpose[]>()

  constructor (purposes: Iterable<Purpose>) {
    this.byCode = new Map([...purposes].map(p => [p.code, p]))
  }

  get (code: string): Purpose | undefined {
    return this.byCode.get(code)
  }

  all (): Purpose[] {
    return [...this.byCode.values()]
  }

  /** The purpose followed by its ancestors, most specific first. */
  chain (code: string): readonly Purpose[] {
    let chain = this.chains.get(code)
    if (chain !== undefined) return chain
    const out: Purpose[] = []
    const seen = new Set<string>()
    let current = this.byCode.get(code)
    while (current !== undefined && !seen.has(current.code)) {
      out.push(current)
      seen.add(current.code)
      current = current.parent === null ? undefined : this.byCode.get(current.parent)
    }
    chain = out
    this.chains.set(code, chain)
    return chain
  }

  /** The purpose's own default decision, else the nearest ancestor's; deny when none is set anywhere. */
  defaultDecision (code: string): Decision {
    for (const p of this.chain(code)) if (p.defaultDecision !== null) return p.defaultDecision
    return 'deny'
  }

  /** A caller may ask about a purpose listed on its registration, or one below a listed purpose. */
  isAllowed (allowedCodes: readonly string[], code: string): boolean {
    return this.chain(code).some(p => allowedCodes.includes(p.code))
  }
}

/**
 * Why a purpose cannot be asked about or recorded (SPEC §2 rule 1): it is unknown, or deactivated.
 * Null when it can. The code is cut short in the message: it is the caller's text, of any length.
 */
export function unusablePurpose (catalog: PurposeCatalog, code: string): string | null {
  const purpose = catalog.get(code)
  if (purpose === undefined) return `unknown purpose '${code.slice(0, 100)}'`
  if (!purpose.active) return `purpose '${code}' is no longer active`
  return null
}

/** Checks a new purpose against the catalogue; returns the problems as { path, message }. */
export function validateNewPurpose (catalog: PurposeCatalog, purpose: Purpose): FieldError[] {
  const errors: FieldError[] = []
  if (!PURPOSE_CODE.test(purpose.code)) {
    errors.push({
      path: '/code',
      message: 'code must be kebab-case: lower-case letters and digits separated by single hyphens'
    })
  }
  if (purpose.parent !== null) {
    const parent = catalog.get(purpose.parent)
    if (parent === undefined) {
      errors.push({ path: '/parent', message: `parent purpose '${purpose.parent}' does not exist` })
    } else if (parent.category !== purpose.category) {
      errors.push({ path: '/category', message: `category must match the parent's category '${parent.category}'` })
    }
  } else if (purpose.defaultDecision === null) {
    errors.push({
      path: '/defaultDecision',
      message: 'a purpose without a parent must set defaultDecision (permit or deny)'
    })
  }
  if (purpose.emergencyAccess === 'when-unable-to-ask' && !purpose.requiresPermissionToView) {
    errors.push({
      path: '/emergencyAccess',
      message: 'emergencyAccess applies only to purposes that require permission to view'
    })
  }
  if (purpose.category === 'secondary-use' && purpose.requiresPermissionToView) {
    errors.push({
      path: '/requiresPermissionToView',
      message: 'permission to view at the point of care applies only to direct-care purposes'
    })
  }
  return errors
}

/**
 * Checks a change to an existing purpose: code, category and parent never change once created
 * (choices, exemptions and registrations already refer to the purpose as it is placed in the
 * hierarchy), and the purpose as changed must still be a valid purpose. Returns the problems as
 * { path, message }; none means `{ ...existing, ...patch }` may be stored.
 */
export function checkPurposeUpdate (catalog: PurposeCatalog, existing: Purpose, change: PurposeChange): FieldError[] {
  const errors: FieldError[] = []
  for (const [field, value] of Object.entries(change)) {
    if (isEditable(field)) continue
    if (value === existing[field as keyof Purpose]) continue
    errors.push({ path: `/${field}`, message: `${field} cannot change once a purpose is created` })
  }
  if (errors.length > 0) return errors
  // The code was checked when the purpose was created (and seeded codes are the SPEC's own).
  return validateNewPurpose(catalog, { ...existing, ...change }).filter(e => e.path !== '/code')
}

/** What a change checked by checkPurposeUpdate stores: the fixed fields, sent unchanged, are left out. */
export function editablePart (change: PurposeChange): PurposePatch {
  return Object.fromEntries(Object.entries(change).filter(([field]) => isEditable(field)))
}

function isEditable (field: string): boolean {
  return (EDITABLE_PURPOSE_FIELDS as readonly string[]).includes(field)
}
