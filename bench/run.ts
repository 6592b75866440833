// npm run bench: the service's figures against anchors measured in the same run on the same
// machine (SPEC §6). A benchmark, not a test: it never runs in npm test and CI does not gate on it.
// Each measurement starts its server as a child process so the load generator has its own core.
import { spawn, type ChildProcess } from 'node:child_process'
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  readFileSync,
  writeFileSync
} from 'node:fs'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import autocannon from 'autocannon'
import type { JWK } from 'jose'
import { CLIENT_ASSERTION_TYPE, signClientAssertion } from '../src/auth/client-assertion-signer.ts'
import { PACKAGE_ROOT } from '../src/paths.ts'
import { sqliteDate } from '../src/store/database.ts'
import { PREFERENCE_COLUMNS, insertStatement, memoDate, preferenceValues } from '../src/store/row-statements.ts'
import { syntheticNhsNumbers as nhsNumbers } from '../src/synthetic-nhs-numbers.ts'

const DURATION = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = 50
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1)
const ONLY = process.env.BENCH_ONLY?.split(',') ?? ['decisions', 'bulk', 'startup']
const STARTUP_CHOICES = Number(process.env.BENCH_STARTUP_CHOICES ?? 5_000_000)
const FILTER_LINES = Number(process.env.BENCH_FILTER_LINES ?? 10_000_000)
const OPT_OUTS = Number(process.env.BENCH_OPT_OUTS ?? 1_000_000)

function waitForPort (url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const tick = (): void => {
      fetch(url).then(
        () => resolve(),
        () => {
          if (Date.now() - started > 30_000) reject(new Error(`${url} did not start`))
          else setTimeout(tick, 100)
        }
      )
    }
    tick()
  })
}

function start (script: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, script, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: PACKAGE_ROOT
  })
}

/** A service's store, key and environment on a port, and the built CLI run against them. */
function benchService (
  port: number,
  prefix: string
): { dir: string; env: Record<string, string>; cli: (...args: string[]) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const env = {
    PORT: String(port),
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: process.env.BENCH_DATABASE_URL ?? `file:${join(dir, 'bench.db')}`,
    SIGNING_KEY_FILE: join(dir, 'signing-key.json'),
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: '100000000'
  }
  const cli = (...args: string[]): string =>
    execFileSync(process.execPath, [join(PACKAGE_ROOT, 'dist', 'src', 'cli.js'), ...args], {
      env: { ...process.env, ...env }
    }).toString()
  return { dir, env, cli }
}

async function stop (child: ChildProcess): Promise<void> {
  await new Promise<void>(resolve => {
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

interface Load {
  rps: number
  p99: number
  errors: number
  non2xx: number
}

async function load (opts: autocannon.Options): Promise<Load> {
  const result = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...opts })
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx }
}

const HELLO = `
const app = require('fastify')()
app.get('/', async () => ({ hello: 'world' }))
app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
`

async function main (): Promise<void> {
  execFileSync(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'build-if-needed.mjs')], { stdio: 'inherit' })
  const rows: Array<[string, string, string, string, string]> = []

  const ratios: number[] = []
  const p99s: number[] = []
  for (let round = 1; round <= ROUNDS && ONLY.includes('decisions'); round++) {
    // Anchor: a bare Fastify hello-world route.
    const hello = start(['-e', HELLO], { PORT: '3901' })
    await waitForPort('http://127.0.0.1:3901/')
    const anchor = await load({ url: 'http://127.0.0.1:3901/' })
    await stop(hello)

    // The service on a fresh SQLite store (or BENCH_DATABASE_URL).
    const { dir, env, cli } = benchService(3902, 'consent-bench-')
    cli('keygen', '--out', dir, '--name', 'bench', '--alg', 'ES256')
    const clientId = (
      JSON.parse(
        cli(
          'client',
          'create',
          '--name',
          'bench',
          '--scopes',
          'consent:check,consent:write',
          '--purposes',
          'planned-care,unplanned-care,planning-research',
          '--public-key',
          join(dir, 'bench.public.jwks.json')
        )
      ) as { clientId: string }
    ).clientId
    const service = start([join(PACKAGE_ROOT, 'dist', 'src', 'server.js')], env)
    await waitForPort('http://127.0.0.1:3902/health/live')
    const jwk = JSON.parse(readFileSync(join(dir, 'bench.private.jwk.json'), 'utf8')) as JWK
    const assertion = await signClientAssertion({
      clientId,
      key: jwk,
      audience: `${env.PUBLIC_URL}/oauth2/token`
    })
    const tokenRes = await fetch(`${env.PUBLIC_URL}/oauth2/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion
      })
    })
    const token = ((await tokenRes.json()) as { access_token: string }).access_token
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }

    // Some patients with opt-outs, so decisions exercise the hierarchy.
    const patients = nhsNumbers(2000, 42)
    for (const nhs of patients.slice(0, 500)) {
      await fetch(`${env.PUBLIC_URL}/v1/patients/${nhs}/preferences`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ purpose: 'planning-research', decision: 'deny', source: 'import' })
      })
    }
    const purposes = ['planning-research', 'gp-data-secondary-use', 'unplanned-care', 'planned-care']
    const bodies = patients.map((nhs, i) => JSON.stringify({ nhsNumber: nhs, purpose: purposes[i % purposes.length] }))
    let next = 0
    const decisions = await load({
      url: `${env.PUBLIC_URL}/v1/decisions`,
      method: 'POST',
      headers,
      requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, body: bodies[next++ % bodies.length] }) }]
    })
    await stop(service)
    rmSync(dir, { recursive: true, force: true })

    const ratio = decisions.rps / anchor.rps
    ratios.push(ratio)
    p99s.push(decisions.p99)
    rows.push([
      `round ${round}: decisions/s (auth + validation + decision + durable audit)`,
      decisions.rps.toFixed(0),
      `${anchor.rps.toFixed(0)} (bare Fastify)`,
      ratio.toFixed(2),
      ratio >= 0.5 ? 'pass (>= 0.5)' : 'FAIL (< 0.5)'
    ])
    rows.push([
      `round ${round}: decision p99 latency (ms)`,
      String(decisions.p99),
      '-',
      '-',
      decisions.p99 <= 10 ? 'pass (<= 10 ms)' : 'FAIL (> 10 ms)'
    ])
    rows.push([
      `round ${round}: errors / non-2xx`,
      `${decisions.errors} / ${decisions.non2xx}`,
      '-',
      '-',
      decisions.errors + decisions.non2xx === 0 ? 'pass' : 'FAIL'
    ])
  }

  if (ratios.length > 1) {
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    rows.push([
      `decisions: median ratio of ${ratios.length} rounds (spread)`,
      '-',
      '-',
      `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
      median(ratios) >= 0.5 ? 'pass (>= 0.5)' : 'FAIL (< 0.5)'
    ])
    rows.push([
      `decisions: median p99 of ${p99s.length} rounds (ms, spread)`,
      `${median(p99s)} (${Math.min(...p99s)}-${Math.max(...p99s)})`,
      '-',
      '-',
      median(p99s) <= 10 ? 'pass (<= 10 ms)' : 'FAIL (> 10 ms)'
    ])
  }
  if (ONLY.includes('bulk')) rows.push(...(await bulk()))
  if (ONLY.includes('startup')) rows.push(...(await startup()))

  console.log(`\nautocannon, ${CONNECTIONS} connections, ${DURATION} s per measurement, node ${process.version}\n`)
  console.log('| figure | value | anchor | ratio | target |\n| --- | --- | --- | --- | --- |')
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
}

/** The numbers of a cohort and its opt-outs, written once into .bench/ and reused. */
function bulkFiles (): { dir: string; input: string; optouts: string; optoutsNdjson: string; small: string } {
  const dir = join(PACKAGE_ROOT, '.bench')
  mkdirSync(dir, { recursive: true })
  const input = join(dir, `input-${FILTER_LINES}.txt`)
  const small = join(dir, `input-${FILTER_LINES / 10}.txt`)
  const optouts = join(dir, `optouts-${OPT_OUTS}.txt`)
  const optoutsNdjson = join(dir, `optouts-${OPT_OUTS}.ndjson`)
  if (!existsSync(input) || !existsSync(optouts) || !existsSync(optoutsNdjson) || !existsSync(small)) {
    process.stderr.write(`generating ${FILTER_LINES} input lines and ${OPT_OUTS} opt-outs in .bench/ ...\n`)
    const all = nhsNumbers(FILTER_LINES, 2026)
    // Every tenth input number has opted out: 1 M opt-outs in 10 M lines.
    const out: string[] = []
    for (let i = 0; i < all.length && out.length < OPT_OUTS; i += Math.max(1, Math.floor(FILTER_LINES / OPT_OUTS))) {
      out.push(all[i])
    }
    writeFileSync(optouts, out.join('\n') + '\n')
    writeFileSync(
      optoutsNdjson,
      out
        .map((n, i) => `{"externalId":"b${i}","nhsNumber":"${n}","code":"9Nu4","effectiveFrom":"2020-01-01"}`)
        .join('\n') + '\n'
    )
    writeFileSync(input, all.join('\n') + '\n')
    writeFileSync(small, all.slice(0, FILTER_LINES / 10).join('\n') + '\n')
  }
  return { dir, input, optouts, optoutsNdjson, small }
}

/** Samples a process's resident set size until stopped; returns the peak in MB. */
function rssSampler (pid: number): () => number {
  let peak = 0
  const timer = setInterval(() => {
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
      peak = Math.max(peak, kb / 1024)
    } catch {}
  }, 20)
  return () => {
    clearInterval(timer)
    return peak
  }
}

async function postFile (
  url: string,
  headers: Record<string, string>,
  file: string,
  out?: string
): Promise<{ ms: number; status: number; body: string }> {
  const started = performance.now()
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: Readable.toWeb(createReadStream(file, { highWaterMark: 256 * 1024 })) as ReadableStream,
    duplex: 'half'
  } as RequestInit)
  let body = ''
  if (out !== undefined && res.ok && res.body !== null) {
    await pipeline(Readable.fromWeb(res.body as Parameters<typeof Readable.fromWeb>[0]), createWriteStream(out))
  } else body = await res.text()
  return { ms: performance.now() - started, status: res.status, body }
}

async function bulk (): Promise<Array<[string, string, string, string, string]>> {
  execFileSync(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'build-if-needed.mjs')], { stdio: 'inherit' })
  const files = bulkFiles()
  const rows: Array<[string, string, string, string, string]> = []

  // Anchor: grep removes the opt-outs from the same input.
  const grepOut = join(files.dir, 'grep.out')
  const grepStarted = performance.now()
  execFileSync('sh', ['-c', `grep -vxFf '${files.optouts}' '${files.input}' > '${grepOut}'`])
  const grepMs = performance.now() - grepStarted

  const { dir, env, cli } = benchService(3903, 'consent-bench-bulk-')
  cli('keygen', '--out', dir, '--name', 'bench', '--alg', 'ES256')
  const clientId = (
    JSON.parse(
      cli(
        'client',
        'create',
        '--name',
        'bench',
        '--scopes',
        'admin,consent:filter',
        '--purposes',
        'planning-research',
        '--public-key',
        join(dir, 'bench.public.jwks.json')
      )
    ) as { clientId: string }
  ).clientId
  const service = start([join(PACKAGE_ROOT, 'dist', 'src', 'server.js')], env)
  await waitForPort(`${env.PUBLIC_URL}/health/live`)
  const token = cli(
    'token',
    '--client-id',
    clientId,
    '--key',
    join(dir, 'bench.private.jwk.json'),
    '--url',
    env.PUBLIC_URL
  ).trim()
  const auth = { authorization: `Bearer ${token}` }

  const imported = await postFile(
    `${env.PUBLIC_URL}/v1/preferences/import`,
    { ...auth, 'content-type': 'application/x-ndjson' },
    files.optoutsNdjson
  )
  const importRate = OPT_OUTS / (imported.ms / 1000)
  rows.push([
    `import: choices/s (${OPT_OUTS} NDJSON lines, GP codes)`,
    importRate.toFixed(0),
    '-',
    '-',
    importRate >= 100_000 ? 'pass (>= 100 000)' : 'FAIL (< 100 000)'
  ])

  const filterHeaders = { ...auth, 'content-type': 'text/plain', accept: 'text/plain' }
  const smallOut = join(dir, 'small.out')
  let peak = rssSampler(service.pid as number)
  const small = await postFile(
    `${env.PUBLIC_URL}/v1/filter?purpose=planning-research`,
    filterHeaders,
    files.small,
    smallOut
  )
  const peakSmall = peak()
  const out = join(files.dir, 'service.out')
  peak = rssSampler(service.pid as number)
  const large = await postFile(`${env.PUBLIC_URL}/v1/filter?purpose=planning-research`, filterHeaders, files.input, out)
  const peakLarge = peak()
  await stop(service)
  for (const run of [small, large]) {
    if (run.status !== 200) throw new Error(`filter answered ${run.status}: ${run.body}`)
  }
  const same = readFileSync(out).equals(readFileSync(grepOut))
  rmSync(dir, { recursive: true, force: true })

  const ratio = FILTER_LINES / (large.ms / 1000) / (FILTER_LINES / (grepMs / 1000))
  rows.push([
    `filter: ${FILTER_LINES} lines against ${OPT_OUTS} opt-outs, lines/s`,
    (FILTER_LINES / (large.ms / 1000)).toFixed(0),
    `${(FILTER_LINES / (grepMs / 1000)).toFixed(0)} (grep -vxFf)`,
    ratio.toFixed(2),
    ratio >= 0.5 ? 'pass (>= 0.5)' : 'FAIL (< 0.5)'
  ])
  rows.push([
    "filter: output identical to grep's, byte for byte",
    same ? 'yes' : 'NO',
    '-',
    '-',
    same ? 'pass' : 'FAIL'
  ])
  rows.push([
    `filter: service peak RSS at ${FILTER_LINES / 10} / ${FILTER_LINES} lines (MB)`,
    `${peakSmall.toFixed(0)} / ${peakLarge.toFixed(0)}`,
    '-',
    `+${(peakLarge - peakSmall).toFixed(0)} MB`,
    peakLarge - peakSmall < 50 ? 'pass (< 50 MB growth)' : 'FAIL (>= 50 MB growth)'
  ])
  return rows
}

/** A store holding STARTUP_CHOICES choices (written straight into SQLite), then the service started on it. */
async function startup (): Promise<Array<[string, string, string, string, string]>> {
  execFileSync(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'build-if-needed.mjs')], { stdio: 'inherit' })
  const dir = mkdtempSync(join(tmpdir(), 'consent-bench-start-'))
  const file = join(dir, 'bench.db')
  const env = {
    PORT: '3904',
    PUBLIC_URL: 'http://127.0.0.1:3904',
    DATABASE_URL: `file:${file}`,
    SIGNING_KEY_FILE: join(dir, 'signing-key.json'),
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: '100000000'
  }
  execFileSync(process.execPath, [join(PACKAGE_ROOT, 'dist', 'src', 'cli.js'), 'migrate'], {
    env: { ...process.env, ...env }
  })
  const { default: Sqlite } = await import('better-sqlite3')
  const db = new Sqlite(file)
  db.pragma('journal_mode = WAL')
  const insert = db.prepare(insertStatement('sqlite', 'preferences', PREFERENCE_COLUMNS))
  const patients = nhsNumbers(STARTUP_CHOICES, 77)
  const at = new Date('2020-01-01T00:00:00.000Z')
  const date = memoDate(sqliteDate)
  const load = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      insert.run(
        preferenceValues(
          {
            id: randomUUID(),
            nhsNumber: patients[i],
            purpose: i % 3 === 0 ? 'gp-data-secondary-use' : 'planning-research',
            decision: 'deny',
            effectiveFrom: at,
            recordedAt: at,
            source: 'import',
            recordedBy: { clientId: 'bench' },
            clientId: 'bench',
            note: null,
            status: 'active',
            externalId: `s${i}`,
            sourceCode: null,
            auditId: null,
            enteredInErrorReason: null,
            enteredInErrorAt: null,
            enteredInErrorBy: null
          },
          date
        )
      )
    }
  })
  for (let i = 0; i < STARTUP_CHOICES; i += 100_000) load(i, Math.min(STARTUP_CHOICES, i + 100_000))
  db.close()
  const started = performance.now()
  const service = start([join(PACKAGE_ROOT, 'dist', 'src', 'server.js')], env)
  await waitForPort(`${env.PUBLIC_URL}/health/ready`)
  let readyMs = 0
  for (;;) {
    const res = await fetch(`${env.PUBLIC_URL}/health/ready`).catch(() => null)
    if (res?.status === 200) {
      readyMs = performance.now() - started
      break
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const rss =
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${service.pid as number}/status`, 'utf8'))?.[1] ?? 0) / 1024
  await stop(service)
  rmSync(dir, { recursive: true, force: true })
  return [
    [
      `startup: ${STARTUP_CHOICES} stored choices loaded and serving (s)`,
      (readyMs / 1000).toFixed(1),
      '-',
      '-',
      readyMs <= 30_000 ? 'pass (<= 30 s)' : 'FAIL (> 30 s)'
    ],
    [
      'startup: service RSS once serving (MB)',
      rss.toFixed(0),
      '-',
      '-',
      rss < 1024 ? 'pass (< 1 GB)' : 'FAIL (>= 1 GB)'
    ]
  ]
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
