// The two write paths that must be fast, written against the drivers rather than through Prisma:
// the AuditWriter's group commits of audit rows (and the alerts they raise), on the hot path of
// every decision, and the bulk import of choices (SPEC §6). A profile showed Prisma's raw-query
// path and SQLite's synchronous execution taking most of the event loop under load. SQLite gets a
// worker thread with its own connection and prepared statements; PostgreSQL gets a small pool of
// its own and one INSERT ... SELECT FROM unnest(...) per batch (one statement text whatever the size).
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import pg from 'pg'
import { sqliteDate, type Database } from './database.ts'
import type { StoredPreference } from './rows.ts'
import type { ChainedFields } from './audit-chain.ts'

/** An audit event as stored: its chained fields and its hash. */
export type AuditRow = ChainedFields & { hash: string }

export interface AlertRow {
  id: string
  auditId: string
  nhsNumber: string
  purpose: string
  clientId: string
  reason: string
  raisedAt: Date
  status: string
}

export interface DriverWriter {
  /** Commits the rows in one transaction; rejects if they may not be committed. */
  writeAudit: (events: AuditRow[], alerts: AlertRow[]) => Promise<void>
  /**
   * Inserts choices whose externalId is new, with change-sequence rows naming them (up to 1 000 a
   * row, marked with `origin`), in one transaction; returns the ids that were inserted.
   */
  importPreferences: (rows: StoredPreference[], origin: string) => Promise<Set<string>>
  close: () => Promise<void>
}

export class SinkError extends Error {
  constructor (
    message: string,
    readonly code?: string
  ) {
    super(message)
  }
}

export function openDriverWriter (db: Database): DriverWriter {
  return db.connection.kind === 'sqlite'
    ? new SqliteWorkerWriter(db.connection.path)
    : new PostgresWriter(db.connection.pool)
}

/**
 * The worker thread's code: its own better-sqlite3 connection, so that the synchronous INSERTs and
 * the fsync of every group commit (synchronous=FULL) never block the event loop serving requests.
 * Plain JavaScript run with eval, so it works alike from src (tsx, vitest) and from dist; the
 * driver is loaded by the absolute path resolved here.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const { AUDIT, ALERT, PREFERENCE } = workerData.columns
const insert = (table, columns) =>
  'INSERT INTO "' + table + '" (' + columns.map(c => '"' + c + '"').join(', ') + ') ' +
  'VALUES (' + columns.map(() => '?').join(', ') + ')'
const db = new Database(workerData.path, { timeout: 10000 })
db.pragma('journal_mode = WAL')
db.pragma('synchronous = FULL')
db.pragma('cache_size = -131072') // 128 MiB: bulk imports insert into three indexes at random places
let statements = null
const prepare = () => statements || (statements = {
  audit: db.prepare(insert('audit_events', AUDIT)),
  alert: db.prepare(insert('alerts', ALERT)),
  preference: db.prepare(insert('preferences', PREFERENCE) + ' ON CONFLICT ("externalId") DO NOTHING'),
  change: db.prepare('INSERT INTO "changes" ("kind", "ref", "at", "origin") VALUES (?, ?, ?, ?)')
})
const writeAudit = db.transaction((events, alerts) => {
  const s = prepare()
  for (const row of events) s.audit.run(row)
  for (const row of alerts) s.alert.run(row)
})
const importPreferences = db.transaction((rows, at, origin) => {
  const s = prepare()
  const inserted = []
  for (const row of rows) if (s.preference.run(row).changes === 1) inserted.push(row[0])
  // One change row names up to 1 000 of them, so that no change row is large to read.
  for (let i = 0; i < inserted.length; i += 1000) {
    s.change.run('preferences', JSON.stringify(inserted.slice(i, i + 1000)), at, origin)
  }
  return inserted
})
parentPort.on('message', m => {
  if (m.close) { db.close(); parentPort.close(); return }
  try {
    const result = m.preferences ? importPreferences(m.preferences, m.at, m.origin) : writeAudit(m.events, m.alerts)
    parentPort.postMessage({ id: m.id, ok: true, result })
  } catch (err) {
    statements = null // prepared again next time (the schema may have changed)
    parentPort.postMessage({ id: m.id, ok: false, message: err.message, code: err.code })
  }
})
`

const SQLITE_DRIVER = createRequire(import.meta.url).resolve('better-sqlite3')

/** The columns each path writes, in the order of the rows sent to the worker. */
export const AUDIT_COLUMNS = [
  'id',
  'chain',
  'chainSeq',
  'at',
  'type',
  'clientId',
  'requestId',
  'nhsNumber',
  'purpose',
  'outcome',
  'details',
  'prevHash',
  'hash'
]
const ALERT_COLUMNS = ['id', 'auditId', 'nhsNumber', 'purpose', 'clientId', 'reason', 'raisedAt', 'status']
const PREFERENCE_COLUMNS = [
  'id',
  'nhsNumber',
  'purpose',
  'decision',
  'effectiveFrom',
  'recordedAt',
  'source',
  'recordedBy',
  'clientId',
  'note',
  'status',
  'externalId'
]

type DateText = (d: Date) => unknown

/** An audit row's values in AUDIT_COLUMNS order: the one mapping every path writes with. */
export function auditValues (r: AuditRow, date: DateText): unknown[] {
  return [
    r.id,
    r.chain,
    r.chainSeq,
    date(r.at),
    r.type,
    r.clientId,
    r.requestId,
    r.nhsNumber,
    r.purpose,
    r.outcome,
    r.details,
    r.prevHash,
    r.hash
  ]
}

function alertValues (a: AlertRow, date: DateText): unknown[] {
  return [a.id, a.auditId, a.nhsNumber, a.purpose, a.clientId, a.reason, date(a.raisedAt), a.status]
}

function preferenceValues (r: StoredPreference, date: DateText): unknown[] {
  return [
    r.id,
    r.nhsNumber,
    r.purpose,
    r.decision,
    date(r.effectiveFrom),
    date(r.recordedAt),
    r.source,
    JSON.stringify(r.recordedBy),
    r.clientId,
    r.note,
    r.status,
    r.externalId
  ]
}

/** Rows as one array per column, for unnest. */
function columnsOf (rows: unknown[][], width: number): unknown[][] {
  return Array.from({ length: width }, (_, c) => rows.map(r => r[c]))
}

/** PostgreSQL's type for each column that is not text, for unnest's arrays. */
const PG_TYPES: Readonly<Record<string, string>> = {
  chainSeq: 'int',
  at: 'timestamp(3)',
  raisedAt: 'timestamp(3)',
  effectiveFrom: 'timestamp(3)',
  recordedAt: 'timestamp(3)'
}

/** PostgreSQL: many rows in one INSERT as one array per column ($1..$n in the order of `columns`). */
function unnestInsert (table: string, columns: readonly string[]): string {
  const arrays = columns.map((c, i) => `$${i + 1}::${PG_TYPES[c] ?? 'text'}[]`).join(', ')
  return `INSERT INTO "${table}" (${columns.map(c => `"${c}"`).join(', ')}) SELECT * FROM unnest(${arrays})`
}

class SqliteWorkerWriter implements DriverWriter {
  private worker: Worker | null = null
  private nextId = 0
  private readonly pending = new Map<number, { resolve: (result: unknown) => void; reject: (e: Error) => void }>()

  constructor (private readonly path: string) {}

  private start (): Worker {
    if (this.worker !== null) return this.worker
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        path: this.path,
        driver: SQLITE_DRIVER,
        columns: { AUDIT: AUDIT_COLUMNS, ALERT: ALERT_COLUMNS, PREFERENCE: PREFERENCE_COLUMNS }
      }
    })
    worker.unref()
    worker.on('message', (m: { id: number; ok: boolean; result?: unknown; message?: string; code?: string }) => {
      const p = this.pending.get(m.id)
      this.pending.delete(m.id)
      if (m.ok) p?.resolve(m.result)
      else p?.reject(new SinkError(m.message ?? 'audit write failed', m.code))
    })
    const fail = (err: Error): void => {
      this.worker = null
      for (const p of this.pending.values()) p.reject(new SinkError(`audit worker stopped: ${err.message}`))
      this.pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', code => {
      if (this.worker === worker) fail(new Error(`exit ${code}`))
    })
    this.worker = worker
    return worker
  }

  private async send (message: Record<string, unknown>): Promise<unknown> {
    const worker = this.start()
    const id = this.nextId++
    const done = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
    })
    worker.ref()
    worker.postMessage({ id, ...message })
    try {
      return await done
    } finally {
      if (this.pending.size === 0) worker.unref()
    }
  }

  async writeAudit (events: AuditRow[], alerts: AlertRow[]): Promise<void> {
    await this.send({
      events: events.map(r => auditValues(r, sqliteDate)),
      alerts: alerts.map(a => alertValues(a, sqliteDate))
    })
  }

  async importPreferences (rows: StoredPreference[], origin: string): Promise<Set<string>> {
    // Imported choices share a few dates (the batch's recordedAt, the forms' effectiveFrom): format each once.
    const dates = new Map<number, string>()
    const date = (d: Date): string => {
      const t = d.getTime()
      let text = dates.get(t)
      if (text === undefined) {
        text = sqliteDate(d)
        dates.set(t, text)
      }
      return text
    }
    const inserted = await this.send({
      preferences: rows.map(r => preferenceValues(r, date)),
      at: sqliteDate(new Date()),
      origin
    })
    return new Set(inserted as string[])
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

class PostgresWriter implements DriverWriter {
  private readonly pool: pg.Pool

  constructor (config: pg.PoolConfig) {
    this.pool = new pg.Pool({ ...config, max: 2 })
    // An idle connection that breaks is replaced on next use; the error is not fatal.
    this.pool.on('error', () => {})
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    let broken = false
    // A connection that breaks between two queries emits 'error' on the client; unheard, that
    // would be an uncaught exception. The query in progress fails anyway and says why.
    const onError = (): void => {
      broken = true
    }
    client.on('error', onError)
    try {
      await client.query('BEGIN')
      const result = await work(client)
      await client.query('COMMIT')
      return result
    } catch (err) {
      broken = true
      await client.query('ROLLBACK').catch(() => {})
      throw new SinkError((err as Error).message, (err as { code?: string }).code)
    } finally {
      client.off('error', onError)
      client.release(broken)
    }
  }

  async writeAudit (events: AuditRow[], alerts: AlertRow[]): Promise<void> {
    await this.transaction(async client => {
      await client.query(
        unnestInsert('audit_events', AUDIT_COLUMNS),
        columnsOf(
          events.map(r => auditValues(r, pgDate)),
          AUDIT_COLUMNS.length
        )
      )
      if (alerts.length > 0) {
        await client.query(
          unnestInsert('alerts', ALERT_COLUMNS),
          columnsOf(
            alerts.map(a => alertValues(a, pgDate)),
            ALERT_COLUMNS.length
          )
        )
      }
    })
  }

  async importPreferences (rows: StoredPreference[], origin: string): Promise<Set<string>> {
    return await this.transaction(async client => {
      const inserted = await client.query<{ id: string }>(
        unnestInsert('preferences', PREFERENCE_COLUMNS) + ' ON CONFLICT ("externalId") DO NOTHING RETURNING "id"',
        columnsOf(
          rows.map(r => preferenceValues(r, pgDate)),
          PREFERENCE_COLUMNS.length
        )
      )
      const ids = inserted.rows.map(r => r.id)
      const refs: string[] = []
      for (let i = 0; i < ids.length; i += 1000) refs.push(JSON.stringify(ids.slice(i, i + 1000)))
      if (refs.length > 0) {
        await client.query(
          'INSERT INTO "changes" ("kind", "ref", "at", "origin") ' +
            "SELECT 'preferences', unnest($1::text[]), $2::timestamp(3), $3",
          [refs, pgDate(new Date()), origin]
        )
      }
      return new Set(ids)
    })
  }

  async close (): Promise<void> {
    await this.pool.end()
  }
}
