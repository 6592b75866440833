// Builds the app on a fresh store for one test file, and makes clients and tokens the way a real
// caller does (a key pair, a registered public key, a signed assertion, POST /oauth2/token).
// TEST_STORE=postgresql runs the same tests against PostgreSQL, each app in its own schema.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import pg from 'pg'
import { buildApp } from '../../src/app.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { createClient } from '../../src/store/clients.ts'
import type { Exemption } from '../../src/domain/exemptions.ts'
import type { ClientRecord } from '../../src/store/rows.ts'

export const PUBLIC_URL = 'http://consent.test'
export const TOKEN_URL = `${PUBLIC_URL}/oauth2/token`
export const ALL_SCOPES = [
  'consent:check',
  'consent:filter',
  'consent:read',
  'consent:write',
  'audit:read',
  'audit:review',
  'admin'
]
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

export async function buildTestApp (env: Record<string, string> = {}, store?: TestStore): Promise<TestApp> {
  const s = store ?? (await freshStore())
  const keyDir = mkdtempSync(join(tmpdir(), 'consent-keys-'))
  const config = loadConfig({
    DATABASE_URL: s.url,
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
  const logs: string[] = []
  const logStream = new Writable({
    write (chunk, _enc, cb) {
      logs.push(String(chunk))
      cb()
    }
  })
  const app = await buildApp({ config, logStream })
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
  omit?: Array<'exp' | 'jti' | 'iss' | 'sub' | 'aud'>
}

export async function signAssertion (client: TestClient, o: AssertionOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const claims: Record<string, unknown> = {
    iss: o.iss ?? client.id,
    sub: o.sub ?? client.id,
    aud: o.aud ?? TOKEN_URL,
    exp: o.exp ?? now + 120,
    jti: o.jti ?? randomUUID(),
    iat: now
  }
  for (const k of o.omit ?? []) delete claims[k]
  return await new SignJWT(claims)
    .setProtectedHeader({
      alg: o.alg ?? client.alg,
      kid: o.kid ?? client.kid,
      ...(o.typ !== undefined ? { typ: o.typ } : {})
    })
    .sign(o.key ?? client.privateKey)
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

export async function tokenFor (app: FastifyInstance, client: TestClient, scope?: string): Promise<string> {
  const res = await requestToken(app, {
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await signAssertion(client),
    ...(scope !== undefined ? { scope } : {})
  })
  if (res.statusCode !== 200) throw new Error(`token request failed: ${res.statusCode} ${res.body}`)
  return (res.json() as { access_token: string }).access_token
}

/** A registered client and a token with all its scopes: the common start of a test. */
export async function clientWithToken (
  app: FastifyInstance,
  opts: Parameters<typeof registerClient>[1] = {}
): Promise<TestClient & { token: string; auth: { authorization: string } }> {
  const client = await registerClient(app, opts)
  const token = await tokenFor(app, client)
  return { ...client, token, auth: { authorization: `Bearer ${token}` } }
}

/** Valid NHS numbers for tests: 9 random digits and the computed check digit. */
export function nhsNumbers (count: number, seed = 1): string[] {
  const out: string[] = []
  // A 32-bit xorshift: exact in JavaScript numbers (an LCG with a large multiplier is not, and
  // then repeats after a few thousand values).
  let x = (seed * 2654435761) >>> 0 || 1
  const next = (): number => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
  while (out.length < count) {
    const nine = String(100_000_000 + ((next() * 1024 + (next() & 1023)) % 900_000_000)).slice(0, 9)
    let sum = 0
    for (let i = 0; i < 9; i++) sum += Number(nine[i]) * (10 - i)
    const check = 11 - (sum % 11)
    if (check === 10) continue
    out.push(nine + String(check === 11 ? 0 : check))
  }
  return out
}
