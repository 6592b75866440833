// Emergency-access alerts: raised when a record is opened because the patient could not be asked
// (SPEC §2 rule 5), reviewed by the privacy officer.
import type { FastifyInstance } from 'fastify'
import { problemResponses } from '../../plugins/problems.ts'
import { conflict, notFound } from '../../domain/problems.ts'
import type { Alert } from '../../store/generated/sqlite/client.ts'
import { callerOf, decodeCursor, encodeCursor, security } from '../../http/common.ts'

const alertSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    auditId: { type: 'string' },
    nhsNumber: { type: 'string' },
    purpose: { type: 'string' },
    clientId: { type: 'string' },
    reason: { type: 'string' },
    raisedAt: { type: 'string', format: 'date-time' },
    status: { type: 'string', enum: ['open', 'reviewed'] },
    reviewedBy: { type: ['string', 'null'] },
    reviewNote: { type: ['string', 'null'] },
    reviewedAt: { type: ['string', 'null'], format: 'date-time' }
  },
  required: ['id', 'auditId', 'nhsNumber', 'purpose', 'clientId', 'reason', 'raisedAt', 'status'],
  example: {
    id: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e44',
    auditId: 'a3c1f0de-6b2e-4f7a-8d91-2c4e5f6a7b80',
    nhsNumber: '9434765919',
    purpose: 'summary-care-record',
    clientId: '2f1e0d9c-8b7a-4654-a3b2-c1d0e9f8a7b6',
    reason: 'Patient unconscious on arrival',
    raisedAt: '2026-11-25T10:00:00.000Z',
    status: 'open',
    reviewedBy: null,
    reviewNote: null,
    reviewedAt: null
  }
} as const

function alertJson (a: Alert): Record<string, unknown> {
  return { ...a, raisedAt: a.raisedAt.toISOString(), reviewedAt: a.reviewedAt?.toISOString() ?? null }
}

export default async function alertRoutes (fastify: FastifyInstance): Promise<void> {
  const { db, audit } = fastify.runtime

  fastify.get<{ Querystring: { status?: 'open' | 'reviewed'; cursor?: string; limit: number } }>(
    '/alerts',
    {
      onRequest: fastify.requireScope('audit:read'),
      schema: {
        tags: ['audit'],
        summary: 'Emergency-access alerts, newest first',
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: ['open', 'reviewed'] },
            cursor: { type: 'string', maxLength: 200 },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 }
          }
        },
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: alertSchema }, nextCursor: { type: ['string', 'null'] } },
            required: ['items', 'nextCursor']
          },
          ...problemResponses(400, 401, 403, 503)
        }
      }
    },
    async request => {
      const q = request.query
      const cursor = decodeCursor(q.cursor)
      const [raisedAt, id] = cursor === undefined ? [] : cursor.split('_')
      const before = raisedAt === undefined ? undefined : new Date(Number(raisedAt))
      const rows = await db.prisma.alert.findMany({
        where: {
          ...(q.status !== undefined ? { status: q.status } : {}),
          ...(before !== undefined && !Number.isNaN(before.getTime())
            ? { OR: [{ raisedAt: { lt: before } }, { raisedAt: before, id: { lt: id ?? '' } }] }
            : {})
        },
        orderBy: [{ raisedAt: 'desc' }, { id: 'desc' }],
        take: q.limit + 1
      })
      const page = rows.slice(0, q.limit)
      const last = page[page.length - 1]
      return {
        items: page.map(alertJson),
        nextCursor: rows.length > q.limit ? encodeCursor(`${last.raisedAt.getTime()}_${last.id}`) : null
      }
    }
  )

  fastify.post<{ Params: { id: string }; Body: { note?: string; reviewNote?: string } }>(
    '/alerts/:id/review',
    {
      onRequest: fastify.requireScope('audit:review'),
      schema: {
        tags: ['audit'],
        summary: 'Record the review of an emergency-access alert',
        security,
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] },
        body: {
          type: 'object',
          additionalProperties: false,
          description: 'The review note, as note (or reviewNote, the name it has on the alert)',
          properties: {
            note: { type: 'string', minLength: 1, maxLength: 4000, pattern: '\\S' },
            reviewNote: { type: 'string', minLength: 1, maxLength: 4000, pattern: '\\S' }
          },
          minProperties: 1,
          maxProperties: 1,
          example: { note: 'Clinically justified: patient unconscious, ED consultant confirmed.' }
        },
        response: { 200: alertSchema, ...problemResponses(400, 401, 403, 404, 409, 503) }
      }
    },
    async request => {
      const caller = callerOf(request)
      const note = (request.body.note ?? request.body.reviewNote) as string
      const { result } = await audit.commit(
        async tx => {
          const alert = await tx.alert.findUnique({ where: { id: request.params.id } })
          if (alert === null) return { kind: 'not-found' as const }
          if (alert.status === 'reviewed') return { kind: 'already-reviewed' as const, alert }
          const updated = await tx.alert.update({
            where: { id: alert.id },
            data: { status: 'reviewed', reviewedBy: caller.client.id, reviewNote: note, reviewedAt: new Date() }
          })
          return { kind: 'reviewed' as const, alert: updated }
        },
        r => ({
          type: 'alert.reviewed',
          clientId: caller.client.id,
          requestId: request.id,
          nhsNumber: r.kind === 'not-found' ? null : r.alert.nhsNumber,
          purpose: r.kind === 'not-found' ? null : r.alert.purpose,
          outcome: r.kind,
          details: { alertId: request.params.id, note }
        })
      )
      if (result.kind === 'not-found') throw notFound('unknown alert')
      if (result.kind === 'already-reviewed') throw conflict('this alert has already been reviewed')
      return alertJson(result.alert)
    }
  )
}
