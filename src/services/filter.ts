// The bulk cohort filter (SPEC §5): which NHS numbers of a cohort may be shared for a purpose.
// The input is read as a stream and the answer produced while it arrives; each number is decided by
// the same engine as a single decision. Backpressure is end to end: the answer is a pull stream, so
// a consumer that stops reading stops us reading the input.
// No NHS number leaves before an audit record that covers it is committed (rule 7). A run is a
// start event, committed before the answer starts (its id is the run's id and X-Audit-Id); then the
// answer in slices, each held back until a checkpoint covering it (running counts, the SHA-256 of the
// input so far, the last input line) is committed; then a completion event. After a crash the audit
// says which lines were released, to the slice; a run cut short while the process lives records why
// in an incomplete event; a run with no completion event (its process killed) reads as incomplete.
import { createHash, randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { checkPurposeRequest, decideOutcome, type Basis } from '../domain/decision.ts'
import { Problem, STORE_UNAVAILABLE, invalidField, notFound, unavailable } from '../domain/problems.ts'
import { parseInstant } from '../domain/instant.ts'
import { parseNhsNumber, plainNhsNumberFromBytes } from '../domain/nhs-number.ts'
import type { Decision } from '../domain/purposes.ts'
import type { Runtime } from '../runtime.ts'
import type { StoredEvent } from '../store/audit-chain.ts'
import { auditEventAndSequel } from '../store/audit-log.ts'
import { lineBlocks, type LineBlock } from '../streaming/lines.ts'
import { askedBy, type Caller } from './types.ts'

/** What the answer carries: the permitted numbers, or one result per input line. */
export type FilterFormat = 'text/plain' | 'application/x-ndjson'

export interface FilterRequest {
  purpose: string
  /** As the caller sent it (a date or a date-time), parsed here; recorded as sent in the start event. */
  asOf?: string
  format: FilterFormat
}

export interface FilterCounts {
  read: number
  permitted: number
  denied: number
  invalid: number
  exempted: number
}

/** How far a run had gone when an event was written: what that event covers. */
export interface FilterProgress extends FilterCounts {
  /** Answer lines released: the permitted numbers (text/plain) or the result objects (ndjson). */
  released: number
  /** The last input line covered (1-based; 0 before any). */
  lastLine: number
  /** Input bytes read; inputSha256 is the SHA-256 of exactly these bytes (they may end mid-line). */
  inputBytes: number
  inputSha256: string
}

export type FilterPhase = 'started' | 'checkpoint' | 'completed' | 'incomplete'

export interface FilterOptions {
  /** Where the purpose and asOf were in the caller's request, for 400s. */
  paths?: { purpose: string; asOf: string }
  /** Told when an audit event cannot be written (the answer then ends unfinished). */
  log?: { error: (details: object, message: string) => void }
}

export interface FilterRun {
  /** The run's id: its start event, committed before this is returned (X-Audit-Id). */
  auditId: string
  /**
   * The answer, pulled as it is read. Destroying it (the consumer went away) stops reading the
   * input, and the run is recorded as incomplete.
   */
  output: Readable
}

/** A run as its events tell it (GET /v1/filter/runs/{id}). */
export interface FilterRunState {
  id: string
  clientId: string | null
  clientName: string | null
  purpose: string | null
  accept: string | null
  asOf: string | null
  startedAt: Date
  /** When the completion or incomplete event was written; null when none was (the process died). */
  endedAt: Date | null
  status: 'completed' | 'incomplete'
  /** Why a run was cut short, when its process lived to say so. */
  reason: string | null
  /** Counts, released lines and last line as of the latest event: what had left by then. */
  counts: FilterCounts
  released: number
  lastLine: number
  /** The SHA-256 of the whole input: only a completed run has read all of it. */
  inputSha256: string | null
  checkpoints: Array<{ id: string; at: Date; released: number; lastLine: number }>
}

type Outcome = { decision: Decision; basis: Basis }

const QUERY_PATHS = { purpose: 'querystring:/purpose', asOf: 'querystring:/asOf' }
// Enough answer buffered to keep the socket busy; beyond it, reading the input waits for the consumer.
const OUTPUT_HIGH_WATER_MARK = 256 * 1024
// A slice (the output one checkpoint covers) is at most this many lines or this long (SPEC §5).
const SLICE_MAX_LINES = 100_000
const SLICE_MAX_MS = 5000
// Output waits for its checkpoint. When the next input does not come within this time, what is
// pending is released rather than held until more arrives: a slow upload still streams its answer.
const INPUT_PAUSE_MS = 20
const PAUSED = Symbol('paused')

const STALE_DURING_RUN = 'the consent store view went stale during the filter'

/** Fail closed mid-run: a 503 when nothing has been sent yet, else the answer ends unfinished. */
class StaleViewError extends Problem {
  constructor () {
    super('unavailable', STORE_UNAVAILABLE, undefined, 1)
    this.name = 'StaleViewError'
  }
}

export class FilterService {
  constructor (private readonly runtime: Runtime) {}

  /**
   * Checks the request (rule 1's purpose checks, rule 8's asOf, fail closed on a stale view: rule
   * 6), commits the run's start event, then returns the answer as a stream over the input; nothing
   * is read until the answer is.
   */
  async start (
    caller: Caller,
    request: FilterRequest,
    input: AsyncIterable<Buffer>,
    options: FilterOptions = {}
  ): Promise<FilterRun> {
    const { registry, index, audit, feed } = this.runtime
    const paths = options.paths ?? QUERY_PATHS
    const { purpose, format } = request
    const catalog = registry.catalog
    const problem = checkPurposeRequest(catalog, caller.client.purposes, purpose, paths.purpose)
    if (problem !== null) throw problem
    const asOf = request.asOf === undefined ? undefined : parseInstant(request.asOf)
    if (asOf !== undefined && !asOf.ok) throw invalidField(paths.asOf, asOf.error)
    // One reading of the clock: compared with a second one, a run without asOf would be refused
    // whenever the millisecond ticked between the two.
    const now = new Date()
    const at = asOf?.value ?? now
    // Rule 8: what would have been released then is a replay, never an authorisation to release now.
    if (at.getTime() < now.getTime()) {
      throw invalidField(
        paths.asOf,
        'asOf earlier than now is refused: a replay of what would have been decided then is only for ' +
          'POST /v1/decisions with the audit:read scope. The filter is the last gate before identifiable data ' +
          'leaves, so it decides about now (or a future asOf).'
      )
    }
    if (!feed.fresh) throw unavailable()

    const ndjson = format === 'application/x-ndjson'
    const runId = randomUUID()
    const exemptions = caller.client.exemptions
    const who = askedBy(caller)
    const event = async (phase: FilterPhase, details: Record<string, unknown>): Promise<void> => {
      await audit.record({
        ...(phase === 'started' ? { id: runId } : {}),
        ...who,
        type: 'filter',
        purpose,
        outcome: phase,
        details: { runId, phase, ...details }
      })
    }
    await event('started', { asOf: request.asOf ?? null, accept: format })

    // A patient with no recorded choice always gets the same answer: decide it once, by the engine.
    const noChoice = decideOutcome({ catalog, purpose, records: [], exemptions, at })
    const counts: FilterCounts = { read: 0, permitted: 0, denied: 0, invalid: 0, exempted: 0 }
    const hash = createHash('sha256')
    let inputBytes = 0
    const hashed = (async function * () {
      for await (const chunk of input) {
        hash.update(chunk)
        inputBytes += chunk.length
        yield chunk
      }
    })()
    let lastLine = 0
    // Decided but not yet released: the output of the slice the next checkpoint will cover.
    let pending: Array<Buffer | string> = []
    let pendingLines = 0
    let sliceStartedAt = 0
    let released = 0
    let checkpoints = 0
    let covered = { ...counts, released: 0, lastLine: 0 }

    const decide = (nhsNumber: number, text: string | null): Outcome => {
      if (!index.hasChoices(nhsNumber)) return noChoice
      const records = index.recordsFor(text ?? String(nhsNumber).padStart(10, '0'))
      return decideOutcome({ catalog, purpose, records, exemptions, at })
    }
    const count = (d: Outcome): void => {
      if (d.decision === 'permit') {
        counts.permitted++
        if (d.basis === 'exemption') counts.exempted++
      } else {
        counts.denied++
      }
    }

    /** Decides lines [from, to) of a block into pending (each line adds at most one answer line). */
    const decideLines = (block: LineBlock, from: number, to: number): void => {
      const { buf, starts, ends } = block
      // text/plain: permitted numbers copied straight into one Buffer.
      const out = ndjson ? null : Buffer.allocUnsafe((to - from) * 11)
      let length = 0
      let json = ''
      let lines = 0
      for (let k = from; k < to; k++) {
        const line = block.firstLine + k
        const start = starts[k]
        const end = ends[k]
        const fast = end < 0 ? -1 : plainNhsNumberFromBytes(buf, start, end)
        let value = fast
        let text: string | null = null
        if (fast < 0) {
          // Every other form, and every error, through the one NHS number rule.
          const field = end < 0 ? null : firstField(buf.toString('latin1', start, end))
          if (field === '') continue
          if (line === 1 && field !== null && /^"?nhs_number"?$/i.test(field)) continue
          const parsed =
            field === null
              ? { ok: false as const, error: 'line is too long to be an NHS number' }
              : parseNhsNumber(field)
          counts.read++
          if (!parsed.ok) {
            counts.invalid++
            if (ndjson) {
              json += JSON.stringify({ line, error: parsed.error }) + '\n'
              lines++
            }
            continue
          }
          text = parsed.value
          value = Number(parsed.value)
        } else {
          counts.read++
        }
        const d = decide(value, text)
        count(d)
        if (ndjson) {
          const nhsNumber = text ?? String(value).padStart(10, '0')
          json += `{"line":${line},"nhsNumber":"${nhsNumber}","decision":"${d.decision}","basis":"${d.basis}"}\n`
          lines++
        } else if (d.decision === 'permit' && out !== null) {
          if (text === null) buf.copy(out, length, start, start + 10)
          else out.write(text, length, 'latin1')
          out[length + 10] = 0x0a
          length += 11
          lines++
        }
      }
      lastLine = block.firstLine + to - 1
      if (lines === 0) return
      if (pendingLines === 0) sliceStartedAt = Date.now()
      pendingLines += lines
      if (out !== null) pending.push(out.subarray(0, length))
      else pending.push(json)
    }

    const progress = (): FilterProgress => ({
      ...counts,
      released: released + pendingLines,
      lastLine,
      inputBytes,
      // copy(): the digest so far, while the hash goes on over the rest of the input.
      inputSha256: hash.copy().digest('hex')
    })

    /** Commits a checkpoint covering everything decided so far, then lets its slice go. */
    async function * release (): AsyncGenerator<Buffer | string> {
      const reached = progress()
      checkpoints++
      await event('checkpoint', { checkpoint: checkpoints, ...reached })
      covered = { ...counts, released: reached.released, lastLine: reached.lastLine }
      const slice = pending
      released = reached.released
      pending = []
      pendingLines = 0
      for (const chunk of slice) yield chunk
    }

    async function * answer (): AsyncGenerator<Buffer | string> {
      const blocks = lineBlocks(hashed)
      let next: Promise<IteratorResult<LineBlock>> | null = null
      let completed = false
      let failure: unknown = null
      try {
        for (;;) {
          next ??= blocks.next()
          // With output pending, wait for more input only briefly (the promise is kept, not lost).
          const result = pendingLines === 0 ? await next : await within(next, INPUT_PAUSE_MS)
          if (result === PAUSED) {
            yield * release()
            continue
          }
          next = null
          if (result.done === true) break
          // Fail closed mid-stream too: a view of the store gone stale ends the answer unfinished
          // rather than keep deciding on old data.
          if (!feed.fresh) throw new StaleViewError()
          const block = result.value
          for (let k = 0; k < block.count;) {
            const to = Math.min(block.count, k + SLICE_MAX_LINES - pendingLines)
            decideLines(block, k, to)
            k = to
            if (pendingLines >= SLICE_MAX_LINES) yield * release()
          }
          if (pendingLines > 0 && Date.now() - sliceStartedAt >= SLICE_MAX_MS) yield * release()
        }
        if (pendingLines > 0) yield * release()
        // Committed before the answer's end: a client that saw the end knows the run is on record.
        await event('completed', {
          ...counts,
          released,
          lastLine,
          inputBytes,
          inputSha256: hash.digest('hex'),
          checkpoints
        })
        completed = true
      } catch (err) {
        failure = err
        throw err
      } finally {
        if (!completed) {
          // Stops reading the input once any read under way settles.
          blocks.return(undefined).catch(() => {})
          await event('incomplete', { reason: reasonFor(failure), ...covered, checkpoints }).catch((err: unknown) => {
            options.log?.error(
              { err: { message: (err as Error).message }, runId },
              'the incomplete event of a filter run could not be written'
            )
          })
        }
      }
    }

    return {
      auditId: runId,
      output: Readable.from(answer(), { objectMode: false, highWaterMark: OUTPUT_HIGH_WATER_MARK })
    }
  }

  /** A run's state from its events (the start event's id); 404 when it is not a run's start. */
  async run (id: string): Promise<FilterRunState> {
    await this.runtime.audit.flush()
    const events = await auditEventAndSequel(
      this.runtime.db,
      id,
      e => detailsOf(e).runId === id,
      e => ['completed', 'incomplete'].includes(String(detailsOf(e).phase))
    )
    if (events === null || events[0].type !== 'filter' || detailsOf(events[0]).phase !== 'started') {
      throw notFound(`${id} is not the start of a bulk filter run (the X-Audit-Id of a POST /v1/filter)`)
    }
    const [first, ...rest] = events
    const started = detailsOf(first)
    const later = rest.map(e => ({ e, d: detailsOf(e) }))
    const end = later.find(({ d }) => d.phase === 'completed' || d.phase === 'incomplete')
    const checkpoints = later.filter(({ d }) => d.phase === 'checkpoint')
    const d = (end ?? checkpoints.at(-1))?.d ?? {}
    return {
      id,
      clientId: first.clientId,
      clientName: first.clientName,
      purpose: first.purpose,
      accept: typeof started.accept === 'string' ? started.accept : null,
      asOf: typeof started.asOf === 'string' ? started.asOf : null,
      startedAt: first.at,
      endedAt: end?.e.at ?? null,
      status: end?.d.phase === 'completed' ? 'completed' : 'incomplete',
      reason: end !== undefined && typeof end.d.reason === 'string' ? end.d.reason : null,
      counts: {
        read: numberIn(d, 'read'),
        permitted: numberIn(d, 'permitted'),
        denied: numberIn(d, 'denied'),
        invalid: numberIn(d, 'invalid'),
        exempted: numberIn(d, 'exempted')
      },
      released: numberIn(d, 'released'),
      lastLine: numberIn(d, 'lastLine'),
      inputSha256: end?.d.phase === 'completed' && typeof d.inputSha256 === 'string' ? d.inputSha256 : null,
      checkpoints: checkpoints.map(({ e, d }) => ({
        id: e.id,
        at: e.at,
        released: numberIn(d, 'released'),
        lastLine: numberIn(d, 'lastLine')
      }))
    }
  }
}

/** A promise's value, or PAUSED when it has not settled within ms (it goes on, to be awaited again). */
async function within<T> (promise: Promise<T>, ms: number): Promise<T | typeof PAUSED> {
  let timer: NodeJS.Timeout | undefined
  const paused = new Promise<typeof PAUSED>(resolve => {
    timer = setTimeout(resolve, ms, PAUSED)
  })
  try {
    return await Promise.race([promise, paused])
  } finally {
    clearTimeout(timer)
  }
}

/** Why a run stopped before its end, as its incomplete event says. */
function reasonFor (failure: unknown): string {
  if (failure === null) return 'the answer was closed before its end (the client went away)'
  if (failure instanceof StaleViewError) return STALE_DURING_RUN
  const err = failure as { code?: unknown; message?: unknown }
  if (err.code === 'ECONNRESET' || err.code === 'ERR_STREAM_PREMATURE_CLOSE' || err.message === 'aborted') {
    return 'the request body stopped before its end (the client went away)'
  }
  return `the filter failed: ${String(err.message ?? failure)}`
}

function numberIn (details: Record<string, unknown>, key: string): number {
  const value = details[key]
  return typeof value === 'number' ? value : 0
}

function detailsOf (e: StoredEvent): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(e.details)
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/** The NHS number field of a line: text before a comma (the national files end each line with one). */
function firstField (text: string): string {
  const comma = text.indexOf(',')
  const field = comma === -1 ? text : text.slice(0, comma)
  return field.trim().replace(/^"(.*)"$/, '$1')
}
