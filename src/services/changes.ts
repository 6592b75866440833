// The change feed for downstream caches (SPEC §3 "Change feed"): the changes to patients' effective
// choices after a cursor, oldest first, so that a system keeping a local copy of opt-outs stays
// current without re-filtering everything. Built on the `changes` sequence every instance's
// ChangeFeed tails, so that a choice recorded, voided or imported at any instance appears at every
// instance; each item's decision comes from this instance's PreferenceIndex by the rules decisions
// use (decideConsent), never from a view that lacks the change (only changes up to the feed's
// position are answered). Every page is audited (changes.read, counts only).
import { checkPurposeRequest, decideConsent } from '../domain/decision.ts'
import type { PreferenceRecord } from '../domain/preferences.ts'
import { invalidField, unavailable } from '../domain/problems.ts'
import type { Decision, Purpose, PurposeCatalog } from '../domain/purposes.ts'
import { changeHead, changedChoices, changesBetween, type ChangeEntry } from '../store/changes-read.ts'
import type { Runtime } from '../runtime.ts'
import { askedBy, type Caller } from './types.ts'

/** Where a reader is: every change up to `after` read, and the first `skip` choices of change `after + 1`. */
export interface ChangePosition {
  after: bigint
  skip: number
}

export interface ChangeItem {
  nhsNumber: string
  purpose: string
  /** The patient's effective decision for the purpose from effectiveFrom on. */
  decision: Decision
  /** From when the decision holds: in the future for a pending (future-dated) choice. */
  effectiveFrom: Date
  /** When the change that caused the item was committed. */
  changedAt: Date
}

export interface ChangesQuery {
  since?: ChangePosition
  /** Only this purpose and those below it. */
  purpose?: string
  limit: number
  /** Seconds to wait for a change when there is none yet (capped at MAX_WAIT_SECONDS). */
  waitSeconds: number
  /** Aborted when the caller goes away: the wait ends. */
  signal?: AbortSignal
}

export interface ChangesPage {
  items: ChangeItem[]
  next: ChangePosition
}

export const MAX_WAIT_SECONDS = 30
export const DEFAULT_LIMIT = 1000
export const MAX_LIMIT = 10_000
/** Choices looked at per page at most: a page filtered down to few items still ends in bounded time. */
const SCAN_LIMIT = 20_000
/** Change rows read per query (each names up to 1 000 choices). */
const ROWS_PER_READ = 20
/** Pending changes sent after the current decision, per patient and purpose (rule 2 leaves one per level). */
const MAX_PENDING = 5

/** The opaque cursor: base64url of `after` or `after.skip`. */
export function encodeChangeCursor (p: ChangePosition): string {
  return Buffer.from(p.skip === 0 ? String(p.after) : `${p.after}.${p.skip}`).toString('base64url')
}

/** A cursor this service issued, or undefined. At most 18 digits: it always fits a bigint column. */
export function decodeChangeCursor (cursor: string): ChangePosition | undefined {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return undefined
  const m = /^([0-9]{1,18})(?:\.([1-9][0-9]{0,3}))?$/.exec(Buffer.from(cursor, 'base64url').toString())
  if (m === null) return undefined
  return { after: BigInt(m[1]), skip: m[2] === undefined ? 0 : Number(m[2]) }
}

export class ChangesService {
  /** Long polls in progress: ended when the app closes, so that shutdown never waits for them. */
  private readonly waits = new Set<AbortController>()

  constructor (private readonly runtime: Runtime) {}

  /** How many long polls are waiting now (tests wait for theirs to start before they write). */
  get waiting (): number {
    return this.waits.size
  }

  /** Ends every wait at once (each answers the page it has). */
  close (): void {
    for (const w of this.waits) w.abort()
  }

  async read (caller: Caller, query: ChangesQuery, sinceText: string | null): Promise<ChangesPage> {
    const { registry, feed, audit, db } = this.runtime
    const catalog = registry.catalog
    if (query.purpose !== undefined) {
      const problem = checkPurposeRequest(catalog, caller.client.purposes, query.purpose, 'querystring:/purpose')
      if (problem !== null) throw problem
    }
    // Fail closed like decisions (rule 6): a stale view would answer an empty feed as if nothing changed.
    if (!feed.fresh) throw unavailable()
    const since = query.since ?? { after: 0n, skip: 0 }
    if (since.after > feed.position && since.after > (await changeHead(db))) {
      throw invalidField(
        'querystring:/since',
        'cursor is ahead of this store (was it issued by another installation, or the store restored?): ' +
          'start again without since'
      )
    }
    const started = Date.now()
    const visible = affectedPurposes(catalog, caller.client.purposes, query.purpose)
    const limit = Math.min(Math.max(1, query.limit), MAX_LIMIT)
    let page = await this.collect(visible, since, limit)
    const deadline = started + Math.min(query.waitSeconds, MAX_WAIT_SECONDS) * 1000
    if (page.items.length === 0 && Date.now() < deadline) {
      const wait = new AbortController()
      const onAbort = (): void => wait.abort()
      query.signal?.addEventListener('abort', onAbort)
      if (query.signal?.aborted === true) wait.abort()
      this.waits.add(wait)
      try {
        while (page.items.length === 0 && !wait.signal.aborted && Date.now() < deadline) {
          // A page cut short by SCAN_LIMIT goes on at once; one that reached the feed's position waits.
          if (page.done && (!(await moved(feed, page.bound, deadline, wait.signal)) || !feed.fresh)) break
          const more = await this.collect(visible, page.next, limit)
          page = { ...more, changes: page.changes + more.changes, scanned: page.scanned + more.scanned }
        }
      } finally {
        this.waits.delete(wait)
        query.signal?.removeEventListener('abort', onAbort)
      }
    }
    await audit.record({
      ...askedBy(caller),
      type: 'changes.read',
      purpose: query.purpose ?? null,
      outcome: 'read',
      details: {
        since: sinceText,
        nextCursor: encodeChangeCursor(page.next),
        items: page.items.length,
        patients: new Set(page.items.map(i => i.nhsNumber)).size,
        changes: page.changes,
        choices: page.scanned,
        waitedMs: Date.now() - started
      }
    })
    return { items: page.items, next: page.next }
  }

  /** One page from `from`: changes up to the feed's position, whole choices, up to `limit` items. */
  private async collect (
    visible: ReadonlyMap<string, readonly Purpose[]>,
    from: ChangePosition,
    limit: number
  ): Promise<ChangesPage & { bound: bigint; done: boolean; changes: number; scanned: number }> {
    const { db, feed } = this.runtime
    const bound = feed.position
    const items: ChangeItem[] = []
    let next = from
    let changes = 0
    let scanned = 0
    const now = Date.now()
    for (;;) {
      const rows: ChangeEntry[] = await changesBetween(db, next.after, bound, ROWS_PER_READ)
      if (rows.length === 0) return { items, next, bound, done: true, changes, scanned }
      for (const row of rows) {
        const first = row.seq === next.after + 1n ? next.skip : 0
        const ids = row.preferenceIds.slice(first)
        const choices = ids.length === 0 ? new Map() : await changedChoices(db, ids)
        for (let i = 0; i < ids.length; i++) {
          const choice = choices.get(ids[i])
          const group =
            choice === undefined ? [] : this.itemsFor(visible.get(choice.purpose) ?? [], choice, row.at, now)
          if ((items.length > 0 && items.length + group.length > limit) || scanned >= SCAN_LIMIT) {
            // The rest of this change is for the next page: a patient's items never straddle two.
            return { items, next: { after: row.seq - 1n, skip: first + i }, bound, done: false, changes, scanned }
          }
          items.push(...group)
          scanned++
        }
        next = { after: row.seq, skip: 0 }
        changes++
        if (items.length >= limit || scanned >= SCAN_LIMIT) return { items, next, bound, done: false, changes, scanned }
      }
    }
  }

  /**
   * For each purpose the change can affect (the choice's own and those below it) that the caller
   * may see: the patient's effective decision now, then each pending change after it. The choice is
   * the patient's (exemptions are the caller's business, and a purpose that needs permission to view
   * is evaluated as if it were given: only a recorded choice can deny it then).
   */
  private itemsFor (
    purposes: readonly Purpose[],
    choice: { nhsNumber: string; purpose: string },
    changedAt: Date,
    now: number
  ): ChangeItem[] {
    if (purposes.length === 0) return []
    const { catalog } = this.runtime.registry
    const records = this.runtime.index.recordsFor(choice.nhsNumber)
    const items: ChangeItem[] = []
    for (const purpose of purposes) {
      const decide = (at: Date): ReturnType<typeof decideConsent> => decideFor(catalog, purpose, records, at)
      let outcome = decide(new Date(now))
      items.push({
        nhsNumber: choice.nhsNumber,
        purpose: purpose.code,
        decision: outcome.decision,
        effectiveFrom: outcome.preference === null ? changedAt : new Date(outcome.preference.effectiveFrom),
        changedAt
      })
      for (let n = 0; n < MAX_PENDING && outcome.pendingChange !== null; n++) {
        const at = new Date(outcome.pendingChange.effectiveFrom)
        items.push({
          nhsNumber: choice.nhsNumber,
          purpose: purpose.code,
          decision: outcome.pendingChange.outcome,
          effectiveFrom: at,
          changedAt
        })
        outcome = decide(at)
      }
    }
    return items
  }
}

function decideFor (
  catalog: PurposeCatalog,
  purpose: Purpose,
  records: readonly PreferenceRecord[],
  at: Date
): ReturnType<typeof decideConsent> {
  return decideConsent({
    catalog,
    purpose: purpose.code,
    records,
    exemptions: [],
    pointOfCare: purpose.requiresPermissionToView ? { permissionToView: 'granted' } : undefined,
    at
  })
}

/**
 * For each purpose code, the active purposes a choice recorded for it affects (itself and those
 * below it) that this caller may see and asked for, in code order.
 */
function affectedPurposes (
  catalog: PurposeCatalog,
  allowed: readonly string[],
  filter: string | undefined
): Map<string, Purpose[]> {
  const shown = catalog
    .all()
    .filter(
      p =>
        p.active &&
        catalog.isAllowed(allowed, p.code) &&
        (filter === undefined || catalog.chain(p.code).some(a => a.code === filter))
    )
    .sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
  const out = new Map<string, Purpose[]>()
  for (const p of catalog.all()) {
    out.set(
      p.code,
      shown.filter(q => catalog.chain(q.code).some(a => a.code === p.code))
    )
  }
  return out
}

/**
 * Resolves true once the feed's position passes `bound` (a change this instance wrote or the poller
 * saw), false at the deadline or when `signal` aborts.
 */
async function moved (feed: Runtime['feed'], bound: bigint, deadline: number, signal: AbortSignal): Promise<boolean> {
  return await new Promise<boolean>(resolve => {
    const finish = (result: boolean): void => {
      clearTimeout(timer)
      stop()
      signal.removeEventListener('abort', onAbort)
      resolve(result)
    }
    const onAbort = (): void => finish(false)
    const stop = feed.onAdvance(() => {
      if (feed.position > bound) finish(true)
    })
    signal.addEventListener('abort', onAbort)
    const timer = setTimeout(() => finish(false), Math.max(0, deadline - Date.now()))
    if (signal.aborted) finish(false)
    else if (feed.position > bound) finish(true)
  })
}
