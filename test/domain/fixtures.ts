// Shared fixtures for the domain tests (not a test file itself).
import { PurposeCatalog, SEED_PURPOSES, type Decision, type Purpose } from '../../src/domain/purposes.ts'
import type { PreferenceRecord, PreferenceStatus, Source } from '../../src/domain/preferences.ts'

export const DAY = 24 * 60 * 60 * 1000
export const T = new Date('2025-06-01T12:00:00.000Z')
export const NHS = '9434765919'

/**
 * An opt-in research programme under planning-research (SPEC §2: "a research programme with
 * defaultDecision: deny").
 */
export const PROGRAMME: Purpose = {
  code: 'cancer-research-programme',
  name: 'Cancer research programme',
  description: 'An opt-in research programme.',
  category: 'secondary-use',
  parent: 'planning-research',
  defaultDecision: 'deny',
  requiresPermissionToView: false,
  emergencyAccess: 'never',
  active: true
}

/** A sub-study of the programme that sets no default of its own (inherits deny). */
export const SUB_STUDY: Purpose = {
  code: 'cancer-sub-study',
  name: 'Cancer sub-study',
  description: 'Inherits its default from the programme.',
  category: 'secondary-use',
  parent: 'cancer-research-programme',
  defaultDecision: null,
  requiresPermissionToView: false,
  emergencyAccess: 'never',
  active: true
}

/** A direct-care purpose that needs permission to view but never allows emergency access. */
export const RECORD_VIEW: Purpose = {
  code: 'gp-record-view',
  name: 'GP record view',
  description: 'Viewing the full GP record; permission must always be given.',
  category: 'direct-care',
  parent: 'planned-care',
  defaultDecision: null,
  requiresPermissionToView: true,
  emergencyAccess: 'never',
  active: true
}

/**
 * A direct-care purpose with a deny default that needs permission to view and allows emergency
 * access: rule 5 applies after the default (only a recorded patient-preference deny is final).
 */
export const VIEW_OPT_IN: Purpose = {
  code: 'shared-record-view',
  name: 'Shared record view',
  description: 'Viewing a record shared from elsewhere: never by default, with permission at the point of care.',
  category: 'direct-care',
  parent: null,
  defaultDecision: 'deny',
  requiresPermissionToView: true,
  emergencyAccess: 'when-unable-to-ask',
  active: true
}

/** A deactivated purpose. */
export const RETIRED: Purpose = {
  code: 'care-data',
  name: 'care.data',
  description: 'Withdrawn programme.',
  category: 'secondary-use',
  parent: 'planning-research',
  defaultDecision: null,
  requiresPermissionToView: false,
  emergencyAccess: 'never',
  active: false
}

export const EXTRA_PURPOSES: readonly Purpose[] = [PROGRAMME, SUB_STUDY, RECORD_VIEW, VIEW_OPT_IN, RETIRED]

export function makeCatalog (): PurposeCatalog {
  return new PurposeCatalog([...SEED_PURPOSES, ...EXTRA_PURPOSES])
}

let counter = 0

export interface RecOptions {
  id?: string
  recordedAt?: Date | number
  status?: PreferenceStatus
  source?: Source
}

/** A preference record; dates may be Dates or day offsets from T. */
export function rec (
  purpose: string,
  decision: Decision,
  effectiveFrom: Date | number,
  opts: RecOptions = {}
): PreferenceRecord {
  counter++
  const toDate = (d: Date | number): Date => (typeof d === 'number' ? new Date(T.getTime() + d * DAY) : d)
  const from = toDate(effectiveFrom)
  return {
    id: opts.id ?? `rec-${counter}`,
    nhsNumber: NHS,
    purpose,
    decision,
    effectiveFrom: from,
    recordedAt:
      opts.recordedAt === undefined
        ? new Date(Math.min(from.getTime(), T.getTime()) + counter)
        : toDate(opts.recordedAt),
    source: opts.source ?? 'gp-practice',
    status: opts.status ?? 'active'
  }
}

/** Day offset from T as a Date. */
export function day (offset: number): Date {
  return new Date(T.getTime() + offset * DAY)
}
