// The bulk cohort filter (SPEC §5): which NHS numbers of a cohort may be shared for a purpose.
// The input is read as a stream and the answer produced while it arrives; each number is decided by
// the same engine as a single decision. Backpressure is end to end: the answer is a pull stream, so
// a consumer that stops reading stops us reading the input. One audit event records the call; it is
// committed before the answer's last byte, and records an interrupted stream as incomplete.
import { createHash, randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { checkPurposeRequest, decideOutcome, type Basis } from '../domain/decision.ts'
import { invalidField, unavailable } from '../domain/problems.ts'
import { parseInstant } from '../domain/instant.ts'
import { parseNhsNumber, plainNhsNumberFromBytes } from '../domain/nhs-number.ts'
import type { Decision } from '../domain/purposes.ts'
import type { Runtime } from '../runtime.ts'
import { lineBlocks } from '../streaming/lines.ts'
import type { Caller } from './types.ts'

/** What the answer carries: the permitted numbers, or one result per input line. */
export type FilterFormat = 'text/plain' | 'application/x-ndjson'

export interface FilterRequest {
  purpose: string
  /** As the caller sent it (a date or a date-time), parsed here; recorded as sent in the audit event. */
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

export interface FilterOptions {
  /** Where the purpose and asOf were in the caller's request, for 400s. */
  paths?: { purpose: string; asOf: string }
  /** Told when the audit event cannot be written (the answer then ends unfinished). */
  log?: { error: (details: object, message: string) => void }
}

export interface FilterRun {
  /** The audit event that will record the call (known before the first byte of the answer). */
  auditId: string
  /**
   * The answer, pulled as it is read. Destroying it (the consumer went away) stops reading the
   * input, and the audit event records the call as incomplete.
   */
  output: Readable
}

type Outcome = { decision: Decision; basis: Basis }

const QUERY_PATHS = { purpose: 'querystring:/purpose', asOf: 'querystring:/asOf' }
// Enough answer buffered to keep the socket busy; beyond it, reading the input waits for the consumer.
const OUTPUT_HIGH_WATER_MARK = 256 * 1024

export class FilterService {
  constructor (private readonly runtime: Runtime) {}

  /**
   * Checks the request (rule 1's purpose checks, asOf, fail closed on a stale view: rule 6), then
   * returns the answer as a stream over the input; nothing is read until the answer is.
   */
  start (
    caller: Caller,
    request: FilterRequest,
    input: AsyncIterable<Buffer>,
    requestId: string,
    options: FilterOptions = {}
  ): FilterRun {
    const { registry, index, audit, feed } = this.runtime
    const paths = options.paths ?? QUERY_PATHS
    const { purpose, format } = request
    const catalog = registry.catalog
    const problem = checkPurposeRequest(catalog, caller.client.purposes, purpose, paths.purpose)
    if (problem !== null) throw problem
    const asOf = request.asOf === undefined ? undefined : parseInstant(request.asOf)
    if (asOf !== undefined && !asOf.ok) throw invalidField(paths.asOf, asOf.error)
    const at = asOf?.value ?? new Date()
    if (!feed.fresh) throw unavailable()

    const ndjson = format === 'application/x-ndjson'
    const auditId = randomUUID()
    const exemptions = caller.client.exemptions
    // A patient with no recorded choice always gets the same answer: decide it once, by the engine.
    const noChoice = decideOutcome({ catalog, purpose, records: [], exemptions, at })
    const counts: FilterCounts = { read: 0, permitted: 0, denied: 0, invalid: 0, exempted: 0 }
    const hash = createHash('sha256')
    const hashed = (async function * () {
      for await (const chunk of input) {
        hash.update(chunk)
        yield chunk
      }
    })()

    let complete = false
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

    async function * answer (): AsyncGenerator<string | Buffer> {
      try {
        for await (const block of lineBlocks(hashed)) {
          // Fail closed mid-stream too: a view of the store gone stale ends the answer unfinished
          // (the audit event records it as incomplete) rather than keep deciding on old data.
          if (!feed.fresh) throw new Error('the consent store view went stale during the filter')
          const { buf, starts, ends } = block
          // text/plain: permitted numbers copied straight into one Buffer per block.
          const out = ndjson ? null : Buffer.allocUnsafe(block.count * 11)
          let length = 0
          let json = ''
          for (let k = 0; k < block.count; k++) {
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
                if (ndjson) json += JSON.stringify({ line, error: parsed.error }) + '\n'
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
            } else if (d.decision === 'permit' && out !== null) {
              if (text === null) buf.copy(out, length, start, start + 10)
              else out.write(text, length, 'latin1')
              out[length + 10] = 0x0a
              length += 11
            }
          }
          if (out !== null && length > 0) yield out.subarray(0, length)
          if (json !== '') yield json
        }
        complete = true
      } finally {
        // Committed before the answer's end; an interrupted call is recorded as incomplete.
        await audit
          .record({
            id: auditId,
            type: 'filter',
            clientId: caller.client.id,
            requestId,
            purpose,
            outcome: complete ? 'complete' : 'incomplete',
            details: {
              ...counts,
              complete,
              sha256: complete ? hash.digest('hex') : null,
              asOf: request.asOf ?? null,
              accept: format
            }
          })
          .catch((err: unknown) => {
            options.log?.error({ err: { message: (err as Error).message } }, 'filter audit event could not be written')
            throw err
          })
      }
    }

    return { auditId, output: Readable.from(answer(), { objectMode: false, highWaterMark: OUTPUT_HIGH_WATER_MARK }) }
  }
}

/** The NHS number field of a line: text before a comma (the national files end each line with one). */
function firstField (text: string): string {
  const comma = text.indexOf(',')
  const field = comma === -1 ? text : text.slice(0, comma)
  return field.trim().replace(/^"(.*)"$/, '$1')
}
