// POST /v1/filter: the bulk cohort filter for data-extraction pipelines (SPEC §5). The filter is
// the filter service's (src/services/filter.ts); this file is its HTTP shape: the body kept a
// stream, content negotiation, and the service's answer piped to the reply as it is produced.
import type { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import type { FilterFormat, FilterRunState } from '../../services/filter.ts'
import { HttpProblem, problemResponses } from '../../plugins/problems.ts'
import { callerOf, dateOrDateTime, security, streamedBody, streamOrThrow, type JsonOf } from '../../http/common.ts'

const INPUT_TYPES = ['text/plain', 'text/csv']

const countsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    read: { type: 'integer', description: 'Lines that were not blank or the header' },
    permitted: { type: 'integer' },
    denied: { type: 'integer' },
    invalid: { type: 'integer', description: 'Lines that are not a valid NHS number' },
    exempted: { type: 'integer', description: "Permitted through the caller's exemptions (rule 4)" }
  },
  required: ['read', 'permitted', 'denied', 'invalid', 'exempted']
} as const

const runSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    "A bulk filter run as its audit events tell it: what had been released by the run's latest event. " +
    'A run without a completion event, including one whose process was killed, is incomplete.',
  properties: {
    id: { type: 'string', description: "The run's start event (the answer's X-Audit-Id)" },
    clientId: { type: ['string', 'null'] },
    clientName: { type: ['string', 'null'], description: "The client's name when the run started" },
    purpose: { type: ['string', 'null'] },
    accept: { type: ['string', 'null'], description: 'The media type answered' },
    asOf: { type: ['string', 'null'], description: 'The asOf the caller sent, if any' },
    startedAt: { type: 'string', format: 'date-time' },
    endedAt: {
      type: ['string', 'null'],
      format: 'date-time',
      description: 'When the run recorded its end; null when it never did (its process died)'
    },
    status: { type: 'string', enum: ['completed', 'incomplete'] },
    reason: { type: ['string', 'null'], description: 'Why the run stopped early, when its process lived to say so' },
    counts: { ...countsSchema, description: 'Counts of the input lines up to lastLine' },
    released: {
      type: 'integer',
      description: 'Answer lines released: permitted numbers (text/plain) or result objects (ndjson)'
    },
    lastLine: { type: 'integer', description: 'The last input line whose answer was released' },
    inputSha256: {
      type: ['string', 'null'],
      description: 'SHA-256 of the whole body; null unless completed (each checkpoint holds the hash so far)'
    },
    checkpoints: {
      type: 'array',
      description: 'Each checkpoint, committed before the slice of the answer it covers left',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          id: { type: 'string' },
          at: { type: 'string', format: 'date-time' },
          released: { type: 'integer' },
          lastLine: { type: 'integer' }
        },
        required: ['id', 'at', 'released', 'lastLine']
      }
    }
  },
  required: [
    'id',
    'clientId',
    'clientName',
    'purpose',
    'accept',
    'asOf',
    'startedAt',
    'endedAt',
    'status',
    'reason',
    'counts',
    'released',
    'lastLine',
    'inputSha256',
    'checkpoints'
  ],
  example: {
    id: '5b0f4c1e-2a77-4e0b-9f3d-8c6a1e2d3f40',
    clientId: '2f1e0d9c-8b7a-4654-a3b2-c1d0e9f8a7b6',
    clientName: 'Research extract pipeline',
    purpose: 'planning-research',
    accept: 'text/plain',
    asOf: null,
    startedAt: '2026-12-02T09:00:00.000Z',
    endedAt: '2026-12-02T09:00:41.000Z',
    status: 'completed',
    reason: null,
    counts: { read: 250000, permitted: 225000, denied: 25000, invalid: 0, exempted: 0 },
    released: 225000,
    lastLine: 250000,
    inputSha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    checkpoints: [
      {
        id: '0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5',
        at: '2026-12-02T09:00:18.000Z',
        released: 100000,
        lastLine: 111111
      },
      {
        id: '1d2e3f4a-5b6c-4d7e-8f90-91a2b3c4d5e6',
        at: '2026-12-02T09:00:36.000Z',
        released: 200000,
        lastLine: 222222
      },
      { id: '2e3f4a5b-6c7d-4e8f-9a01-a2b3c4d5e6f7', at: '2026-12-02T09:00:41.000Z', released: 225000, lastLine: 250000 }
    ]
  }
} as const

function runJson (run: FilterRunState): JsonOf<typeof runSchema> {
  return {
    ...run,
    startedAt: run.startedAt.toISOString(),
    endedAt: run.endedAt?.toISOString() ?? null,
    checkpoints: run.checkpoints.map(c => ({ ...c, at: c.at.toISOString() }))
  }
}

/** The answer's schemas document the text it carries; the reply sends that text as a stream. */
type StreamedTextProvider = JsonSchemaToTsProvider<{
  SerializerSchemaOptions: { deserialize: [{ pattern: { type: 'string' }; output: Readable }] }
}>

export default async function filterRoutes (fastify: FastifyInstance): Promise<void> {
  const streamed = streamedBody(fastify, INPUT_TYPES)

  fastify.withTypeProvider<StreamedTextProvider>().post(
    '/filter',
    {
      onRequest: fastify.requireScope('consent:filter'),
      config: { bulkStream: 'filter' },
      schema: {
        tags: ['decisions'],
        summary: 'Filter a cohort: keep the NHS numbers whose records may be shared for the purpose',
        description:
          'Body: one NHS number per line (text/plain, or text/csv with an optional nhs_number header; LF or CRLF; ' +
          "a trailing comma as in the national service's files). " +
          'Accept: text/plain answers the permitted numbers in input order; ' +
          'Accept: application/x-ndjson answers one object per input line ' +
          '({ line, nhsNumber, decision, basis } or { line, error }). ' +
          'The answer streams while the body arrives, in slices: no NHS number leaves before an audit event ' +
          'covering it is committed (a start event before the first byte, a checkpoint with the running counts, ' +
          'the SHA-256 of the input so far and the last input line before each slice of at most 100 000 lines ' +
          'or 5 seconds, then a completion event with the final counts and the SHA-256 of the whole body). ' +
          'X-Audit-Id is the run: its state is GET /v1/filter/runs/{X-Audit-Id} (audit:read). ' +
          'asOf earlier than now is refused (400): a replay is only for POST /v1/decisions with audit:read. ' +
          'A client holds at most FILTER_STREAMS_PER_CLIENT (default 2) filter streams at once on an instance; ' +
          'the next is a 429 with Retry-After, before its body is read or anything is recorded. The body may ' +
          'arrive slowly but not pause for STREAM_IDLE_TIMEOUT_MS (default 30 s): then a 408, or, once the answer ' +
          'has begun, the connection is closed and the run recorded as incomplete.',
        security,
        consumes: INPUT_TYPES,
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['purpose'],
          properties: {
            purpose: { type: 'string', maxLength: 100 },
            asOf: {
              ...dateOrDateTime,
              description: 'Decide as at this later time (a date is its midnight UTC); earlier than now is a 400'
            }
          }
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
                    '{"line":2,"nhsNumber":"9434765919","decision":"permit","basis":"default"}\n' +
                    '{"line":3,"error":"NHS number check digit is wrong"}\n'
                }
              }
            }
          },
          ...problemResponses(400, 401, 403, 406, 408, 415, 429, 503)
        }
      },
      ...streamed
    },
    async (request, reply) => {
      const accept = request.headers.accept ?? 'text/plain'
      const ndjson = accept.includes('application/x-ndjson')
      if (!ndjson && !/(text\/plain|text\/\*|\*\/\*)/.test(accept)) {
        throw new HttpProblem(
          406,
          'Accept must be text/plain (the permitted numbers) or application/x-ndjson (one result per line)'
        )
      }
      const body = streamOrThrow(request.body, 'Send the NHS numbers as text/plain or text/csv, one per line')
      const format: FilterFormat = ndjson ? 'application/x-ndjson' : 'text/plain'
      const { auditId, output } = await fastify.services.filter.start(
        callerOf(request),
        { purpose: request.query.purpose, asOf: request.query.asOf, format },
        body,
        { log: request.log }
      )
      // A client that goes away stops the work: the answer is closed, which stops reading the body.
      // (An answer the service itself cut short, on an error, has destroyed the output already.)
      const abandoned = (): void => {
        if (reply.raw.writableFinished || output.destroyed) return
        request.log.info({ auditId }, 'client aborted the request')
        output.destroy()
      }
      if (reply.raw.destroyed) abandoned()
      else reply.raw.on('close', abandoned)
      return reply.header('x-audit-id', auditId).type(`${format}; charset=utf-8`).send(output)
    }
  )

  fastify.withTypeProvider<JsonSchemaToTsProvider>().get(
    '/filter/runs/:id',
    {
      onRequest: fastify.requireScope('audit:read'),
      schema: {
        tags: ['audit'],
        summary: 'A bulk filter run: what it released, to the slice, and whether it completed',
        description:
          "Computed from the run's audit events (start, checkpoints, completion or incomplete), which are " +
          'append-only: the counts, released lines and last input line of its latest event, and each checkpoint. ' +
          'A run whose process died mid-stream shows what had been released up to its last checkpoint.',
        security,
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['id'],
          properties: { id: { type: 'string', maxLength: 64, description: 'The X-Audit-Id of the filter answer' } }
        },
        response: {
          200: runSchema,
          ...problemResponses(400, 401, 403, 404, 503)
        }
      }
    },
    async request => runJson(await fastify.services.filter.run(request.params.id))
  )
}
