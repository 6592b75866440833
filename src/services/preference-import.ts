// Bulk load of existing choices (SPEC §2, §3 import): NDJSON, millions of lines, read as a stream.
// Idempotent by externalId, so a re-run after a failure is safe; bad lines are rejected one by one
// with their line numbers and do not stop the rest. Imported choices take part in decisions as soon
// as the import returns (each batch is applied to this instance's index after it commits).
// A patient's trail must show the import that loaded their choice (SPEC §3 "Audit") without an
// audit event a line: a start event is committed before the first batch and every row names it
// (preferences.auditId); the completion event carries the counts and names the start event.
import { parseImportLine, type ImportChoice } from '../domain/import-line.ts'
import type { Runtime } from '../runtime.ts'
import { insertImportBatch } from '../store/importer.ts'
import { toIndexed } from '../store/rows.ts'
import { lineBlocks } from '../streaming/lines.ts'
import { askedBy, type Caller } from './types.ts'

const BATCH = 20_000
const MAX_IMPORT_LINE_BYTES = 16_384
const MAX_REPORTED_REJECTIONS = 10_000

export interface RejectedLine {
  line: number
  error: string
}

export interface ImportReport {
  imported: number
  /** Lines whose externalId was already loaded. */
  skipped: number
  /** The first MAX_REPORTED_REJECTIONS rejected lines; rejectedCount counts them all. */
  rejected: RejectedLine[]
  rejectedCount: number
  /** The completion event (with the counts; its details.startEventId names the start event). */
  auditId: string
}

export class PreferenceImportService {
  constructor (private readonly runtime: Runtime) {}

  /**
   * Loads every good line of the input (one JSON object a line) between a start event, which every
   * imported row names, and a completion event with the counts.
   */
  async importLines (caller: Caller, input: AsyncIterable<Buffer>): Promise<ImportReport> {
    const { db, audit, index, registry, writer } = this.runtime
    const who = askedBy(caller)
    const start = await audit.record({ type: 'import', ...who, outcome: 'started' })
    const catalog = registry.catalog
    const rejected: RejectedLine[] = []
    let rejectedCount = 0
    let imported = 0
    let skipped = 0
    let batch: ImportChoice[] = []
    const reject = (line: number, error: string): void => {
      rejectedCount++
      if (rejected.length < MAX_REPORTED_REJECTIONS) rejected.push({ line, error })
    }
    // Up to two batches commit (in order) while the next is parsed: the database and the parsing overlap.
    const committing: Array<Promise<void>> = []
    let failure: unknown = null
    const flush = async (): Promise<void> => {
      while (committing.length >= 2) await committing.shift()
      if (failure !== null) throw failure
      if (batch.length === 0) return
      const sent = batch
      batch = []
      committing.push(
        insertImportBatch(db, writer, sent, caller.client.id, start.id).then(
          inserted => {
            for (const r of inserted) index.apply(toIndexed(r))
            imported += inserted.length
            skipped += sent.length - inserted.length
          },
          (err: unknown) => {
            failure = err
          }
        )
      )
    }

    let line = 0
    try {
      for await (const block of lineBlocks(input, MAX_IMPORT_LINE_BYTES)) {
        for (let k = 0; k < block.count; k++) {
          const number = block.firstLine + k
          line = number
          if (block.ends[k] < 0) {
            reject(number, `line is longer than ${MAX_IMPORT_LINE_BYTES} bytes`)
            continue
          }
          const text = block.buf.toString('utf8', block.starts[k], block.ends[k])
          if (text.trim() === '') continue
          let value: unknown
          try {
            value = JSON.parse(text)
          } catch {
            reject(number, 'line is not valid JSON')
            continue
          }
          const parsed = parseImportLine(value, catalog, caller.client.purposes)
          if ('error' in parsed) {
            reject(number, parsed.error)
            continue
          }
          batch.push(parsed)
        }
        if (batch.length >= BATCH) await flush()
      }
      await flush()
      await Promise.all(committing)
      if (failure !== null) throw failure
    } catch (err) {
      // Batches may have committed: the trail says how far the import got (if the store still writes).
      await Promise.allSettled(committing)
      await audit
        .record({
          type: 'import',
          ...who,
          outcome: 'failed',
          details: { startEventId: start.id, lines: line, imported, skipped, rejected: rejectedCount }
        })
        .catch(() => {})
      throw err
    }
    const event = await audit.record({
      type: 'import',
      ...who,
      outcome: rejectedCount === 0 ? 'complete' : 'complete-with-rejections',
      details: { startEventId: start.id, lines: line, imported, skipped, rejected: rejectedCount }
    })
    return { imported, skipped, rejected, rejectedCount, auditId: event.id }
  }
}
