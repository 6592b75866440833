// Where the AuditWriter's group commits of audit rows (and the alerts they raise) go: the hot path
// of every decision (SPEC §6). Written against the drivers rather than through Prisma: a profile
// showed Prisma's raw-query path and SQLite's synchronous execution taking most of the event loop
// under load. SQLite gets a worker thread with its own connection; PostgreSQL gets a small pool of
// its own and one INSERT ... SELECT FROM unnest(...) per batch (one statement text whatever the size).
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import pg from 'pg'
import type { Database } from './database.ts'

export interface AuditRow {
  id: string
  chain: string
  chainSeq: number
  at: Date
  type: string
  clientId: string | null
  requestId: string | null
  nhsNumber: string | null
  purpose: string | null
  outcome: string | null
  details: string
  prevHash: string
  hash: string
}

export interface AlertRow { id: string, auditId: string, nhsNumber: string, purpose: string, clientId: string, reason: string, raisedAt: Date, status: string }

export interface AuditSink {
  /** Commits the rows in one transaction; rejects if they may not be committed. */
  write: (events: AuditRow[], alerts: AlertRow[]) => Promise<void>
  close: () => Promise<void>
}

export class SinkError extends Error {
  constructor (message: string, readonly code?: string) { super(message) }
}

export function openAuditSink (db: Database): AuditSink {
  return db.connection.kind === 'sqlite' ? new SqliteWorkerSink(db.connection.path) : new PostgresSink(db.connection.pool)
}

/** SQLite's DateTime text, exactly as the Prisma adapter writes it (see database.ts). */
const sqliteDate = (d: Date): string => d.toISOString().replace('Z', '+00:00')

/**
 * The worker thread's code: its own better-sqlite3 connection, so that the synchronous INSERTs and
 * the fsync of every group commit (synchronous=FULL) never block the event loop serving requests.
 * Plain JavaScript run with eval, so it works alike from src (tsx, vitest) and from dist; the
 * driver is loaded by the absolute path resolved here.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const AUDIT = ['id', 'chain', 'chainSeq', 'at', 'type', 'clientId', 'requestId', 'nhsNumber', 'purpose', 'outcome', 'details', 'prevHash', 'hash']
const ALERT = ['id', 'auditId', 'nhsNumber', 'purpose', 'clientId', 'reason', 'raisedAt', 'status']
const insert = (table, columns) => 'INSERT INTO "' + table + '" (' + columns.map(c => '"' + c + '"').join(', ') + ') VALUES (' + columns.map(() => '?').join(', ') + ')'
const db = new Database(workerData.path, { timeout: 10000 })
db.pragma('journal_mode = WAL')
db.pragma('synchronous = FULL')
let statements = null
const write = db.transaction((events, alerts) => {
  statements = statements || { audit: db.prepare(insert('audit_events', AUDIT)), alert: db.prepare(insert('alerts', ALERT)) }
  for (const row of events) statements.audit.run(row)
  for (const row of alerts) statements.alert.run(row)
})
parentPort.on('message', m => {
  if (m.close) { db.close(); parentPort.close(); return }
  try {
    write(m.events, m.alerts)
    parentPort.postMessage({ id: m.id, ok: true })
  } catch (err) {
    statements = null // prepared again next time (the schema may have changed)
    parentPort.postMessage({ id: m.id, ok: false, message: err.message, code: err.code })
  }
})
`

const SQLITE_DRIVER = createRequire(import.meta.url).resolve('better-sqlite3')

class SqliteWorkerSink implements AuditSink {
  private worker: Worker | null = null
  private nextId = 0
  private readonly pending = new Map<number, { resolve: () => void, reject: (e: Error) => void }>()

  constructor (private readonly path: string) {}

  private start (): Worker {
    if (this.worker !== null) return this.worker
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path: this.path, driver: SQLITE_DRIVER } })
    worker.unref()
    worker.on('message', (m: { id: number, ok: boolean, message?: string, code?: string }) => {
      const p = this.pending.get(m.id)
      this.pending.delete(m.id)
      if (m.ok) p?.resolve()
      else p?.reject(new SinkError(m.message ?? 'audit write failed', m.code))
    })
    const fail = (err: Error): void => {
      this.worker = null
      for (const p of this.pending.values()) p.reject(new SinkError(`audit worker stopped: ${err.message}`))
      this.pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', code => { if (this.worker === worker) fail(new Error(`exit ${code}`)) })
    this.worker = worker
    return worker
  }

  async write (events: AuditRow[], alerts: AlertRow[]): Promise<void> {
    const worker = this.start()
    const id = this.nextId++
    const done = new Promise<void>((resolve, reject) => { this.pending.set(id, { resolve, reject }) })
    worker.ref()
    worker.postMessage({
      id,
      events: events.map(r => [r.id, r.chain, r.chainSeq, sqliteDate(r.at), r.type, r.clientId, r.requestId, r.nhsNumber, r.purpose, r.outcome, r.details, r.prevHash, r.hash]),
      alerts: alerts.map(a => [a.id, a.auditId, a.nhsNumber, a.purpose, a.clientId, a.reason, sqliteDate(a.raisedAt), a.status])
    })
    try {
      await done
    } finally {
      if (this.pending.size === 0) worker.unref()
    }
  }

  async close (): Promise<void> {
    const worker = this.worker
    if (worker === null) return
    this.worker = null
    await new Promise<void>(resolve => {
      worker.once('exit', () => resolve())
      worker.postMessage({ close: true })
    })
  }
}

/** PostgreSQL TIMESTAMP(3) holds UTC digits, as Prisma writes them. */
const pgDate = (d: Date): string => d.toISOString().slice(0, -1)

class PostgresSink implements AuditSink {
  private readonly pool: pg.Pool

  constructor (config: pg.PoolConfig) {
    this.pool = new pg.Pool({ ...config, max: 2 })
    // An idle connection that breaks is replaced on next use; the error is not fatal.
    this.pool.on('error', () => {})
  }

  async write (events: AuditRow[], alerts: AlertRow[]): Promise<void> {
    const client = await this.pool.connect()
    let broken = false
    try {
      await client.query('BEGIN')
      await client.query(
        'INSERT INTO "audit_events" ("id", "chain", "chainSeq", "at", "type", "clientId", "requestId", "nhsNumber", "purpose", "outcome", "details", "prevHash", "hash") ' +
        'SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamp(3)[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])',
        [events.map(r => r.id), events.map(r => r.chain), events.map(r => r.chainSeq), events.map(r => pgDate(r.at)), events.map(r => r.type), events.map(r => r.clientId),
          events.map(r => r.requestId), events.map(r => r.nhsNumber), events.map(r => r.purpose), events.map(r => r.outcome), events.map(r => r.details), events.map(r => r.prevHash), events.map(r => r.hash)])
      if (alerts.length > 0) {
        await client.query(
          'INSERT INTO "alerts" ("id", "auditId", "nhsNumber", "purpose", "clientId", "reason", "raisedAt", "status") ' +
          'SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamp(3)[], $8::text[])',
          [alerts.map(a => a.id), alerts.map(a => a.auditId), alerts.map(a => a.nhsNumber), alerts.map(a => a.purpose), alerts.map(a => a.clientId), alerts.map(a => a.reason), alerts.map(a => pgDate(a.raisedAt)), alerts.map(a => a.status)])
      }
      await client.query('COMMIT')
    } catch (err) {
      broken = true
      await client.query('ROLLBACK').catch(() => {})
      throw new SinkError((err as Error).message, (err as { code?: string }).code)
    } finally {
      client.release(broken)
    }
  }

  async close (): Promise<void> {
    await this.pool.end()
  }
}
