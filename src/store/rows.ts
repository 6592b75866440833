// Conversions between database rows and domain values, in one place for every repository.
import type { ClientStatus } from '../domain/clients.ts'
import type { Exemption } from '../domain/exemptions.ts'
import type { PreferenceRecord, RecordedBy, Source } from '../domain/preferences.ts'
import type { Decision, EmergencyAccess, Purpose, PurposeCategory } from '../domain/purposes.ts'
import type {
  Client as ClientRow,
  Preference as PreferenceRow,
  Purpose as PurposeRow
} from './generated/sqlite/client.ts'

export interface ClientRecord {
  id: string
  name: string
  odsCode: string | null
  scopes: string[]
  purposes: string[]
  exemptions: Exemption[]
  jwks: { keys: Array<Record<string, unknown>> } | null
  jwksUrl: string | null
  status: ClientStatus
  /** Every decision must name its end user (SPEC §2 "Who asked"). */
  requireEndUser: boolean
  createdAt: Date
  updatedAt: Date
}

export interface StoredPreference extends PreferenceRecord {
  recordedBy: RecordedBy
  clientId: string
  note: string | null
  externalId: string | null
  /** The GP Read v2 code the choice was recorded from (SPEC §2 Read codes), if any. */
  sourceCode: string | null
  /** The import batch's audit event, for an imported choice. */
  auditId: string | null
  enteredInErrorReason: string | null
  enteredInErrorAt: Date | null
  enteredInErrorBy: string | null
}

export function toPurpose (row: PurposeRow): Purpose {
  return {
    code: row.code,
    name: row.name,
    description: row.description,
    category: row.category as PurposeCategory,
    parent: row.parent,
    defaultDecision: row.defaultDecision as Decision | null,
    requiresPermissionToView: row.requiresPermissionToView,
    emergencyAccess: row.emergencyAccess as EmergencyAccess,
    active: row.active
  }
}

export function toClient (row: ClientRow): ClientRecord {
  return {
    id: row.id,
    name: row.name,
    odsCode: row.odsCode,
    scopes: JSON.parse(row.scopes) as string[],
    purposes: JSON.parse(row.purposes) as string[],
    exemptions: JSON.parse(row.exemptions) as Exemption[],
    jwks: row.jwks === null ? null : (JSON.parse(row.jwks) as ClientRecord['jwks']),
    jwksUrl: row.jwksUrl,
    status: row.status as ClientRecord['status'],
    requireEndUser: row.requireEndUser,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt
  }
}

export function toPreference (row: PreferenceRow): StoredPreference {
  return {
    id: row.id,
    nhsNumber: row.nhsNumber,
    purpose: row.purpose,
    decision: row.decision as Decision,
    effectiveFrom: row.effectiveFrom,
    recordedAt: row.recordedAt,
    source: row.source as Source,
    status: row.status as StoredPreference['status'],
    recordedBy: JSON.parse(row.recordedBy) as RecordedBy,
    clientId: row.clientId,
    note: row.note,
    externalId: row.externalId,
    sourceCode: row.sourceCode,
    auditId: row.auditId,
    enteredInErrorReason: row.enteredInErrorReason,
    enteredInErrorAt: row.enteredInErrorAt,
    enteredInErrorBy: row.enteredInErrorBy
  }
}

/** Only what the decision engine needs, so the index holds no more than necessary per choice. */
export function toIndexed (p: PreferenceRecord): PreferenceRecord {
  return {
    id: p.id,
    nhsNumber: p.nhsNumber,
    purpose: p.purpose,
    decision: p.decision,
    effectiveFrom: p.effectiveFrom,
    recordedAt: p.recordedAt,
    source: p.source,
    status: p.status
  }
}
