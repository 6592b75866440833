// Who asked: the end user (SPEC §2 "Who asked"). The calling system is the client; the person at
// the keyboard is the end user, and a privacy officer needs both. Their identity comes from the
// national directory (SDS): a smartcard / CIS2 user ID.
import { invalidField, type Problem } from './problems.ts'

export interface EndUser {
  /** SDS user ID: a 12-digit smartcard number or a CIS2 UUID. */
  id: string
  name?: string
  /** National RBAC role code, e.g. R8000 (or the full S…:G…:R… form). */
  role?: string
  /** ODS code of the organisation the user works for at this moment. */
  organisation?: string
}

/** SDS user IDs: 12 digits (smartcard) or a UUID (CIS2). */
export const SDS_USER_ID_PATTERN =
  '^([0-9]{12}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$'
const SDS_USER_ID = new RegExp(SDS_USER_ID_PATTERN)

/** A national RBAC role code (R8000) or its full profile form (S8000:G8000:R8000). */
export const RBAC_ROLE_PATTERN = '^([A-Z][0-9]{4}|S[0-9]{4,5}:G[0-9]{4,5}:R[0-9]{4,5})$'

/** The FHIR identifier system for SDS user IDs (FHIR AuditEvent agents, CDS Hooks users). */
export const SDS_USER_ID_SYSTEM = 'https://fhir.nhs.uk/Id/sds-user-id'

export function isSdsUserId (value: unknown): value is string {
  return typeof value === 'string' && SDS_USER_ID.test(value)
}

/**
 * The end user rule: a request that tells what happened at the point of care names the person it
 * happened to, and so does every request of a client registered with requireEndUser (a 400 at
 * `path` otherwise: the caller's system must send who is at the keyboard).
 */
export function checkEndUserPresent (
  endUser: EndUser | undefined,
  why: { pointOfCare: boolean; requireEndUser: boolean },
  path = '/endUser'
): Problem | null {
  if (endUser !== undefined) return null
  if (why.pointOfCare) {
    return invalidField(
      path,
      'endUser is required with pointOfCare: name the person who asked the patient (SDS user ID)'
    )
  }
  if (why.requireEndUser) {
    return invalidField(path, 'endUser is required: this client is registered to name the end user on every request')
  }
  return null
}
