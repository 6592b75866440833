// What every use case is given besides the runtime: who is asking, and who is watching.
import type { Basis } from '../domain/decision.ts'
import type { Decision } from '../domain/purposes.ts'
import type { ClientRecord } from '../store/rows.ts'
import type { EndUser } from '../domain/end-user.ts'

/** What a bearer token proves: the client's registration, and the scopes its token carries that it still holds. */
export interface Authenticated {
  client: ClientRecord
  scopes: string[]
}

/**
 * An authenticated caller and the request it made: the ids every audit event it causes records
 * (SPEC §3 "Audit": the request id and the caller's X-Correlation-ID).
 */
export interface Caller extends Authenticated {
  requestId: string
  correlationId: string | null
}

/** The fields of an audit event that say who asked (the client's name and ODS code are added by the writer). */
export function askedBy (
  caller: Caller,
  endUser?: EndUser | null
): {
    clientId: string
    requestId: string
    correlationId: string | null
    endUser: EndUser | null
  } {
  return {
    clientId: caller.client.id,
    requestId: caller.requestId,
    correlationId: caller.correlationId,
    endUser: endUser ?? null
  }
}

/** Observations the use cases report (metrics); the HTTP layer wires them to Prometheus. */
export interface Observers {
  decided: (decision: Decision, basis: Basis) => void
}
