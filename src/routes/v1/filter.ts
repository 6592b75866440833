// POST /v1/filter: the bulk cohort filter for data-extraction pipelines (SPEC §5). The filter is
// the filter service's (src/services/filter.ts); this file is its HTTP shape: the body kept a
// stream, content negotiation, and the service's answer piped to the reply as it is produced.
import type { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import type { FilterFormat } from '../../services/filter.ts'
import { HttpProblem, problemResponses } from '../../plugins/problems.ts'
import { callerOf, dateOrDateTime, security, streamedBody, streamOrThrow } from '../../http/common.ts'

const INPUT_TYPES = ['text/plain', 'text/csv']

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
      schema: {
        tags: ['decisions'],
        summary: 'Filter a cohort: keep the NHS numbers whose records may be shared for the purpose',
        description:
          'Body: one NHS number per line (text/plain, or text/csv with an optional nhs_number header; LF or CRLF; ' +
          "a trailing comma as in the national service's files). " +
          'Accept: text/plain answers the permitted numbers in input order; ' +
          'Accept: application/x-ndjson answers one object per input line ' +
          '({ line, nhsNumber, decision, basis } or { line, error }). ' +
          'The answer streams while the body arrives. ' +
          'X-Audit-Id names the audit event with the counts and the SHA-256 of the body.',
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
                    '{"line":2,"nhsNumber":"9434765919","decision":"permit","basis":"default"}\n' +
                    '{"line":3,"error":"NHS number check digit is wrong"}\n'
                }
              }
            }
          },
          ...problemResponses(400, 401, 403, 406, 415, 503)
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
      const { auditId, output } = fastify.services.filter.start(
        callerOf(request),
        // streamedBody's validatorCompiler leaves the query string unchecked: purpose may be missing.
        { purpose: request.query.purpose ?? '', asOf: request.query.asOf, format },
        body,
        request.id,
        { log: request.log }
      )
      // A client that goes away stops the work: the answer is closed, which stops reading the body.
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) output.destroy()
      })
      return reply.header('x-audit-id', auditId).type(`${format}; charset=utf-8`).send(output)
    }
  )
}
