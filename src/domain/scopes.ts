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
