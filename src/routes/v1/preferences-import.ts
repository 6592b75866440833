// POST /v1/preferences/import: NDJSON bulk load of existing choices (millions of lines), streamed.
// The import is the preference import service's (src/services/preference-import.ts); this file is
// its HTTP shape: the body kept a stream, and the report as JSON.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { GP_CODES } from '../../domain/preferences.ts'
import { problemResponses } from '../../plugins/problems.ts'
import { callerOf, security, streamedBody, streamOrThrow } from '../../http/common.ts'

export default async function preferenceImportRoutes (fastify: FastifyInstance): Promise<void> {
  const streamed = streamedBody(fastify, ['application/x-ndjson', 'application/jsonl'])

  fastify.withTypeProvider<JsonSchemaToTsProvider>().post(
    '/preferences/import',
    {
      onRequest: fastify.requireScope('admin'),
      config: { bulkStream: 'import' },
      schema: {
        tags: ['preferences'],
        summary: 'Bulk load existing choices (NDJSON)',
        description:
          'One JSON object a line: ' +
          '{ externalId, nhsNumber, purpose, decision, effectiveFrom?, source?, recordedBy?, note? } ' +
          `or { externalId, nhsNumber, code, … } with a GP Read code (${Object.keys(GP_CODES).join(', ')}) ` +
          'in place of purpose + decision. ' +
          'effectiveFrom is a date (midnight UTC) or a date-time with its zone. ' +
          'Lines whose externalId was loaded before are skipped, so a re-run is safe. ' +
          'Each bad line is listed in rejected with its line number (the first 10 000; rejectedCount has them all); ' +
          'a line for a purpose this client is not registered for is a bad line. ' +
          'Audited twice: a start event before the first batch, which every imported choice names (so a ' +
          "patient's trail, GET /v1/audit?nhsNumber=, shows the import that loaded their choice), and a " +
          'completion event with the counts (auditId; its details.startEventId names the start event). ' +
          'A client holds at most IMPORTS_PER_CLIENT (default 2) imports at once on an instance; the next is a ' +
          '429 with Retry-After, before its body is read or anything is recorded. The body may arrive slowly but ' +
          'not pause for STREAM_IDLE_TIMEOUT_MS (default 30 s): then a 408.',
        security,
        consumes: ['application/x-ndjson'],
        body: {
          type: 'string',
          example:
            '{"externalId":"emis-1","nhsNumber":"9434765919","code":"9Nu4","effectiveFrom":"2019-05-01"}\n' +
            '{"externalId":"emis-2","nhsNumber":"9434765870","purpose":"summary-care-record","decision":"deny",' +
            '"source":"gp-practice"}\n'
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: {
              imported: { type: 'integer' },
              skipped: { type: 'integer', description: 'lines whose externalId was already loaded' },
              rejected: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  properties: { line: { type: 'integer' }, error: { type: 'string' } },
                  required: ['line', 'error']
                }
              },
              rejectedCount: { type: 'integer' },
              auditId: { type: 'string', description: 'The completion audit event (with the counts)' }
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
          ...problemResponses(400, 401, 403, 408, 415, 429, 503)
        }
      },
      ...streamed
    },
    async request => {
      const body = streamOrThrow(request.body, 'Send the choices as application/x-ndjson, one JSON object per line')
      return await fastify.services.preferenceImport.importLines(callerOf(request), body)
    }
  )
}
