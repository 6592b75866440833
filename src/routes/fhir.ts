// The FHIR R4 API (read-only, application/fhir+json): recorded choices as Consent, the audit trail
// as AuditEvent, and the CapabilityStatement. Same tokens and scopes as /v1; errors are
// OperationOutcomes: this plugin's own error handler dresses the one mapping (answerFor) as FHIR,
// with the finer issue code its own checks give (the global handler answers only unrouted /fhir URLs).
/// <reference types="fhir" />
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest, preValidationAsyncHookHandler } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { parseNhsNumber } from '../domain/nhs-number.ts'
import { PurposeCatalog, SEED_PURPOSES } from '../domain/purposes.ts'
import { Problem, invalidField, notFound } from '../domain/problems.ts'
import { HttpProblem } from '../plugins/problems.ts'
import { answerFor } from '../plugins/errors.ts'
import { PACKAGE_ROOT } from '../paths.ts'
import type { StoredPreference } from '../services/preferences.ts'
import { AUDIT_TYPES } from '../domain/audit.ts'
import {
  CONSENT_STATUSES,
  FHIR_JSON,
  auditEventResource,
  capabilityStatement,
  consentResource,
  dateRange,
  etagOf,
  fhirError,
  issueCodeFor,
  nhsNumberToken,
  noneMatchHits,
  operationOutcome,
  searchBundle,
  versioned,
  type IssueCode
} from '../fhir/resources.ts'
import { CursorSealer, isSealed, type SealedSearch } from '../fhir/sealed-cursor.ts'
import { OWN_CODE_SYSTEMS, SYSTEMS, ownCodeSystem, ownSystems, type OwnCodeSystem } from '../fhir/terminology.ts'
import { callerOf, encodeCursor, security, seqCursorOrThrow } from '../http/common.ts'

/** A bad search parameter, with the OperationOutcome issue code that says why (the error handler reads it). */
const badParam = (name: string, code: IssueCode, message: string): Problem =>
  invalidField(`querystring:/${name}`, message, code)

/** When this CapabilityStatement last changed (CapabilityStatement.date). */
const CAPABILITY_DATE = '2026-11-26'
const DEFAULT_COUNT = 100
/** The largest page: a larger _count is served as this (FHIR lets a server return fewer). */
const MAX_COUNT = 500

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
  _count: {
    type: 'integer',
    minimum: 1,
    default: DEFAULT_COUNT,
    description: `Page size; above ${MAX_COUNT} the page is ${MAX_COUNT}`
  },
  _summary: { type: 'string', enum: ['count', 'false'], description: 'count: Bundle.total alone, no entries' },
  _cursor: { type: 'string', maxLength: 1000, description: "From the Bundle's next link" },
  _format: { type: 'string', maxLength: 100, description: 'json, application/json or application/fhir+json' }
} as const
const consentParams = {
  'patient.identifier': patientToken,
  'patient:identifier': patientToken,
  status: {
    type: 'string',
    maxLength: 100,
    description: 'active, inactive, entered-in-error; comma-separated for any of them'
  },
  ...paging
} as const
const auditParams = {
  'patient.identifier': patientToken,
  'patient:identifier': patientToken,
  date: {
    type: 'array',
    maxItems: 4,
    items: { type: 'string', maxLength: 40 },
    description: 'eq, ge, gt, le or lt followed by a date or date-time; repeat for a range'
  },
  ...paging
} as const

/** The form body of POST [type]/_search, as the OpenAPI document shows it: the search's own parameters. */
const formBody = (params: Record<string, Record<string, unknown>>): Record<string, unknown> => ({
  type: 'object',
  description:
    'The same parameters as the GET search, as application/x-www-form-urlencoded (they may also be in the URL).',
  // Typed and checked with the URL's parameters, after the two are merged (searchInput).
  additionalProperties: true,
  properties: Object.fromEntries(
    Object.entries(params).map(([k, v]) => [
      k,
      v.type === 'array'
        ? { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], description: v.description }
        : { type: 'string', description: v.description }
    ])
  )
})

/** RFC 7240 handling: lenient only when asked for alone (both at once count as neither, strict by default). */
function lenientAsked (prefer: string | string[] | undefined): boolean {
  const values = [prefer ?? []]
    .flat()
    .flatMap(h => h.split(','))
    .map(p => p.split(';')[0].trim().toLowerCase().replace(/\s*=\s*/, '='))
    .filter(p => p.startsWith('handling='))
    .map(p => p.slice('handling='.length).replace(/^"|"$/g, ''))
  return values.includes('lenient') && !values.includes('strict')
}

/** A parameter name safe to repeat back (never a value, nor a name that could be one, e.g. an NHS number). */
const sayable = (name: string): string => (/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/.test(name) ? `'${name}'` : 'a parameter')

/** The parameters a lenient search ignored, by request (read by the handler to report them). */
const ignoredBy = new WeakMap<FastifyRequest, string[]>()

function checkFormat (format: unknown, accept: string | undefined): void {
  if (format !== undefined && (typeof format !== 'string' || !/^(json|application\/(fhir\+)?json)$/.test(format))) {
    throw new HttpProblem(406, 'only JSON is supported (_format=json)')
  }
  if (accept !== undefined && !/(json|\*\/\*|application\/\*)/.test(accept)) {
    throw new HttpProblem(406, 'only application/fhir+json is supported')
  }
}

/**
 * Before validation: a POST search's form fields join its URL's parameters (FHIR gives them the same
 * meaning), so GET and POST are one search from here on; with Prefer: handling=lenient, parameters
 * the search does not know are set aside (and reported) instead of refused.
 */
function searchInput (known: readonly string[]): preValidationAsyncHookHandler {
  return async function (request) {
    const query = request.query as Record<string, unknown>
    if (request.method === 'POST') {
      const type = request.headers['content-type'] ?? ''
      const body = request.body
      if (body !== undefined && body !== null && body !== '') {
        if (!/^application\/x-www-form-urlencoded\b/i.test(type) || typeof body !== 'object') {
          throw new HttpProblem(415, 'a POST search is a form: Content-Type application/x-www-form-urlencoded')
        }
        for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
          query[k] = query[k] === undefined ? v : [query[k], v].flat()
        }
      }
      checkFormat(query._format, undefined)
    }
    if (lenientAsked(request.headers.prefer)) {
      const unknown = Object.keys(query).filter(k => !known.includes(k))
      for (const k of unknown) Reflect.deleteProperty(query, k)
      ignoredBy.set(request, unknown)
    }
  }
}

export default async function fhirRoutes (fastify: FastifyInstance): Promise<void> {
  const { registry, config } = fastify.runtime
  const { preferences, auditTrail } = fastify.services
  const routes = fastify.withTypeProvider<JsonSchemaToTsProvider>()
  const own = ownSystems(config.publicUrl)
  const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version
  const context = (): { own: typeof own; catalog: typeof registry.catalog } => ({ own, catalog: registry.catalog })
  // The signing key file is the one secret every instance shares (README "Running in production").
  const sealer = new CursorSealer(() =>
    (JSON.parse(readFileSync(config.signingKeyFile, 'utf8')) as { keys: Array<{ d?: string }> }).keys
      .filter(k => typeof k.d === 'string')
      .map(k => Buffer.from(String(k.d), 'base64url'))
  )

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
    checkFormat(request.query._format, request.headers.accept)
  })

  const send = (reply: FastifyReply, resource: unknown): FastifyReply => reply.type(FHIR_JSON).send(resource)

  /**
   * A read: the resource with its meta.versionId and ETag, or 304 with no body when If-None-Match
   * names that version. Whatever auditing the read needs has been done before this is called.
   */
  const sendRead = (request: FastifyRequest, reply: FastifyReply, resource: fhir4.FhirResource): FastifyReply => {
    const r = versioned(resource)
    const versionId = r.meta?.versionId ?? ''
    reply.header('etag', etagOf(versionId))
    if (noneMatchHits(request.headers['if-none-match'], versionId)) return reply.code(304).send()
    return send(reply, r)
  }

  /** The OperationOutcome a lenient search adds about what it ignored (undefined when nothing was). */
  const ignoredOutcome = (request: FastifyRequest, reply: FastifyReply): fhir4.OperationOutcome | undefined => {
    if (!lenientAsked(request.headers.prefer)) return undefined
    reply.header('preference-applied', 'handling=lenient')
    const ignored = ignoredBy.get(request) ?? []
    if (ignored.length === 0) return undefined
    return {
      resourceType: 'OperationOutcome',
      issue: ignored.map(name => ({
        severity: 'warning' as const,
        code: 'not-supported' as const,
        diagnostics: `unknown search parameter ${sayable(name)} ignored (Prefer: handling=lenient)`
      }))
    }
  }

  routes.get(
    '/metadata',
    {
      config: { public: true },
      schema: {
        tags: ['fhir'],
        summary: 'The FHIR CapabilityStatement',
        description:
          'Exactly what this FHIR API supports: read and search Consent, search AuditEvent, ' +
          "the service's own CodeSystems, bearer tokens from /oauth2/token. No token needed.",
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

  /** Search links with the normalised parameters (never an echo of the raw query). */
  function searchUrl (resource: string, params: Record<string, string | string[] | undefined>): string {
    const qs = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) for (const one of v === undefined ? [] : [v].flat()) qs.append(k, one)
    return `${own.base}/fhir/${resource}?${qs.toString()}`
  }

  type SearchQuery = {
    'patient.identifier'?: string
    'patient:identifier'?: string
    status?: string
    date?: string[]
    _count?: number
    _summary?: string
    _cursor?: string
  }

  /**
   * The search a request makes: from its parameters, or from the sealed cursor of an earlier POST
   * search's next link (which must then come alone, and from the client that searched).
   */
  async function searchOf (
    request: FastifyRequest,
    resource: SealedSearch['r']
  ): Promise<{ nhsNumber: string; q: SearchQuery; position: string | undefined; sealed: boolean }> {
    const q = request.query as SearchQuery
    if (q._cursor === undefined || !isSealed(q._cursor)) {
      const position = q._cursor === undefined ? undefined : String(seqCursorOrThrow(q._cursor, 'querystring:/_cursor'))
      return { nhsNumber: patientOf(q), q, position, sealed: request.method === 'POST' }
    }
    const others = Object.keys(q).filter(k => !['_cursor', '_format', '_count'].includes(k))
    if (others.length > 0 || request.method === 'POST') {
      throw badParam('_cursor', 'invalid', 'this cursor carries its whole search: follow the next link as it is')
    }
    const search = await sealer.open(q._cursor)
    if (search === null || search.r !== resource || search.c !== callerOf(request).client.id) {
      throw badParam('_cursor', 'invalid', 'cursor is not one this service issued for this client and search')
    }
    const restored: SearchQuery = {
      ...(search.q as Omit<SearchQuery, '_count'>),
      _count: Number(search.q._count)
    }
    return { nhsNumber: search.p, q: restored, position: search.o, sealed: true }
  }

  /**
   * The Bundle's links. A GET search's carry its parameters (the caller put them in the URL already);
   * a POST search's never name the patient: self is the _search endpoint, next a sealed cursor.
   */
  async function linksOf (
    request: FastifyRequest,
    resource: SealedSearch['r'],
    s: { nhsNumber: string; sealed: boolean; position: string | undefined },
    params: Record<string, string | string[] | undefined>,
    next: string | null
  ): Promise<{ self: string; next?: string }> {
    if (!s.sealed) {
      const withPatient = { 'patient.identifier': `${SYSTEMS.nhsNumber}|${s.nhsNumber}`, ...params }
      return {
        self: searchUrl(resource, {
          ...withPatient,
          _cursor: s.position === undefined ? undefined : encodeCursor(s.position)
        }),
        ...(next !== null ? { next: searchUrl(resource, { ...withPatient, _cursor: encodeCursor(next) }) } : {})
      }
    }
    const q = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as SealedSearch['q']
    const seal = async (o: string): Promise<string> =>
      await sealer.seal({ r: resource, c: callerOf(request).client.id, p: s.nhsNumber, q, o })
    return {
      self:
        request.method === 'POST'
          ? `${own.base}/fhir/${resource}/_search`
          : searchUrl(resource, { _cursor: (request.query as SearchQuery)._cursor }),
      ...(next !== null ? { next: searchUrl(resource, { _cursor: await seal(next) }) } : {})
    }
  }

  const consentSchema = (post: boolean): Record<string, unknown> => ({
    tags: ['fhir'],
    summary: post
      ? "A patient's recorded choices as FHIR Consents, the search in a form body"
      : "A patient's recorded choices as FHIR Consents",
    description:
      (post
        ? 'The same search as GET /fhir/Consent with its parameters in an application/x-www-form-urlencoded ' +
          "body, so the NHS number stays out of URLs and their logs; the Bundle's links never name the patient " +
          '(its next link carries the search sealed). '
        : '') +
      'One Consent per recorded choice, newest first, following UK Core Consent. ' +
      'status: active (in force, or scheduled), inactive (superseded by a later choice, or cancelled by one ' +
      'while still scheduled, by the same rule the decisions use), entered-in-error. A choice recorded from ' +
      'a GP Read v2 code carries it as a category (system http://read.info/readv2). Every search is ' +
      "audited (preference.read, in the patient's trail) before the answer is sent, _summary=count too. " +
      'Prefer: handling=lenient ignores unknown parameters (named in an OperationOutcome entry) instead of ' +
      'refusing them. Scope consent:read.',
    security,
    querystring: { type: 'object', additionalProperties: false, properties: consentParams },
    ...(post ? { body: formBody(consentParams), consumes: ['application/x-www-form-urlencoded'] } : {}),
    response: {
      200: fhirResponse('Bundle (searchset) of Consent', fhirObject('Bundle', 'FHIR R4 Bundle', EXAMPLES.consents)),
      ...outcomes(400, 401, 403, 406, ...(post ? [415] : []), 503)
    }
  })

  const consentSearch = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const s = await searchOf(request, 'Consent')
    const { q } = s
    const statuses = q.status?.split(',')
    if (statuses?.some(x => !(CONSENT_STATUSES as readonly string[]).includes(x)) === true) {
      throw badParam('status', 'value', `status must be among ${CONSENT_STATUSES.join(', ')}`)
    }
    const offset = Number(s.position ?? 0)
    // The schema's default has already been applied; the derived type cannot know that.
    const count = Math.min(q._count ?? DEFAULT_COUNT, MAX_COUNT)
    const countOnly = q._summary === 'count'
    const records = await preferences.history(callerOf(request), s.nhsNumber, 'fhir-consent-search')
    const now = Date.now()
    const consents = records
      .map(r => consentResource(r, records, context(), now))
      .filter(c => statuses === undefined || statuses.includes(c.status))
    const page = consents.slice(offset, offset + count)
    const params = { status: q.status, _count: String(count), _summary: q._summary }
    const more = !countOnly && offset + count < consents.length
    const outcome = ignoredOutcome(request, reply)
    const links = await linksOf(request, 'Consent', s, params, more ? String(offset + count) : null)
    return send(reply, searchBundle(page, links, own.base, consents.length, { countOnly, outcome }))
  }

  routes.get(
    '/Consent',
    {
      onRequest: fastify.requireScope('consent:read'),
      preValidation: searchInput(Object.keys(consentParams)),
      schema: consentSchema(false)
    },
    consentSearch
  )
  routes.post(
    '/Consent/_search',
    {
      onRequest: fastify.requireScope('consent:read'),
      preValidation: searchInput(Object.keys(consentParams)),
      schema: consentSchema(true)
    },
    consentSearch
  )

  routes.get(
    '/Consent/:id',
    {
      onRequest: fastify.requireScope('consent:read'),
      schema: {
        tags: ['fhir'],
        summary: 'One recorded choice as a FHIR Consent',
        description:
          "Audited (preference.read, in the patient's trail) before the answer is sent, a 304 too. " +
          'ETag W/"{meta.versionId}": the version changes when what the Consent shows does (superseded, ' +
          'cancelled, entered in error); If-None-Match with it answers 304 and no body. Scope consent:read.',
        security,
        params: {
          type: 'object',
          properties: { id: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' } },
          required: ['id']
        },
        headers: {
          type: 'object',
          properties: { 'if-none-match': { type: 'string', maxLength: 1000, description: 'W/"{versionId}"' } }
        },
        querystring: { type: 'object', additionalProperties: false, properties: { _format: paging._format } },
        response: {
          200: fhirResponse('Consent', fhirObject('Consent', 'FHIR R4 Consent (UK Core Consent)', EXAMPLES.consent)),
          304: { description: 'Not modified: If-None-Match names the current version', type: 'null' },
          ...outcomes(400, 401, 403, 404, 406, 503)
        }
      }
    },
    async (request, reply) => {
      const found = await preferences.find(callerOf(request), request.params.id)
      if (found === undefined) throw notFound(`no Consent with id ${request.params.id}`)
      // Its status depends on the other choices for the same patient and purpose.
      return sendRead(request, reply, consentResource(found.record, found.history, context(), Date.now()))
    }
  )

  const auditSchema = (post: boolean): Record<string, unknown> => ({
    tags: ['fhir'],
    summary: post
      ? 'The audit trail about a patient as FHIR AuditEvents, the search in a form body'
      : 'The audit trail about a patient as FHIR AuditEvents',
    description:
      (post
        ? 'The same search as GET /fhir/AuditEvent with its parameters in an application/x-www-form-urlencoded ' +
          "body, so the NHS number stays out of URLs and their logs; the Bundle's links never name the patient. "
        : '') +
      'Newest first: every decision about the patient (who asked, for what purpose, the outcome, ' +
      'following IHE BALP) and every change to their recorded choices. ' +
      'Answers a subject access request "who looked at my record". _summary=count gives Bundle.total alone. ' +
      'Prefer: handling=lenient ignores unknown parameters. Scope audit:read.',
    security,
    querystring: { type: 'object', additionalProperties: false, properties: auditParams },
    ...(post ? { body: formBody(auditParams), consumes: ['application/x-www-form-urlencoded'] } : {}),
    response: {
      200: fhirResponse('Bundle (searchset) of AuditEvent', fhirObject('Bundle', 'FHIR R4 Bundle', EXAMPLES.events)),
      ...outcomes(400, 401, 403, 406, ...(post ? [415] : []), 503)
    }
  })

  const auditSearch = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const s = await searchOf(request, 'AuditEvent')
    const { q } = s
    let from = -Infinity
    let until = Infinity
    for (const value of [q.date ?? []].flat()) {
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
    const count = Math.min(q._count ?? DEFAULT_COUNT, MAX_COUNT)
    const filter = {
      nhsNumber: s.nhsNumber,
      from: Number.isFinite(from) ? new Date(from) : undefined,
      to: Number.isFinite(until) ? new Date(until - 1) : undefined
    }
    const params = { date: q.date, _count: String(count), _summary: q._summary }
    const outcome = ignoredOutcome(request, reply)
    if (q._summary === 'count') {
      const total = await auditTrail.count(filter)
      const links = await linksOf(request, 'AuditEvent', s, params, null)
      return send(reply, searchBundle([], links, own.base, total, { countOnly: true, outcome }))
    }
    const page = await auditTrail.page({
      ...filter,
      beforeSeq: s.position === undefined ? undefined : BigInt(s.position),
      limit: count,
      withAgents: true
    })
    const resources = page.events.map(e => auditEventResource(e, context(), id => page.agents.get(id)))
    const next = page.nextBeforeSeq === null ? null : String(page.nextBeforeSeq)
    const links = await linksOf(request, 'AuditEvent', s, params, next)
    return send(reply, searchBundle(resources, links, own.base, undefined, { outcome }))
  }

  routes.get(
    '/AuditEvent',
    {
      onRequest: fastify.requireScope('audit:read'),
      preValidation: searchInput(Object.keys(auditParams)),
      schema: auditSchema(false)
    },
    auditSearch
  )
  routes.post(
    '/AuditEvent/_search',
    {
      onRequest: fastify.requireScope('audit:read'),
      preValidation: searchInput(Object.keys(auditParams)),
      schema: auditSchema(true)
    },
    auditSearch
  )

  const codeSystem = (id: OwnCodeSystem): fhir4.CodeSystem =>
    ownCodeSystem(id, { own, catalog: registry.catalog, auditTypes: AUDIT_TYPES, version })

  routes.get(
    '/CodeSystem/:id',
    {
      config: { public: true },
      schema: {
        tags: ['fhir'],
        summary: "One of the service's own code systems",
        description:
          `purpose (canonical ${own.purpose}) or audit-event-type (canonical ${own.auditEventType}). ` +
          'The canonical URLs are fixed, the same in every deployment; this is where a deployment serves ' +
          'their content. ETag and If-None-Match as for Consent. No token needed.',
        params: {
          type: 'object',
          properties: { id: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' } },
          required: ['id']
        },
        querystring: { type: 'object', additionalProperties: false, properties: { _format: paging._format } },
        response: {
          200: fhirResponse('CodeSystem', fhirObject('CodeSystem', 'FHIR R4 CodeSystem')),
          304: { description: 'Not modified: If-None-Match names the current version', type: 'null' },
          ...outcomes(400, 404, 406)
        }
      }
    },
    async (request, reply) => {
      const id = request.params.id
      if (!(OWN_CODE_SYSTEMS as readonly string[]).includes(id)) throw notFound(`no CodeSystem with id ${id}`)
      return sendRead(request, reply, codeSystem(id as OwnCodeSystem))
    }
  )

  routes.get(
    '/CodeSystem',
    {
      config: { public: true },
      schema: {
        tags: ['fhir'],
        summary: "The service's own code systems, by canonical URL",
        description: 'url= a canonical URL (or none, for both). No token needed.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { url: { type: 'string', maxLength: 300 }, _format: paging._format }
        },
        response: {
          200: fhirResponse('Bundle (searchset) of CodeSystem', fhirObject('Bundle', 'FHIR R4 Bundle')),
          ...outcomes(400, 406)
        }
      }
    },
    async (request, reply) => {
      const { url } = request.query
      const found = OWN_CODE_SYSTEMS.map(codeSystem).filter(cs => url === undefined || cs.url === url)
      const self = `${own.base}/fhir/CodeSystem${url !== undefined ? `?url=${encodeURIComponent(url)}` : ''}`
      return send(reply, searchBundle(found, { self }, own.base, found.length))
    }
  )
}
