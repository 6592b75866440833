// The one error model of the domain and the use cases: a Problem says what kind of failure it is
// and, for bad input, which field. It knows nothing of HTTP; src/plugins/errors.ts maps each kind
// to a status once (and /oauth2 and /fhir map them to their own formats).

export interface FieldError {
  path: string
  message: string
}

export type ProblemKind =
  | 'invalid' // the request is malformed or breaks a rule of SPEC §2
  | 'unauthenticated' // no valid credentials
  | 'forbidden' // valid credentials, not allowed this
  | 'not-found'
  | 'conflict' // the request is well-formed but the current state refuses it
  | 'too-many-requests'
  | 'unavailable' // the store cannot be trusted right now (fail closed)

/** The one text for a store that cannot be reached or trusted: nothing was decided or recorded. */
export const STORE_UNAVAILABLE = 'The consent store is unavailable; nothing was decided or recorded. Retry shortly.'

export class Problem extends Error {
  constructor (
    readonly kind: ProblemKind,
    readonly detail: string,
    readonly errors?: FieldError[],
    /** For too-many-requests and unavailable: when the caller may try again. */
    readonly retryAfterSeconds?: number,
    /** A finer reason than the kind, for answer formats that carry one (an OperationOutcome issue code). */
    readonly code?: string
  ) {
    super(detail)
    this.name = 'Problem'
  }
}

/** One bad field: its JSON pointer (or `querystring:/name`, `params:/name`), what is wrong, and a finer code. */
export const invalidField = (path: string, message: string, code?: string): Problem =>
  new Problem('invalid', message, [{ path, message }], undefined, code)
export const invalidFields = (errors: FieldError[]): Problem =>
  new Problem('invalid', errors.map(e => `${e.path}: ${e.message}`).join('; '), errors)
export const unauthenticated = (detail: string): Problem => new Problem('unauthenticated', detail)
export const forbidden = (detail: string, path?: string): Problem =>
  new Problem('forbidden', detail, path === undefined ? undefined : [{ path, message: detail }])
export const notFound = (detail: string): Problem => new Problem('not-found', detail)
export const conflict = (detail: string): Problem => new Problem('conflict', detail)
export const tooManyRequests = (detail: string, retryAfterSeconds: number): Problem =>
  new Problem('too-many-requests', detail, undefined, retryAfterSeconds)
export const unavailable = (detail = STORE_UNAVAILABLE): Problem => new Problem('unavailable', detail, undefined, 1)
