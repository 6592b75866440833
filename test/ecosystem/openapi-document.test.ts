// The OpenAPI document as OpenAPI tooling reads it (redocly, spectral, client generators): an
// operationId on every operation, security on every operation (none on public routes), the problem
// answers every operation of its kind can give (401, 403, 429), `items` on every array, the shared
// objects named, and default examples that are safe to "Execute" in Swagger UI.
import { beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, clientWithToken, useTestApp, type Json, type TestCaller } from '../helpers/app.ts'

interface Operation {
  operationId?: string
  summary?: string
  security?: Array<Record<string, string[]>>
  responses: Record<string, { content?: Record<string, { schema?: Json }> }>
  requestBody?: { content: Record<string, { schema?: Json; example?: unknown; examples?: Record<string, Json> }> }
}
interface Document {
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Json>; securitySchemes: Record<string, Json> }
}

const t = useTestApp()
let doc: Document
let caller: TestCaller

beforeAll(async () => {
  const res = await t.app.inject({ method: 'GET', url: '/openapi.json' })
  expect(res.statusCode).toBe(200)
  doc = res.json()
  caller = await clientWithToken(t.app)
})

function operations (): Array<{ where: string; method: string; path: string; op: Operation }> {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ where: `${method.toUpperCase()} ${path}`, method, path, op }))
  )
}

/** Every object in the document with the JSON path to it. */
function * nodes (node: unknown, at = '#'): Generator<{ node: Json; at: string }> {
  if (typeof node !== 'object' || node === null) return
  if (!Array.isArray(node)) yield { node: node as Json, at }
  for (const [key, child] of Object.entries(node)) yield * nodes(child, `${at}/${key}`)
}

describe('operations', () => {
  it('every operation has a unique camelCase operationId and a summary', () => {
    const ids = operations().map(({ where, op }) => {
      expect(op.operationId, `${where} operationId`).toMatch(/^[a-z][A-Za-z0-9]*$/)
      expect(op.summary, `${where} summary`).toMatch(/\S/)
      return op.operationId
    })
    expect(ids.length).toBeGreaterThanOrEqual(30)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('operationIds are derived from the method and the path, so they stay the same from release to release', () => {
    expect(doc.paths['/v1/decisions'].post.operationId).toBe('postV1Decisions')
    expect(doc.paths['/v1/clients/{id}/keys'].put.operationId).toBe('putV1ClientsByIdKeys')
    expect(doc.paths['/.well-known/jwks.json'].get.operationId).toBe('getWellKnownJwksJson')
  })

  it('public routes declare security: [], the others the bearer token with 401 (and 403 unless any token does)', () => {
    const publicPaths = ['/health/live', '/health/ready', '/oauth2/token', '/.well-known/jwks.json', '/fhir/metadata']
    for (const p of publicPaths) {
      for (const op of Object.values(doc.paths[p])) expect(op.security, p).toEqual([])
    }
    for (const { where, path, op } of operations()) {
      expect(op.security, `${where} declares its security`).toBeDefined()
      if (publicPaths.includes(path) || op.security?.length === 0) continue
      expect(op.security, where).toEqual(expect.arrayContaining([{ bearerAuth: [] }]))
      expect(Object.keys(op.responses), where).toContain('401')
    }
    expect(Object.keys(doc.paths['/v1/decisions'].post.responses)).toContain('403')
    // Any valid token reads the purpose catalogue: no scope to refuse.
    expect(Object.keys(doc.paths['/v1/purposes'].get.responses)).not.toContain('403')
  })

  it('every operation documents a 4xx, 429 where the rate limit applies, all in the error format of its API', () => {
    // problem+json, except FHIR resources (OperationOutcome) and the token endpoint (RFC 6749 §5.2);
    // the test below checks a real 429 against what is documented.
    const formats = ['application/problem+json', 'application/fhir+json', 'application/json']
    for (const { where, path, op } of operations()) {
      const statuses = Object.keys(op.responses)
      expect(
        statuses.some(s => s.startsWith('4')),
        `${where} has a 4xx`
      ).toBe(true)
      if (!/^\/(health\/|\.well-known\/)/.test(path)) expect(statuses, where).toContain('429')
      const types = new Set(
        statuses.filter(s => s.startsWith('4')).flatMap(s => Object.keys(op.responses[s].content ?? {}))
      )
      expect([...types], `${where}: one error format`).toHaveLength(1)
      expect(formats, where).toContain([...types][0])
      if (path.startsWith('/v1/')) expect([...types], where).toEqual(['application/problem+json'])
    }
  })
})

describe('schemas', () => {
  it('every array schema says what its items are', () => {
    let arrays = 0
    for (const { node, at } of nodes(doc)) {
      const types = [node.type].flat()
      if (!types.includes('array') || at.includes('/example')) continue
      arrays++
      expect(node.items ?? node.prefixItems, `${at} has items`).toBeDefined()
    }
    expect(arrays).toBeGreaterThan(10)
  })

  it('the shared objects are named component schemas, referenced where they are used', () => {
    const text = JSON.stringify(doc.paths)
    for (const name of ['Problem', 'DecisionAnswer', 'EndUser', 'PointOfCare']) {
      expect(doc.components.schemas[name], name).toMatchObject({ type: expect.anything() })
      expect(text, name).toContain(`"$ref":"#/components/schemas/${name}"`)
    }
    expect(doc.paths['/v1/decisions'].post.responses['200'].content?.['application/json'].schema).toEqual({
      $ref: '#/components/schemas/DecisionAnswer'
    })
    for (const { node, at } of nodes(doc)) {
      if (typeof node.$ref === 'string') {
        const target = node.$ref.replace('#/components/schemas/', '')
        expect(doc.components.schemas[target], `${at} → ${node.$ref}`).toBeDefined()
      }
    }
  })
})

describe('default examples', () => {
  it('POST /v1/decisions: the default example is planned care (no alert); emergency is a named second', async () => {
    const media = doc.paths['/v1/decisions'].post.requestBody?.content['application/json']
    expect(media?.schema?.example, 'no schema-level example that would win over the named ones').toBeUndefined()
    const examples = Object.values(media?.examples ?? {})
    expect(examples.length).toBeGreaterThanOrEqual(2)
    const first = examples[0].value as Json
    expect(first.purpose).toBe('planned-care')
    expect(first.pointOfCare).toBeUndefined()
    const emergency = examples.find(e => (e.value as Json).pointOfCare?.permissionToView === 'unable-to-ask')
    expect(emergency?.summary).toMatch(/alert/i)

    // What an administrator's "Execute" on the defaults does: a decision, no alert.
    const safe = await t.app.inject({ method: 'POST', url: '/v1/decisions', headers: caller.auth, payload: first })
    expect(safe.statusCode, safe.body).toBe(200)
    expect(safe.json()).toMatchObject({ purpose: 'planned-care', alertId: null })
    expect(safe.json().basis).not.toBe('emergency-access')
    // The named second is the one that alerts (so it must never be the default).
    const alerting = await t.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: caller.auth,
      payload: emergency?.value as Json
    })
    expect(alerting.statusCode, alerting.body).toBe(200)
    expect(alerting.json()).toMatchObject({ basis: 'emergency-access', alertId: expect.any(String) })
  })
})

describe('429 is documented exactly where the rate limit applies', () => {
  it('public GET operations: those without a documented 429 never answer one, those with one do', async () => {
    const limited = await buildTestApp({ RATE_LIMIT_PER_MINUTE: '1' })
    try {
      const publicGets = operations().filter(
        ({ method, path, op }) => method === 'get' && op.security?.length === 0 && !path.includes('{')
      )
      const documented = publicGets.filter(({ op }) => op.responses['429'] !== undefined)
      const exempt = publicGets.filter(({ op }) => op.responses['429'] === undefined)
      expect(documented.length).toBeGreaterThan(0)
      expect(exempt.length).toBeGreaterThan(0)
      for (const { where, path } of [...documented, ...exempt]) {
        const statuses: number[] = []
        let refused: { headers: Record<string, unknown> } | undefined
        for (let i = 0; i < 5; i++) {
          const res = await limited.app.inject({ method: 'GET', url: path, headers: { accept: '*/*' } })
          statuses.push(res.statusCode)
          if (res.statusCode === 429) refused = res
        }
        const op = publicGets.find(g => g.where === where)?.op
        if (op?.responses['429'] === undefined) {
          expect(statuses, where).not.toContain(429)
          continue
        }
        expect(statuses, where).toContain(429)
        // Answered in the format documented for it.
        const documentedTypes = Object.keys(op.responses['429'].content ?? {})
        expect(documentedTypes, where).toContain(String(refused?.headers['content-type']).split(';')[0])
      }
    } finally {
      await limited.close()
    }
  })
})
