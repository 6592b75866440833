// The client registry (administrators): register client systems, their keys, scopes, purposes and
// exemptions; suspend them. Every change is audited and reaches every instance via the change feed.
import type { FastifyInstance } from 'fastify'
import { EXEMPTION_BASES, type Exemption } from '../../domain/exemptions.ts'
import { SCOPES } from '../../domain/scopes.ts'
import { validateClientFields } from '../../auth/client-registration.ts'
import { problemResponses } from '../../plugins/problems.ts'
import { invalidFields, notFound } from '../../domain/problems.ts'
import { createClient, updateClient, type ClientPatch } from '../../store/clients.ts'
import type { ClientRecord } from '../../store/rows.ts'
import { callerOf, decodeCursor, encodeCursor, security } from '../../http/common.ts'

const jwksSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['keys'],
  properties: {
    keys: {
      type: 'array',
      minItems: 1,
      maxItems: 10,
      items: {
        type: 'object',
        maxProperties: 20,
        additionalProperties: { type: ['string', 'array', 'boolean'], maxLength: 4096 }
      }
    }
  }
} as const

const exemptionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['purpose', 'basis', 'reference'],
  properties: {
    purpose: { type: 'string', maxLength: 100 },
    basis: {
      type: 'string',
      maxLength: 100,
      description: `One of ${EXEMPTION_BASES.join(', ')}. Section 251 support alone is not an exemption from the National Data Opt-out.`
    },
    reference: { type: 'string', minLength: 1, maxLength: 200 }
  }
} as const

const fields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  odsCode: { type: ['string', 'null'], pattern: '^[A-Za-z0-9]{3,10}$' },
  scopes: { type: 'array', maxItems: 20, uniqueItems: true, items: { type: 'string', enum: SCOPES } },
  purposes: { type: 'array', maxItems: 100, uniqueItems: true, items: { type: 'string', maxLength: 100 } },
  exemptions: { type: 'array', maxItems: 50, items: exemptionSchema },
  jwks: jwksSchema,
  jwksUrl: { type: 'string', maxLength: 2000 }
} as const

export const clientSchema = {
  type: 'object',
  properties: {
    clientId: { type: 'string' },
    name: { type: 'string' },
    odsCode: { type: ['string', 'null'] },
    scopes: { type: 'array', items: { type: 'string' } },
    purposes: { type: 'array', items: { type: 'string' } },
    exemptions: {
      type: 'array',
      items: {
        type: 'object',
        properties: { purpose: { type: 'string' }, basis: { type: 'string' }, reference: { type: 'string' } }
      }
    },
    kids: { type: 'array', items: { type: 'string' } },
    jwks: { type: ['object', 'null'], additionalProperties: true },
    jwksUrl: { type: ['string', 'null'] },
    status: { type: 'string', enum: ['active', 'suspended'] },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' }
  },
  required: [
    'clientId',
    'name',
    'odsCode',
    'scopes',
    'purposes',
    'exemptions',
    'kids',
    'jwksUrl',
    'status',
    'createdAt',
    'updatedAt'
  ],
  example: {
    clientId: '2f1e0d9c-8b7a-4654-a3b2-c1d0e9f8a7b6',
    name: 'Royal County ED',
    odsCode: 'RA701',
    scopes: ['consent:check'],
    purposes: ['unplanned-care'],
    exemptions: [],
    kids: ['ed-2026-01'],
    jwks: { keys: [] },
    jwksUrl: null,
    status: 'active',
    createdAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:00:00.000Z'
  }
} as const

export function clientJson (c: ClientRecord): Record<string, unknown> {
  return {
    clientId: c.id,
    name: c.name,
    odsCode: c.odsCode,
    scopes: c.scopes,
    purposes: c.purposes,
    exemptions: c.exemptions,
    kids: (c.jwks?.keys ?? []).map(k => String(k.kid)),
    jwks: c.jwks,
    jwksUrl: c.jwksUrl,
    status: c.status,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString()
  }
}

interface ClientBody {
  name: string
  odsCode?: string | null
  scopes: string[]
  purposes: string[]
  exemptions?: Exemption[]
  jwks?: { keys: Array<Record<string, unknown>> }
  jwksUrl?: string
  status?: 'active' | 'suspended'
}

const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const

export default async function clientRoutes (fastify: FastifyInstance): Promise<void> {
  const { db, audit, registry, config } = fastify.runtime
  const actor = (request: Parameters<typeof callerOf>[0]): { clientId: string; requestId: string } => ({
    clientId: callerOf(request).client.id,
    requestId: request.id
  })

  async function checked (body: Partial<ClientBody>): Promise<void> {
    const errors = await validateClientFields(registry.catalog, body, config.assertionAlgorithms)
    if (errors.length > 0) throw invalidFields(errors)
  }

  fastify.get<{ Querystring: { cursor?: string; limit: number; status?: string } }>(
    '/clients',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['clients'],
        summary: 'List registered clients',
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            cursor: { type: 'string', maxLength: 200 },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            status: { type: 'string', enum: ['active', 'suspended'] }
          }
        },
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: clientSchema }, nextCursor: { type: ['string', 'null'] } },
            required: ['items', 'nextCursor']
          },
          ...problemResponses(400, 401, 403)
        }
      }
    },
    async request => {
      const after = decodeCursor(request.query.cursor)
      const rows = await db.prisma.client.findMany({
        where: {
          ...(after !== undefined ? { id: { gt: after } } : {}),
          ...(request.query.status !== undefined ? { status: request.query.status } : {})
        },
        orderBy: { id: 'asc' },
        take: request.query.limit + 1
      })
      const page = rows.slice(0, request.query.limit)
      return {
        items: page.map(r => clientJson(registry.putAndGet(r))),
        nextCursor: rows.length > request.query.limit ? encodeCursor(page[page.length - 1].id) : null
      }
    }
  )

  fastify.get<{ Params: { id: string } }>(
    '/clients/:id',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['clients'],
        summary: 'One client',
        security,
        params: idParams,
        response: { 200: clientSchema, ...problemResponses(401, 403, 404) }
      }
    },
    async request => {
      const client = await registry.reloadClient(request.params.id)
      if (client === undefined) throw notFound('unknown client')
      return clientJson(client)
    }
  )

  fastify.post<{ Body: ClientBody }>(
    '/clients',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['clients'],
        summary: 'Register a client system',
        description:
          'Register its public keys (jwks with kids, or a jwksUrl), the scopes and purposes it may use, and any exemptions (secondary-use purposes only).',
        security,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'scopes', 'purposes'],
          properties: fields,
          example: {
            name: 'Royal County ED',
            odsCode: 'RA701',
            scopes: ['consent:check'],
            purposes: ['unplanned-care'],
            jwks: { keys: [{ kty: 'EC', crv: 'P-256', kid: 'ed-2026-01', x: '…', y: '…' }] }
          }
        },
        response: { 201: clientSchema, ...problemResponses(400, 401, 403, 503) }
      }
    },
    async (request, reply) => {
      const b = request.body
      if (b.jwks === undefined && b.jwksUrl === undefined) {
        throw invalidFields([{ path: '/jwks', message: 'send jwks (public keys with kids) or jwksUrl' }])
      }
      await checked(b)
      const client = await createClient(
        db,
        audit,
        {
          name: b.name,
          odsCode: b.odsCode ?? null,
          scopes: b.scopes,
          purposes: b.purposes,
          exemptions: b.exemptions ?? [],
          jwks: b.jwks ?? null,
          jwksUrl: b.jwksUrl ?? null
        },
        actor(request)
      )
      registry.putClient(client)
      return reply.code(201).header('location', `/v1/clients/${client.id}`).send(clientJson(client))
    }
  )

  fastify.patch<{ Params: { id: string }; Body: Partial<ClientBody> }>(
    '/clients/:id',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['clients'],
        summary: 'Change a client, or suspend it',
        description:
          "Any registration field and status. Suspension and scope cuts stop the client's existing tokens at once.",
        security,
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { ...fields, status: { type: 'string', enum: ['active', 'suspended'] } },
          example: { status: 'suspended' }
        },
        response: { 200: clientSchema, ...problemResponses(400, 401, 403, 404, 503) }
      }
    },
    async request => {
      await checked(request.body)
      const updated = await updateClient(db, audit, request.params.id, request.body as ClientPatch, actor(request))
      if (updated === undefined) throw notFound('unknown client')
      registry.putClient(updated)
      return clientJson(updated)
    }
  )

  fastify.put<{
    Params: { id: string }
    Body: { keys?: Array<Record<string, unknown>>; jwks?: { keys: Array<Record<string, unknown>> } }
  }>(
    '/clients/:id/keys',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['clients'],
        summary: "Replace a client's public keys (rotation)",
        description:
          'Send the whole new JWKS: to rotate, include the new key and keep the old one until the client has switched, then send the set without it.',
        security,
        params: idParams,
        body: {
          description: 'The new JWKS ({ keys }), or { jwks: { keys } } as in the registration',
          oneOf: [
            jwksSchema,
            { type: 'object', additionalProperties: false, required: ['jwks'], properties: { jwks: jwksSchema } }
          ],
          example: { keys: [{ kty: 'EC', crv: 'P-256', kid: 'ed-2026-02', x: '…', y: '…' }] }
        },
        response: { 200: clientSchema, ...problemResponses(400, 401, 403, 404, 503) }
      }
    },
    async request => {
      const jwks = request.body.jwks ?? { keys: request.body.keys ?? [] }
      await checked({ jwks })
      const updated = await updateClient(db, audit, request.params.id, { jwks }, actor(request))
      if (updated === undefined) throw notFound('unknown client')
      registry.putClient(updated)
      return clientJson(updated)
    }
  )
}
