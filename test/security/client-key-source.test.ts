// A client has exactly one key source, inline public keys (jwks) or a JWKS URL (jwksUrl), and a
// switch between them really switches: the keys of the source left behind stop working at once
// (SECURITY.md "Key sources"). A JWKS URL never carries credentials, and none is ever shown.
import { randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { LightMyRequestResponse } from 'fastify'
import type { JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../../src/store/clients.ts'
import {
  clientWithToken,
  expectProblem,
  newKeyPair,
  requestToken,
  signAssertion,
  tokenForm,
  useTestApp,
  type TestCaller,
  type TestClient
} from '../helpers/app.ts'

type KeyPair = Awaited<ReturnType<typeof newKeyPair>>

describe('one key source per client', () => {
  const t = useTestApp()
  let server: Server
  let base: string
  let admin: TestCaller
  let auditor: TestCaller
  /** What each path serves, and how often it was fetched. */
  const published = new Map<string, { keys: JWK[] }>()
  const hits = new Map<string, number>()

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? ''
      hits.set(path, (hits.get(path) ?? 0) + 1)
      res.setHeader('content-type', 'application/json')
      res.setHeader('cache-control', 'max-age=3600')
      res.end(JSON.stringify(published.get(path) ?? { keys: [] }))
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    admin = await clientWithToken(t.app, { name: 'Admin', scopes: ['admin'] })
    auditor = await clientWithToken(t.app, { name: 'Auditor', scopes: ['audit:read'] })
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  })

  /** A path serving these public keys. */
  function publish (...keys: KeyPair[]): string {
    const path = `/${randomUUID()}/jwks.json`
    published.set(path, { keys: keys.map(k => k.publicJwk) })
    return path
  }

  async function send (
    method: 'POST' | 'PATCH' | 'PUT',
    url: string,
    payload: unknown
  ): Promise<LightMyRequestResponse> {
    return await t.app.inject({ method, url, headers: admin.auth, payload: payload as Record<string, unknown> })
  }

  const registration = (over: Record<string, unknown>): Record<string, unknown> => ({
    name: 'Switching client',
    scopes: ['consent:check'],
    purposes: ['planned-care'],
    ...over
  })

  async function tokenStatus (clientId: string, key: KeyPair): Promise<number> {
    const client: TestClient = {
      id: clientId,
      kid: key.kid,
      privateKey: key.privateKey,
      publicJwk: key.publicJwk,
      alg: 'ES256',
      record: undefined as unknown as TestClient['record']
    }
    return (await requestToken(t.app, tokenForm(await signAssertion(client)))).statusCode
  }

  /** The details of the audit events about this client, oldest first. */
  async function auditDetails (clientId: string): Promise<Array<Record<string, any>>> {
    await t.app.runtime.audit.flush()
    const res = await t.app.inject({ method: 'GET', url: '/v1/audit?limit=500', headers: auditor.auth })
    expect(res.statusCode, res.body).toBe(200)
    const items = (res.json() as { items: Array<{ details: Record<string, any> }> }).items
    return items
      .map(e => e.details)
      .filter(d => d.subjectClientId === clientId)
      .reverse()
  }

  it('inline keys → URL → inline keys: after each switch only the current source is used', async () => {
    const inline = await newKeyPair('ES256')
    const remote = await newKeyPair('ES256')
    const created = await send('POST', '/v1/clients', registration({ jwks: { keys: [inline.publicJwk] } }))
    expect(created.statusCode, created.body).toBe(201)
    const id = created.json().clientId as string
    expect(await tokenStatus(id, inline)).toBe(200)

    const path = publish(remote)
    const toUrl = await send('PATCH', `/v1/clients/${id}`, { jwksUrl: `${base}${path}` })
    expect(toUrl.statusCode, toUrl.body).toBe(200)
    expect(toUrl.json()).toMatchObject({ jwks: null, jwksUrl: `${base}${path}`, kids: [] })
    expect(await tokenStatus(id, remote)).toBe(200)
    // The inline key it had is gone with the switch.
    expect(await tokenStatus(id, inline)).toBe(401)
    expect(hits.get(path)).toBe(1)

    const next = await newKeyPair('ES256')
    const back = await send('PATCH', `/v1/clients/${id}`, { jwks: { keys: [next.publicJwk] } })
    expect(back.statusCode, back.body).toBe(200)
    expect(back.json()).toMatchObject({ jwksUrl: null, kids: [next.kid] })
    expect(await tokenStatus(id, next)).toBe(200)
    // The URL is no longer used: its key is refused and it is not fetched again.
    expect(await tokenStatus(id, remote)).toBe(401)
    expect(hits.get(path)).toBe(1)

    // Each switch is audited with the source before and after.
    const switches = (await auditDetails(id)).filter(d => d.after !== undefined)
    expect(switches.map(d => [d.before.kids, d.before.jwksUrl, d.after.kids, d.after.jwksUrl])).toEqual([
      [[inline.kid], null, [], `${base}${path}`],
      [[], `${base}${path}`, [next.kid], null]
    ])
  })

  it('PUT /keys on a client with a JWKS URL switches it to the keys sent', async () => {
    const remote = await newKeyPair('ES256')
    const path = publish(remote)
    const id = (await send('POST', '/v1/clients', registration({ jwksUrl: `${base}${path}` }))).json()
      .clientId as string
    expect(await tokenStatus(id, remote)).toBe(200)
    const inline = await newKeyPair('ES256')
    const put = await send('PUT', `/v1/clients/${id}/keys`, { keys: [inline.publicJwk] })
    expect(put.statusCode, put.body).toBe(200)
    expect(put.json()).toMatchObject({ jwksUrl: null, kids: [inline.kid] })
    expect(await tokenStatus(id, inline)).toBe(200)
    expect(await tokenStatus(id, remote)).toBe(401)
  })

  it('explicit null for the source being cleared is accepted beside the other', async () => {
    const inline = await newKeyPair('ES256')
    const remote = await newKeyPair('ES256')
    const path = publish(remote)
    const id = (await send('POST', '/v1/clients', registration({ jwks: { keys: [inline.publicJwk] } }))).json()
      .clientId as string
    const toUrl = await send('PATCH', `/v1/clients/${id}`, { jwks: null, jwksUrl: `${base}${path}` })
    expect(toUrl.statusCode, toUrl.body).toBe(200)
    expect(toUrl.json()).toMatchObject({ jwks: null, jwksUrl: `${base}${path}` })
    const back = await send('PATCH', `/v1/clients/${id}`, { jwks: { keys: [inline.publicJwk] }, jwksUrl: null })
    expect(back.statusCode, back.body).toBe(200)
    expect(back.json()).toMatchObject({ jwksUrl: null, kids: [inline.kid] })
    expect(await tokenStatus(id, inline)).toBe(200)
  })

  it('refuses both sources at once, and a null that would leave a client without keys', async () => {
    const key = await newKeyPair('ES256')
    const url = `${base}${publish(key)}`
    const both = await send('POST', '/v1/clients', registration({ jwks: { keys: [key.publicJwk] }, jwksUrl: url }))
    expect(
      expectProblem(both, 400, { path: '/jwksUrl' })
        .errors.map(e => e.message)
        .join()
    ).toMatch(/not both/)

    const id = (await send('POST', '/v1/clients', registration({ jwks: { keys: [key.publicJwk] } }))).json()
      .clientId as string
    const patch = async (body: Record<string, unknown>): Promise<LightMyRequestResponse> =>
      await send('PATCH', `/v1/clients/${id}`, body)
    expectProblem(await patch({ jwks: { keys: [key.publicJwk] }, jwksUrl: url }), 400, { path: '/jwksUrl' })
    const message = (res: LightMyRequestResponse, path: string): string | undefined =>
      expectProblem(res, 400, { path }).errors.find(e => e.path === path)?.message
    expect(message(await patch({ jwks: null }), '/jwks')).toMatch(/always has a key source/)
    expect(message(await patch({ jwksUrl: null }), '/jwksUrl')).toMatch(/always has a key source/)
    expectProblem(await patch({ jwks: null, jwksUrl: null }), 400)
    // Nothing changed: the key still works.
    expect(await tokenStatus(id, key)).toBe(200)
    expect((await t.app.inject({ method: 'GET', url: `/v1/clients/${id}`, headers: admin.auth })).json()).toMatchObject(
      { jwksUrl: null, kids: [key.kid] }
    )
  })

  it('refuses credentials in a jwksUrl at registration and change, without echoing or auditing them', async () => {
    const key = await newKeyPair('ES256')
    const id = (await send('POST', '/v1/clients', registration({ jwks: { keys: [key.publicJwk] } }))).json()
      .clientId as string
    for (const url of [
      'https://user:s3cret-pw@keys.example.nhs.uk/jwks.json',
      'https://user@keys.example.nhs.uk/jwks.json',
      'http://user:s3cret-pw@127.0.0.1:1/jwks.json'
    ]) {
      const created = await send('POST', '/v1/clients', registration({ jwksUrl: url }))
      const body = expectProblem(created, 400, { path: '/jwksUrl' })
      expect(body.errors.find(e => e.path === '/jwksUrl')?.message).toMatch(/credentials are not allowed in the URL/)
      expect(created.body).not.toMatch(/s3cret|user@/)
      const changed = await send('PATCH', `/v1/clients/${id}`, { jwksUrl: url })
      expectProblem(changed, 400, { path: '/jwksUrl' })
      expect(changed.body).not.toMatch(/s3cret|user@/)
    }
    expect(JSON.stringify(await auditDetails(id))).not.toMatch(/s3cret/)
    expect(t.logs.join('')).not.toMatch(/s3cret/)
  })

  it('the other URL rules hold: https only (http for localhost), absolute', async () => {
    for (const [url, message] of [
      ['http://keys.example.nhs.uk/jwks.json', /https/],
      ['ftp://keys.example.nhs.uk/jwks.json', /https/],
      ['file:///etc/passwd', /https/],
      ['/jwks.json', /absolute/],
      ['http://127.0.0.2/jwks.json', /https/]
    ] as const) {
      const res = await send('POST', '/v1/clients', registration({ jwksUrl: url }))
      const hit = expectProblem(res, 400, { path: '/jwksUrl' }).errors.find(e => e.path === '/jwksUrl')
      expect(hit?.message, url).toMatch(message)
    }
    for (const url of ['https://keys.example.nhs.uk/jwks.json', 'http://localhost:8080/jwks.json']) {
      expect((await send('POST', '/v1/clients', registration({ jwksUrl: url }))).statusCode, url).toBe(201)
    }
  })

  it('a URL with credentials stored before they were refused is never shown: ***@ in answers and audit', async () => {
    const { db, audit, registry } = t.app.runtime
    const record = await createClient(
      db,
      audit,
      {
        name: 'Legacy',
        scopes: ['consent:check'],
        purposes: ['planned-care'],
        exemptions: [],
        jwks: null,
        jwksUrl: 'https://legacy:0ld-s3cret@keys.example.nhs.uk/jwks.json'
      },
      { clientId: null, requestId: null }
    )
    registry.putClient(record)
    const shown = await t.app.inject({ method: 'GET', url: `/v1/clients/${record.id}`, headers: admin.auth })
    expect(shown.json().jwksUrl).toBe('https://***@keys.example.nhs.uk/jwks.json')
    const listed = await t.app.inject({ method: 'GET', url: '/v1/clients?limit=200', headers: admin.auth })
    expect(listed.body).not.toMatch(/0ld-s3cret/)
    const renamed = await send('PATCH', `/v1/clients/${record.id}`, { name: 'Legacy, renamed' })
    expect(renamed.statusCode, renamed.body).toBe(200)
    expect(renamed.body).not.toMatch(/0ld-s3cret/)
    const events = await auditDetails(record.id)
    expect(events.length).toBe(2)
    expect(JSON.stringify(events)).not.toMatch(/0ld-s3cret/)
  })
})
