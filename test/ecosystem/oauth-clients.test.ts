// Standard OAuth and SMART clients, used as their documentation says, against the service on a real
// socket (issue #13, item 1): openid-client 6 and oauth4webapi 3 discover the server (RFC 8414),
// authenticate with private_key_jwt from a bare private key (their assertions carry no kid) and call
// the API; a SMART Backend Services client written to the spec with jose reads the SMART
// configuration at the FHIR base, asks for a SMART system scope and reads /fhir/Consent.
// The one allowance made is the libraries' own for plain http (allowInsecureRequests): the test
// server has no TLS. Nothing else is special-cased.
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { SignJWT } from 'jose'
import * as oauth from 'oauth4webapi'
import * as client from 'openid-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  bearer,
  buildTestApp,
  patientSupply,
  recordChoice,
  registerClient,
  requestToken,
  signAssertion,
  tokenForm,
  type Auth,
  type TestApp
} from '../helpers/app.ts'

const nextPatient = patientSupply(4, 1301)

let t: TestApp
let base: string
let writer: Auth

/** A free port on the loopback interface (PUBLIC_URL must name the socket before the app is built). */
async function freePort (): Promise<number> {
  return await new Promise<number>(resolve => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

beforeAll(async () => {
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  t = await buildTestApp({ PUBLIC_URL: base })
  await t.app.listen({ port, host: '127.0.0.1' })
  // Records the choices the SMART client reads (the helper's tokenFor signs for the default PUBLIC_URL).
  const w = await registerClient(t.app, { name: 'Writer', scopes: ['consent:write'] })
  const res = await requestToken(t.app, tokenForm(await signAssertion(w, { aud: `${base}/oauth2/token` })))
  expect(res.statusCode, res.body).toBe(200)
  writer = bearer((res.json() as { access_token: string }).access_token)
})
afterAll(async () => {
  await t?.close()
})

async function decisionBody (res: Response): Promise<Record<string, unknown>> {
  expect(res.status, await res.clone().text()).toBe(200)
  return (await res.json()) as Record<string, unknown>
}

describe('openid-client 6', () => {
  it('discovers the server (RFC 8414), gets a token with PrivateKeyJwt and no kid, and decides', async () => {
    const c = await registerClient(t.app, { scopes: ['consent:check'] })
    const config = await client.discovery(new URL(base), c.id, undefined, client.PrivateKeyJwt(c.privateKey), {
      algorithm: 'oauth2',
      execute: [client.allowInsecureRequests]
    })
    expect(config.serverMetadata().token_endpoint).toBe(`${base}/oauth2/token`)
    const tokens = await client.clientCredentialsGrant(config, { scope: 'consent:check' })
    expect(tokens.token_type).toBe('bearer')
    expect(tokens.scope).toBe('consent:check')

    const patient = nextPatient()
    const res = await client.fetchProtectedResource(
      config,
      tokens.access_token,
      new URL(`${base}/v1/decisions`),
      'POST',
      JSON.stringify({ nhsNumber: patient, purpose: 'planned-care' }),
      new Headers({ 'content-type': 'application/json' })
    )
    expect(await decisionBody(res)).toMatchObject({ nhsNumber: patient, purpose: 'planned-care' })
  })

  it('is refused, as the library reports it, when its key is not the registered one', async () => {
    const c = await registerClient(t.app, { scopes: ['consent:check'] })
    const other = await registerClient(t.app, { scopes: ['consent:check'] })
    const config = await client.discovery(new URL(base), c.id, undefined, client.PrivateKeyJwt(other.privateKey), {
      algorithm: 'oauth2',
      execute: [client.allowInsecureRequests]
    })
    await expect(client.clientCredentialsGrant(config, { scope: 'consent:check' })).rejects.toMatchObject({
      error: 'invalid_client'
    })
  })
})

describe('oauth4webapi 3', () => {
  it('discovers the server, gets a token with PrivateKeyJwt and no kid, and decides', async () => {
    const c = await registerClient(t.app, { scopes: ['consent:check'] })
    const issuer = new URL(base)
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true })
    )
    const me: oauth.Client = { client_id: c.id }
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      me,
      oauth.PrivateKeyJwt(c.privateKey),
      new URLSearchParams({ scope: 'consent:check' }),
      { [oauth.allowInsecureRequests]: true }
    )
    const tokens = await oauth.processClientCredentialsResponse(as, me, response)
    expect(tokens.scope).toBe('consent:check')

    const patient = nextPatient()
    const res = await oauth.protectedResourceRequest(
      tokens.access_token,
      'POST',
      new URL(`${base}/v1/decisions`),
      new Headers({ 'content-type': 'application/json' }),
      JSON.stringify({ nhsNumber: patient, purpose: 'planned-care' }),
      { [oauth.allowInsecureRequests]: true }
    )
    expect(await decisionBody(res)).toMatchObject({ nhsNumber: patient, purpose: 'planned-care' })
  })
})

describe('a SMART Backend Services client (SMART App Launch 2, written with jose)', () => {
  it('reads the SMART configuration at the FHIR base, gets system/Consent.rs and reads /fhir/Consent', async () => {
    // The client is registered with an ES384 key: the algorithm SMART requires servers to accept.
    const c = await registerClient(t.app, { scopes: ['consent:read'], alg: 'ES384' })
    const patient = nextPatient()
    await recordChoice(t.app, writer, patient, { purpose: 'planning-research', decision: 'deny' })

    const fhirBase = `${base}/fhir`
    const smart = (await (await fetch(`${fhirBase}/.well-known/smart-configuration`)).json()) as Record<string, any>
    expect(smart.capabilities).toContain('client-confidential-asymmetric')
    expect(smart.token_endpoint_auth_methods_supported).toContain('private_key_jwt')
    expect(smart.token_endpoint_auth_signing_alg_values_supported).toContain('ES384')
    expect(smart.scopes_supported).toContain('system/Consent.rs')

    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: c.kid, typ: 'JWT' })
      .setIssuer(c.id)
      .setSubject(c.id)
      .setAudience(smart.token_endpoint as string)
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(c.privateKey)
    const tokenRes = await fetch(smart.token_endpoint as string, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        scope: 'system/Consent.rs',
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion
      })
    })
    const token = (await tokenRes.json()) as Record<string, any>
    expect(tokenRes.status, JSON.stringify(token)).toBe(200)
    expect(token).toMatchObject({ token_type: 'Bearer', scope: 'system/Consent.rs', expires_in: expect.any(Number) })

    const search = new URLSearchParams({ 'patient.identifier': `https://fhir.nhs.uk/Id/nhs-number|${patient}` })
    const res = await fetch(`${fhirBase}/Consent?${search}`, {
      headers: { authorization: `Bearer ${token.access_token as string}`, accept: 'application/fhir+json' }
    })
    const bundle = (await res.json()) as Record<string, any>
    expect(res.status, JSON.stringify(bundle)).toBe(200)
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset' })
    expect(bundle.entry).toHaveLength(1)
    expect(bundle.entry[0].resource).toMatchObject({ resourceType: 'Consent', status: 'active' })
  })

  it('asking system/AuditEvent.rs without audit:read gets invalid_scope', async () => {
    const c = await registerClient(t.app, { scopes: ['consent:read'], alg: 'ES384' })
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES384', kid: c.kid, typ: 'JWT' })
      .setIssuer(c.id)
      .setSubject(c.id)
      .setAudience(`${base}/oauth2/token`)
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(c.privateKey)
    const res = await fetch(`${base}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        scope: 'system/AuditEvent.rs',
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion
      })
    })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ error: 'invalid_scope' })
  })
})
