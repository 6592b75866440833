// POST /v1/decisions: the hot path for ED, OOH and MIU systems. No database read: the decision is
// made from the in-memory index and registry; the only I/O is the audit row's group commit.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { BASES, PERMISSION_TO_VIEW, checkPurposeRequest, decideConsent, type Basis, type PendingChange, type PointOfCare } from '../../domain/decision.ts'
import { EXEMPTION_BASES, type Exemption } from '../../domain/exemptions.ts'
import type { PreferenceSummary } from '../../domain/preferences.ts'
import type { Caller } from '../../plugins/auth.ts'
import { HttpProblem, badRequest, problemResponses } from '../../plugins/problems.ts'
import { callerOf, dateOrDateTime, dateOrThrow, nhsNumberOrThrow, requireFreshView, security } from './common.ts'

const preferenceSummary = {
  type: ['object', 'null'],
  properties: {
    id: { type: 'string' },
    purpose: { type: 'string' },
    decision: { type: 'string', enum: ['permit', 'deny'] },
    effectiveFrom: { type: 'string', format: 'date-time' },
    recordedAt: { type: 'string', format: 'date-time' },
    source: { type: 'string' }
  },
  required: ['id', 'purpose', 'decision', 'effectiveFrom', 'recordedAt', 'source']
} as const

export const decisionResponseSchema = {
  type: 'object',
  properties: {
    nhsNumber: { type: 'string' },
    purpose: { type: 'string' },
    decision: { type: 'string', enum: ['permit', 'deny'] },
    basis: { type: 'string', enum: BASES },
    reason: { type: 'string' },
    preference: preferenceSummary,
    pendingChange: { ...preferenceSummary, properties: { ...preferenceSummary.properties, outcome: { type: 'string', enum: ['permit', 'deny'] } } },
    exemption: {
      type: ['object', 'null'],
      properties: { purpose: { type: 'string' }, basis: { type: 'string', enum: EXEMPTION_BASES }, reference: { type: 'string' } },
      required: ['purpose', 'basis', 'reference']
    },
    alertId: { type: ['string', 'null'] },
    decidedAt: { type: 'string', format: 'date-time' },
    auditId: { type: 'string' }
  },
  required: ['nhsNumber', 'purpose', 'decision', 'basis', 'reason', 'preference', 'pendingChange', 'exemption', 'alertId', 'decidedAt', 'auditId'],
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
    auditId: 'a3c1f0de-6b2e-4f7a-8d91-2c4e5f6a7b80'
  }
} as const

interface DecisionBody {
  nhsNumber: string
  purpose: string
  pointOfCare?: PointOfCare
  asOf?: string
}

export default async function decisionRoutes (fastify: FastifyInstance): Promise<void> {
  fastify.post<{ Body: DecisionBody }>('/decisions', {
    onRequest: fastify.requireScope('consent:check'),
    schema: {
      tags: ['decisions'],
      summary: 'May this patient\'s record be shared for this purpose, by this caller, now?',
      description: 'Applies the decision rules of SPEC §2 (hierarchy, defaults, the caller\'s exemptions, permission to view and emergency access) and audits the decision before answering. For purposes that require permission to view (summary-care-record), send pointOfCare.',
      security,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['nhsNumber', 'purpose'],
        properties: {
          nhsNumber: { type: 'string', maxLength: 40, description: '10 digits, or 3-3-4 with spaces or hyphens' },
          purpose: { type: 'string', maxLength: 100, description: 'A purpose code, e.g. summary-care-record' },
          pointOfCare: {
            type: 'object',
            additionalProperties: false,
            required: ['permissionToView'],
            properties: {
              permissionToView: { type: 'string', enum: PERMISSION_TO_VIEW },
              reason: { type: 'string', maxLength: 1000, description: 'Required with unable-to-ask: why the patient cannot be asked' }
            }
          },
          asOf: { ...dateOrDateTime, description: 'Decide as at this time (a date or a date-time) instead of now' }
        },
        example: { nhsNumber: '943 476 5919', purpose: 'summary-care-record', pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Patient unconscious on arrival' } }
      },
      response: { 200: decisionResponseSchema, ...problemResponses(400, 401, 403, 503) }
    }
  }, async (request) => {
    const body = request.body
    const nhsNumber = nhsNumberOrThrow(body.nhsNumber, '/nhsNumber')
    return await makeDecision(fastify, callerOf(request), { ...body, nhsNumber }, request.id)
  })
}

export interface DecisionInput {
  /** Already validated and normalised (nhsNumberOrThrow). */
  nhsNumber: string
  purpose: string
  pointOfCare?: PointOfCare
  asOf?: string
}

export interface DecisionAnswer {
  nhsNumber: string
  purpose: string
  decision: 'permit' | 'deny'
  basis: Basis
  reason: string
  preference: PreferenceSummary | null
  pendingChange: PendingChange | null
  exemption: Exemption | null
  alertId: string | null
  decidedAt: string
  auditId: string
}

export interface DecisionOptions {
  /** Where the purpose, point-of-care reason and asOf were in the caller's request, for 400s. */
  paths?: { purpose: string, pointOfCareReason: string, asOf: string }
  /** Added to the audit event's details (e.g. the CDS Hooks context); never replaces a decision field. */
  auditDetails?: Record<string, unknown>
}

const V1_PATHS = { purpose: '/purpose', pointOfCareReason: '/pointOfCare/reason', asOf: '/asOf' }

/**
 * One decision, as every entry point makes it (POST /v1/decisions, CDS Hooks): rule 1's purpose
 * checks, fail closed on a stale view, decideConsent on the in-memory index, the alert for an
 * emergency access, and the audit event committed before the answer is returned (rule 7).
 */
export async function makeDecision (fastify: FastifyInstance, caller: Caller, input: DecisionInput, requestId: string, options: DecisionOptions = {}): Promise<DecisionAnswer> {
  const services = fastify.services
  const { registry, index, audit } = services
  const paths = options.paths ?? V1_PATHS
  const nhsNumber = input.nhsNumber
  const catalog = registry.catalog
  const problem = checkPurposeRequest(catalog, caller.client.purposes, input.purpose)
  if (problem !== null) {
    const path = problem.path === '/purpose' ? paths.purpose : problem.path
    throw new HttpProblem(problem.status, problem.message, [{ path, message: problem.message }])
  }
  if (input.pointOfCare?.permissionToView === 'unable-to-ask' && (input.pointOfCare.reason ?? '').trim() === '') {
    throw badRequest(paths.pointOfCareReason, 'a reason is required when permissionToView is unable-to-ask (why the patient cannot be asked)')
  }
  requireFreshView(services)
  const decidedAt = new Date()
  const at = dateOrThrow(input.asOf, paths.asOf) ?? decidedAt
  const outcome = decideConsent({
    catalog,
    purpose: input.purpose,
    records: index.recordsFor(nhsNumber),
    exemptions: caller.client.exemptions,
    pointOfCare: input.pointOfCare,
    at
  })
  const alertId = outcome.emergencyAccess ? randomUUID() : null
  const event = await audit.record({
    type: 'decision',
    clientId: caller.client.id,
    requestId,
    nhsNumber,
    purpose: input.purpose,
    outcome: outcome.decision,
    details: {
      ...options.auditDetails,
      basis: outcome.basis,
      reason: outcome.reason,
      preferenceId: outcome.preference?.id ?? null,
      exemption: outcome.exemption,
      pointOfCare: input.pointOfCare ?? null,
      asOf: input.asOf ?? null,
      alertId
    }
  }, alertId === null ? undefined : { id: alertId, nhsNumber, purpose: input.purpose, clientId: caller.client.id, reason: input.pointOfCare?.reason ?? '' })
  fastify.metrics.decisions.inc({ decision: outcome.decision, basis: outcome.basis })
  return {
    nhsNumber,
    purpose: input.purpose,
    decision: outcome.decision,
    basis: outcome.basis,
    reason: outcome.reason,
    preference: outcome.preference,
    pendingChange: outcome.pendingChange,
    exemption: outcome.exemption,
    alertId,
    decidedAt: decidedAt.toISOString(),
    auditId: event.id
  }
}
