// The purpose catalogue: anyone with a token reads it, administrators add and change purposes.
// Codes are never reused: a deactivated purpose keeps its code.
import type { FastifyInstance } from 'fastify'
import { PURPOSE_CODE_PATTERN, validateNewPurpose, type Purpose } from '../../domain/purposes.ts'
import { problemResponses } from '../../plugins/problems.ts'
import { conflict, invalidFields, notFound } from '../../domain/problems.ts'
import { appendChange } from '../../store/audit-writer.ts'
import { toPurpose } from '../../store/rows.ts'
import { callerOf, security } from '../../http/common.ts'

const purposeSchema = {
  type: 'object',
  properties: {
    code: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
    category: { type: 'string', enum: ['direct-care', 'secondary-use'] },
    parent: { type: ['string', 'null'] },
    defaultDecision: {
      type: 'string',
      enum: ['permit', 'deny'],
      description: 'The effective default (inherited from the parent when not set on the purpose)'
    },
    ownDefaultDecision: {
      type: ['string', 'null'],
      enum: ['permit', 'deny', null],
      description: 'The default set on this purpose itself, null when inherited'
    },
    requiresPermissionToView: { type: 'boolean' },
    emergencyAccess: { type: 'string', enum: ['never', 'when-unable-to-ask'] },
    active: { type: 'boolean' }
  },
  required: [
    'code',
    'name',
    'description',
    'category',
    'parent',
    'defaultDecision',
    'requiresPermissionToView',
    'emergencyAccess',
    'active'
  ],
  example: {
    code: 'summary-care-record',
    name: 'Summary Care Record',
    description: 'The national Summary Care Record',
    category: 'direct-care',
    parent: 'unplanned-care',
    defaultDecision: 'permit',
    ownDefaultDecision: 'permit',
    requiresPermissionToView: true,
    emergencyAccess: 'when-unable-to-ask',
    active: true
  }
} as const

const editable = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  description: { type: 'string', maxLength: 2000 },
  defaultDecision: { type: ['string', 'null'], enum: ['permit', 'deny', null] },
  requiresPermissionToView: { type: 'boolean' },
  emergencyAccess: { type: 'string', enum: ['never', 'when-unable-to-ask'] }
} as const

type PurposeBody = Partial<Omit<Purpose, 'active'>> & { code: string; name: string; category: Purpose['category'] }

export default async function purposeRoutes (fastify: FastifyInstance): Promise<void> {
  const { db, audit, registry } = fastify.runtime
  const json = (p: Purpose): Record<string, unknown> => ({
    ...p,
    defaultDecision: registry.catalog.defaultDecision(p.code),
    ownDefaultDecision: p.defaultDecision
  })

  fastify.get(
    '/purposes',
    {
      onRequest: fastify.requireAuth,
      schema: {
        tags: ['purposes'],
        summary: 'List purposes',
        security,
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: purposeSchema }, nextCursor: { type: ['string', 'null'] } },
            required: ['items', 'nextCursor']
          },
          ...problemResponses(401)
        }
      }
    },
    async () => ({
      items: registry.catalog
        .all()
        .sort((a, b) => a.code.localeCompare(b.code))
        .map(json),
      nextCursor: null
    })
  )

  fastify.get<{ Params: { code: string } }>(
    '/purposes/:code',
    {
      onRequest: fastify.requireAuth,
      schema: {
        tags: ['purposes'],
        summary: 'One purpose',
        security,
        params: { type: 'object', properties: { code: { type: 'string', maxLength: 100 } } },
        response: { 200: purposeSchema, ...problemResponses(401, 404) }
      }
    },
    async request => {
      const p = registry.catalog.get(request.params.code)
      if (p === undefined) throw notFound(`unknown purpose '${request.params.code}'`)
      return json(p)
    }
  )

  fastify.post<{ Body: PurposeBody }>(
    '/purposes',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['purposes'],
        summary: 'Add a purpose',
        description:
          'For example an opt-in research programme: a child of planning-research with defaultDecision deny.',
        security,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['code', 'name', 'category'],
          properties: {
            code: { type: 'string', minLength: 2, maxLength: 64, pattern: PURPOSE_CODE_PATTERN },
            category: { type: 'string', enum: ['direct-care', 'secondary-use'] },
            parent: { type: 'string', maxLength: 64 },
            ...editable
          },
          example: {
            code: 'diabetes-research-programme',
            name: 'Diabetes research programme',
            description: 'Opt-in cohort study',
            category: 'secondary-use',
            parent: 'planning-research',
            defaultDecision: 'deny'
          }
        },
        response: { 201: purposeSchema, ...problemResponses(400, 401, 403, 409, 503) }
      }
    },
    async (request, reply) => {
      const caller = callerOf(request)
      const b = request.body
      const purpose: Purpose = {
        code: b.code,
        name: b.name,
        description: b.description ?? '',
        category: b.category,
        parent: b.parent ?? null,
        defaultDecision: b.defaultDecision ?? null,
        requiresPermissionToView: b.requiresPermissionToView ?? false,
        emergencyAccess: b.emergencyAccess ?? 'never',
        active: true
      }
      if (
        registry.catalog.get(purpose.code) !== undefined ||
        (await db.prisma.purpose.findUnique({ where: { code: purpose.code } })) !== null
      ) {
        throw conflict(`purpose '${purpose.code}' already exists; purpose codes are never reused`)
      }
      const errors = validateNewPurpose(registry.catalog, purpose)
      if (errors.length > 0) throw invalidFields(errors)
      const now = new Date()
      const { result } = await audit.commit(
        async tx => {
          const row = await tx.purpose.create({ data: { ...purpose, createdAt: now, updatedAt: now } })
          await appendChange(tx, db, 'purpose', purpose.code)
          return toPurpose(row)
        },
        p => ({
          type: 'purpose.created',
          clientId: caller.client.id,
          requestId: request.id,
          purpose: p.code,
          outcome: 'created',
          details: { ...p }
        })
      )
      await registry.reloadPurposes()
      return reply.code(201).header('location', `/v1/purposes/${result.code}`).send(json(result))
    }
  )

  fastify.patch<{ Params: { code: string }; Body: Partial<Purpose> }>(
    '/purposes/:code',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['purposes'],
        summary: 'Change or deactivate a purpose',
        description:
          'code, category and parent cannot change. Deactivating (active: false) makes decisions for the purpose answer 400; its code is never reused.',
        security,
        params: { type: 'object', properties: { code: { type: 'string', maxLength: 100 } } },
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { ...editable, active: { type: 'boolean' } },
          example: { active: false }
        },
        response: { 200: purposeSchema, ...problemResponses(400, 401, 403, 404, 503) }
      }
    },
    async request => {
      const caller = callerOf(request)
      const existing = registry.catalog.get(request.params.code)
      if (existing === undefined) throw notFound(`unknown purpose '${request.params.code}'`)
      const next: Purpose = { ...existing, ...request.body }
      const errors = validateNewPurpose(registry.catalog, next).filter(e => e.path !== '/code')
      if (errors.length > 0) throw invalidFields(errors)
      const { result } = await audit.commit(
        async tx => {
          const row = await tx.purpose.update({
            where: { code: existing.code },
            data: { ...request.body, updatedAt: new Date() }
          })
          await appendChange(tx, db, 'purpose', existing.code)
          return toPurpose(row)
        },
        p => ({
          type: 'purpose.updated',
          clientId: caller.client.id,
          requestId: request.id,
          purpose: p.code,
          outcome: 'updated',
          details: { changed: request.body, before: existing }
        })
      )
      await registry.reloadPurposes()
      return json(result)
    }
  )
}
