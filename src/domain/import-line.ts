// One line of a bulk import of existing choices (SPEC §2, §3): a choice with purpose + decision,
// or a GP system's Read code in their place. Each bad line is reported on its own.
import { isOdsCode } from './clients.ts'
import { INSTANT_FORMAT, parseInstant } from './instant.ts'
import { parseNhsNumber } from './nhs-number.ts'
import { GP_CODES, mapGpCode, PROXY_ROLES, SOURCES, type RecordedBy, type Source } from './preferences.ts'
import { DECISIONS, unusablePurpose, type Decision, type PurposeCatalog } from './purposes.ts'

export interface ImportChoice {
  externalId: string
  nhsNumber: string
  purpose: string
  decision: Decision
  effectiveFrom: Date | null
  source: Source
  recordedBy: Omit<RecordedBy, 'clientId'>
  note: string | null
  /** The Read code the line gave in place of purpose + decision, kept on the record (SPEC §2 Read codes). */
  sourceCode: string | null
}

const KNOWN = new Set([
  'externalId',
  'nhsNumber',
  'purpose',
  'decision',
  'code',
  'effectiveFrom',
  'source',
  'recordedBy',
  'note'
])

/**
 * The choice a line records, or the reason it is rejected. A line naming a purpose the importing
 * client is not registered for (`allowedPurposes`, SPEC §2 Read codes) is rejected like any bad line.
 */
export function parseImportLine (
  value: unknown,
  catalog: PurposeCatalog,
  allowedPurposes: readonly string[]
): ImportChoice | { error: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: 'line must be a JSON object' }
  }
  const v = value as Record<string, unknown>
  const unknown = Object.keys(v).filter(k => !KNOWN.has(k))
  if (unknown.length > 0) return { error: `unknown field ${unknown.map(k => `'${k.slice(0, 40)}'`).join(', ')}` }
  if (typeof v.externalId !== 'string' || v.externalId.trim() === '' || v.externalId.length > 200) {
    return {
      error: 'externalId is required: a string of 1-200 characters that identifies the choice in the source system'
    }
  }
  // No stored text may hold U+0000 (PostgreSQL refuses it, and with it the whole batch).
  for (const [field, text] of [
    ['externalId', v.externalId],
    ['note', v.note],
    ['recordedBy.name', (v.recordedBy as { name?: unknown } | null | undefined)?.name]
  ] as const) {
    if (typeof text === 'string' && text.includes('\u0000')) {
      return { error: `${field} must not contain a NUL character (U+0000)` }
    }
  }
  const nhs = parseNhsNumber(v.nhsNumber)
  if (!nhs.ok) return { error: `nhsNumber: ${nhs.error}` }
  let purpose: string
  let decision: Decision
  let sourceCode: string | null = null
  if (v.code !== undefined) {
    if (v.purpose !== undefined || v.decision !== undefined) {
      return { error: 'send either code or purpose + decision, not both' }
    }
    const mapped = typeof v.code === 'string' ? mapGpCode(v.code) : undefined
    if (mapped === undefined) {
      return {
        error: `unknown GP code '${String(v.code).slice(0, 20)}'; known codes: ${Object.keys(GP_CODES).join(', ')}`
      }
    }
    ;({ purpose, decision } = mapped)
    sourceCode = v.code as string
  } else {
    if (typeof v.purpose !== 'string') return { error: 'purpose is required (or a GP code in code)' }
    if (typeof v.decision !== 'string' || !(DECISIONS as readonly string[]).includes(v.decision)) {
      return { error: `decision must be ${DECISIONS.join(' or ')}` }
    }
    purpose = v.purpose
    decision = v.decision as Decision
  }
  const unusable = unusablePurpose(catalog, purpose)
  if (unusable !== null) return { error: unusable }
  if (!catalog.isAllowed(allowedPurposes, purpose)) {
    return { error: `this client is not registered for purpose '${purpose}'` }
  }
  let effectiveFrom: Date | null = null
  if (v.effectiveFrom !== undefined) {
    // The one reading of a time (as the JSON API's): a zone-less date-time or 2021-02-30 is refused.
    if (typeof v.effectiveFrom !== 'string') return { error: `effectiveFrom must be ${INSTANT_FORMAT}` }
    const parsed = parseInstant(v.effectiveFrom)
    if (!parsed.ok) return { error: `effectiveFrom: ${parsed.error}` }
    effectiveFrom = parsed.value
  }
  const source = v.source ?? 'import'
  if (typeof source !== 'string' || !(SOURCES as readonly string[]).includes(source)) {
    return { error: `source must be one of ${SOURCES.join(', ')}` }
  }
  const recordedBy: Omit<RecordedBy, 'clientId'> = {}
  if (v.recordedBy !== undefined) {
    if (typeof v.recordedBy !== 'object' || v.recordedBy === null || Array.isArray(v.recordedBy)) {
      return { error: 'recordedBy must be an object { odsCode?, name?, proxyRole? }' }
    }
    const r = v.recordedBy as Record<string, unknown>
    for (const k of Object.keys(r)) {
      if (!['odsCode', 'name', 'proxyRole'].includes(k)) {
        return { error: `recordedBy: unknown field '${k.slice(0, 40)}'` }
      }
    }
    if (r.odsCode !== undefined) {
      if (!isOdsCode(r.odsCode)) {
        return { error: 'recordedBy.odsCode must be an ODS code (3-10 letters or digits)' }
      }
      recordedBy.odsCode = r.odsCode
    }
    if (r.name !== undefined) {
      if (typeof r.name !== 'string' || r.name.length > 200) {
        return { error: 'recordedBy.name must be a string of at most 200 characters' }
      }
      recordedBy.name = r.name
    }
    if (r.proxyRole !== undefined) {
      if (typeof r.proxyRole !== 'string' || !(PROXY_ROLES as readonly string[]).includes(r.proxyRole)) {
        return { error: `recordedBy.proxyRole must be one of ${PROXY_ROLES.join(', ')}` }
      }
      recordedBy.proxyRole = r.proxyRole
    }
  }
  if (v.note !== undefined && (typeof v.note !== 'string' || v.note.length > 2000)) {
    return { error: 'note must be a string of at most 2000 characters' }
  }
  return {
    externalId: v.externalId,
    nhsNumber: nhs.value,
    purpose,
    decision,
    effectiveFrom,
    source: source as Source,
    recordedBy,
    note: (v.note as string | undefined) ?? null,
    sourceCode
  }
}
