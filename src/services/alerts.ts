// The privacy officer's emergency-access alert queue (SPEC §2 rule 5, §3): alerts listed newest
// first, and each reviewed once, by someone other than who raised it, the review audited with it.
import type { Alert } from '../domain/alerts.ts'
import type { EndUser } from '../domain/end-user.ts'
import { conflict, forbidden, notFound } from '../domain/problems.ts'
import type { Runtime } from '../runtime.ts'
import { listAlerts, reviewAlert, type AlertPosition, type AlertQuery } from '../store/alerts.ts'
import { askedBy, type Caller } from './types.ts'

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

  /**
   * Records the review of an open alert by the caller and the person it names (SPEC §2 "Who asked"):
   * an unknown alert is a 404, a reviewed one a 409, a review by the client that raised it or by the
   * person who opened the record a 403.
   */
  async review (caller: Caller, alertId: string, note: string, endUser?: EndUser): Promise<Alert> {
    const result = await reviewAlert(this.runtime.audit, { alertId, reviewer: askedBy(caller, endUser), note })
    switch (result.kind) {
      case 'not-found':
        throw notFound('unknown alert')
      case 'self-review':
        throw forbidden(
          result.by === 'client'
            ? 'an alert cannot be reviewed by the client that raised it: the review must come from someone else'
            : 'an alert cannot be reviewed by the person who opened the record (same endUser.id): ' +
                'the review must come from someone else',
          result.by === 'end-user' ? '/endUser/id' : undefined
        )
      case 'already-reviewed':
        throw conflict('this alert has already been reviewed')
      case 'reviewed':
        return result.alert
    }
  }
}
