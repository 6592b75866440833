// CDS Hooks 2.0 as an EHR uses it: the EHR authenticates with a JWT it signs itself ("Trusting CDS
// Clients": iss its URL, sub its client id, aud the service endpoint, exp at most 5 minutes, unique
// jti, kid; jku optional), alongside the service's own access tokens; browsers call the CDS
// endpoints from any origin (CORS, preflight answered); feedback on cards is accepted and audited.
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { LightMyRequestResponse } from 'fastify'
import { SignJWT, type CryptoKey } from 'jose'
import {
  ALL_PURPOSES,
  PUBLIC_URL,
  bearer,
  clientWithToken,
  expectProblem,
  newKeyPair,
  patientSupply,
  registerClient,
  registerJwksUrlClient,
  useTestApp,
  type Json,
  type TestCaller,
  type TestClient
} from '../helpers/app.ts'
import { storeOf } from '../helpers/store.ts'

const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number'
const SERVICE_URL = `${PUBLIC_URL}/cds-services/patient-consent-consult`
const EHR = 'https://ehr.example.nhs.uk/fhir'
const t = useTestApp()
const patient = patientSupply(30, 1314)
let admin: TestCaller

function consult (nhs: string): Json {
  return {
    hook: 'patient-consent-consult',
    hookInstance: crypto.randomUUID(),
    context: { patientId: [{ system: NHS_SYSTEM, value: nhs }], purposeOfUse: ['ETREAT'] }
  }
}

interface EhrJwt {
  sub: string
  kid: string
  key: CryptoKey
  alg?: string
  aud?: string
  iss?: string
  jti?: string
  expIn?: number
  jku?: string
}

/** The JWT an EHR signs for one CDS service call, as CDS Hooks 2.0 describes it (with jose). */
async function ehrJwt (o: EhrJwt): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return await new SignJWT({})
    .setProtectedHeader({
      alg: o.alg ?? 'ES384',
      typ: 'JWT',
      kid: o.kid,
      ...(o.jku !== undefined ? { jku: o.jku } : {})
    })
    .setIssuer(o.iss ?? EHR)
    .setSubject(o.sub)
    .setAudience(o.aud ?? SERVICE_URL)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expIn ?? 300))
    .setJti(o.jti ?? crypto.randomUUID())
    .sign(o.key)
}

const signedBy = (client: TestClient, o: Partial<EhrJwt> = {}): Promise<string> =>
  ehrJwt({ sub: client.id, kid: client.kid, key: client.privateKey, alg: client.alg, ...o })

async function post (
  body: Json,
  headers: Record<string, string>,
  url = '/cds-services/patient-consent-consult'
): Promise<LightMyRequestResponse> {
  return await t.app.inject({ method: 'POST', url, headers, payload: body })
}

let server: Server
let base: string
const hits = new Map<string, number>()
let served: { keys: unknown[] } = { keys: [] }

beforeAll(async () => {
  admin = await clientWithToken(t.app, { purposes: ALL_PURPOSES })
  server = createServer((req, res) => {
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1)
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(served))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise(resolve => server.close(resolve))
})

describe('CDS Hooks JWT authentication of the EHR', () => {
  it('an EHR signing its own JWT (registered inline key) gets a card; ' +
    'the audit names the client and its iss', async () => {
    const ehr = await registerClient(t.app, { alg: 'ES384', scopes: ['consent:check'], purposes: ['unplanned-care'] })
    const res = await post(consult(patient()), bearer(await signedBy(ehr)))
    expect(res.statusCode, res.body).toBe(200)
    const card = res.json().cards[0]
    expect(card.extension.decision).toBe('NO_CONSENT')
    const row = await storeOf(t.app).auditRow(card.uuid)
    expect(row).toMatchObject({ type: 'decision', clientId: ehr.id })
    expect(JSON.parse(String(row?.details)).cdsHooks).toMatchObject({ iss: EHR })
  })

  it('a replayed JWT (same jti) is refused with 401', async () => {
    const ehr = await registerClient(t.app, { alg: 'ES384', scopes: ['consent:check'] })
    const jwt = await signedBy(ehr)
    expect((await post(consult(patient()), bearer(jwt))).statusCode).toBe(200)
    const again = expectProblem(await post(consult(patient()), bearer(jwt)), 401, { detail: /replay/ })
    expect(again.detail).toMatch(/jti/)
  })

  it('a JWT addressed elsewhere (wrong aud), too long-lived, or with an iss that is not a URL is refused with 401 ' +
    'saying so', async () => {
    const ehr = await registerClient(t.app, { alg: 'ES384', scopes: ['consent:check'] })
    const res = await post(consult(patient()), bearer(await signedBy(ehr, { aud: `${PUBLIC_URL}/oauth2/token` })))
    expectProblem(res, 401, { detail: /aud must be the CDS service's endpoint/ })
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/)
    expectProblem(await post(consult(patient()), bearer(await signedBy(ehr, { expIn: 3600 }))), 401, {
      detail: /300 seconds/
    })
    expectProblem(await post(consult(patient()), bearer(await signedBy(ehr, { iss: 'not a url' }))), 401, {
      detail: /iss/
    })
  })

  it('an unknown client, or a key that is not the registered one, ' +
    'gets one answer that tells neither apart', async () => {
    const ehr = await registerClient(t.app, { alg: 'ES384', scopes: ['consent:check'] })
    const stranger = await newKeyPair('ES384')
    const unknown = expectProblem(
      await post(consult(patient()), bearer(await signedBy(ehr, { sub: 'no-such-client' }))),
      401
    )
    const wrongKey = expectProblem(
      await post(consult(patient()), bearer(await signedBy(ehr, { key: stranger.privateKey }))),
      401
    )
    expect(wrongKey.detail).toBe(unknown.detail)
    expect(unknown.detail).toMatch(/not signed by an active registered client's key/)
  })

  it("a JWKS-URL client's JWT verifies with the keys at its URL; " +
    'a jku must be that URL and is never fetched otherwise', async () => {
    const key = await newKeyPair('ES384')
    served = { keys: [key.publicJwk] }
    const url = `${base}/ehr-jwks.json`
    const id = await registerJwksUrlClient(t.app, admin.auth, url, 'EHR with a JWKS URL')
    const sign = (jku?: string): Promise<string> =>
      ehrJwt({ sub: id, kid: key.kid, key: key.privateKey, ...(jku !== undefined ? { jku } : {}) })
    const body = { ...consult(patient()), context: { ...consult(patient()).context, purposeOfUse: 'planned-care' } }
    expect((await post(body, bearer(await sign()))).statusCode).toBe(200)
    expect((await post(body, bearer(await sign(url)))).statusCode).toBe(200)
    expectProblem(await post(body, bearer(await sign(`${base}/attacker.json`))), 401, { detail: /jku/ })
    expect(hits.get('/attacker.json')).toBeUndefined()
  })

  it('a client without consent:check is refused with 403; access tokens keep working alongside', async () => {
    const reader = await registerClient(t.app, { alg: 'ES384', scopes: ['consent:read'] })
    expectProblem(await post(consult(patient()), bearer(await signedBy(reader))), 403)
    expect((await post(consult(patient()), admin.auth)).statusCode).toBe(200)
  })
})

describe('CORS on the CDS endpoints', () => {
  const origin = 'https://smart-app.example.org'

  it('a preflight for the service is answered with any origin and Authorization allowed', async () => {
    const res = await t.app.inject({
      method: 'OPTIONS',
      url: '/cds-services/patient-consent-consult',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type'
      }
    })
    expect(res.statusCode).toBe(204)
    expect(res.headers['access-control-allow-origin']).toBe('*')
    expect(String(res.headers['access-control-allow-methods'])).toMatch(/POST/)
    expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toMatch(/authorization/)
  })

  it('discovery and the service answer cross-origin requests; other routes do not', async () => {
    const discovery = await t.app.inject({ method: 'GET', url: '/cds-services', headers: { origin } })
    expect(discovery.statusCode).toBe(200)
    expect(discovery.headers['access-control-allow-origin']).toBe('*')
    const answer = await post(consult(patient()), { ...admin.auth, origin })
    expect(answer.statusCode).toBe(200)
    expect(answer.headers['access-control-allow-origin']).toBe('*')
    const other = await t.app.inject({
      method: 'OPTIONS',
      url: '/v1/decisions',
      headers: { origin, 'access-control-request-method': 'POST' }
    })
    expect(other.headers['access-control-allow-origin']).toBeUndefined()
  })
})

describe('POST /cds-services/patient-consent-consult/feedback', () => {
  const FEEDBACK = '/cds-services/patient-consent-consult/feedback'

  it('feedback on a card is accepted and audited as cds.feedback with the caller and counts, ' +
    'no NHS number', async () => {
    const nhs = patient()
    const card = (await post(consult(nhs), admin.auth)).json().cards[0]
    const body = {
      feedback: [
        { card: card.uuid, outcome: 'accepted', outcomeTimestamp: new Date().toISOString() },
        {
          card: card.uuid,
          outcome: 'overridden',
          outcomeTimestamp: new Date().toISOString(),
          overrideReason: {
            reason: { system: 'http://example.org/override', code: 'patient-asked' },
            userComment: `patient ${nhs} said so`
          }
        }
      ]
    }
    const res = await post(body, admin.auth, FEEDBACK)
    expect(res.statusCode, res.body).toBe(200)
    const rows = await storeOf(t.app).auditRowsOfType('cds.feedback')
    const row = rows.find(r => String(r.details).includes(card.uuid))
    expect(JSON.parse(String(row?.details))).toMatchObject({
      service: 'patient-consent-consult',
      feedback: 2,
      accepted: 1,
      overridden: 1,
      cards: [card.uuid]
    })
    expect(String(row?.details)).not.toContain(nhs)
    const stored = await storeOf(t.app).auditRow(String(row?.id))
    expect(stored).toMatchObject({ clientId: admin.id, nhsNumber: null })
  })

  it('feedback signed by the EHR (aud the feedback URL) records its iss; bad feedback is a 400; ' +
    'none without auth', async () => {
    const ehr = await registerClient(t.app, { alg: 'ES384', scopes: ['consent:check'] })
    const item = { card: crypto.randomUUID(), outcome: 'accepted', outcomeTimestamp: new Date().toISOString() }
    const res = await post(
      { feedback: [item] },
      bearer(await signedBy(ehr, { aud: `${SERVICE_URL}/feedback` })),
      FEEDBACK
    )
    expect(res.statusCode, res.body).toBe(200)
    const row = (await storeOf(t.app).auditRowsOfType('cds.feedback')).find(r => String(r.details).includes(item.card))
    expect(JSON.parse(String(row?.details))).toMatchObject({ iss: EHR, feedback: 1 })
    expectProblem(await post({ feedback: [{ ...item, outcome: 'maybe' }] }, admin.auth, FEEDBACK), 400)
    expectProblem(await post({ feedback: [] }, admin.auth, FEEDBACK), 400)
    expectProblem(await post({ feedback: [{ ...item, card: '9434765919' }] }, admin.auth, FEEDBACK), 400)
    expectProblem(await post({ feedback: [item] }, {}, FEEDBACK), 401)
  })
})
