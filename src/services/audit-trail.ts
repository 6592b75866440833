// The audit trail as privacy officers, Caldicott Guardians and patients (subject access) read it:
// filtered newest-first pages, and a verification of every hash chain. Used by /v1/audit and FHIR.
import type { StoredEvent } from '../store/audit-chain.ts'
import { listAuditEvents, verifyAuditLog, type AuditQuery, type VerifyReport } from '../store/audit-log.ts'
import type { Runtime } from '../runtime.ts'

export type { AuditQuery, VerifyReport } from '../store/audit-log.ts'
export type { StoredEvent } from '../store/audit-chain.ts'

export interface AuditPageQuery extends AuditQuery {
  /** Also name the clients that wrote the page's events (FHIR's AuditEvent.agent). */
  withAgents?: boolean
}

/** A client that wrote an event, as a reader of the trail is shown it. */
export interface AuditAgent {
  name: string
  odsCode: string | null
}

export interface AuditPage {
  /** At most query.limit events, newest first. */
  events: StoredEvent[]
  /** The sequence number the next page starts before (its cursor); null on the last page. */
  nextBeforeSeq: bigint | null
  /** With withAgents: each client id in the page and who it is (undefined: no longer known). */
  agents: Map<string, AuditAgent | undefined>
}

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

  /** One page of list, and where the next one starts: one more event is read to know whether there is one. */
  async page (query: AuditPageQuery): Promise<AuditPage> {
    const { withAgents, ...filter } = query
    const empty = filter.from !== undefined && filter.to !== undefined && filter.to < filter.from
    const events = empty ? [] : await this.list({ ...filter, limit: filter.limit + 1 })
    const page = events.slice(0, filter.limit)
    const agents = new Map<string, AuditAgent | undefined>()
    if (withAgents === true) {
      for (const id of new Set(page.map(e => e.clientId).filter(id => id !== null))) {
        const client = await this.runtime.registry.client(id)
        agents.set(id, client === undefined ? undefined : { name: client.name, odsCode: client.odsCode })
      }
    }
    return {
      events: page,
      nextBeforeSeq: events.length > filter.limit ? page[page.length - 1].seq : null,
      agents
    }
  }

  /**
   * How many events match (FHIR _summary=count), read in pages along the seq index the lists use:
   * the store layer has no count of its own for the patient's events (those naming them and their imports).
   */
  async count (query: Omit<AuditQuery, 'limit' | 'beforeSeq'>): Promise<number> {
    if (query.from !== undefined && query.to !== undefined && query.to < query.from) return 0
    const limit = 1000
    let total = 0
    let beforeSeq: bigint | undefined
    for (;;) {
      const events = await this.list({ ...query, beforeSeq, limit })
      total += events.length
      if (events.length < limit) return total
      beforeSeq = events[events.length - 1].seq
    }
  }

  /** Recomputes every event's hash and link; reports the first broken link. */
  async verify (): Promise<VerifyReport> {
    await this.runtime.audit.flush()
    return await verifyAuditLog(this.runtime.db)
  }
}
