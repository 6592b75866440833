// What every use case is given besides the runtime: who is asking, and who is watching.
import type { Basis } from '../domain/decision.ts'
import type { Decision } from '../domain/purposes.ts'
import type { ClientRecord } from '../store/rows.ts'

/** An authenticated caller: its registration, and the scopes its token carries that it still holds. */
export interface Caller {
  client: ClientRecord
  scopes: string[]
}

/** Observations the use cases report (metrics); the HTTP layer wires them to Prometheus. */
export interface Observers {
  decided: (decision: Decision, basis: Basis) => void
}
