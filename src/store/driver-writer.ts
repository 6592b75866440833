// The two write paths that must be fast, written against the drivers rather than through Prisma:
// the AuditWriter's group commits of audit rows (and the alerts they raise), on the hot path of
// every decision, and the bulk import of choices (SPEC §6). A profile showed Prisma's raw-query
// path and SQLite's synchronous execution taking most of the event loop under load. SQLite gets a
// worker thread with its own connection and prepared statements; PostgreSQL gets a small pool of
// its own and one INSERT ... SELECT FROM unnest(...) per batch (one statement text whatever the size).
// Both write with the statements and column mappings of row-statements.ts, as every other path does.
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import pg from 'pg'
import { sqliteDate, type Database } from './database.ts'
import type { StoredPreference } from './rows.ts'
import {
  ALERT_COLUMNS,
  AUDIT_COLUMNS,
  CHANGE_COLUMNS,
  PREFERENCE_COLUMNS,
  alertValues,
  auditValues,
  changeValues,
  columnsOf,
  insertStatement,
  memoDate,
  pgDate,
  preferenceValues,
  type AlertRow,
  type AuditRow
} from './row-statements.ts'

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
const { sql, changeRefAt } = workerData
const db = new Database(workerData.path, { timeout: 10000 })
db.pragma('journal_mode = WAL')
db.pragma('synchronous = FULL')
db.pragma('cache_size = -131072') // 128 MiB: bulk imports insert into three indexes at random places
let statements = null
const prepare = () => statements || (statements = {
  audit: db.prepare(sql.audit),
  alert: db.prepare(sql.alert),
  preference: db.prepare(sql.preference),
  change: db.prepare(sql.change)
})
const writeAudit = db.transaction((events, alerts) => {
  const s = prepare()
  for (const row of events) s.audit.run(row)
  for (const row of alerts) s.alert.run(row)
})
const importPreferences = db.transaction((rows, change) => {
  const s = prepare()
  const inserted = []
  for (const row of rows) if (s.preference.run(row).changes === 1) inserted.push(row[0])
  // One change row names up to 1 000 of them, so that no change row is large to read.
  for (let i = 0; i < inserted.length; i += 1000) {
    change[changeRefAt] = JSON.stringify(inserted.slice(i, i + 1000))
    s.change.run(change)
  }
  return inserted
})
parentPort.on('message', m => {
  if (m.close) { db.close(); parentPort.close(); return }
  try {
    const result = m.preferences ? importPreferences(m.preferences, m.change) : writeAudit(m.events, m.alerts)
    parentPort.postMessage({ id: m.id, ok: true, result })
  } catch (err) {
    statements = null // prepared again next time (the schema may have changed)
    parentPort.postMessage({ id: m.id, ok: false, message: err.message, code: err.code })
  }
})
`

const SQLITE_DRIVER = createRequire(import.meta.url).resolve('better-sqlite3')

/** Imports skip choices whose externalId is already stored (a batch sent again). */
const NEW_EXTERNAL_IDS_ONLY = ' ON CONFLICT ("externalId") DO NOTHING'

/** The statements the SQLite worker prepares: the texts every SQLite path writes with. */
const SQLITE_STATEMENTS = {
  audit: insertStatement('sqlite', 'audit_events', AUDIT_COLUMNS),
  alert: insertStatement('sqlite', 'alerts', ALERT_COLUMNS),
  preference: insertStatement('sqlite', 'preferences', PREFERENCE_COLUMNS) + NEW_EXTERNAL_IDS_ONLY,
  change: insertStatement('sqlite', 'changes', CHANGE_COLUMNS)
}

const PG_STATEMENTS = {
  audit: insertStatement('postgresql', 'audit_events', AUDIT_COLUMNS),
  alert: insertStatement('postgresql', 'alerts', ALERT_COLUMNS),
  preference: insertStatement('postgresql', 'preferences', PREFERENCE_COLUMNS) + NEW_EXTERNAL_IDS_ONLY,
  change: insertStatement('postgresql', 'changes', CHANGE_COLUMNS)
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
        sql: SQLITE_STATEMENTS,
        changeRefAt: CHANGE_COLUMNS.indexOf('ref')
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
    const date = memoDate(sqliteDate)
    const inserted = await this.send({
      preferences: rows.map(r => preferenceValues(r, date)),
      // The worker fills in the ref of each change row once it knows which choices were new.
      change: changeValues({ kind: 'preferences', ref: '', at: new Date(), origin }, sqliteDate)
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
        PG_STATEMENTS.audit,
        columnsOf(
          events.map(r => auditValues(r, pgDate)),
          AUDIT_COLUMNS.length
        )
      )
      if (alerts.length > 0) {
        await client.query(
          PG_STATEMENTS.alert,
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
        PG_STATEMENTS.preference + ' RETURNING "id"',
        columnsOf(
          rows.map(r => preferenceValues(r, pgDate)),
          PREFERENCE_COLUMNS.length
        )
      )
      const ids = inserted.rows.map(r => r.id)
      const at = new Date()
      const changes: unknown[][] = []
      for (let i = 0; i < ids.length; i += 1000) {
        const ref = JSON.stringify(ids.slice(i, i + 1000))
        changes.push(changeValues({ kind: 'preferences', ref, at, origin }, pgDate))
      }
      if (changes.length > 0) await client.query(PG_STATEMENTS.change, columnsOf(changes, CHANGE_COLUMNS.length))
      return new Set(ids)
    })
  }

  async close (): Promise<void> {
    await this.pool.end()
  }
}
