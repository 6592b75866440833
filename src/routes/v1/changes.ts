// GET /v1/changes (SPEC §3 "Change feed"): the changes to patients' effective choices after a
// cursor, for downstream systems that keep a local copy of opt-outs. The rules are in
// services/changes.ts; here the query string, the cursor and the held-open request.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { DECISIONS } from '../../domain/purposes.ts'
import { invalidField } from '../../domain/problems.ts'
import { problemResponses } from '../../plugins/problems.ts'
import { callerOf, security } from '../../http/common.ts'
import {
  DEFAULT_LIMIT,
  MAX_LIMIT,
  MAX_WAIT_SECONDS,
  decodeChangeCursor,
  encodeChangeCursor,
  type ChangePosition
} from '../../services/changes.ts'

const changeItemSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    nhsNumber: { type: 'string' },
    purpose: { type: 'string' },
    decision: { type: 'string', enum: DECISIONS },
    effectiveFrom: {
      type: 'string',
      format: 'date-time',
      description: 'From when the decision holds; later than now for a pending (future-dated) choice'
    },
    changedAt: { type: 'string', format: 'date-time', description: 'When the change was committed' }
  },
  required: ['nhsNumber', 'purpose', 'decision', 'effectiveFrom', 'changedAt']
} as const

export default async function changeRoutes (fastify: FastifyInstance): Promise<void> {
  const routes = fastify.withTypeProvider<JsonSchemaToTsProvider>()
  const changes = fastify.services.changes
  // A held-open request must not hold up shutdown: each answers the page it has at once.
  fastify.addHook('preClose', async () => {
    changes.close()
  })

  routes.get(
    '/changes',
    {
      onRequest: fastify.requireScope(['consent:read', 'consent:filter']),
      schema: {
        tags: ['preferences'],
        summary: "Changes to patients' effective choices after a cursor (for downstream opt-out lists)",
        description:
          'Oldest first, in pages: keep nextCursor and send it back as since (without since, from the first change). ' +
          "Each change to a patient's choices (recorded, entered in error, or loaded by an import) gives, for its " +
          'purpose and each purpose below it that the client is registered for (or the purpose asked for and those ' +
          "below it), the patient's effective decision now, computed by the decision rules without exemptions, " +
          'then one item per pending (future-dated) change, whose effectiveFrom is in the future. Apply the items in ' +
          'order: an item with effectiveFrom not later than now replaces what you hold for that patient and purpose ' +
          '(a pending one included); a later one is pending until then. With wait (seconds, at most ' +
          `${MAX_WAIT_SECONDS}: more is read as ${MAX_WAIT_SECONDS}) the request is held open until a change ` +
          'arrives; at the end of the wait the answer is an empty page with the same cursor. ' +
          'Every page is audited (changes.read, with counts). Scope consent:read or consent:filter.',
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', maxLength: 100, description: 'nextCursor of the previous page' },
            purpose: { type: 'string', maxLength: 100, description: 'Only this purpose and those below it' },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_LIMIT,
              default: DEFAULT_LIMIT,
              description: "Items per page at most (one change's items for one patient are never split)"
            },
            wait: {
              type: 'integer',
              minimum: 0,
              maximum: 3600,
              default: 0,
              description: `Seconds to hold the request open while there is no change (capped at ${MAX_WAIT_SECONDS})`
            }
          }
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: {
              items: { type: 'array', items: changeItemSchema },
              nextCursor: { type: 'string', description: 'Send back as since; unchanged when there was nothing new' }
            },
            required: ['items', 'nextCursor'],
            example: {
              items: [
                {
                  nhsNumber: '9434765919',
                  purpose: 'planning-research',
                  decision: 'deny',
                  effectiveFrom: '2026-11-25T10:00:00.000Z',
                  changedAt: '2026-11-25T10:00:00.120Z'
                }
              ],
              nextCursor: 'NDI'
            }
          },
          ...problemResponses(400, 401, 403, 503)
        }
      }
    },
    async (request, reply) => {
      const q = request.query
      let since: ChangePosition | undefined
      if (q.since !== undefined && q.since !== '') {
        since = decodeChangeCursor(q.since)
        if (since === undefined) throw invalidField('querystring:/since', 'cursor is not one this service issued')
      }
      // The connection closing ends the wait: nobody is left to answer.
      const gone = new AbortController()
      const onClose = (): void => {
        if (!reply.raw.writableFinished) gone.abort()
      }
      reply.raw.once('close', onClose)
      try {
        const page = await changes.read(
          callerOf(request),
          { since, purpose: q.purpose, limit: q.limit, waitSeconds: q.wait, signal: gone.signal },
          q.since ?? null
        )
        return {
          items: page.items.map(i => ({
            nhsNumber: i.nhsNumber,
            purpose: i.purpose,
            decision: i.decision,
            effectiveFrom: i.effectiveFrom.toISOString(),
            changedAt: i.changedAt.toISOString()
          })),
          nextCursor: encodeChangeCursor(page.next)
        }
      } finally {
        reply.raw.off('close', onClose)
      }
    }
  )
}
