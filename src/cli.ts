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
  renameSync,
  statSync,
  writeFileSync
} from 'node:fs'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
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

/**
 * The service's address for the commands that call it over HTTP, and where it came from, so that a
 * failure to reach it can say which address was tried and how to change it: --url, else PUBLIC_URL,
 * else http://localhost:$PORT (the service's own default).
 */
interface ServiceUrl {
  base: string
  from: string
}

function serviceUrl (option?: string): ServiceUrl {
  if (option !== undefined) return { base: option.replace(/\/$/, ''), from: '--url' }
  const c = config()
  const base = c.publicUrl.replace(/\/$/, '')
  if (process.env.PUBLIC_URL !== undefined) return { base, from: 'PUBLIC_URL' }
  return {
    base,
    from:
      process.env.PORT !== undefined ? `PORT=${c.port} (PUBLIC_URL unset)` : 'the default (PUBLIC_URL and PORT unset)'
  }
}

function unreachable (service: ServiceUrl, err: unknown): never {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  fail(
    `cannot reach the service at ${service.base} (from ${service.from}): ` +
      `${cause?.code ?? cause?.message ?? (err as Error).message}. ` +
      'Is it running (npm start)? If it answers at another address, give --url <its public URL> or set PUBLIC_URL.'
  )
}

/** fetch, with a failure to connect reported as unreachable(): the URL tried, where it came from, how to change it. */
async function call (service: ServiceUrl, path: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(`${service.base}${path}`, init)
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    unreachable(service, err)
  }
}

interface TokenAnswer {
  access_token?: string
  expires_in?: number
  error?: string
  error_description?: string
}

/** Signs a client assertion with the private JWK and exchanges it for an access token (the answer as sent). */
async function requestAccessToken (
  service: ServiceUrl,
  clientId: string,
  keyFile: string,
  scope?: string
): Promise<{ ok: boolean; body: TokenAnswer; status: number }> {
  const jwk = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK
  if (jwk.d === undefined) fail(`${keyFile} is not a private key`)
  const assertion = await signClientAssertion({ clientId, key: jwk, audience: `${service.base}/oauth2/token` })
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: assertion,
    ...(scope !== undefined ? { scope } : {})
  })
  const res = await call(service, '/oauth2/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form
  })
  const body = (await res.json().catch(() => ({}))) as TokenAnswer
  return { ok: res.ok && body.access_token !== undefined, body, status: res.status }
}

async function obtainToken (service: ServiceUrl, clientId: string, keyFile: string, scope?: string): Promise<string> {
  const { ok, body, status } = await requestAccessToken(service, clientId, keyFile, scope)
  if (!ok || body.access_token === undefined) fail(`${body.error ?? status}: ${body.error_description ?? ''}`)
  return body.access_token
}

const withClient = (c: Command): Command =>
  c
    .requiredOption('--client-id <id>', 'the client id')
    .requiredOption('--key <file>', "the client's private JWK (from keygen)")
    .option('--url <publicUrl>', "the service's public URL (default PUBLIC_URL, else http://localhost:$PORT)")

withClient(program.command('token'))
  .description("get an access token from a running service (paste it into Swagger UI's Authorize)")
  .option('--scope <scopes>', "space-separated subset of the client's scopes")
  .action(async (o: { clientId: string; key: string; scope?: string; url?: string }) => {
    process.stdout.write((await obtainToken(serviceUrl(o.url), o.clientId, o.key, o.scope)) + '\n')
  })

/** Streams a file to a running service, showing progress on stderr, and returns the response. */
async function upload (
  service: ServiceUrl,
  path: string,
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
  const res = await call(service, path, {
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
      const service = serviceUrl(o.url)
      const token = await obtainToken(service, o.clientId, o.key, 'consent:filter')
      const query = new URLSearchParams({ purpose: o.purpose, ...(o.asOf !== undefined ? { asOf: o.asOf } : {}) })
      const res = await upload(
        service,
        `/v1/filter?${query.toString()}`,
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
    const service = serviceUrl(o.url)
    const token = await obtainToken(service, o.clientId, o.key, 'admin')
    const res = await upload(service, '/v1/preferences/import', token, file, 'application/x-ndjson', 'application/json')
    if (!res.ok) await failFromProblem(res)
    process.stderr.write('\n')
    const summary = (await res.json()) as { rejectedCount: number }
    print(summary)
    if (summary.rejectedCount > 0) process.exitCode = 2
  })

/**
 * A token for reading the change feed: consent:read, else consent:filter (either scope reads it),
 * renewed before it expires, so that --follow keeps going for as long as it runs.
 */
class FeedToken {
  private token: string | null = null
  private expiresAt = 0

  constructor (
    private readonly service: ServiceUrl,
    private readonly clientId: string,
    private readonly keyFile: string
  ) {}

  async header (): Promise<string> {
    if (this.token === null || Date.now() > this.expiresAt - 30_000) await this.renew()
    return `Bearer ${this.token as string}`
  }

  /** After a 401 (the token was refused, e.g. the service's key rotated): the next request gets a new one. */
  forget (): void {
    this.token = null
  }

  private async renew (): Promise<void> {
    let answer = await requestAccessToken(this.service, this.clientId, this.keyFile, 'consent:read')
    if (answer.body.error === 'invalid_scope') {
      answer = await requestAccessToken(this.service, this.clientId, this.keyFile, 'consent:filter')
      if (answer.body.error === 'invalid_scope') {
        fail('the change feed needs the consent:read or consent:filter scope, and this client has neither')
      }
    }
    if (!answer.ok || answer.body.access_token === undefined) {
      fail(`${answer.body.error ?? answer.status}: ${answer.body.error_description ?? ''}`)
    }
    this.token = answer.body.access_token
    this.expiresAt = Date.now() + (answer.body.expires_in ?? 300) * 1000
  }
}

function intOption (name: string, min: number, max: number): (value: string) => number {
  return value => {
    if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
      fail(`${name} must be a whole number from ${min} to ${max}, got '${value}'`)
    }
    return Number(value)
  }
}

/** The cursor kept in --cursor-file, or null when the file does not exist yet (or is empty). */
function readCursorFile (file: string): string | null {
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    fail(`cannot read --cursor-file ${file}: ${(err as Error).message}`)
  }
  return text === '' ? null : text
}

/** Replaced whole (written beside it, then renamed), so that a crash never leaves half a cursor. */
function saveCursorFile (file: string, cursor: string): void {
  const temporary = `${file}.${process.pid}.tmp`
  writeFileSync(temporary, cursor + '\n')
  renameSync(temporary, file)
}

async function writeOut (text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain')
}

withClient(program.command('changes'))
  .description(
    "the change feed: the changes to patients' effective choices, one JSON object a line on stdout " +
      '({ nhsNumber, purpose, decision, effectiveFrom, changedAt }); the cursor to resume from goes to stderr at ' +
      'the end (and to --cursor-file after every page). Without --follow, reads to the end and stops.'
  )
  .option('--since <cursor>', 'start after this cursor (default: the --cursor-file, else the first change)')
  .option('--cursor-file <file>', 'read the cursor from this file at start; write it after every page written out')
  .option('--purpose <code>', 'only this purpose and those below it')
  .option('--follow', 'keep going: hold each request open for new changes (long poll) until interrupted (Ctrl-C)')
  .option(
    '--wait <seconds>',
    'with --follow, how long each request is held open (at most 30)',
    intOption('--wait', 1, 30),
    30
  )
  .option('--limit <n>', 'items per page at most', intOption('--limit', 1, 10_000), 1000)
  .action(
    async (o: {
      clientId: string
      key: string
      url?: string
      since?: string
      cursorFile?: string
      purpose?: string
      follow?: boolean
      wait: number
      limit: number
    }) => {
      const service = serviceUrl(o.url)
      const token = new FeedToken(service, o.clientId, o.key)
      let cursor = o.since ?? (o.cursorFile === undefined ? null : readCursorFile(o.cursorFile))
      const follow = o.follow === true
      // Ctrl-C (or SIGTERM) ends the request held open and stops after the last whole page.
      const stop = new AbortController()
      const onSignal = (): void => stop.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      // A reader that went away (| head) is the end, not an error.
      process.stdout.on('error', () => stop.abort())
      let reached = false
      let renewed = false
      let retryMs = 1000
      const pause = async (why: string): Promise<void> => {
        process.stderr.write(`${why}; trying again in ${retryMs / 1000} s\n`)
        await sleep(retryMs, undefined, { signal: stop.signal }).catch(() => {})
        retryMs = Math.min(retryMs * 2, 30_000)
      }
      while (!stop.signal.aborted) {
        const query = new URLSearchParams({ limit: String(o.limit) })
        if (cursor !== null) query.set('since', cursor)
        if (o.purpose !== undefined) query.set('purpose', o.purpose)
        if (follow) query.set('wait', String(o.wait))
        let page: { items: unknown[]; nextCursor: string }
        try {
          const res = await fetch(`${service.base}/v1/changes?${query.toString()}`, {
            headers: { authorization: await token.header(), accept: 'application/json' },
            signal: stop.signal
          })
          if (res.status === 401 && !renewed) {
            renewed = true
            token.forget()
            await res.body?.cancel()
            continue
          }
          if (follow && reached && (res.status === 503 || res.status === 429)) {
            await res.body?.cancel()
            await pause(`the service answered ${res.status}`)
            continue
          }
          if (!res.ok) {
            if (cursor !== null) process.stderr.write(`cursor ${cursor}\n`)
            await failFromProblem(res)
          }
          page = (await res.json()) as typeof page
        } catch (err) {
          if (stop.signal.aborted) break
          // Once it has answered, a follower outlives a restart of the service; the first failure names the URL.
          if (!follow || !reached) unreachable(service, err)
          await pause(`cannot reach ${service.base}: ${(err as Error).message}`)
          continue
        }
        reached = true
        renewed = false
        retryMs = 1000
        for (const item of page.items) await writeOut(JSON.stringify(item) + '\n')
        const moved = page.nextCursor !== cursor
        cursor = page.nextCursor
        if (o.cursorFile !== undefined && moved) saveCursorFile(o.cursorFile, cursor)
        if (!follow && !moved) break
      }
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      if (cursor !== null) process.stderr.write(`cursor ${cursor}\n`)
    }
  )

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
