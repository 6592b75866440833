#!/usr/bin/env node
// The administrator's command line (SPEC §8). Administrative commands work directly on the store
// that DATABASE_URL names, with or without a running service; a running service sees their writes
// within one change-feed poll (and at once for token requests, which read the client afresh).
import {
  chmodSync,
  createReadStream,
  createWriteStream,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { join, resolve } from 'node:path'
import { Command, Option } from 'commander'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
import { ASSERTION_ALGORITHMS, loadConfig, type Config } from './config.ts'
import { CLIENT_ASSERTION_TYPE, signClientAssertion } from './auth/client-assertion-signer.ts'
import { readPublicKeys } from './auth/client-keys.ts'
import { rotateSigningKey } from './auth/signing-keys.ts'
import type { ExemptionInput } from './auth/client-registration.ts'
import { parseInstant } from './domain/instant.ts'
import { Problem } from './domain/problems.ts'
import { ClientService, type Jwks } from './services/clients.ts'
import { AuditWriter } from './store/audit-writer.ts'
import { openDriverWriter } from './store/driver-writer.ts'
import { chainHeads, verifyAuditLog, type ChainHead } from './store/audit-log.ts'
import { openDatabase, type Database } from './store/database.ts'
import { migrate } from './store/migrator.ts'
import { Registry, seedPurposes } from './store/registry.ts'

const CLI_ACTOR = { clientId: null, requestId: null }

function config (): Config {
  try {
    return loadConfig()
  } catch (err) {
    fail(`configuration error: ${(err as Error).message}`)
  }
}

function fail (message: string): never {
  process.stderr.write(`error: ${message}\n`)
  process.exit(1)
}

/** A refusal as the service would give it: one line per bad field, or its detail. */
function problemText (p: Problem): string {
  return p.errors !== undefined && p.errors.length > 0
    ? p.errors.map(e => `${e.path}: ${e.message}`).join('\n')
    : p.detail
}

function print (value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

/** Opens and migrates the store (seeding purposes on first use), runs fn, closes. */
async function withStore<T> (fn: (db: Database, audit: AuditWriter) => Promise<T>): Promise<T> {
  const db = await openDatabase(config().databaseUrl)
  try {
    await migrate(db)
    await seedPurposes(db)
    const writer = openDriverWriter(db)
    const audit = new AuditWriter(db, writer)
    try {
      return await fn(db, audit)
    } finally {
      await audit.close()
      await writer.close()
    }
  } finally {
    await db.close()
  }
}

/** The client registry's use case on this store, as the admin API runs it (the same checks). */
async function withClients<T> (fn: (clients: ClientService) => Promise<T>): Promise<T> {
  return await withStore(async (db, audit) => {
    const registry = new Registry(db)
    await registry.reloadPurposes()
    return await fn(new ClientService({ db, audit, registry, config: config() }))
  })
}

/** A time given on the command line, read as every surface reads one (parseInstant). */
function instantOption (name: string): (value: string) => string {
  return value => {
    const parsed = parseInstant(value)
    if (!parsed.ok) fail(`${name} ${parsed.error}`)
    return value
  }
}

const list = (v: string): string[] =>
  v
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)

function parseExemption (value: string, previous: ExemptionInput[] = []): ExemptionInput[] {
  const [purpose, basis, ...rest] = value.split(':')
  if (purpose === undefined || basis === undefined || rest.length === 0) {
    fail(`--exemption must be purpose:basis:reference, got '${value}'`)
  }
  return [...previous, { purpose, basis, reference: rest.join(':') }]
}

const program = new Command()
program.name('consent-cli').description('Consent Check Service administration').showHelpAfterError()

program
  .command('migrate')
  .description('apply pending SQL migrations to DATABASE_URL')
  .action(async () => {
    const db = await openDatabase(config().databaseUrl)
    try {
      const applied = await migrate(db)
      print({ store: db.kind, applied })
    } finally {
      await db.close()
    }
  })

program
  .command('keygen')
  .description('generate a client key pair: a private JWK (mode 0600) to keep, and a public JWKS to register')
  .addOption(new Option('--alg <alg>', 'signing algorithm').choices(ASSERTION_ALGORITHMS).default('ES384'))
  .option('--out <dir>', 'directory to write the keys to', '.')
  .option('--name <name>', 'file name prefix', 'client')
  .action(async (o: { alg: string; out: string; name: string }) => {
    const { privateKey, publicKey } = await generateKeyPair(o.alg, {
      extractable: true,
      ...(o.alg.startsWith('RS') || o.alg.startsWith('PS') ? { modulusLength: 4096 } : {})
    })
    const pub = await exportJWK(publicKey)
    const kid = await calculateJwkThumbprint(pub)
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: o.alg, use: 'sig' }
    const publicJwks = { keys: [{ ...pub, kid, alg: o.alg, use: 'sig' }] }
    mkdirSync(o.out, { recursive: true })
    const privatePath = resolve(join(o.out, `${o.name}.private.jwk.json`))
    const publicPath = resolve(join(o.out, `${o.name}.public.jwks.json`))
    writeFileSync(privatePath, JSON.stringify(privateJwk, null, 2), { mode: 0o600 })
    chmodSync(privatePath, 0o600)
    writeFileSync(publicPath, JSON.stringify(publicJwks, null, 2))
    print({ kid, alg: o.alg, privateKey: privatePath, publicKey: publicPath })
  })

const client = program.command('client').description('the client registry')

/** The key source named on the command line: exactly one of --public-key FILE and --jwks-url URL. */
async function keySource (o: { publicKey?: string; jwksUrl?: string }): Promise<{ jwks?: Jwks; jwksUrl?: string }> {
  if (o.publicKey === undefined && o.jwksUrl !== undefined) return { jwksUrl: o.jwksUrl }
  if (o.publicKey === undefined || o.jwksUrl !== undefined) {
    fail('give either --public-key FILE or --jwks-url URL: a client has exactly one key source')
  }
  try {
    return { jwks: (await readPublicKeys(readFileSync(o.publicKey, 'utf8'))) as Jwks }
  } catch (err) {
    fail(`cannot read a public key from ${o.publicKey}: ${(err as Error).message}`)
  }
}

const keySourceOptions = (c: Command): Command =>
  c
    .option('--public-key <file>', 'a JWK, a JWKS or a PEM public key')
    .option('--jwks-url <url>', 'or: where the client publishes its JWKS (https; http only for localhost)')

keySourceOptions(
  client
    .command('create')
    .description('register a client system (the first administrator is created this way)')
    .requiredOption('--name <name>', 'client name')
    .requiredOption('--scopes <list>', 'comma-separated scopes, e.g. admin,consent:check', list)
    .requiredOption('--purposes <list>', 'comma-separated purpose codes', list)
)
  .option('--ods <code>', 'ODS code of the organisation')
  .option('--exemption <purpose:basis:reference>', 'an exemption (repeatable)', parseExemption, [])
  .option('--require-end-user', 'every decision must name its end user (the person at the keyboard)', false)
  .action(
    async (o: {
      name: string
      scopes: string[]
      purposes: string[]
      publicKey?: string
      jwksUrl?: string
      ods?: string
      exemption: ExemptionInput[]
      requireEndUser: boolean
    }) => {
      const keys = await keySource(o)
      await withClients(async clients => {
        const created = await clients.register(
          {
            name: o.name,
            odsCode: o.ods ?? null,
            scopes: o.scopes,
            purposes: o.purposes,
            exemptions: o.exemption,
            ...keys,
            requireEndUser: o.requireEndUser
          },
          CLI_ACTOR
        )
        print({
          clientId: created.id,
          name: created.name,
          scopes: created.scopes,
          purposes: created.purposes,
          requireEndUser: created.requireEndUser,
          kids: (created.jwks?.keys ?? []).map(k => k.kid),
          jwksUrl: created.jwksUrl
        })
      })
    }
  )

keySourceOptions(
  client
    .command('keys <clientId>')
    .description(
      "replace a client's keys, or switch its key source: --public-key clears its JWKS URL, --jwks-url clears " +
        'its registered keys (the old ones stop working at once)'
    )
).action(async (id: string, o: { publicKey?: string; jwksUrl?: string }) => {
  const keys = await keySource(o)
  await withClients(async clients => {
    const updated = await clients.update(id, keys, CLI_ACTOR).catch((err: unknown) => {
      if (err instanceof Problem && err.kind === 'not-found') fail(`no client ${id}`)
      throw err
    })
    print({ clientId: updated.id, kids: (updated.jwks?.keys ?? []).map(k => k.kid), jwksUrl: updated.jwksUrl })
  })
})

client
  .command('list')
  .description('list registered clients')
  .action(async () => {
    await withClients(async clients => {
      print(
        (await clients.all()).map(c => ({
          clientId: c.id,
          name: c.name,
          status: c.status,
          scopes: c.scopes,
          purposes: c.purposes,
          requireEndUser: c.requireEndUser,
          kids: (c.jwks?.keys ?? []).map(k => k.kid)
        }))
      )
    })
  })

for (const [name, status] of [
  ['suspend', 'suspended'],
  ['activate', 'active']
] as const) {
  client
    .command(`${name} <clientId>`)
    .description(`${name} a client (its tokens stop or start working at once)`)
    .action(async (id: string) => {
      await withClients(async clients => {
        const updated = await clients.setStatus(id, status, CLI_ACTOR).catch((err: unknown) => {
          if (err instanceof Problem && err.kind === 'not-found') fail(`no client ${id}`)
          throw err
        })
        print({ clientId: updated.id, status: updated.status })
      })
    })
}

/** Signs a client assertion with the private JWK and exchanges it for an access token. */
async function obtainToken (base: string, clientId: string, keyFile: string, scope?: string): Promise<string> {
  const jwk = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK
  if (jwk.d === undefined) fail(`${keyFile} is not a private key`)
  const assertion = await signClientAssertion({ clientId, key: jwk, audience: `${base}/oauth2/token` })
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: assertion,
    ...(scope !== undefined ? { scope } : {})
  })
  let res: Response
  try {
    res = await fetch(`${base}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form
    })
  } catch (err) {
    fail(`cannot reach ${base}: ${(err as Error).message} (is the service running? npm start)`)
  }
  const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string }
  if (!res.ok || body.access_token === undefined) fail(`${body.error ?? res.status}: ${body.error_description ?? ''}`)
  return body.access_token
}

const baseUrl = (url?: string): string => (url ?? config().publicUrl).replace(/\/$/, '')

const withClient = (c: Command): Command =>
  c
    .requiredOption('--client-id <id>', 'the client id')
    .requiredOption('--key <file>', "the client's private JWK (from keygen)")
    .option('--url <publicUrl>', "the service's public URL (default PUBLIC_URL)")

withClient(program.command('token'))
  .description("get an access token from a running service (paste it into Swagger UI's Authorize)")
  .option('--scope <scopes>', "space-separated subset of the client's scopes")
  .action(async (o: { clientId: string; key: string; scope?: string; url?: string }) => {
    process.stdout.write((await obtainToken(baseUrl(o.url), o.clientId, o.key, o.scope)) + '\n')
  })

/** Streams a file to a running service, showing progress on stderr, and returns the response. */
async function upload (
  url: string,
  token: string,
  file: string,
  contentType: string,
  accept: string
): Promise<Response> {
  const total = statSync(file).size
  let sent = 0
  let lastShown = 0
  const show = (): void => {
    if (!process.stderr.isTTY && sent < total) return
    const percent = total === 0 ? 100 : Math.floor((sent * 100) / total)
    process.stderr.write(`\r${(sent / 1048576).toFixed(1)} / ${(total / 1048576).toFixed(1)} MiB sent (${percent}%)`)
  }
  const counted = createReadStream(file).on('data', chunk => {
    sent += chunk.length
    if (Date.now() - lastShown > 500) {
      lastShown = Date.now()
      show()
    }
  })
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType, accept },
    body: Readable.toWeb(counted) as ReadableStream,
    duplex: 'half'
  } as RequestInit)
  return res
}

async function failFromProblem (res: Response): Promise<never> {
  const text = await res.text()
  try {
    const p = JSON.parse(text) as { detail?: string; error_description?: string }
    fail(`${res.status}: ${p.detail ?? p.error_description ?? text}`)
  } catch {
    fail(`${res.status}: ${text.slice(0, 500)}`)
  }
}

withClient(program.command('filter'))
  .description(
    'filter a cohort file through a running service: keeps the NHS numbers that may be shared for the purpose'
  )
  .requiredOption('--purpose <code>', 'the purpose, e.g. planning-research')
  .requiredOption('--in <file>', 'one NHS number per line (text or CSV)')
  .requiredOption('--out <file>', 'where to write the permitted numbers (or the ndjson results)')
  .option('--ndjson', 'write one JSON result per input line instead of the permitted numbers')
  .option(
    '--as-of <dateTime>',
    'decide as at this time: a date (midnight UTC) or a date-time with its zone',
    instantOption('--as-of')
  )
  .action(
    async (o: {
      clientId: string
      key: string
      url?: string
      purpose: string
      in: string
      out: string
      ndjson?: boolean
      asOf?: string
    }) => {
      const base = baseUrl(o.url)
      const token = await obtainToken(base, o.clientId, o.key, 'consent:filter')
      const query = new URLSearchParams({ purpose: o.purpose, ...(o.asOf !== undefined ? { asOf: o.asOf } : {}) })
      const res = await upload(
        `${base}/v1/filter?${query.toString()}`,
        token,
        o.in,
        o.in.endsWith('.csv') ? 'text/csv' : 'text/plain',
        o.ndjson === true ? 'application/x-ndjson' : 'text/plain'
      )
      if (!res.ok || res.body === null) await failFromProblem(res)
      await pipeline(Readable.fromWeb(res.body as Parameters<typeof Readable.fromWeb>[0]), createWriteStream(o.out))
      process.stderr.write('\n')
      print({ out: resolve(o.out), auditId: res.headers.get('x-audit-id') })
    }
  )

withClient(program.command('import'))
  .description('load existing choices (NDJSON, one a line) into a running service; safe to re-run')
  .argument(
    '<file>',
    'NDJSON file: { externalId, nhsNumber, purpose, decision | code, effectiveFrom?, source?, recordedBy? } per line'
  )
  .action(async (file: string, o: { clientId: string; key: string; url?: string }) => {
    const base = baseUrl(o.url)
    const token = await obtainToken(base, o.clientId, o.key, 'admin')
    const res = await upload(`${base}/v1/preferences/import`, token, file, 'application/x-ndjson', 'application/json')
    if (!res.ok) await failFromProblem(res)
    process.stderr.write('\n')
    const summary = (await res.json()) as { rejectedCount: number }
    print(summary)
    if (summary.rejectedCount > 0) process.exitCode = 2
  })

const audit = program.command('audit').description('the audit trail')
audit
  .command('verify')
  .description('verify every hash chain; exit 1 and name the first broken link if any')
  .option('--anchors <file>', 'chain heads recorded earlier with `audit heads`: also detects truncation')
  .action(async (o: { anchors?: string }) => {
    const anchors = o.anchors === undefined ? [] : (JSON.parse(readFileSync(o.anchors, 'utf8')) as ChainHead[])
    const db = await openDatabase(config().databaseUrl)
    try {
      const report = await verifyAuditLog(db, anchors)
      print(report)
      if (!report.valid) process.exitCode = 1
    } finally {
      await db.close()
    }
  })

audit
  .command('heads')
  .description('print the head of every chain, to keep outside the database (see README "Audit anchoring")')
  .action(async () => {
    const db = await openDatabase(config().databaseUrl)
    try {
      print(await chainHeads(db))
    } finally {
      await db.close()
    }
  })

const signingKey = program.command('signing-key').description("the service's own token-signing key")
signingKey
  .command('rotate')
  .description(
    'add a new current signing key; tokens signed by the previous key stay valid until they expire ' +
      '(restart the service to use it)'
  )
  .action(async () => {
    const kid = await rotateSigningKey(config().signingKeyFile)
    print({ kid, file: resolve(config().signingKeyFile) })
  })

program.parseAsync().catch(err => fail(err instanceof Problem ? problemText(err) : (err as Error).message))
