// POST /v1/preferences/import: NDJSON bulk load of existing choices (millions of lines), streamed.
// Idempotent by externalId, so a re-run after a failure is safe; bad lines are rejected one by one
// with their line numbers and do not stop the rest. Imported choices take part in decisions as
// soon as the answer is sent (each batch is applied to this instance's index after it commits).
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { parseImportLine, type ImportChoice } from '../../domain/import-line.ts'
import { HttpProblem, problemResponses } from '../../plugins/problems.ts'
import { insertImportBatch } from '../../store/importer.ts'
import { toIndexed } from '../../store/rows.ts'
import { lineBlocks } from '../../streaming/lines.ts'
import { callerOf, security } from '../../http/common.ts'

const BATCH = 20_000
const MAX_LINE_BYTES = 16_384
const MAX_REPORTED_REJECTIONS = 10_000

export default async function preferenceImportRoutes (fastify: FastifyInstance): Promise<void> {
  const { db, audit, index, registry, writer } = fastify.runtime
  fastify.addContentTypeParser(['application/x-ndjson', 'application/jsonl'], (_request, payload, done) => {
    done(null, payload)
  })

  fastify.post(
    '/preferences/import',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['preferences'],
        summary: 'Bulk load existing choices (NDJSON)',
        description:
          'One JSON object a line: { externalId, nhsNumber, purpose, decision, effectiveFrom?, source?, recordedBy?, note? } or { externalId, nhsNumber, code, … } with a GP Read code ' +
          '(9Nu0, 9Nu1, 9Nu4, 9Ndo, 9Ndl, 9Ndm, 9Ndn) in place of purpose + decision. Lines whose externalId was loaded before are skipped, so a re-run is safe. ' +
          'Each bad line is listed in rejected with its line number (the first 10 000; rejectedCount has them all).',
        security,
        consumes: ['application/x-ndjson'],
        body: {
          type: 'string',
          example:
            '{"externalId":"emis-1","nhsNumber":"9434765919","code":"9Nu4","effectiveFrom":"2019-05-01"}\n{"externalId":"emis-2","nhsNumber":"9434765870","purpose":"summary-care-record","decision":"deny","source":"gp-practice"}\n'
        },
        response: {
          200: {
            type: 'object',
            properties: {
              imported: { type: 'integer' },
              skipped: { type: 'integer', description: 'lines whose externalId was already loaded' },
              rejected: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { line: { type: 'integer' }, error: { type: 'string' } },
                  required: ['line', 'error']
                }
              },
              rejectedCount: { type: 'integer' },
              auditId: { type: 'string' }
            },
            required: ['imported', 'skipped', 'rejected', 'rejectedCount', 'auditId'],
            example: {
              imported: 1,
              skipped: 0,
              rejected: [{ line: 2, error: 'nhsNumber: NHS number check digit is wrong' }],
              rejectedCount: 1,
              auditId: 'a3c1f0de-6b2e-4f7a-8d91-2c4e5f6a7b80'
            }
          },
          ...problemResponses(400, 401, 403, 415, 503)
        }
      },
      validatorCompiler: ({ httpPart }) => (httpPart === 'body' ? () => true : (undefined as never))
    },
    async request => {
      const caller = callerOf(request)
      if (!(request.body instanceof Readable)) {
        throw new HttpProblem(415, 'Send the choices as application/x-ndjson, one JSON object per line')
      }
      const catalog = registry.catalog
      const rejected: Array<{ line: number; error: string }> = []
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
          insertImportBatch(db, writer, sent, caller.client.id).then(
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
      for await (const block of lineBlocks(request.body, MAX_LINE_BYTES)) {
        for (let k = 0; k < block.count; k++) {
          const number = block.firstLine + k
          line = number
          if (block.ends[k] < 0) {
            reject(number, `line is longer than ${MAX_LINE_BYTES} bytes`)
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
          const parsed = parseImportLine(value, catalog)
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
      const event = await audit.record({
        type: 'import',
        clientId: caller.client.id,
        requestId: request.id,
        outcome: rejectedCount === 0 ? 'complete' : 'complete-with-rejections',
        details: { lines: line, imported, skipped, rejected: rejectedCount }
      })
      return { imported, skipped, rejected, rejectedCount, auditId: event.id }
    }
  )
}
