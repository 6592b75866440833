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
  // A token request refused once its assertion was read, with the precise reason its answer may not
  // give (an unknown, suspended or wrong-key client all get one answer); only within the failure budget.
  'token.refused',
  'import',
  'access.refused',
  'changes.read',
  'cds.feedback'
] as const
export type AuditType = (typeof AUDIT_TYPES)[number]
