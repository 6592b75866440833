// The one INSERT per row type and provider, and the one mapping of each row to its columns. Every
// path that writes audit events, alerts, choices or change-sequence rows uses these: the Prisma
// transactions of state changes (audit-writer.ts), the SQLite worker and the PostgreSQL pool of
// the hot paths (driver-writer.ts), and the benchmark's bulk load, so that a column cannot be
// added to one path and forgotten in another.
import { sqliteDate, type StoreKind } from './database.ts'
import type { ChainedFields } from './audit-chain.ts'
import type { StoredPreference } from './rows.ts'
import type { Alert } from '../domain/alerts.ts'

/** An audit event as stored: its chained fields and its hash. */
export type AuditRow = ChainedFields & { hash: string }

/** An alert as first stored: not yet reviewed. */
export type AlertRow = Omit<Alert, 'reviewedBy' | 'reviewedByUser' | 'reviewNote' | 'reviewedAt'>

/**
 * What a change-sequence row names: one choice, client or purpose, or ('preferences') a JSON array
 * of up to 1 000 choices committed by one import batch.
 */
export const CHANGE_KINDS = ['preference', 'client', 'purpose', 'preferences'] as const
export type ChangeKind = (typeof CHANGE_KINDS)[number]

export interface ChangeRow {
  kind: ChangeKind
  ref: string
  at: Date
  /** The instance that committed it, so that its own change feed can skip it. */
  origin: string
}

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
  'clientName',
  'clientOdsCode',
  'endUser',
  'correlationId',
  'prevHash',
  'hash'
] as const
export const ALERT_COLUMNS = [
  'id',
  'auditId',
  'nhsNumber',
  'purpose',
  'clientId',
  'reason',
  'endUser',
  'raisedAt',
  'status'
] as const
export const PREFERENCE_COLUMNS = [
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
  'externalId',
  'sourceCode',
  'auditId'
] as const
export const CHANGE_COLUMNS = ['kind', 'ref', 'at', 'origin'] as const

export type DateText = (d: Date) => string

/** PostgreSQL TIMESTAMP(3) holds UTC digits, as Prisma writes them. */
export const pgDate: DateText = d => d.toISOString().slice(0, -1)

/** How each provider is given a date, so that Prisma reads it back as the same instant. */
export function dateText (provider: StoreKind): DateText {
  return provider === 'sqlite' ? sqliteDate : pgDate
}

/** The same format, computed once per distinct instant (imported rows share a few dates). */
export function memoDate (format: DateText): DateText {
  const texts = new Map<number, string>()
  return d => {
    const t = d.getTime()
    let text = texts.get(t)
    if (text === undefined) {
      text = format(d)
      texts.set(t, text)
    }
    return text
  }
}

/** An audit row's values in AUDIT_COLUMNS order. */
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
    r.clientName,
    r.clientOdsCode,
    r.endUser,
    r.correlationId,
    r.prevHash,
    r.hash
  ]
}

/** An alert's values in ALERT_COLUMNS order. */
export function alertValues (a: AlertRow, date: DateText): unknown[] {
  return [
    a.id,
    a.auditId,
    a.nhsNumber,
    a.purpose,
    a.clientId,
    a.reason,
    a.endUser === null ? null : JSON.stringify(a.endUser),
    date(a.raisedAt),
    a.status
  ]
}

/** A choice's values in PREFERENCE_COLUMNS order. */
export function preferenceValues (r: StoredPreference, date: DateText): unknown[] {
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
    r.externalId,
    r.sourceCode,
    r.auditId
  ]
}

/** A change-sequence row's values in CHANGE_COLUMNS order. */
export function changeValues (r: ChangeRow, date: DateText): unknown[] {
  return [r.kind, r.ref, date(r.at), r.origin]
}

/** PostgreSQL's type for each column that is not text, for unnest's arrays. */
const PG_TYPES: Readonly<Record<string, string>> = {
  chainSeq: 'int',
  at: 'timestamp(3)',
  raisedAt: 'timestamp(3)',
  effectiveFrom: 'timestamp(3)',
  recordedAt: 'timestamp(3)'
}

/**
 * The INSERT for `table`. SQLite: one row of ? parameters, prepared once and run per row (a
 * prepared single-row INSERT is SQLite's fastest bulk path). PostgreSQL: any number of rows as one
 * array per column ($1..$n in the order of `columns`, see `columnsOf`), one statement text
 * whatever the size.
 */
export function insertStatement (provider: StoreKind, table: string, columns: readonly string[]): string {
  const head = `INSERT INTO "${table}" (${columns.map(c => `"${c}"`).join(', ')}) `
  if (provider === 'sqlite') return head + `VALUES (${columns.map(() => '?').join(', ')})`
  return head + `SELECT * FROM unnest(${columns.map((c, i) => `$${i + 1}::${PG_TYPES[c] ?? 'text'}[]`).join(', ')})`
}

/** Rows as one array per column: the parameters of a PostgreSQL `insertStatement`. */
export function columnsOf (rows: unknown[][], width: number): unknown[][] {
  return Array.from({ length: width }, (_, c) => rows.map(r => r[c]))
}
