// The real service as a child process (`node --import tsx src/server.ts`), for the tests that must
// kill it or signal it: durability under kill -9 and graceful shutdown. Clients are registered with
// the real CLI, directly in the store, before the service starts, as an administrator would.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose'
import { CLIENT_ASSERTION_TYPE, signClientAssertion } from '../../src/auth/client-assertion-signer.ts'
import { ALL_PURPOSES, ALL_SCOPES } from './app.ts'

export const ROOT = resolvePath(dirname(fileURLToPath(import.meta.url)), '../..')

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  at: number
}

export interface ServiceProcess {
  proc: ChildProcess
  url: string
  exited: Promise<Exit>
  output: () => string
}

/** The environment of one deployment: its store, port, public URL and signing key file. */
export interface Deployment {
  env: Record<string, string>
  url: string
  dir: string
  cleanup: () => void
}

export async function deployment (databaseUrl: string, extra: Record<string, string> = {}): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), 'consent-proc-'))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  return {
    env: {
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: url,
      SIGNING_KEY_FILE: join(dir, 'signing-key.json'),
      LOG_LEVEL: 'warn',
      // The load these tests generate is not what they are about.
      RATE_LIMIT_PER_MINUTE: '10000000',
      ...extra
    },
    url,
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

function childEnv (env: Record<string, string>): NodeJS.ProcessEnv {
  // The test runner's own variables (TEST_STORE, VITEST…) do not belong to the service.
  const { PATH, HOME, TMPDIR, LANG } = process.env
  return { PATH, HOME, TMPDIR, LANG, ...env }
}

/** Runs a CLI command to completion and returns its stdout (throws with stderr on failure). */
export async function cli (env: Record<string, string>, args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
      cwd: ROOT,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    let err = ''
    child.stdout.on('data', c => {
      out += String(c)
    })
    child.stderr.on('data', c => {
      err += String(c)
    })
    child.on('error', reject)
    child.on('exit', code => {
      code === 0 ? resolve(out) : reject(new Error(`cli ${args.join(' ')} exited ${code}: ${err}`))
    })
  })
}

export interface RegisteredClient {
  clientId: string
  kid: string
  privateKey: CryptoKey
}

/** A key pair made here, the public half registered with `cli client create` (all scopes). */
export async function registerClientWithCli (
  d: Deployment,
  purposes = ALL_PURPOSES
): Promise<RegisteredClient> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const kid = `proc-${randomUUID().slice(0, 8)}`
  const file = join(d.dir, `${kid}.jwks.json`)
  writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] }))
  const out = await cli(d.env, [
    'client',
    'create',
    '--name',
    'Process test client',
    '--scopes',
    ALL_SCOPES.join(','),
    '--purposes',
    purposes.join(','),
    '--public-key',
    file
  ])
  return { clientId: (JSON.parse(out) as { clientId: string }).clientId, kid, privateKey }
}

export async function startService (d: Deployment, readyTimeoutMs = 30_000): Promise<ServiceProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: childEnv(d.env),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  proc.stdout?.on('data', c => {
    output += String(c)
  })
  proc.stderr?.on('data', c => {
    output += String(c)
  })
  const exited = new Promise<Exit>(resolve => {
    proc.on('exit', (code, signal) => {
      resolve({ code, signal, at: Date.now() })
    })
  })
  let gone: Exit | null = null
  proc.once('exit', (code, signal) => {
    gone = { code, signal, at: Date.now() }
  })
  const started = Date.now()
  for (;;) {
    if (gone !== null) throw new Error(`service exited before it was ready (${JSON.stringify(gone)}):\n${output}`)
    try {
      const res = await fetch(`${d.url}/health/ready`)
      if (res.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() - started > readyTimeoutMs) {
      proc.kill('SIGKILL')
      throw new Error(`service not ready within ${readyTimeoutMs} ms:\n${output}`)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return { proc, url: d.url, exited, output: () => output }
}

/** An access token from the running service, the way a client gets one (signed assertion, form POST). */
export async function accessToken (url: string, client: RegisteredClient): Promise<string> {
  const assertion = await signClientAssertion({
    clientId: client.clientId,
    key: client.privateKey,
    kid: client.kid,
    alg: 'ES256',
    audience: `${url}/oauth2/token`
  })
  const res = await fetch(`${url}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: assertion
    })
  })
  const body = (await res.json()) as { access_token?: string }
  if (res.status !== 200 || body.access_token === undefined) {
    throw new Error(`token: ${res.status} ${JSON.stringify(body)}`)
  }
  return body.access_token
}

/** Stops a child that a test left running (a failed assertion), so no process outlives the test file. */
export function stopIfRunning (s: ServiceProcess | undefined): void {
  if (s !== undefined && s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL')
}
