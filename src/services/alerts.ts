// The privacy officer's emergency-access alert queue (SPEC §2 rule 5, §3): alerts listed newest
// first, and each reviewed once, the review audited with it.
import type { Alert } from '../domain/alerts.ts'
import { conflict, notFound } from '../domain/problems.ts'
import type { Runtime } from '../runtime.ts'
import { listAlerts, reviewAlert, type AlertPosition, type AlertQuery } from '../store/alerts.ts'
import type { Caller } from './types.ts'

export type { AlertPosition, AlertQuery } from '../store/alerts.ts'

export interface AlertPage {
  items: Alert[]
  /** Where the next page starts, or null on the last page. */
  next: AlertPosition | null
}

export class AlertService {
  constructor (private readonly runtime: Runtime) {}

  async list (query: AlertQuery): Promise<AlertPage> {
    // One more than asked for says whether there is a next page.
    const rows = await listAlerts(this.runtime.db, { ...query, limit: query.limit + 1 })
    const items = rows.slice(0, query.limit)
    const last = items[items.length - 1]
    return { items, next: rows.length > query.limit ? { raisedAt: last.raisedAt, id: last.id } : null }
  }

  /** Records the caller's review of an open alert; an unknown alert is a 404, a reviewed one a 409. */
  async review (caller: Caller, alertId: string, note: string, requestId: string): Promise<Alert> {
    const result = await reviewAlert(this.runtime.audit, { alertId, reviewedBy: caller.client.id, note, requestId })
    if (result.kind === 'not-found') throw notFound('unknown alert')
    if (result.kind === 'already-reviewed') throw conflict('this alert has already been reviewed')
    return result.alert
  }
}
