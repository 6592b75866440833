// The scopes a client may be granted (SPEC §3). Each route names the one it needs.
export const SCOPES = [
  'consent:check',
  'consent:filter',
  'consent:read',
  'consent:write',
  'audit:read',
  'audit:review',
  'admin'
] as const

export type Scope = (typeof SCOPES)[number]

export function isScope (value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value)
}

/**
 * THE table of SMART system scopes (SMART App Launch 2: `system/<Resource>.rs`; its v1 form
 * `system/<Resource>.read`) a client may ask for instead of the service scope it stands for. A SMART
 * scope names interactions on a FHIR resource, so only the scopes that guard the FHIR API have one:
 * - consent:read guards read and search of /fhir/Consent (.rs; v1 .read means the same);
 * - audit:read guards search of /fhir/AuditEvent (and /v1/audit);
 * - consent:check, consent:filter, consent:write, audit:review and admin guard /v1 operations the
 *   FHIR API does not have (it is read-only), so no SMART scope grants them: `system/Consent.cu`
 *   would promise FHIR writes that do not exist, and is refused as invalid_scope like any other
 *   SMART scope not listed here (`.r` or `.s` alone too: the service scope grants both).
 * The access token carries the service scope, so requireScope is the same whichever name was asked.
 */
const SMART_SYSTEM_SCOPES: ReadonlyMap<string, Scope> = new Map<string, Scope>([
  ['system/Consent.rs', 'consent:read'],
  ['system/Consent.read', 'consent:read'],
  ['system/AuditEvent.rs', 'audit:read'],
  ['system/AuditEvent.read', 'audit:read']
])

/** The SMART scope names a client may ask for (published in the discovery documents). */
export const SMART_SCOPES: readonly string[] = [...SMART_SYSTEM_SCOPES.keys()]

/** The service scope a requested scope name stands for (itself, or its SMART alias's), or undefined when none. */
export function serviceScopeFor (name: string): Scope | undefined {
  return isScope(name) ? name : SMART_SYSTEM_SCOPES.get(name)
}
