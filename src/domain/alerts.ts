// Emergency-access alerts (SPEC §2 rule 5, §3): raised when a record is opened because the patient
// could not be asked, open until the privacy officer reviews them, reviewed once.
export const ALERT_STATUSES = ['open', 'reviewed'] as const
export type AlertStatus = (typeof ALERT_STATUSES)[number]

export interface Alert {
  id: string
  /** The decision event that raised it. */
  auditId: string
  nhsNumber: string
  purpose: string
  clientId: string
  reason: string
  raisedAt: Date
  status: AlertStatus
  reviewedBy: string | null
  reviewNote: string | null
  reviewedAt: Date | null
}
