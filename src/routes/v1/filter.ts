// POST /v1/filter: the bulk cohort filter for data-extraction pipelines (SPEC §5). The body is
// read as a stream and the answer is written while it arrives; each number is decided by the same
// engine as /v1/decisions. Backpressure is end to end: the answer is a pull stream, so a client
// that stops reading stops us reading its body. One audit event records the call; it is committed
// before the answer's last byte, and records an interrupted stream as incomplete.
import { createHash, randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { checkPurposeRequest, decideOutcome, type Basis } from '../../domain/decision.ts'
import { parseNhsNumber, plainNhsNumberFromBytes } from '../../domain/nhs-number.ts'
import { HttpProblem, problemResponses } from '../../plugins/problems.ts'
import { lineBlocks } from '../../streaming/lines.ts'
import { callerOf, dateOrDateTime, instantOrThrow, requireFreshView, security } from '../../http/common.ts'

const INPUT_TYPES = ['text/plain', 'text/csv']

export interface FilterCounts {
  read: number
  permitted: number
  denied: number
  invalid: number
  exempted: number
}

export default async function filterRoutes (fastify: FastifyInstance): Promise<void> {
  const services = fastify.runtime
  const { registry, index, audit } = services

  // The body stays a stream: no size limit applies to it, only to each line.
  fastify.addContentTypeParser(INPUT_TYPES, (_request, payload, done) => {
    done(null, payload)
  })

  fastify.post<{ Querystring: { purpose: string; asOf?: string } }>(
    '/filter',
    {
      onRequest: fastify.requireScope('consent:filter'),
      schema: {
        tags: ['decisions'],
        summary: 'Filter a cohort: keep the NHS numbers whose records may be shared for the purpose',
        description:
          "Body: one NHS number per line (text/plain, or text/csv with an optional nhs_number header; LF or CRLF; a trailing comma as in the national service's files). " +
          'Accept: text/plain answers the permitted numbers in input order; Accept: application/x-ndjson answers one object per input line ({ line, nhsNumber, decision, basis } or { line, error }). ' +
          'The answer streams while the body arrives. X-Audit-Id names the audit event with the counts and the SHA-256 of the body.',
        security,
        consumes: INPUT_TYPES,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['purpose'],
          properties: { purpose: { type: 'string', maxLength: 100 }, asOf: dateOrDateTime }
        },
        body: {
          type: 'string',
          description: 'One NHS number per line',
          example: 'nhs_number\n9434765919,\n943 476 5870\n'
        },
        response: {
          200: {
            description: 'The permitted NHS numbers (text/plain) or one result per line (application/x-ndjson)',
            content: {
              'text/plain': { schema: { type: 'string', example: '9434765919\n' } },
              'application/x-ndjson': {
                schema: {
                  type: 'string',
                  example:
                    '{"line":2,"nhsNumber":"9434765919","decision":"permit","basis":"default"}\n{"line":3,"error":"NHS number check digit is wrong"}\n'
                }
              }
            }
          },
          ...problemResponses(400, 401, 403, 406, 415, 503)
        }
      },
      // The schema documents the body; the stream itself is validated line by line.
      validatorCompiler: ({ httpPart }) => (httpPart === 'body' ? () => true : (undefined as never))
    },
    async (request, reply) => {
      const caller = callerOf(request)
      const purpose = request.query.purpose
      const problem = checkPurposeRequest(registry.catalog, caller.client.purposes, purpose, 'querystring:/purpose')
      if (problem !== null) throw problem
      const at = instantOrThrow(request.query.asOf, 'querystring:/asOf') ?? new Date()
      const accept = request.headers.accept ?? 'text/plain'
      const ndjson = accept.includes('application/x-ndjson')
      if (!ndjson && !/(text\/plain|text\/\*|\*\/\*)/.test(accept)) {
        throw new HttpProblem(
          406,
          'Accept must be text/plain (the permitted numbers) or application/x-ndjson (one result per line)'
        )
      }
      if (!(request.body instanceof Readable)) {
        throw new HttpProblem(415, 'Send the NHS numbers as text/plain or text/csv, one per line')
      }
      requireFreshView(services)
      const body = request.body
      const csv = (request.headers['content-type'] ?? '').startsWith('text/csv')
      const auditId = randomUUID()
      const catalog = registry.catalog
      const exemptions = caller.client.exemptions
      // A patient with no recorded choice always gets the same answer: decide it once, by the engine.
      const noChoice = decideOutcome({ catalog, purpose, records: [], exemptions, at })
      const counts: FilterCounts = { read: 0, permitted: 0, denied: 0, invalid: 0, exempted: 0 }
      const hash = createHash('sha256')
      const hashed = (async function * () {
        for await (const chunk of body) {
          hash.update(chunk as Buffer)
          yield chunk as Buffer
        }
      })()

      let complete = false
      type Outcome = { decision: 'permit' | 'deny'; basis: Basis }
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
            if (!services.feed.fresh) throw new Error('the consent store view went stale during the filter')
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
                json += `{"line":${line},"nhsNumber":"${text ?? String(value).padStart(10, '0')}","decision":"${d.decision}","basis":"${d.basis}"}\n`
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
              requestId: request.id,
              purpose,
              outcome: complete ? 'complete' : 'incomplete',
              details: {
                ...counts,
                complete,
                sha256: complete ? hash.digest('hex') : null,
                asOf: request.query.asOf ?? null,
                accept: ndjson ? 'application/x-ndjson' : 'text/plain'
              }
            })
            .catch(err => {
              request.log.error({ err: { message: (err as Error).message } }, 'filter audit event could not be written')
              throw err
            })
        }
      }

      const stream = Readable.from(answer(), { objectMode: false, highWaterMark: 256 * 1024 })
      // A client that goes away stops the work: the generator is closed, which stops reading the body.
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) stream.destroy()
      })
      return reply
        .header('x-audit-id', auditId)
        .type(ndjson ? 'application/x-ndjson; charset=utf-8' : 'text/plain; charset=utf-8')
        .send(stream)
    }
  )
}

/** The NHS number field of a line: text before a comma (the national files end each line with one). */
function firstField (text: string): string {
  const comma = text.indexOf(',')
  const field = comma === -1 ? text : text.slice(0, comma)
  return field.trim().replace(/^"(.*)"$/, '$1')
}
