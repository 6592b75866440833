// Client systems as administrators register them (SPEC §4): the rules the admin API, the CLI and the
// store all read.

/** A suspended client gets no tokens, and the tokens it holds stop working at once. */
export const CLIENT_STATUSES = ['active', 'suspended'] as const
export type ClientStatus = (typeof CLIENT_STATUSES)[number]

/** An NHS ODS organisation code, as a client registration and a recorded choice carry it. */
export const ODS_CODE_PATTERN = '^[A-Za-z0-9]{3,10}$'
const ODS_CODE = new RegExp(ODS_CODE_PATTERN)

export function isOdsCode (value: unknown): value is string {
  return typeof value === 'string' && ODS_CODE.test(value)
}
