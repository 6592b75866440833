// The audit trail as privacy officers, Caldicott Guardians and patients (subject access) read it:
// filtered newest-first pages, and a verification of every hash chain. Used by /v1/audit and FHIR.
import type { StoredEvent } from '../store/audit-chain.ts'
import { listAuditEvents, verifyAuditLog, type AuditQuery, type VerifyReport } from '../store/audit-log.ts'
import type { Runtime } from '../runtime.ts'

export type { AuditQuery, VerifyReport } from '../store/audit-log.ts'
export type { StoredEvent } from '../store/audit-chain.ts'

export class AuditTrailService {
  constructor (private readonly runtime: Runtime) {}

  /**
   * Events matching the query, newest first (at most query.limit). Events still waiting in the
   * writer's group commit are flushed first, so a reader sees every decision already answered.
   */
  async list (query: AuditQuery): Promise<StoredEvent[]> {
    await this.runtime.audit.flush()
    return await listAuditEvents(this.runtime.db, query)
  }

  /** Recomputes every event's hash and link; reports the first broken link. */
  async verify (): Promise<VerifyReport> {
    await this.runtime.audit.flush()
    return await verifyAuditLog(this.runtime.db)
  }
}
