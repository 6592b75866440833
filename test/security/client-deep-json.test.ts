// Deeply nested JSON (SPEC §7: no input yields a 5xx). A JWK holding an array nested 5 000 levels
// deep was stored with JSON.stringify, which overflowed the stack: a 500 on POST and PATCH
// /v1/clients and PUT /keys. Every JSON body is now refused past 64 levels (src/plugins/input-guard.ts),
// before any schema or use case sees it, and a JWK's members cannot nest at all.
import { describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import { clientWithToken, expectProblem, newKeyPair, useTestApp, type TestCaller } from '../helpers/app.ts'

/** `leaf` inside `depth` arrays, as JSON text (inject would stringify a deep value recursively). */
const arrays = (depth: number, leaf = '"x"'): string => '['.repeat(depth) + leaf + ']'.repeat(depth)
/** `leaf` inside `depth` objects { "a": … }. */
const objects = (depth: number, leaf = '"x"'): string => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth)

describe('deeply nested JSON bodies', () => {
  const t = useTestApp()
  let admin: TestCaller

  async function send (method: 'POST' | 'PATCH' | 'PUT', url: string, body: string): Promise<LightMyRequestResponse> {
    admin ??= await clientWithToken(t.app, { name: 'Admin' })
    return await t.app.inject({
      method,
      url,
      headers: { ...admin.auth, 'content-type': 'application/json' },
      payload: body
    })
  }

  function expectTooDeep (res: LightMyRequestResponse, path: string): void {
    const problem = expectProblem(res, 400, { path })
    expect(problem.errors.find(e => e.path === path)?.message).toMatch(/nested more than 64 levels deep/)
  }

  it('a JWK with a member nested 5 000 levels deep: 400 on POST, PATCH and PUT /keys, not a 500', async () => {
    const key = await newKeyPair('ES256')
    const jwk = (deep: string): string => `{${JSON.stringify(key.publicJwk).slice(1, -1)},"x5c":${deep}}`
    for (const [deep, step] of [
      [arrays(5000), '0'],
      [objects(5000), 'a']
    ]) {
      const fields = '"name":"Deep","scopes":["consent:check"],"purposes":["planned-care"]'
      const registration = `{${fields},"jwks":{"keys":[${jwk(deep)}]}}`
      expectTooDeep(await send('POST', '/v1/clients', registration), '/jwks/keys/0/x5c')
      expectTooDeep(
        await send('PATCH', `/v1/clients/${admin.id}`, `{"jwks":{"keys":[${jwk(deep)}]}}`),
        '/jwks/keys/0/x5c'
      )
      expectTooDeep(await send('PUT', `/v1/clients/${admin.id}/keys`, `{"keys":[${jwk(deep)}]}`), `/keys/0/x5c/${step}`)
    }
    // The administrator's own key is untouched.
    const self = await t.app.inject({ method: 'GET', url: `/v1/clients/${admin.id}`, headers: admin.auth })
    expect(self.json().kids).toEqual([admin.kid])
  })

  it('a JWK member may not nest at all: an array member holds strings only', async () => {
    const key = await newKeyPair('ES256')
    const body = JSON.stringify({
      name: 'Nested x5c',
      scopes: ['consent:check'],
      purposes: ['planned-care'],
      jwks: { keys: [{ ...key.publicJwk, x5c: [['MIIB']] }] }
    })
    expectProblem(await send('POST', '/v1/clients', body), 400, { path: '/jwks/keys/0/x5c/0' })
  })

  it('every JSON route refuses nesting past 64 levels, naming the field, and takes 64', async () => {
    const at64 = arrays(63)
    const at65 = arrays(64)
    const routes: Array<[method: 'POST' | 'PATCH', url: string, body: (deep: string) => string, path: string]> = [
      ['POST', '/v1/decisions', d => `{"nhsNumber":"9434765919","purpose":"planned-care","endUser":${d}}`, '/endUser'],
      ['POST', '/v1/patients/9434765919/preferences', d => `{"purpose":"planned-care","note":${d}}`, '/note'],
      ['POST', '/v1/purposes', d => `{"code":"deep","name":${d}}`, '/name'],
      [
        'PATCH',
        `/v1/clients/${(admin ??= await clientWithToken(t.app, { name: 'Admin' })).id}`,
        d => `{"name":${d}}`,
        '/name'
      ],
      [
        'POST',
        '/cds-services/patient-consent-consult',
        d => `{"hook":"patient-consent-consult","context":${d}}`,
        '/context'
      ]
    ]
    for (const [method, url, body, path] of routes) {
      const deep = await send(method, url, body(at65))
      expectTooDeep(deep, `${path}/0/0/0`)
      // 64 levels pass the guard: whatever the route answers, it is not about depth.
      const shallow = await send(method, url, body(at64))
      expect(shallow.statusCode, `${method} ${url}`).toBeLessThan(500)
      expect(shallow.body).not.toMatch(/nested more than/)
    }
    // A body that is itself the deep value, and objects as well as arrays.
    expectTooDeep(await send('POST', '/v1/decisions', arrays(5000)), '/0/0/0/0')
    expectTooDeep(await send('POST', '/v1/decisions', objects(5000)), '/a/a/a/a')
  })
})
