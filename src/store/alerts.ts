// Emergency-access alerts: raised by the audit writer with the decision that caused them (so an
// alert never exists without its audit event), listed and reviewed here.
import type { Alert, AlertStatus } from '../domain/alerts.ts'
import type { AuditWriter } from './audit-writer.ts'
import type { Database } from './database.ts'
import type { Alert as AlertRow } from './generated/sqlite/client.ts'

/** Where a page of alerts ends: the next page starts after it (newest first). */
export interface AlertPosition {
  raisedAt: Date
  id: string
}

export interface AlertQuery {
  status?: AlertStatus
  after?: AlertPosition
  limit: number
}

export type ReviewResult =
  { kind: 'reviewed'; alert: Alert } | { kind: 'already-reviewed'; alert: Alert } | { kind: 'not-found' }

export interface Review {
  alertId: string
  reviewedBy: string
  note: string
  requestId: string | null
}

function toAlert (row: AlertRow): Alert {
  return { ...row, status: row.status as AlertStatus }
}

/** Newest first; alerts raised in the same instant are ordered by id, so paging never skips one. */
export async function listAlerts (db: Database, q: AlertQuery): Promise<Alert[]> {
  const rows = await db.prisma.alert.findMany({
    where: {
      ...(q.status !== undefined ? { status: q.status } : {}),
      ...(q.after !== undefined
        ? { OR: [{ raisedAt: { lt: q.after.raisedAt } }, { raisedAt: q.after.raisedAt, id: { lt: q.after.id } }] }
        : {})
    },
    orderBy: [{ raisedAt: 'desc' }, { id: 'desc' }],
    take: q.limit
  })
  return rows.map(toAlert)
}

/**
 * Marks an open alert reviewed, in one transaction with its alert.reviewed audit event. A review of
 * an unknown or already-reviewed alert changes nothing but is audited too (its outcome says which).
 */
export async function reviewAlert (audit: AuditWriter, review: Review): Promise<ReviewResult> {
  const { result } = await audit.commit<ReviewResult>(
    async tx => {
      const alert = await tx.alert.findUnique({ where: { id: review.alertId } })
      if (alert === null) return { kind: 'not-found' }
      if (alert.status === 'reviewed') return { kind: 'already-reviewed', alert: toAlert(alert) }
      const updated = await tx.alert.update({
        where: { id: alert.id },
        data: { status: 'reviewed', reviewedBy: review.reviewedBy, reviewNote: review.note, reviewedAt: new Date() }
      })
      return { kind: 'reviewed', alert: toAlert(updated) }
    },
    r => ({
      type: 'alert.reviewed',
      clientId: review.reviewedBy,
      requestId: review.requestId,
      nhsNumber: r.kind === 'not-found' ? null : r.alert.nhsNumber,
      purpose: r.kind === 'not-found' ? null : r.alert.purpose,
      outcome: r.kind,
      details: { alertId: review.alertId, note: review.note }
    })
  )
  return result
}
