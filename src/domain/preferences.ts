// Preferences: the patient's recorded choices (SPEC §2 "Preferences"). Append-only: a change of
// mind is a new record; the only change to a record is status -> entered-in-error.
import type { EndUser } from './end-user.ts'
import type { Decision } from './purposes.ts'

export const SOURCES = ['gp-practice', 'paper-form', 'online', 'telephone', 'import'] as const
export type Source = (typeof SOURCES)[number]

export const PROXY_ROLES = [
  'parent',
  'guardian',
  'lasting-power-of-attorney',
  'court-appointed-deputy',
  'other'
] as const
export type ProxyRole = (typeof PROXY_ROLES)[number]

export const PREFERENCE_STATUSES = ['active', 'entered-in-error'] as const
export type PreferenceStatus = (typeof PREFERENCE_STATUSES)[number]

export interface RecordedBy {
  odsCode?: string
  name?: string
  proxyRole?: string
  clientId: string
  /** The person at the keyboard who recorded it, when the client named one (SPEC §2 "Who asked"). */
  endUser?: EndUser
}

export interface PreferenceRecord {
  id: string
  nhsNumber: string
  purpose: string
  decision: Decision
  effectiveFrom: Date
  recordedAt: Date
  source: Source
  status: PreferenceStatus
}

/** The summary of the record that decided, as the decision answer carries it. */
export interface PreferenceSummary {
  id: string
  purpose: string
  decision: Decision
  effectiveFrom: string
  recordedAt: string
  source: Source
}

export function summarisePreference (p: PreferenceRecord): PreferenceSummary {
  return {
    id: p.id,
    purpose: p.purpose,
    decision: p.decision,
    effectiveFrom: p.effectiveFrom.toISOString(),
    recordedAt: p.recordedAt.toISOString(),
    source: p.source
  }
}

/** GP systems' coded entries (Read v2) and the choice each one records (SPEC §2 table). */
export const GP_CODES: Readonly<Record<string, { purpose: string; decision: Decision; meaning: string }>> = {
  '9Nu0': {
    purpose: 'gp-data-secondary-use',
    decision: 'deny',
    meaning: 'Dissent from secondary use of GP patient-identifiable data (Type 1)'
  },
  '9Nu1': {
    purpose: 'gp-data-secondary-use',
    decision: 'permit',
    meaning: 'Dissent withdrawn for secondary use of GP patient-identifiable data'
  },
  '9Nu4': {
    purpose: 'planning-research',
    decision: 'deny',
    meaning: 'Type 2 objection (now the National Data Opt-out)'
  },
  '9Ndo': { purpose: 'summary-care-record', decision: 'deny', meaning: 'Express dissent for Summary Care Record' },
  '9Ndl': { purpose: 'summary-care-record', decision: 'permit', meaning: 'Implied consent for Summary Care Record' },
  '9Ndm': {
    purpose: 'summary-care-record',
    decision: 'permit',
    meaning: 'Express consent for core Summary Care Record'
  },
  '9Ndn': {
    purpose: 'summary-care-record',
    decision: 'permit',
    meaning: 'Express consent for Summary Care Record with additional information'
  }
}

export function mapGpCode (code: string): { purpose: string; decision: Decision } | undefined {
  return Object.hasOwn(GP_CODES, code) ? GP_CODES[code] : undefined
}

/**
 * Rule 2's cancellation: the record that cancelled `r`, or null. A record still pending (not yet
 * effective) when a later one for the same patient and purpose was recorded is cancelled by it: the
 * latest wish the patient expressed replaces every choice still waiting to take effect. Only an
 * active record cancels (one entered in error never happened). Of several, the first recorded.
 */
export function cancelledBy<R extends PreferenceRecord> (records: readonly R[], r: R): R | null {
  const recorded = r.recordedAt.getTime()
  const from = r.effectiveFrom.getTime()
  let by: R | null = null
  for (const s of records) {
    if (s.purpose !== r.purpose || s.nhsNumber !== r.nhsNumber || s.status !== 'active') continue
    const at = s.recordedAt.getTime()
    // Strictly later-recorded (so never r itself), and r still pending at that moment.
    if (at <= recorded || from <= at) continue
    if (by === null || at < by.recordedAt.getTime() || (at === by.recordedAt.getTime() && s.id < by.id)) by = s
  }
  return by
}

/** Whether a record can decide at all: active and not cancelled (rule 2). */
export function inForce<R extends PreferenceRecord> (records: readonly R[], r: R): boolean {
  return r.status === 'active' && cancelledBy(records, r) === null
}

/**
 * The effective record for one purpose at time T: the active, uncancelled record with the latest
 * effectiveFrom <= T, ties broken by the latest recordedAt (SPEC §2 rule 2), then deny, then id.
 */
export function effectiveRecord<R extends PreferenceRecord> (
  records: readonly R[],
  purpose: string,
  at: number
): R | null {
  let best: R | null = null
  for (const r of records) {
    if (r.purpose !== purpose || !inForce(records, r)) continue
    const from = r.effectiveFrom.getTime()
    if (from > at) continue
    if (best === null) {
      best = r
      continue
    }
    const bestFrom = best.effectiveFrom.getTime()
    if (from > bestFrom) {
      best = r
      continue
    }
    if (from < bestFrom) continue
    const recorded = r.recordedAt.getTime()
    const bestRecorded = best.recordedAt.getTime()
    if (recorded > bestRecorded) {
      best = r
      continue
    }
    // A full tie (possible in bulk imports) must not depend on order: deny wins (fail closed),
    // then the greater id.
    if (
      recorded === bestRecorded &&
      (r.decision === 'deny'
        ? best.decision === 'permit' || r.id > best.id
        : best.decision === 'permit' && r.id > best.id)
    ) {
      best = r
    }
  }
  return best
}

/**
 * The choice in force at `at` for each purpose the records name (purposes in code order): what a
 * patient's record shows as "current". A purpose whose only records are future-dated or voided
 * has none.
 */
export function currentChoices<R extends PreferenceRecord> (records: readonly R[], at: number): R[] {
  const purposes = [...new Set(records.map(r => r.purpose))].sort()
  return purposes.flatMap(purpose => {
    const r = effectiveRecord(records, purpose, at)
    return r === null ? [] : [r]
  })
}
