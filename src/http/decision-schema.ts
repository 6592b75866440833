// The decision schemas shared by POST /v1/decisions and CDS Hooks: the point of care both accept,
// and the answer /v1 returns and the CDS Hooks card carries.
import { BASES, PERMISSION_TO_VIEW } from '../domain/decision.ts'
import { EXEMPTION_BASES } from '../domain/exemptions.ts'
import { DECISIONS } from '../domain/purposes.ts'

/** What happened at the point of care (SPEC §2 rule 5); checkPointOfCare decides when the reason is required. */
export const pointOfCareSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['permissionToView'],
  properties: {
    permissionToView: { type: 'string', enum: PERMISSION_TO_VIEW },
    reason: {
      type: 'string',
      maxLength: 1000,
      description: 'Required with unable-to-ask: why the patient cannot be asked'
    }
  }
} as const

const preferenceSummary = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    id: { type: 'string' },
    purpose: { type: 'string' },
    decision: { type: 'string', enum: DECISIONS },
    effectiveFrom: { type: 'string', format: 'date-time' },
    recordedAt: { type: 'string', format: 'date-time' },
    source: { type: 'string' }
  },
  required: ['id', 'purpose', 'decision', 'effectiveFrom', 'recordedAt', 'source']
} as const

export const decisionResponseSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    nhsNumber: { type: 'string' },
    purpose: { type: 'string' },
    decision: { type: 'string', enum: DECISIONS },
    basis: { type: 'string', enum: BASES },
    reason: { type: 'string' },
    preference: preferenceSummary,
    pendingChange: {
      ...preferenceSummary,
      properties: { ...preferenceSummary.properties, outcome: { type: 'string', enum: DECISIONS } }
    },
    exemption: {
      type: ['object', 'null'],
      additionalProperties: false,
      properties: {
        purpose: { type: 'string' },
        basis: { type: 'string', enum: EXEMPTION_BASES },
        reference: { type: 'string' }
      },
      required: ['purpose', 'basis', 'reference']
    },
    alertId: { type: ['string', 'null'] },
    decidedAt: { type: 'string', format: 'date-time' },
    auditId: { type: 'string' },
    replay: {
      type: 'boolean',
      description:
        'True when asOf was earlier than now: what would have been decided then, for an investigation (never an ' +
        'authorisation to share now)'
    },
    asOf: {
      type: ['string', 'null'],
      format: 'date-time',
      description: 'The time the answer is for, when the request gave asOf; null for a decision about now'
    }
  },
  required: [
    'nhsNumber',
    'purpose',
    'decision',
    'basis',
    'reason',
    'preference',
    'pendingChange',
    'exemption',
    'alertId',
    'decidedAt',
    'auditId',
    'replay',
    'asOf'
  ],
  example: {
    nhsNumber: '9434765919',
    purpose: 'summary-care-record',
    decision: 'permit',
    basis: 'emergency-access',
    reason: 'Patient unable to give permission to view; emergency access recorded',
    preference: null,
    pendingChange: null,
    exemption: null,
    alertId: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e44',
    decidedAt: '2026-11-25T10:00:00.000Z',
    auditId: 'a3c1f0de-6b2e-4f7a-8d91-2c4e5f6a7b80',
    replay: false,
    asOf: null
  }
} as const

/**
 * Examples of a POST /v1/decisions body, as OpenAPI `examples` (the first is the one Swagger UI fills
 * in): a planned-care question, which records a decision and raises nothing; then emergency access
 * to the Summary Care Record, which raises an alert for the privacy officer and so is never the default.
 */
export const decisionRequestExamples = {
  plannedCare: {
    summary: 'Planned care (no point of care: records a decision, raises no alert)',
    value: { nhsNumber: '943 476 5919', purpose: 'planned-care' }
  },
  emergencySummaryCareRecord: {
    summary: 'Emergency access to the Summary Care Record: RAISES AN ALERT for the privacy officer',
    description:
      'Permission to view could not be asked (the patient is unconscious): the record is shared under emergency ' +
      'access, and the decision raises an alert that a privacy officer must review. Send it only for a real ' +
      'emergency, or against a test deployment.',
    value: {
      nhsNumber: '943 476 5919',
      purpose: 'summary-care-record',
      pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Patient unconscious on arrival' },
      endUser: { id: '555021935107', name: 'Dr Jane Example', role: 'R8000', organisation: 'RBA' }
    }
  }
} as const
