// Emergency-access alerts (SPEC §2 rule 5, §3): raised when a record is opened because the patient
// could not be asked, open until the privacy officer reviews them, reviewed once.
import type { EndUser } from './end-user.ts'

export const ALERT_STATUSES = ['open', 'reviewed'] as const
export type AlertStatus = (typeof ALERT_STATUSES)[number]

export interface Alert {
  id: string
  /** The decision event that raised it. */
  auditId: string
  nhsNumber: string
  purpose: string
  clientId: string
  /** The person who opened the record (SPEC §2 "Who asked"). */
  endUser: EndUser | null
  reason: string
  raisedAt: Date
  status: AlertStatus
  /** The reviewing client's id. */
  reviewedBy: string | null
  /** The reviewing person, when the reviewer named one. */
  reviewedByUser: EndUser | null
  reviewNote: string | null
  reviewedAt: Date | null
}
