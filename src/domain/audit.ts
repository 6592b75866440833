// The kinds of event the audit trail records (SPEC §2 rule 7, §6): what the writer accepts and
// what the audit API lets a privacy officer filter by.
export const AUDIT_TYPES = [
  'decision',
  'decision.replay',
  'filter',
  'preference.recorded',
  'preference.entered-in-error',
  'preference.read',
  'client.created',
  'client.updated',
  'purpose.created',
  'purpose.updated',
  'alert.reviewed',
  'token.issued',
  'import',
  'access.refused'
] as const
export type AuditType = (typeof AUDIT_TYPES)[number]
