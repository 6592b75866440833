// The audit writer (SPEC §2 rule 7, §6, §7). Every answer waits for its audit row to commit, and
// rows are written in group commits: requests that arrive while a commit is under way share the
// next one, so durability costs one commit per batch rather than one per request. State changes
// (a preference, a client, a purpose) run inside the same transaction as their audit row and
// change-sequence row, so neither can be committed without the other.
import { Problem, STORE_UNAVAILABLE } from '../domain/problems.ts'
import { randomUUID } from 'node:crypto'
import type { Database } from './database.ts'
import type { Prisma as PrismaNS } from './generated/sqlite/client.ts'
import { genesisHash, hashEvent, type ChainedFields } from './audit-chain.ts'
import type { DriverWriter } from './driver-writer.ts'
import {
  AUDIT_COLUMNS,
  CHANGE_COLUMNS,
  auditValues,
  changeValues,
  columnsOf,
  dateText,
  insertStatement,
  type ChangeKind
} from './row-statements.ts'
import type { AuditType } from '../domain/audit.ts'
import type { EndUser } from '../domain/end-user.ts'

export type Tx = PrismaNS.TransactionClient

export interface AuditInput {
  /** Set when the id must be known before the event is written (the bulk filter's X-Audit-Id). */
  id?: string
  type: AuditType
  clientId: string | null
  requestId: string | null
  nhsNumber?: string | null
  purpose?: string | null
  outcome?: string | null
  details?: Record<string, unknown>
  /** The person at the keyboard, when the caller named one (SPEC §2 "Who asked"). */
  endUser?: EndUser | null
  /** The caller's X-Correlation-ID. */
  correlationId?: string | null
}

/** A client's name and ODS code as they are now: recorded on its events (SPEC §3 "Audit"). */
export type DescribeClient = (clientId: string) => { name: string; odsCode: string | null } | undefined

export interface AuditRecord extends ChainedFields {
  hash: string
}

export interface AlertInput {
  id: string
  nhsNumber: string
  purpose: string
  clientId: string
  reason: string
  endUser: EndUser | null
}

/** The audit writer could not commit: the answer must not leave (rule 7), so the request fails closed. */
export class StoreUnavailableError extends Problem {
  constructor (cause: unknown) {
    super('unavailable', STORE_UNAVAILABLE, undefined, 1)
    this.name = 'StoreUnavailableError'
    this.cause = cause
  }
}

interface Waiter<T> {
  resolve: (v: T) => void
  reject: (e: unknown) => void
}

type Item =
  | { kind: 'event'; input: AuditInput; alert: AlertInput | undefined; waiter: Waiter<AuditRecord> }
  | {
    kind: 'work'
    input: (result: unknown) => AuditInput
    work: (tx: Tx) => Promise<unknown>
    waiter: Waiter<{ result: unknown; audit: AuditRecord }>
  }

export class AuditWriter {
  private chain = randomUUID()
  private nextSeq = 0
  private prevHash = genesisHash(this.chain)
  private queue: Item[] = []
  private draining: Promise<void> | null = null
  private closed = false
  commits = 0
  constructor (
    private readonly db: Database,
    private readonly writer: DriverWriter,
    private readonly describeClient: DescribeClient = () => undefined
  ) {}

  get chainId (): string {
    return this.chain
  }

  /** Records one event (and optionally the alert it raises); resolves once committed. */
  record (input: AuditInput, alert?: AlertInput): Promise<AuditRecord> {
    return new Promise((resolve, reject) => {
      this.enqueue({ kind: 'event', input, alert, waiter: { resolve, reject } })
    })
  }

  /**
   * Runs `work` in a transaction together with the audit event describing its result; resolves
   * once both are committed. `work` must only write through the transaction it is given.
   */
  commit<T>(
    work: (tx: Tx) => Promise<T>,
    input: (result: T) => AuditInput
  ): Promise<{ result: T; audit: AuditRecord }> {
    return new Promise((resolve, reject) => {
      this.enqueue({
        kind: 'work',
        work,
        input: input as (r: unknown) => AuditInput,
        waiter: { resolve: resolve as Waiter<{ result: unknown; audit: AuditRecord }>['resolve'], reject }
      })
    })
  }

  /** Waits until everything queued so far is committed (or failed). */
  async flush (): Promise<void> {
    while (this.draining !== null) await this.draining
  }

  async close (): Promise<void> {
    await this.flush()
    this.closed = true
  }

  private enqueue (item: Item): void {
    if (this.closed) {
      item.waiter.reject(new Error('audit writer is closed'))
      return
    }
    this.queue.push(item)
    this.schedule()
  }

  private schedule (): void {
    if (this.draining !== null) return
    // setImmediate lets the requests of this event-loop turn join the same commit.
    this.draining = new Promise<void>(resolve => setImmediate(resolve))
      .then(async () => {
        await this.drain()
      })
      .finally(() => {
        this.draining = null
        if (this.queue.length > 0) this.schedule()
      })
  }

  private async drain (): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue
      this.queue = []
      let i = 0
      while (i < batch.length) {
        if (batch[i].kind === 'work') {
          await this.runWork(batch[i] as Extract<Item, { kind: 'work' }>)
          i++
          continue
        }
        let j = i
        while (j < batch.length && batch[j].kind === 'event') j++
        await this.writeEvents(batch.slice(i, j) as Array<Extract<Item, { kind: 'event' }>>)
        i = j
      }
    }
  }

  private chainEvent (input: AuditInput): AuditRecord {
    const client = input.clientId === null ? undefined : this.describeClient(input.clientId)
    const fields: ChainedFields = {
      id: input.id ?? randomUUID(),
      chain: this.chain,
      chainSeq: this.nextSeq,
      at: new Date(),
      type: input.type,
      clientId: input.clientId,
      requestId: input.requestId,
      nhsNumber: input.nhsNumber ?? null,
      purpose: input.purpose ?? null,
      outcome: input.outcome ?? null,
      details: JSON.stringify(input.details ?? {}),
      clientName: client?.name ?? null,
      clientOdsCode: client?.odsCode ?? null,
      endUser: input.endUser === undefined || input.endUser === null ? null : JSON.stringify(input.endUser),
      correlationId: input.correlationId ?? null,
      prevHash: this.prevHash
    }
    const record = { ...fields, hash: hashEvent(fields) }
    this.nextSeq++
    this.prevHash = record.hash
    return record
  }

  /**
   * After a failed commit we cannot know whether the database applied it (the answer may have
   * been lost), so the writer starts a fresh chain rather than risk reusing a position.
   */
  private startNewChain (): void {
    this.chain = randomUUID()
    this.nextSeq = 0
    this.prevHash = genesisHash(this.chain)
  }

  private async writeEvents (items: Array<Extract<Item, { kind: 'event' }>>): Promise<void> {
    const records = items.map(it => this.chainEvent(it.input))
    try {
      const alerts = items.flatMap((it, k) =>
        it.alert === undefined
          ? []
          : [
              {
                id: it.alert.id,
                auditId: records[k].id,
                nhsNumber: it.alert.nhsNumber,
                purpose: it.alert.purpose,
                clientId: it.alert.clientId,
                reason: it.alert.reason,
                endUser: it.alert.endUser,
                raisedAt: records[k].at,
                status: 'open' as const
              }
            ]
      )
      await this.writer.writeAudit(records, alerts)
      this.commits++
      items.forEach((it, k) => it.waiter.resolve(records[k]))
    } catch (err) {
      this.startNewChain()
      const failure = new StoreUnavailableError(err)
      for (const it of items) it.waiter.reject(failure)
    }
  }

  private async runWork (item: Extract<Item, { kind: 'work' }>): Promise<void> {
    let audit: AuditRecord | undefined
    try {
      const result = await this.db.prisma.$transaction(async tx => {
        const r = await item.work(tx)
        audit = this.chainEvent(item.input(r))
        await this.insertAudit(tx, [audit])
        return r
      })
      this.commits++
      item.waiter.resolve({ result, audit: audit as AuditRecord })
    } catch (err) {
      // The work itself may reject (a conflict, a missing row): that is the caller's answer, not
      // a store failure. Either way the chain position may have been consumed.
      if (audit !== undefined) this.startNewChain()
      item.waiter.reject(err)
    }
  }

  private async insertAudit (tx: Tx, records: AuditRecord[]): Promise<void> {
    const date = dateText(this.db.kind)
    await insertRows(
      tx,
      this.db,
      'audit_events',
      AUDIT_COLUMNS,
      records.map(r => auditValues(r, date))
    )
  }
}

/**
 * Writes rows inside a Prisma transaction with the provider's one INSERT for the table: run once
 * per row on SQLite (state changes write one or two rows), once with one array per column on
 * PostgreSQL (Prisma's pg adapter passes a JS array as a PostgreSQL array).
 */
async function insertRows (
  tx: Tx,
  db: Database,
  table: string,
  columns: readonly string[],
  rows: unknown[][]
): Promise<void> {
  const sql = insertStatement(db.kind, table, columns)
  if (db.kind === 'sqlite') {
    for (const row of rows) await tx.$executeRawUnsafe(sql, ...row)
  } else {
    await tx.$executeRawUnsafe(sql, ...columnsOf(rows, columns.length))
  }
}

/** Appends to the change sequence inside a state-changing transaction. */
export async function appendChange (
  tx: Tx,
  db: Database,
  kind: Exclude<ChangeKind, 'preferences'>,
  ref: string
): Promise<void> {
  const row = changeValues({ kind, ref, at: new Date(), origin: db.instanceId }, dateText(db.kind))
  await insertRows(tx, db, 'changes', CHANGE_COLUMNS, [row])
}
