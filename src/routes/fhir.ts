// The FHIR R4 API (read-only, application/fhir+json): recorded choices as Consent, the audit trail
// as AuditEvent, and the CapabilityStatement. Same tokens and scopes as /v1; errors are
// OperationOutcomes: this plugin's own error handler dresses the one mapping (answerFor) as FHIR,
// with the finer issue code its own checks give (the global handler answers only unrouted /fhir URLs).
/// <reference types="fhir" />
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { parseNhsNumber } from '../domain/nhs-number.ts'
import { PurposeCatalog, SEED_PURPOSES } from '../domain/purposes.ts'
import { Problem, invalidField, notFound } from '../domain/problems.ts'
import { HttpProblem } from '../plugins/problems.ts'
import { answerFor } from '../plugins/errors.ts'
import { PACKAGE_ROOT } from '../paths.ts'
import type { StoredPreference } from '../services/preferences.ts'
import {
  CONSENT_STATUSES,
  FHIR_JSON,
  auditEventResource,
  capabilityStatement,
  consentResource,
  dateRange,
  fhirError,
  issueCodeFor,
  nhsNumberToken,
  operationOutcome,
  searchBundle,
  type IssueCode
} from '../fhir/resources.ts'
import { SYSTEMS, ownSystems } from '../fhir/terminology.ts'
import { callerOf, encodeCursor, security, seqCursorOrThrow } from '../http/common.ts'

/** A bad search parameter, with the OperationOutcome issue code that says why (the error handler reads it). */
const badParam = (name: string, code: IssueCode, message: string): Problem =>
  invalidField(`querystring:/${name}`, message, code)

/** When this CapabilityStatement last changed (CapabilityStatement.date). */
const CAPABILITY_DATE = '2026-11-26'
const DEFAULT_COUNT = 100

const fhirObject = (resourceType: string, description: string, example?: unknown): Record<string, unknown> => ({
  type: 'object',
  description,
  // The resources are built (and typed) in src/fhir; the schema names them without stripping any element.
  additionalProperties: true,
  properties: { resourceType: { type: 'string', enum: [resourceType] } },
  required: ['resourceType'],
  ...(example !== undefined ? { example } : {})
})

/** Documentation examples, made by the same mappings as the answers. */
const EXAMPLES = (() => {
  const own = ownSystems('http://localhost:3000')
  const ctx = { own, catalog: new PurposeCatalog(SEED_PURPOSES) }
  const at = new Date('2026-11-25T10:00:00.000Z')
  const choice: StoredPreference = {
    id: '5b8a0c1e-2d3f-4a5b-8c6d-7e8f9a0b1c2d',
    nhsNumber: '9434765919',
    purpose: 'planning-research',
    decision: 'deny',
    effectiveFrom: new Date('2026-11-20T00:00:00.000Z'),
    recordedAt: at,
    source: 'paper-form',
    status: 'active',
    recordedBy: { odsCode: 'B82005', clientId: '2f1e0d9c-8b7a-4654-a3b2-c1d0e9f8a7b6' },
    clientId: '2f1e0d9c-8b7a-4654-a3b2-c1d0e9f8a7b6',
    note: null,
    externalId: null,
    sourceCode: null,
    auditId: null,
    enteredInErrorReason: null,
    enteredInErrorAt: null,
    enteredInErrorBy: null
  }
  const consent = consentResource(choice, [choice], ctx, at.getTime())
  const event = auditEventResource(
    {
      id: 'a3c1f0de-6b2e-4f7a-8d91-2c4e5f6a7b80',
      chain: 'c0ffee00-1111-4222-8333-444455556666',
      chainSeq: 41,
      seq: 42n,
      at,
      type: 'decision',
      clientId: choice.clientId,
      requestId: '6f1c9a52-7f0e-4a8e-9a44-1d1a3c0f9b21',
      nhsNumber: choice.nhsNumber,
      purpose: 'gp-data-secondary-use',
      outcome: 'deny',
      clientName: null,
      clientOdsCode: null,
      endUser: null,
      correlationId: null,
      prevHash: '',
      hash: '',
      details: JSON.stringify({
        basis: 'patient-preference',
        reason: 'Patient opted out of planning-research, which covers gp-data-secondary-use',
        preferenceId: choice.id,
        alertId: null
      })
    },
    ctx,
    () => ({ name: 'Dorset data services', odsCode: null })
  )
  const search = (resource: string, r: fhir4.FhirResource): fhir4.Bundle => ({
    ...searchBundle(
      [r],
      {
        self:
          `${own.base}/fhir/${resource}?patient.identifier=` +
          `${encodeURIComponent(`${SYSTEMS.nhsNumber}|9434765919`)}&_count=100`
      },
      own.base,
      resource === 'Consent' ? 1 : undefined
    ),
    meta: { lastUpdated: at.toISOString() }
  })
  return { consent, consents: search('Consent', consent), events: search('AuditEvent', event) }
})()
const outcomeSchema = {
  ...fhirObject('OperationOutcome', 'FHIR R4 OperationOutcome'),
  example: {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: 'value', diagnostics: 'NHS number check digit is wrong' }]
  }
}
const fhirResponse = (description: string, schema: Record<string, unknown>): Record<string, unknown> => ({
  description,
  content: { [FHIR_JSON]: { schema } }
})
const outcomes = (...statuses: number[]): Record<number, unknown> =>
  Object.fromEntries(
    statuses.map(s => [s, fhirResponse(`OperationOutcome (issue code ${issueCodeFor(s)})`, outcomeSchema)])
  )
const patientToken = {
  type: 'string',
  maxLength: 200,
  description: `${SYSTEMS.nhsNumber}|{NHS number}`,
  example: `${SYSTEMS.nhsNumber}|9434765919`
} as const
const paging = {
  _count: { type: 'integer', minimum: 1, maximum: 500, default: DEFAULT_COUNT },
  _cursor: { type: 'string', maxLength: 200, description: "From the Bundle's next link" },
  _format: { type: 'string', maxLength: 100, description: 'json, application/json or application/fhir+json' }
} as const

export default async function fhirRoutes (fastify: FastifyInstance): Promise<void> {
  const { registry, config } = fastify.runtime
  const { preferences, auditTrail } = fastify.services
  const routes = fastify.withTypeProvider<JsonSchemaToTsProvider>()
  const own = ownSystems(config.publicUrl)
  const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version
  const context = (): { own: typeof own; catalog: typeof registry.catalog } => ({ own, catalog: registry.catalog })

  // Every error under /fhir is an OperationOutcome (SPEC §3), its status by the one mapping
  // (answerFor). A Problem from this API's own checks carries its issue code (badParam), said with
  // its message alone; anything else gets the status's issue code and one issue per bad field.
  fastify.setErrorHandler(async (err: unknown, request, reply) => {
    const answer = answerFor(err, request)
    if (answer.headers !== undefined) reply.headers(answer.headers)
    const outcome =
      err instanceof Problem && err.code !== undefined
        ? operationOutcome(err.code as IssueCode, [answer.detail])
        : fhirError(answer.status, answer.detail, answer.errors)
    return await reply.code(answer.status).type(FHIR_JSON).send(outcome)
  })

  // JSON only: a client asking for XML gets a 406 rather than JSON it cannot read.
  fastify.addHook('onRequest', async (request: FastifyRequest<{ Querystring: { _format?: string } }>) => {
    const format = request.query._format
    const accept = request.headers.accept
    if (format !== undefined && !/^(json|application\/(fhir\+)?json)$/.test(format)) {
      throw new HttpProblem(406, 'only JSON is supported (_format=json)')
    }
    if (accept !== undefined && !/(json|\*\/\*|application\/\*)/.test(accept)) {
      throw new HttpProblem(406, 'only application/fhir+json is supported')
    }
  })

  const send = (reply: FastifyReply, resource: unknown): FastifyReply => reply.type(FHIR_JSON).send(resource)

  routes.get(
    '/metadata',
    {
      config: { public: true },
      schema: {
        tags: ['fhir'],
        summary: 'The FHIR CapabilityStatement',
        description:
          'Exactly what this FHIR API supports: read and search Consent, search AuditEvent, ' +
          'bearer tokens from /oauth2/token. No token needed.',
        querystring: { type: 'object', additionalProperties: false, properties: { _format: paging._format } },
        response: {
          200: fhirResponse('CapabilityStatement', fhirObject('CapabilityStatement', 'FHIR R4 CapabilityStatement')),
          ...outcomes(400, 406)
        }
      }
    },
    async (_request, reply) => send(reply, capabilityStatement({ base: own.base, version, date: CAPABILITY_DATE }))
  )

  /** The patient a search names, by NHS number; the two spellings FHIR allows for a chained identifier. */
  function patientOf (q: { 'patient.identifier'?: string; 'patient:identifier'?: string }): string {
    const dotted = q['patient.identifier']
    const modifier = q['patient:identifier']
    if (dotted !== undefined && modifier !== undefined) {
      throw badParam('patient:identifier', 'invalid', 'send patient.identifier or patient:identifier, not both')
    }
    const token = dotted ?? modifier
    if (token === undefined) {
      throw badParam(
        'patient.identifier',
        'required',
        `patient.identifier is required: ${SYSTEMS.nhsNumber}|{NHS number}`
      )
    }
    const name = dotted !== undefined ? 'patient.identifier' : 'patient:identifier'
    const value = nhsNumberToken(token)
    if (!value.ok) throw badParam(name, 'not-supported', value.message)
    const parsed = parseNhsNumber(value.value)
    if (!parsed.ok) throw badParam(name, 'value', parsed.error)
    return parsed.value
  }

  const cursorOf = (q: { _cursor?: string }): bigint | undefined => seqCursorOrThrow(q._cursor, 'querystring:/_cursor')

  /** Search links with the normalised parameters (never an echo of the raw query). */
  function searchUrl (resource: string, params: Record<string, string | string[] | undefined>): string {
    const qs = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) for (const one of v === undefined ? [] : [v].flat()) qs.append(k, one)
    return `${own.base}/fhir/${resource}?${qs.toString()}`
  }

  routes.get(
    '/Consent',
    {
      onRequest: fastify.requireScope('consent:read'),
      schema: {
        tags: ['fhir'],
        summary: "A patient's recorded choices as FHIR Consents",
        description:
          'One Consent per recorded choice, newest first, following UK Core Consent. ' +
          'status: active (in force, or scheduled), inactive (superseded by a later choice, or cancelled by one ' +
          'while still scheduled, by the same rule the decisions use), entered-in-error. A choice recorded from ' +
          'a GP Read v2 code carries it as a category (system http://read.info/readv2). Every search is ' +
          "audited (preference.read, in the patient's trail) before the answer is sent. Scope consent:read.",
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            'patient.identifier': patientToken,
            'patient:identifier': patientToken,
            status: {
              type: 'string',
              maxLength: 100,
              description: 'active, inactive, entered-in-error; comma-separated for any of them'
            },
            ...paging
          }
        },
        response: {
          200: fhirResponse('Bundle (searchset) of Consent', fhirObject('Bundle', 'FHIR R4 Bundle', EXAMPLES.consents)),
          ...outcomes(400, 401, 403, 406, 503)
        }
      }
    },
    async (request, reply) => {
      const q = request.query
      const nhsNumber = patientOf(q)
      const statuses = q.status?.split(',')
      if (statuses?.some(s => !(CONSENT_STATUSES as readonly string[]).includes(s)) === true) {
        throw badParam('status', 'value', `status must be among ${CONSENT_STATUSES.join(', ')}`)
      }
      const offset = Number(cursorOf(q) ?? 0n)
      // The schema's default has already been applied; the derived type cannot know that.
      const count = q._count ?? DEFAULT_COUNT
      const records = await preferences.history(callerOf(request), nhsNumber, 'fhir-consent-search')
      const now = Date.now()
      const consents = records
        .map(r => consentResource(r, records, context(), now))
        .filter(c => statuses === undefined || statuses.includes(c.status))
      const page = consents.slice(offset, offset + count)
      const params = {
        'patient.identifier': `${SYSTEMS.nhsNumber}|${nhsNumber}`,
        status: q.status,
        _count: String(count)
      }
      const more = offset + count < consents.length
      return send(
        reply,
        searchBundle(
          page,
          {
            self: searchUrl('Consent', { ...params, _cursor: q._cursor }),
            ...(more
              ? { next: searchUrl('Consent', { ...params, _cursor: encodeCursor(String(offset + count)) }) }
              : {})
          },
          own.base,
          consents.length
        )
      )
    }
  )

  routes.get(
    '/Consent/:id',
    {
      onRequest: fastify.requireScope('consent:read'),
      schema: {
        tags: ['fhir'],
        summary: 'One recorded choice as a FHIR Consent',
        description: "Audited (preference.read, in the patient's trail) before the answer is sent. Scope consent:read.",
        security,
        params: {
          type: 'object',
          properties: { id: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' } },
          required: ['id']
        },
        querystring: { type: 'object', additionalProperties: false, properties: { _format: paging._format } },
        response: {
          200: fhirResponse('Consent', fhirObject('Consent', 'FHIR R4 Consent (UK Core Consent)', EXAMPLES.consent)),
          ...outcomes(400, 401, 403, 404, 406, 503)
        }
      }
    },
    async (request, reply) => {
      const found = await preferences.find(callerOf(request), request.params.id)
      if (found === undefined) throw notFound(`no Consent with id ${request.params.id}`)
      // Its status depends on the other choices for the same patient and purpose.
      return send(reply, consentResource(found.record, found.history, context(), Date.now()))
    }
  )

  routes.get(
    '/AuditEvent',
    {
      onRequest: fastify.requireScope('audit:read'),
      schema: {
        tags: ['fhir'],
        summary: 'The audit trail about a patient as FHIR AuditEvents',
        description:
          'Newest first: every decision about the patient (who asked, for what purpose, the outcome, ' +
          'following IHE BALP) and every change to their recorded choices. ' +
          'Answers a subject access request "who looked at my record". Scope audit:read.',
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            'patient.identifier': patientToken,
            'patient:identifier': patientToken,
            date: {
              type: 'array',
              maxItems: 4,
              items: { type: 'string', maxLength: 40 },
              description: 'eq, ge, gt, le or lt followed by a date or date-time; repeat for a range'
            },
            ...paging
          }
        },
        response: {
          200: fhirResponse(
            'Bundle (searchset) of AuditEvent',
            fhirObject('Bundle', 'FHIR R4 Bundle', EXAMPLES.events)
          ),
          ...outcomes(400, 401, 403, 406, 503)
        }
      }
    },
    async (request, reply) => {
      const q = request.query
      const nhsNumber = patientOf(q)
      let from = -Infinity
      let until = Infinity
      for (const value of q.date ?? []) {
        const range = dateRange(value)
        if (range === null) {
          throw badParam(
            'date',
            'value',
            'date must be a prefix (eq, ge, gt, le, lt) and a date (2026-11-25) ' +
              'or date-time with a time zone (2026-11-25T10:00:00Z)'
          )
        }
        from = Math.max(from, range.from ?? -Infinity)
        until = Math.min(until, range.until ?? Infinity)
      }
      const count = q._count ?? DEFAULT_COUNT
      const page = await auditTrail.page({
        nhsNumber,
        from: Number.isFinite(from) ? new Date(from) : undefined,
        to: Number.isFinite(until) ? new Date(until - 1) : undefined,
        beforeSeq: cursorOf(q),
        limit: count,
        withAgents: true
      })
      const resources = page.events.map(e => auditEventResource(e, context(), id => page.agents.get(id)))
      const params = {
        'patient.identifier': `${SYSTEMS.nhsNumber}|${nhsNumber}`,
        date: q.date,
        _count: String(count)
      }
      return send(
        reply,
        searchBundle(
          resources,
          {
            self: searchUrl('AuditEvent', { ...params, _cursor: q._cursor }),
            ...(page.nextBeforeSeq !== null
              ? { next: searchUrl('AuditEvent', { ...params, _cursor: encodeCursor(page.nextBeforeSeq) }) }
              : {})
          },
          own.base
        )
      )
    }
  )
}
