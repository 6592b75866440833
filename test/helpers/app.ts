// THE shared test helper: the app on a fresh store for one test file, clients and tokens made the
// way a real caller makes them (a key pair, a registered public key, a signed assertion, POST
// /oauth2/token), and the assertions every HTTP test makes (problem+json answers).
// TEST_STORE=postgresql runs the same tests against PostgreSQL, each app in its own schema.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import pg from 'pg'
import { afterAll, beforeAll, expect } from 'vitest'
import { buildApp } from '../../src/app.ts'
import { CLIENT_ASSERTION_TYPE, signClientAssertion } from '../../src/auth/client-assertion-signer.ts'
import { ACCESS_TOKEN_ALG } from '../../src/auth/signing-keys.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { SCOPES } from '../../src/domain/scopes.ts'
import { createClient } from '../../src/store/clients.ts'
import { syntheticNhsNumbers } from '../../src/synthetic-nhs-numbers.ts'
import type { Exemption } from '../../src/domain/exemptions.ts'
import type { ClientRecord } from '../../src/store/rows.ts'

/** A JSON answer or body, read loosely: tests look into it field by field. */
export type Json = Record<string, any>
/** The Authorization header of a request. */
export type Auth = { authorization: string }

export const PUBLIC_URL = 'http://consent.test'
export const TOKEN_URL = `${PUBLIC_URL}/oauth2/token`
export const ASSERTION_TYPE = CLIENT_ASSERTION_TYPE
export const ALL_SCOPES: string[] = [...SCOPES]
export const ALL_PURPOSES = ['planned-care', 'unplanned-care', 'planning-research']

export const testStore = (process.env.TEST_STORE ?? 'sqlite') as 'sqlite' | 'postgresql'
export const testPgUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'

export interface TestStore {
  url: string
  drop: () => Promise<void>
}

/** A fresh, empty store: a temporary SQLite file, or a new PostgreSQL schema. */
export async function freshStore (): Promise<TestStore> {
  if (testStore === 'postgresql') {
    const schema = `t_${randomUUID().replace(/-/g, '').slice(0, 16)}`
    const admin = new pg.Client({ connectionString: testPgUrl })
    await admin.connect()
    await admin.query(`CREATE SCHEMA "${schema}"`)
    await admin.end()
    const url = new URL(testPgUrl)
    url.searchParams.set('schema', schema)
    url.searchParams.set('connection_limit', '4')
    return {
      url: url.toString(),
      drop: async () => {
        const c = new pg.Client({ connectionString: testPgUrl })
        await c.connect()
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        await c.end()
      }
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'consent-test-'))
  return {
    url: `file:${join(dir, 'consent.db')}`,
    drop: async () => {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export interface TestApp {
  app: FastifyInstance
  config: Config
  store: TestStore
  logs: string[]
  close: () => Promise<void>
}

/** The configuration of a test app on this store, its signing key in keyDir; env overrides any of it. */
export function testConfig (store: TestStore, keyDir: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    DATABASE_URL: store.url,
    PUBLIC_URL,
    LOG_LEVEL: 'info',
    SIGNING_KEY_FILE: join(keyDir, 'signing-key.json'),
    CHANGE_POLL_MS: '50',
    // Generous limits by default: the rate-limit tests set their own.
    RATE_LIMIT_PER_MINUTE: '10000000',
    TOKEN_FAILURES_PER_MINUTE: '100000',
    NOT_FOUND_PER_MINUTE: '100000',
    ...env
  })
}

export async function buildTestApp (env: Record<string, string> = {}, store?: TestStore): Promise<TestApp> {
  const s = store ?? (await freshStore())
  const keyDir = mkdtempSync(join(tmpdir(), 'consent-keys-'))
  const logs: string[] = []
  const logStream = new Writable({
    write (chunk, _enc, cb) {
      logs.push(String(chunk))
      cb()
    }
  })
  let config: Config
  let app: FastifyInstance
  try {
    config = testConfig(s, keyDir, env)
    app = await buildApp({ config, logStream })
  } catch (err) {
    if (store === undefined) await s.drop()
    rmSync(keyDir, { recursive: true, force: true })
    throw err
  }
  return {
    app,
    config,
    store: s,
    logs,
    close: async () => {
      await app.close()
      if (store === undefined) await s.drop()
      rmSync(keyDir, { recursive: true, force: true })
    }
  }
}

/**
 * The app on a fresh store for the tests of this file (or describe block): built in beforeAll,
 * closed in afterAll. The handle reads through to the built app, so `t.app` works in every test and
 * in hooks registered after this call.
 */
export function useTestApp (env: Record<string, string> = {}): TestApp {
  let built: TestApp | undefined
  beforeAll(async () => {
    built = await buildTestApp(env)
  })
  afterAll(async () => {
    await built?.close()
    built = undefined
  })
  const current = (): TestApp => {
    if (built === undefined) throw new Error('the test app exists only between beforeAll and afterAll')
    return built
  }
  return {
    get app () {
      return current().app
    },
    get config () {
      return current().config
    },
    get store () {
      return current().store
    },
    get logs () {
      return current().logs
    },
    close: async () => {
      await built?.close()
      built = undefined
    }
  }
}

export interface TestClient {
  record: ClientRecord
  id: string
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
  alg: string
}

export async function newKeyPair (alg = 'ES256'): Promise<{ privateKey: CryptoKey; publicJwk: JWK; kid: string }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const kid = `kid-${randomUUID().slice(0, 8)}`
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg }, kid }
}

/** Registers a client directly in the store (as the CLI does), with a fresh key pair. */
export async function registerClient (
  app: FastifyInstance,
  opts: {
    scopes?: string[]
    purposes?: string[]
    exemptions?: Exemption[]
    name?: string
    odsCode?: string
    alg?: string
  } = {}
): Promise<TestClient> {
  const alg = opts.alg ?? 'ES256'
  const { privateKey, publicJwk, kid } = await newKeyPair(alg)
  const { db, audit, registry } = app.runtime
  const record = await createClient(
    db,
    audit,
    {
      name: opts.name ?? 'Test client',
      odsCode: opts.odsCode ?? null,
      scopes: opts.scopes ?? ALL_SCOPES,
      purposes: opts.purposes ?? ALL_PURPOSES,
      exemptions: opts.exemptions ?? [],
      jwks: { keys: [publicJwk as Record<string, unknown>] },
      jwksUrl: null
    },
    { clientId: null, requestId: null }
  )
  registry.putClient(record)
  return { record, id: record.id, kid, privateKey, publicJwk, alg }
}

/** Claims and header parameters to change in a signed assertion (`omit` removes claims). */
export interface AssertionOptions {
  iss?: string
  sub?: string
  aud?: string | string[]
  exp?: number
  jti?: string
  kid?: string
  alg?: string
  typ?: string
  key?: CryptoKey
  omit?: Array<'exp' | 'jti' | 'iss' | 'sub' | 'aud' | 'iat'>
  /** Header parameters to set, or (undefined) to leave out, e.g. { kid: undefined }. */
  header?: Record<string, unknown>
}

/** A client assertion for a test client, signed by the same code as the CLI's (src/auth/client-assertion-signer.ts). */
export async function signAssertion (client: TestClient, o: AssertionOptions = {}): Promise<string> {
  const extraClaims: Record<string, unknown> = {
    ...(o.iss !== undefined ? { iss: o.iss } : {}),
    ...(o.sub !== undefined ? { sub: o.sub } : {})
  }
  for (const claim of o.omit ?? []) extraClaims[claim] = undefined
  return await signClientAssertion({
    clientId: client.id,
    key: o.key ?? client.privateKey,
    kid: o.kid ?? client.kid,
    alg: o.alg ?? client.alg,
    audience: o.aud ?? TOKEN_URL,
    jti: o.jti,
    exp: o.exp,
    extraClaims,
    header: { ...(o.typ !== undefined ? { typ: o.typ } : {}), ...o.header }
  })
}

export async function requestToken (
  app: FastifyInstance,
  form: Record<string, string>
): Promise<LightMyRequestResponse> {
  return await app.inject({
    method: 'POST',
    url: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(form).toString()
  })
}

/** A client registered through the API (as `admin`) whose keys are published at `jwksUrl`; its id. */
export async function registerJwksUrlClient (
  app: FastifyInstance,
  admin: Auth,
  jwksUrl: string,
  name = 'JWKS URL client'
): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/clients',
    headers: admin,
    payload: { name, scopes: ['consent:check'], purposes: ['planned-care'], jwksUrl }
  })
  expect(res.statusCode, res.body).toBe(201)
  return res.json().clientId as string
}

/** A token request for `clientId` with an ES256 assertion signed by `key` (registered or not). */
export async function requestTokenSignedBy (
  app: FastifyInstance,
  clientId: string,
  key: { privateKey: CryptoKey; kid: string }
): Promise<LightMyRequestResponse> {
  const assertion = await signClientAssertion({
    clientId,
    key: key.privateKey,
    kid: key.kid,
    alg: 'ES256',
    audience: TOKEN_URL
  })
  return await requestToken(app, tokenForm(assertion))
}

/** The token request a client sends: client credentials with a signed assertion. */
export function tokenForm (assertion: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    grant_type: 'client_credentials',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: assertion,
    ...extra
  }
}

export async function tokenFor (app: FastifyInstance, client: TestClient, scope?: string): Promise<string> {
  const res = await requestToken(app, tokenForm(await signAssertion(client), scope !== undefined ? { scope } : {}))
  if (res.statusCode !== 200) throw new Error(`token request failed: ${res.statusCode} ${res.body}`)
  return (res.json() as { access_token: string }).access_token
}

/** The claims and header of a forged access token that differ from what the token endpoint would issue. */
export interface ForgedToken {
  /** sub and client_id. */
  clientId: string
  scopes?: string[]
  iat?: number
  exp?: number
  typ?: string
  iss?: string
  aud?: string
}

/**
 * An access token signed with the service's own key, with the claims AccessTokens.mint writes
 * (src/auth/access-tokens.ts) unless changed: for the tokens no token request can produce (expired,
 * for an unknown client, of the wrong type, audience or issuer).
 */
export async function forgeAccessToken (app: FastifyInstance, o: ForgedToken): Promise<string> {
  const { keys, config, tokens } = app.runtime
  const now = Math.floor(Date.now() / 1000)
  const iat = o.iat ?? now
  return await new SignJWT({ scope: (o.scopes ?? ALL_SCOPES).join(' '), client_id: o.clientId })
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, kid: keys.kid, typ: o.typ ?? 'at+jwt' })
    .setIssuer(o.iss ?? config.publicUrl)
    .setSubject(o.clientId)
    .setAudience(o.aud ?? config.publicUrl)
    .setIssuedAt(iat)
    .setExpirationTime(o.exp ?? iat + tokens.ttl)
    .setJti(randomUUID())
    .sign(keys.privateKey)
}

export function bearer (token: string): Auth {
  return { authorization: `Bearer ${token}` }
}

/** A registered client holding a token with all its scopes. */
export type TestCaller = TestClient & { token: string; auth: Auth }

/** A registered client and a token with all its scopes: the common start of a test. */
export async function clientWithToken (
  app: FastifyInstance,
  opts: Parameters<typeof registerClient>[1] = {}
): Promise<TestCaller> {
  const client = await registerClient(app, opts)
  const token = await tokenFor(app, client)
  return { ...client, token, auth: bearer(token) }
}

/** An RFC 9457 answer as this service writes it. */
export interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  requestId: string
  /** Present when the problem names fields (typed as present: a test reads it only then, and fails if not). */
  errors: Array<{ path: string; message: string }>
  [member: string]: any
}

/** An inject() answer, or one read off a raw socket. */
type AnyResponse = LightMyRequestResponse | { status: number; headers: Record<string, unknown>; body: string }

/**
 * Expects a problem+json answer with this status: the RFC 9457 members, the request id of the
 * answer, no stack trace; with `path`, an entry in errors[] for that field; with `detail`, a detail
 * matching it. Returns the body.
 */
export function expectProblem (
  res: AnyResponse,
  status: number,
  expected: { path?: string; detail?: RegExp | string } = {}
): ProblemBody {
  expect('statusCode' in res ? res.statusCode : res.status, res.body).toBe(status)
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/)
  const body = JSON.parse(res.body) as ProblemBody
  expect(body).toMatchObject({
    // The service's problems are all untyped (RFC 9457 §4.2.1): the title and detail say what happened.
    type: 'about:blank',
    title: expect.any(String),
    status,
    detail: expect.stringMatching(/\S/),
    requestId: expect.any(String)
  })
  const requestId = res.headers['x-request-id']
  if (requestId !== undefined) expect(body.requestId).toBe(requestId)
  expect(res.body, 'a problem never shows a stack trace or a source location').not.toMatch(/\n\s+at |\.ts:\d+/)
  if (expected.detail !== undefined) expect(body.detail).toMatch(expected.detail)
  if (expected.path !== undefined) {
    expect(
      (body.errors ?? []).map(e => e.path),
      res.body
    ).toContain(expected.path)
  }
  return body
}

/** Records a choice for a patient (201 expected) and returns it. */
export async function recordChoice (app: FastifyInstance, auth: Auth, nhsNumber: string, body: Json): Promise<Json> {
  const res = await app.inject({
    method: 'POST',
    url: `/v1/patients/${nhsNumber}/preferences`,
    headers: auth,
    payload: { source: 'gp-practice', ...body }
  })
  expect(res.statusCode, res.body).toBe(201)
  return res.json()
}

/** Valid NHS numbers for tests: 9 pseudo-random digits and the computed check digit. */
export const nhsNumbers = syntheticNhsNumbers

/** Patients no other test in the file touches: each call hands out the next of `count` numbers. */
export function patientSupply (count: number, seed: number): () => string {
  const numbers = nhsNumbers(count, seed)
  let next = 0
  return () => {
    if (next >= numbers.length) throw new Error(`only ${count} patients were made for this file`)
    return numbers[next++]
  }
}
