// The CLI works directly on the store, and a running service sees what it writes at once.
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose'
import { signClientAssertion } from '../src/auth/client-assertion-signer.ts'
import { PACKAGE_ROOT } from '../src/paths.ts'
import {
  bearer,
  buildTestApp,
  freshStore,
  recordChoice,
  registerClient,
  requestToken,
  signAssertion,
  tokenFor,
  tokenForm,
  TOKEN_URL,
  type TestApp,
  type TestClient,
  type TestStore
} from './helpers/app.ts'
import { storeOf } from './helpers/store.ts'

const run = promisify(execFile)
const TSX = join(PACKAGE_ROOT, 'node_modules', '.bin', 'tsx')

/** The environment of a CLI run: this process's, with `env` set on it (an undefined value unsets the variable). */
function cliEnv (env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env, ...env }
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete out[name]
  return out
}

async function cli (
  env: Record<string, string | undefined>,
  ...args: string[]
): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(TSX, [join(PACKAGE_ROOT, 'src', 'cli.ts'), ...args], {
      env: cliEnv(env),
      cwd: PACKAGE_ROOT
    })
    return { stdout, stderr, code: 0 }
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number }
    return { stdout: e.stdout, stderr: e.stderr, code: e.code }
  }
}

/** A port nothing listens on (one just freed). */
async function closedPort (): Promise<number> {
  const { createServer: netServer } = await import('node:net')
  return await new Promise<number>(resolve => {
    const s = netServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })
}

/** A private JWK file as keygen writes it, for `key` (default: a new one). */
async function privateKeyFile (
  dir: string,
  name: string,
  key?: { privateKey: CryptoKey; kid: string }
): Promise<string> {
  const made = key ?? { privateKey: (await generateKeyPair('ES256', { extractable: true })).privateKey, kid: name }
  const file = join(dir, `${name}.private.jwk.json`)
  writeFileSync(file, JSON.stringify({ ...(await exportJWK(made.privateKey)), kid: made.kid, alg: 'ES256' }))
  return file
}

async function assertionFrom (privateKeyFile: string, clientId: string): Promise<string> {
  const jwk = JSON.parse(readFileSync(privateKeyFile, 'utf8')) as JWK
  return await signClientAssertion({ clientId, key: jwk, audience: TOKEN_URL })
}

describe('CLI', () => {
  let store: TestStore
  let t: TestApp
  let env: Record<string, string>
  const dir = mkdtempSync(join(tmpdir(), 'consent-cli-'))

  beforeAll(async () => {
    store = await freshStore()
    env = { DATABASE_URL: store.url, LOG_LEVEL: 'silent' }
    t = await buildTestApp({}, store)
  })
  afterAll(async () => {
    await t.close()
    await store.drop()
  })

  it('keygen writes a private key with mode 0600 and a public JWKS', async () => {
    const out = await cli(env, 'keygen', '--out', dir, '--name', 'admin')
    expect(out.code).toBe(0)
    const printed = JSON.parse(out.stdout) as { kid: string; privateKey: string; publicKey: string }
    expect(statSync(printed.privateKey).mode & 0o777).toBe(0o600)
    const jwks = JSON.parse(readFileSync(printed.publicKey, 'utf8')) as { keys: JWK[] }
    expect(jwks.keys[0].kid).toBe(printed.kid)
    expect(jwks.keys[0].d).toBeUndefined()
  })

  it('client create registers the first administrator; the running service issues it a token at once', async () => {
    const out = await cli(
      env,
      'client',
      'create',
      '--name',
      'Admin',
      '--scopes',
      'admin,audit:read',
      '--purposes',
      'planning-research',
      '--public-key',
      join(dir, 'admin.public.jwks.json')
    )
    expect(out.stderr).toBe('')
    const created = JSON.parse(out.stdout) as { clientId: string; kids: string[] }
    expect(created.kids).toHaveLength(1)
    const res = await requestToken(
      t.app,
      tokenForm(await assertionFrom(join(dir, 'admin.private.jwk.json'), created.clientId))
    )
    expect(res.statusCode).toBe(200)
    const token = (res.json() as { access_token: string }).access_token
    const clients = await t.app.inject({
      method: 'GET',
      url: '/v1/clients',
      headers: { authorization: `Bearer ${token}` }
    })
    expect(clients.statusCode).toBe(200)

    const listed = JSON.parse((await cli(env, 'client', 'list')).stdout) as Array<{ clientId: string }>
    expect(listed.map(c => c.clientId)).toContain(created.clientId)

    // Suspension from the CLI reaches the running service through the change sequence.
    expect((await cli(env, 'client', 'suspend', created.clientId)).code).toBe(0)
    await t.app.runtime.feed.poll()
    const after = await t.app.inject({
      method: 'GET',
      url: '/v1/clients',
      headers: { authorization: `Bearer ${token}` }
    })
    expect(after.statusCode).toBe(401)
  })

  it('client create accepts a PEM public key, with its RFC 7638 thumbprint as kid', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pem = join(dir, 'rsa.pem')
    writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }))
    const out = await cli(
      env,
      'client',
      'create',
      '--name',
      'PEM client',
      '--scopes',
      'consent:check',
      '--purposes',
      'unplanned-care',
      '--public-key',
      pem
    )
    expect(out.code).toBe(0)
    expect((JSON.parse(out.stdout) as { kids: string[] }).kids[0]).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('client create refuses a section 251 exemption and an unknown scope, saying why', async () => {
    const out = await cli(
      env,
      'client',
      'create',
      '--name',
      'X',
      '--scopes',
      'consent:check,bogus',
      '--purposes',
      'planning-research',
      '--exemption',
      'planning-research:section-251:CAG 1',
      '--public-key',
      join(dir, 'admin.public.jwks.json')
    )
    expect(out.code).toBe(1)
    expect(out.stderr).toMatch(/section 251/i)
    expect(out.stderr).toMatch(/unknown scope 'bogus'/)
  })

  it('client create --require-end-user registers a client whose decisions must name the end user', async () => {
    const out = await cli(
      env,
      ...['client', 'create', '--name', 'Strict ED', '--scopes', 'consent:check', '--purposes', 'unplanned-care'],
      ...['--public-key', join(dir, 'admin.public.jwks.json'), '--require-end-user']
    )
    expect(out.stderr).toBe('')
    const strict = JSON.parse(out.stdout) as { clientId: string; requireEndUser: boolean }
    expect(strict.requireEndUser).toBe(true)

    const res = await requestToken(
      t.app,
      tokenForm(await assertionFrom(join(dir, 'admin.private.jwk.json'), strict.clientId))
    )
    expect(res.statusCode, res.body).toBe(200)
    const headers = { authorization: `Bearer ${(res.json() as { access_token: string }).access_token}` }
    const decide = async (body: Record<string, unknown>): Promise<{ statusCode: number; body: string }> =>
      await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers,
        payload: { nhsNumber: '9434765919', purpose: 'unplanned-care', ...body }
      })
    const refused = await decide({})
    expect(refused.statusCode).toBe(400)
    expect(JSON.parse(refused.body).errors).toEqual([
      { path: '/endUser', message: expect.stringMatching(/registered/) }
    ])
    expect((await decide({ endUser: { id: '555021935107' } })).statusCode).toBe(200)
  })

  it('audit verify passes on an intact log and names the edited event after tampering', async () => {
    await t.app.runtime.audit.flush()
    const ok = await cli(env, 'audit', 'verify')
    expect(ok.code).toBe(0)
    expect((JSON.parse(ok.stdout) as { valid: boolean }).valid).toBe(true)
    const store = storeOf(t.app)
    const victim = await store.firstAuditRow()
    await store.tamper('UPDATE "audit_events" SET "details" = ? WHERE "id" = ?', '{"edited":true}', victim?.id)
    const bad = await cli(env, 'audit', 'verify')
    expect(bad.code).toBe(1)
    const report = JSON.parse(bad.stdout) as { valid: boolean; firstBrokenLink: { eventId: string } }
    expect(report.valid).toBe(false)
    expect(report.firstBrokenLink.eventId).toBe(victim?.id)
  })

  it('audit heads and audit verify --anchors find a truncated chain', async () => {
    const own = await freshStore()
    const app = await buildTestApp({}, own)
    try {
      const ownEnv = { DATABASE_URL: own.url, LOG_LEVEL: 'silent' }
      const client = await registerClient(app.app)
      await tokenFor(app.app, client)
      await tokenFor(app.app, client)
      await app.app.runtime.audit.flush()
      const heads = await cli(ownEnv, 'audit', 'heads')
      expect(heads.code).toBe(0)
      const file = join(dir, 'heads.json')
      writeFileSync(file, heads.stdout)
      expect((await cli(ownEnv, 'audit', 'verify', '--anchors', file)).code).toBe(0)
      const last = (JSON.parse(heads.stdout) as Array<{ chain: string; chainSeq: number }>).find(
        h => h.chain === app.app.runtime.audit.chainId
      ) as { chain: string; chainSeq: number }
      await storeOf(app.app).tamper(
        'DELETE FROM "audit_events" WHERE "chain" = ? AND "chainSeq" = ?',
        last.chain,
        last.chainSeq
      )
      expect((await cli(ownEnv, 'audit', 'verify')).code).toBe(0)
      const truncated = await cli(ownEnv, 'audit', 'verify', '--anchors', file)
      expect(truncated.code).toBe(1)
      expect(JSON.parse(truncated.stdout)).toMatchObject({
        valid: false,
        firstBrokenLink: { chain: last.chain, reason: expect.stringMatching(/truncated/) }
      })
    } finally {
      await app.close()
      await own.drop()
    }
  })

  it('migrate reports nothing left to apply on a migrated store', async () => {
    const out = await cli(env, 'migrate')
    expect(JSON.parse(out.stdout)).toMatchObject({ applied: [] })
  })

  it(
    'client keys switches a client between a key file and a JWKS URL; the old keys stop working at once',
    { timeout: 120_000 },
    async () => {
      // Key files as keygen writes them, made here to spare two CLI runs.
      for (const name of ['switch-file', 'switch-url']) {
        const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
        const kid = `${name}-${randomUUID().slice(0, 8)}`
        writeFileSync(
          join(dir, `${name}.private.jwk.json`),
          JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'ES256' })
        )
        writeFileSync(
          join(dir, `${name}.public.jwks.json`),
          JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256' }] })
        )
      }
      const published = readFileSync(join(dir, 'switch-url.public.jwks.json'), 'utf8')
      const server = createServer((_req, res) => {
        res.setHeader('content-type', 'application/json')
        res.end(published)
      })
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      try {
        const jwksUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/${randomUUID()}/jwks.json`
        const status = async (name: string, clientId: string): Promise<number> =>
          (await requestToken(t.app, tokenForm(await assertionFrom(join(dir, `${name}.private.jwk.json`), clientId))))
            .statusCode
        const created = await cli(
          env,
          ...['client', 'create', '--name', 'Switcher', '--scopes', 'consent:check', '--purposes', 'planned-care'],
          ...['--public-key', join(dir, 'switch-file.public.jwks.json')]
        )
        const id = (JSON.parse(created.stdout) as { clientId: string }).clientId
        expect(await status('switch-file', id)).toBe(200)

        const toUrl = await cli(env, 'client', 'keys', id, '--jwks-url', jwksUrl)
        expect(toUrl.stderr).toBe('')
        expect(JSON.parse(toUrl.stdout)).toEqual({ clientId: id, kids: [], jwksUrl })
        expect(await status('switch-url', id)).toBe(200)
        expect(await status('switch-file', id)).toBe(401)

        const back = await cli(env, 'client', 'keys', id, '--public-key', join(dir, 'switch-file.public.jwks.json'))
        expect(JSON.parse(back.stdout)).toMatchObject({ clientId: id, jwksUrl: null })
        expect(await status('switch-file', id)).toBe(200)
        expect(await status('switch-url', id)).toBe(401)

        const neither = await cli(env, 'client', 'keys', id)
        expect(neither.code).toBe(1)
        expect(neither.stderr).toMatch(/either --public-key FILE or --jwks-url URL/)
        const both = await cli(
          env,
          ...['client', 'create', '--name', 'Both', '--scopes', 'consent:check', '--purposes', 'planned-care'],
          ...['--public-key', join(dir, 'switch-file.public.jwks.json'), '--jwks-url', jwksUrl]
        )
        expect(both.code).toBe(1)
        expect(both.stderr).toMatch(/exactly one key source/)
        const withCredentials = await cli(
          env,
          ...['client', 'create', '--name', 'Creds', '--scopes', 'consent:check', '--purposes', 'planned-care'],
          ...['--jwks-url', 'https://user:s3cret@keys.example.nhs.uk/jwks.json']
        )
        expect(withCredentials.code).toBe(1)
        expect(withCredentials.stderr).toMatch(/credentials are not allowed in the URL/)
      } finally {
        server.closeAllConnections()
        await new Promise(resolve => server.close(resolve))
      }
    }
  )

  it('client suspend names a client that does not exist', async () => {
    const out = await cli(env, 'client', 'suspend', '3f0c1c9e-0000-4000-8000-000000000000')
    expect(out.code).toBe(1)
    expect(out.stderr).toMatch(/no client 3f0c1c9e-0000-4000-8000-000000000000/)
  })

  it('reads --as-of as every surface reads a time: an impossible date or a zone-less time is refused', async () => {
    const filter = (asOf: string): Promise<{ stdout: string; stderr: string; code: number }> =>
      cli(
        env,
        'filter',
        ...['--client-id', 'x', '--key', join(dir, 'none.jwk.json'), '--url', 'http://127.0.0.1:9'],
        ...['--purpose', 'planning-research', '--in', join(dir, 'none.txt'), '--out', join(dir, 'none.out')],
        ...['--as-of', asOf]
      )
    const impossible = await filter('2021-02-30')
    expect(impossible.code).toBe(1)
    expect(impossible.stderr).toMatch(/--as-of 2021-02-30 is not a calendar date/)
    const zoneless = await filter('2025-03-14T09:30:00')
    expect(zoneless.code).toBe(1)
    expect(zoneless.stderr).toMatch(/--as-of a date-time must carry its zone/)
  })

  it(
    'names the URL it could not reach, where the URL came from, and how to change it',
    { timeout: 120_000 },
    async () => {
      const port = await closedPort()
      const key = await privateKeyFile(dir, 'unreachable')
      const token = (env: Record<string, string | undefined>, ...extra: string[]): ReturnType<typeof cli> =>
        cli(env, 'token', '--client-id', randomUUID(), '--key', key, ...extra)
      const expectRefusal = (out: { stderr: string; code: number }, url: string, from: RegExp): void => {
        expect(out.code).toBe(1)
        expect(out.stderr).toContain(`cannot reach the service at ${url}`)
        expect(out.stderr).toMatch(from)
        expect(out.stderr).toMatch(/give --url <its public URL> or set PUBLIC_URL/)
      }
      const plain = { PUBLIC_URL: undefined, PORT: undefined }
      expectRefusal(
        await token(plain, '--url', `http://127.0.0.1:${port}/`),
        `http://127.0.0.1:${port}`,
        /\(from --url\)/
      )
      expectRefusal(
        await token({ PUBLIC_URL: `http://127.0.0.1:${port}`, PORT: undefined }),
        `http://127.0.0.1:${port}`,
        /\(from PUBLIC_URL\)/
      )
      expectRefusal(
        await token({ PUBLIC_URL: undefined, PORT: String(port) }),
        `http://localhost:${port}`,
        new RegExp(`\\(from PORT=${port} \\(PUBLIC_URL unset\\)\\)`)
      )
      // Neither set: the service's own default, http://localhost:3000 (whatever answers there, the source is named).
      const neither = await token(plain)
      if (neither.code === 1 && /cannot reach/.test(neither.stderr)) {
        expectRefusal(neither, 'http://localhost:3000', /\(from the default \(PUBLIC_URL and PORT unset\)\)/)
      }
    }
  )
})

describe('CLI against a running service: import and filter', () => {
  let store: TestStore
  let t: TestApp
  let base: string
  const dir = mkdtempSync(join(tmpdir(), 'consent-cli-bulk-'))

  beforeAll(async () => {
    const { createServer } = await import('node:net')
    const port = await new Promise<number>(resolve => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => resolve(p))
      })
    })
    base = `http://127.0.0.1:${port}`
    store = await freshStore()
    t = await buildTestApp({ PUBLIC_URL: base }, store)
    await t.app.listen({ port, host: '127.0.0.1' })
  })
  afterAll(async () => {
    await t.close()
    await store.drop()
  })

  it("imports an NDJSON file and filters a cohort file with a token from the client's key", async () => {
    const env = { DATABASE_URL: store.url, LOG_LEVEL: 'silent', PUBLIC_URL: base }
    await cli(env, 'keygen', '--out', dir, '--name', 'pipeline')
    const created = JSON.parse(
      (
        await cli(
          env,
          'client',
          'create',
          '--name',
          'Pipeline',
          '--scopes',
          'admin,consent:filter',
          '--purposes',
          'planning-research',
          '--public-key',
          join(dir, 'pipeline.public.jwks.json')
        )
      ).stdout
    ) as { clientId: string }
    const auth = ['--client-id', created.clientId, '--key', join(dir, 'pipeline.private.jwk.json')]
    writeFileSync(
      join(dir, 'choices.ndjson'),
      [
        JSON.stringify({ externalId: 'c1', nhsNumber: '9434765919', code: '9Nu4' }),
        JSON.stringify({ externalId: 'c2', nhsNumber: '9434765870', code: '9Nu0' }),
        'oops'
      ].join('\n')
    )
    const imported = await cli(env, 'import', join(dir, 'choices.ndjson'), ...auth)
    expect(JSON.parse(imported.stdout)).toMatchObject({
      imported: 2,
      skipped: 0,
      rejectedCount: 1,
      rejected: [{ line: 3 }]
    })
    expect(imported.code).toBe(2)
    writeFileSync(join(dir, 'cohort.csv'), 'nhs_number\r\n9434765919,\r\n9434765870,\r\n4010232137,\r\n')
    const filtered = await cli(
      env,
      'filter',
      '--purpose',
      'planning-research',
      '--in',
      join(dir, 'cohort.csv'),
      '--out',
      join(dir, 'kept.txt'),
      ...auth
    )
    expect(filtered.code).toBe(0)
    expect(readFileSync(join(dir, 'kept.txt'), 'utf8')).toBe('9434765870\n4010232137\n')
    expect(JSON.parse(filtered.stdout).auditId).toMatch(/^[0-9a-f-]{36}$/)
  })

  /** A token for a test client from this app, whose PUBLIC_URL (the assertion's audience) is `base`. */
  async function bearerAt (client: TestClient): Promise<{ authorization: string }> {
    const res = await requestToken(t.app, tokenForm(await signAssertion(client, { aud: `${base}/oauth2/token` })))
    expect(res.statusCode, res.body).toBe(200)
    return bearer((res.json() as { access_token: string }).access_token)
  }

  it('changes reads the change feed to its end as NDJSON and keeps the cursor', { timeout: 120_000 }, async () => {
    const env = { DATABASE_URL: store.url, LOG_LEVEL: 'silent', PUBLIC_URL: base }
    const reader = await registerClient(t.app, {
      scopes: ['consent:read', 'consent:write'],
      purposes: ['planned-care']
    })
    const auth = ['--client-id', reader.id, '--key', await privateKeyFile(dir, 'reader', reader)]
    const cursorFile = join(dir, 'changes.cursor')
    const writer = await bearerAt(reader)
    const patients = ['9434765919', '9434765870']
    for (const p of patients) await recordChoice(t.app, writer, p, { purpose: 'planned-care', decision: 'deny' })
    await t.app.runtime.feed.poll()
    await t.app.runtime.feed.poll()

    const first = await cli(env, 'changes', ...auth, '--cursor-file', cursorFile, '--limit', '1')
    expect(first.code, first.stderr).toBe(0)
    const lines = first.stdout
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as Record<string, string>)
    expect(lines.filter(l => patients.includes(l.nhsNumber)).map(l => [l.nhsNumber, l.decision])).toEqual([
      [patients[0], 'deny'],
      [patients[1], 'deny']
    ])
    const cursor = readFileSync(cursorFile, 'utf8').trim()
    expect(first.stderr).toBe(`cursor ${cursor}\n`)

    // From the cursor file: nothing new, nothing written, the same cursor.
    const again = await cli(env, 'changes', ...auth, '--cursor-file', cursorFile)
    expect(again).toMatchObject({ code: 0, stdout: '', stderr: `cursor ${cursor}\n` })
  })

  it(
    'changes --follow writes each new change as it happens and stops on SIGINT with its cursor',
    { timeout: 120_000 },
    async () => {
      const reader = await registerClient(t.app, {
        scopes: ['consent:filter', 'consent:write'],
        purposes: ['planned-care']
      })
      const cursorFile = join(dir, 'follow.cursor')
      const child = spawn(
        TSX,
        [
          join(PACKAGE_ROOT, 'src', 'cli.ts'),
          ...['changes', '--follow', '--client-id', reader.id, '--key', await privateKeyFile(dir, 'follower', reader)],
          ...['--cursor-file', cursorFile, '--purpose', 'planned-care']
        ],
        { env: cliEnv({ DATABASE_URL: store.url, LOG_LEVEL: 'silent', PUBLIC_URL: base }), cwd: PACKAGE_ROOT }
      )
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
      try {
        // Caught up: its request is held open at the service.
        await vi.waitFor(() => expect(t.app.services.changes.waiting).toBe(1), { timeout: 30_000, interval: 20 })
        const patient = '4010232137'
        await recordChoice(t.app, await bearerAt(reader), patient, {
          purpose: 'planned-care',
          decision: 'deny'
        })
        await vi.waitFor(() => expect(stdout).toContain(patient), { timeout: 30_000, interval: 20 })
        const line = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, string>
        expect(line).toMatchObject({ nhsNumber: patient, purpose: 'planned-care', decision: 'deny' })
        await vi.waitFor(() => expect(t.app.services.changes.waiting).toBe(1), { timeout: 30_000, interval: 20 })
      } finally {
        child.kill('SIGINT')
      }
      expect(await exited, stderr).toBe(0)
      const cursor = readFileSync(cursorFile, 'utf8').trim()
      expect(stderr).toContain(`cursor ${cursor}\n`)
      await vi.waitFor(() => expect(t.app.services.changes.waiting).toBe(0), { timeout: 10_000, interval: 20 })
    }
  )
})
