// The OpenAPI 3.1 document, generated from the route schemas, and Swagger UI at /docs.
//
// What every operation has in common is added here, centrally, so a new route gets it without
// repeating it: its operationId, its security (none on public routes), the 401/403/429 problem
// answers, and named component schemas for the objects many operations share. Route files only
// describe what is their own.
import { isDeepStrictEqual } from 'node:util'
import fp from 'fastify-plugin'
import swagger, { type SwaggerTransform, type SwaggerTransformObject } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, FastifySchema } from 'fastify'
import { problemResponses } from './problems.ts'
import { isAuthenticationHook } from './auth.ts'
import { decisionRequestExamples, decisionResponseSchema, pointOfCareSchema } from '../http/decision-schema.ts'
import { endUserSchema, security } from '../http/common.ts'
import { FHIR_JSON, isFhirUrl } from '../fhir/resources.ts'
import { UNLIMITED } from './rate-limits.ts'

const OPENAPI_INFO = {
  title: 'Consent Check Service',
  version: '1.0.0',
  description:
    "May this patient's record be shared for this purpose, by this caller, now? " +
    'Authenticate with a signed-JWT client assertion at POST /oauth2/token (SPEC §4), ' +
    'then send the access token as a Bearer token. ' +
    'Errors are application/problem+json (RFC 9457); the token endpoint answers RFC 6749 errors.'
}

/**
 * Relative: the document's own origin. Swagger UI then sends "Execute" to the host it was opened
 * at (127.0.0.1, a load balancer's name, PUBLIC_URL), which the page's CSP (connect-src 'self')
 * allows; an absolute PUBLIC_URL failed from every other host ("Failed to fetch").
 */
export const OPENAPI_SERVERS = [{ url: '/', description: 'The host that serves this document' }]

const PROBLEM_SCHEMA = (problemResponses(400)[400] as { content: Record<string, { schema: unknown }> }).content[
  'application/problem+json'
].schema
/** Shared objects named in components.schemas, each replaced by a $ref wherever it appears whole. */
const NAMED_SCHEMAS: Record<string, unknown> = {
  Problem: PROBLEM_SCHEMA,
  DecisionAnswer: decisionResponseSchema,
  EndUser: endUserSchema,
  PointOfCare: pointOfCareSchema
}

/** What the error handlers answer under /fhir (src/fhir/resources.ts › fhirError). */
const OUTCOME_SCHEMA = {
  type: 'object',
  description: 'FHIR R4 OperationOutcome',
  additionalProperties: true,
  properties: {
    resourceType: { type: 'string', enum: ['OperationOutcome'] },
    issue: { type: 'array', items: { type: 'object', additionalProperties: true } }
  },
  required: ['resourceType', 'issue']
}

type Json = Record<string, unknown>
type Operation = Json & { operationId?: string; responses?: Record<string, Json>; security?: unknown }

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

/** camelCase of the method and the path's words, a parameter as By<Name>: GET /v1/clients/{id} → getV1ClientsById. */
export function operationIdFor (method: string, path: string): string {
  const words = path.split('/').flatMap(segment => {
    const param = /^[{:](\w+)}?$/.exec(segment)
    if (param !== null) return ['by', ...param[1].split(/(?=[A-Z])/)]
    return segment.split(/[^A-Za-z0-9]+/).filter(w => w !== '')
  })
  return [method.toLowerCase(), ...words.map(w => w[0].toUpperCase() + w.slice(1))].join('')
}

/**
 * Security and the problem answers every route of its kind can give, added to what the route declares.
 * `requireAuth` is asked for when the document is built: the auth plugin registers after this one.
 */
function routeTransform (requireAuth: () => unknown): SwaggerTransform {
  return ({ schema, url, route }) => {
    const own = (schema ?? {}) as FastifySchema & { hide?: boolean; security?: unknown; response?: Json }
    if (own.hide === true) return { schema, url }
    const response: Json = { ...(own.response ?? {}) }
    // An added answer takes the route's own error format (RFC 6749 JSON at the token endpoint), else
    // the one the error handlers give its path: an OperationOutcome under /fhir, else problem+json.
    const ownError = Object.entries(response).find(([status]) => status.startsWith('4'))?.[1] as Json | undefined
    const add = (...statuses: number[]): void => {
      for (const [status, answer] of Object.entries(problemResponses(...statuses))) {
        if (response[status] !== undefined) continue
        const description = (answer as Json).description
        const outcome = { description, content: { [FHIR_JSON]: { schema: OUTCOME_SCHEMA } } }
        response[status] = ownError !== undefined ? { ...ownError, description } : isFhirUrl(url) ? outcome : answer
      }
    }
    let routeSecurity = own.security
    if (route.config?.public === true) {
      routeSecurity ??= []
    } else {
      routeSecurity ??= security
      add(401)
      // A route open to any valid token (fastify.requireAuth) cannot refuse a scope.
      const hooks = [route.onRequest ?? []].flat().filter(isAuthenticationHook)
      if (hooks.some(hook => hook !== requireAuth())) add(403)
    }
    if (!UNLIMITED.test(url)) add(429)
    return { schema: { ...own, security: routeSecurity, response }, url }
  }
}

function * subschemas (
  node: unknown,
  parent: Json | unknown[] | null,
  key: string | number
): Generator<{
  node: Json
  parent: Json | unknown[]
  key: string | number
}> {
  if (typeof node !== 'object' || node === null) return
  if (parent !== null && !Array.isArray(node)) yield { node: node as Json, parent, key }
  const entries: Array<[string | number, unknown]> = Array.isArray(node) ? [...node.entries()] : Object.entries(node)
  for (const [k, child] of entries) yield * subschemas(child, node as Json | unknown[], k)
}

/** Whole-document changes: operationIds, the shared schemas named, harmless default examples, a 4XX everywhere. */
const documentTransform: SwaggerTransformObject = documentObject => {
  const doc = structuredClone((documentObject as { openapiObject: Json }).openapiObject) as Json & {
    paths: Record<string, Record<string, Operation>>
    components: Json & { schemas?: Json }
  }

  // Named schemas: each subschema equal to a shared object becomes a $ref (examples are left alone).
  const named = Object.entries(JSON.parse(JSON.stringify(NAMED_SCHEMAS)) as Json)
  const used = new Set<string>()
  for (const { node, parent, key } of [...subschemas(doc.paths, null, '')]) {
    if (key === 'example' || key === 'examples' || key === 'value') continue
    const match = named.find(([, schema]) => isDeepStrictEqual(node, schema))
    if (match === undefined) continue
    ;(parent as Record<string | number, unknown>)[key] = { $ref: `#/components/schemas/${match[0]}` }
    used.add(match[0])
  }
  doc.components.schemas = {
    ...doc.components.schemas,
    ...Object.fromEntries(named.filter(([name]) => used.has(name)))
  }

  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(operations)) {
      if (!METHODS.has(method)) continue
      op.operationId ??= operationIdFor(method, path)
      // Public, unlimited routes (health, discovery) still refuse a malformed request before routing.
      const responses = (op.responses ??= {})
      if (!Object.keys(responses).some(status => status.startsWith('4'))) {
        responses['4XX'] = {
          description:
            'The request itself was refused before it reached this operation (its framing: no Host or two; a URI ' +
            'or headers over the limits)',
          content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } }
        }
        doc.components.schemas.Problem ??= JSON.parse(JSON.stringify(PROBLEM_SCHEMA))
      }
    }
  }

  // Swagger UI fills "Try it out" with the first example: a question that records a decision and
  // nothing else. Emergency access (which raises an alert for the privacy officer) is a named second.
  const decide = doc.paths['/v1/decisions']?.post?.requestBody as
    { content?: Record<string, Json & { schema?: Json }> } | undefined
  const decideJson = decide?.content?.['application/json']
  if (decideJson !== undefined) {
    if (decideJson.schema !== undefined) delete decideJson.schema.example
    delete decideJson.example
    decideJson.examples = decisionRequestExamples
  }
  return doc
}

export default fp(
  async function swaggerDocs (fastify: FastifyInstance) {
    await fastify.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: OPENAPI_INFO,
        servers: OPENAPI_SERVERS,
        components: {
          securitySchemes: {
            bearerAuth: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description: 'An access token from POST /oauth2/token (or `npm run cli -- token`).'
            }
          }
        },
        tags: [
          { name: 'decisions', description: 'Ask whether a record may be shared' },
          { name: 'preferences', description: "Patients' recorded choices" },
          { name: 'purposes', description: 'Purposes of sharing and their hierarchy' },
          { name: 'clients', description: 'Client registry (administrators)' },
          { name: 'audit', description: 'Audit trail and emergency-access alerts' },
          { name: 'oauth2', description: 'Signed-JWT client credentials' },
          { name: 'fhir', description: 'FHIR R4 views: Consent (UK Core), AuditEvent, CapabilityStatement' },
          { name: 'cds-hooks', description: 'CDS Hooks patient-consent-consult' },
          { name: 'health', description: 'Liveness and readiness' }
        ]
      },
      transform: routeTransform(() => fastify.requireAuth),
      transformObject: documentTransform
    })
    // The documentation is public: every route of this scope (Swagger UI's too) is marked so.
    await fastify.register(async function publicDocs (docs) {
      docs.addHook('onRoute', route => {
        route.config = { ...route.config, public: true }
      })
      await docs.register(swaggerUi, {
        routePrefix: '/docs',
        uiConfig: { persistAuthorization: false, deepLinking: true }
      })
      docs.get('/openapi.json', { schema: { hide: true } }, async () => fastify.swagger())
    })
  },
  { name: 'swagger', dependencies: ['runtime'] }
)
