// Emergency-access alerts: raised by the audit writer with the decision that caused them (so an
// alert never exists without its audit event), listed and reviewed here.
import type { Alert, AlertStatus } from '../domain/alerts.ts'
import type { EndUser } from '../domain/end-user.ts'
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
  /** Raised at or after this time. */
  from?: Date
  /** Raised at or before this time. */
  to?: Date
  after?: AlertPosition
  limit: number
}

export type ReviewResult =
  | { kind: 'reviewed'; alert: Alert }
  | { kind: 'already-reviewed'; alert: Alert }
  /** The reviewer is the client that raised the alert, or the person who opened the record. */
  | { kind: 'self-review'; by: 'client' | 'end-user'; alert: Alert }
  | { kind: 'not-found' }

/** Who reviews: the fields of the alert.reviewed event that say who asked (askedBy). */
export interface Reviewer {
  clientId: string
  requestId: string | null
  correlationId: string | null
  endUser: EndUser | null
}

export interface Review {
  alertId: string
  reviewer: Reviewer
  note: string
}

function toAlert (row: AlertRow): Alert {
  return {
    ...row,
    status: row.status as AlertStatus,
    endUser: row.endUser === null ? null : (JSON.parse(row.endUser) as EndUser),
    reviewedByUser: row.reviewedByUser === null ? null : (JSON.parse(row.reviewedByUser) as EndUser)
  }
}

/** Newest first; alerts raised in the same instant are ordered by id, so paging never skips one. */
export async function listAlerts (db: Database, q: AlertQuery): Promise<Alert[]> {
  const rows = await db.prisma.alert.findMany({
    where: {
      ...(q.status !== undefined ? { status: q.status } : {}),
      ...(q.from !== undefined || q.to !== undefined
        ? {
            raisedAt: {
              ...(q.from !== undefined ? { gte: q.from } : {}),
              ...(q.to !== undefined ? { lte: q.to } : {})
            }
          }
        : {}),
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
 * Whether the reviewer is the one reviewed: the client that raised the alert, or the same person
 * (SPEC §2 "Who asked": an emergency access is reviewed by someone else).
 */
function selfReview (alert: Alert, reviewer: Reviewer): 'client' | 'end-user' | null {
  if (alert.clientId === reviewer.clientId) return 'client'
  if (alert.endUser !== null && reviewer.endUser !== null && alert.endUser.id === reviewer.endUser.id) {
    return 'end-user'
  }
  return null
}

/**
 * Marks an open alert reviewed, in one transaction with its alert.reviewed audit event. A review of
 * an unknown or already-reviewed alert, or a self-review, changes nothing but is audited too (its
 * outcome says which).
 */
export async function reviewAlert (audit: AuditWriter, review: Review): Promise<ReviewResult> {
  const { result } = await audit.commit<ReviewResult>(
    async tx => {
      const row = await tx.alert.findUnique({ where: { id: review.alertId } })
      if (row === null) return { kind: 'not-found' }
      const alert = toAlert(row)
      const self = selfReview(alert, review.reviewer)
      if (self !== null) return { kind: 'self-review', by: self, alert }
      if (alert.status === 'reviewed') return { kind: 'already-reviewed', alert }
      const { reviewer } = review
      const updated = await tx.alert.update({
        where: { id: alert.id },
        data: {
          status: 'reviewed',
          reviewedBy: reviewer.clientId,
          reviewedByUser: reviewer.endUser === null ? null : JSON.stringify(reviewer.endUser),
          reviewNote: review.note,
          reviewedAt: new Date()
        }
      })
      return { kind: 'reviewed', alert: toAlert(updated) }
    },
    r => ({
      type: 'alert.reviewed',
      ...review.reviewer,
      nhsNumber: r.kind === 'not-found' ? null : r.alert.nhsNumber,
      purpose: r.kind === 'not-found' ? null : r.alert.purpose,
      outcome: r.kind === 'self-review' ? `self-review-${r.by}` : r.kind,
      details: { alertId: review.alertId, note: review.note }
    })
  )
  return result
}

/**
 * How many alerts await review, read from the store so that every instance reports the same number
 * (a count kept in memory would be one instance's view). The (status, raisedAt) index answers it
 * without reading the reviewed ones.
 */
export async function countOpenAlerts (db: Database): Promise<number> {
  return await db.prisma.alert.count({ where: { status: 'open' } })
}
