// CDS Hooks feedback (CDS Hooks 2.0 "Feedback"): what the clinician did with the cards a service
// returned, recorded in the audit trail as cds.feedback. Only counts and card ids (the audit ids of
// the decisions, UUIDs) are kept: free-text comments may name a patient and are never recorded.
import type { Runtime } from '../runtime.ts'
import { askedBy, type Caller } from './types.ts'

export interface CdsFeedbackItem {
  card: string
  outcome: 'accepted' | 'overridden'
  outcomeTimestamp: string
  acceptedSuggestions?: Array<{ id: string }>
  overrideReason?: { reason?: { code?: string; system?: string; display?: string }; userComment?: string }
}

/** Records one feedback request; returns the audit event's id. */
export async function recordCdsFeedback (
  runtime: Runtime,
  caller: Caller,
  service: string,
  feedback: CdsFeedbackItem[],
  origin: { iss?: string } = {}
): Promise<string> {
  const count = (outcome: CdsFeedbackItem['outcome']): number => feedback.filter(f => f.outcome === outcome).length
  const event = await runtime.audit.record({
    type: 'cds.feedback',
    ...askedBy(caller),
    outcome: 'received',
    details: {
      service,
      feedback: feedback.length,
      accepted: count('accepted'),
      overridden: count('overridden'),
      withOverrideReason: feedback.filter(f => f.overrideReason?.reason !== undefined).length,
      cards: [...new Set(feedback.map(f => f.card))],
      ...(origin.iss !== undefined ? { iss: origin.iss } : {})
    }
  })
  return event.id
}
