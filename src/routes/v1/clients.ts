// The client registry (administrators): register client systems, their keys, scopes, purposes and
// exemptions; suspend them. Privacy officers (audit:read) may list the systems' names and ODS codes.
// The rules are the clients service's (src/services/clients.ts); this file is their HTTP shape.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { EXEMPTION_BASES } from '../../domain/exemptions.ts'
import { SCOPES } from '../../domain/scopes.ts'
import { CLIENT_STATUSES, ODS_CODE_PATTERN } from '../../domain/clients.ts'
import { problemResponses } from '../../plugins/problems.ts'
import { shownJwksUrl, type ClientRecord } from '../../services/clients.ts'
import { actorOf, callerOf, decodeCursor, encodeCursor, security, type JsonOf } from '../../http/common.ts'

const DEFAULT_LIMIT = 50

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
        // JWK members are strings, booleans (ext) and arrays of strings (key_ops, x5c): nothing nests.
        additionalProperties: {
          type: ['string', 'array', 'boolean'],
          maxLength: 4096,
          maxItems: 20,
          items: { type: 'string', maxLength: 4096 }
        }
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
      description:
        `One of ${EXEMPTION_BASES.join(', ')}. ` +
        'Section 251 support alone is not an exemption from the National Data Opt-out.'
    },
    reference: { type: 'string', minLength: 1, maxLength: 200 }
  }
} as const

const fields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  odsCode: { type: ['string', 'null'], pattern: ODS_CODE_PATTERN },
  scopes: { type: 'array', maxItems: 20, uniqueItems: true, items: { type: 'string', enum: SCOPES } },
  purposes: { type: 'array', maxItems: 100, uniqueItems: true, items: { type: 'string', maxLength: 100 } },
  exemptions: { type: 'array', maxItems: 50, items: exemptionSchema },
  jwks: {
    ...jwksSchema,
    description:
      "The client's public keys (a JWKS, every key with a kid). A client has exactly one key source: send jwks " +
      'or jwksUrl, not both.'
  },
  jwksUrl: {
    type: 'string',
    maxLength: 2000,
    description:
      'Where the client publishes its JWKS instead: https (http only for localhost), no credentials ' +
      '(user:password@ is refused), no redirects followed. A client has exactly one key source: send jwks or ' +
      'jwksUrl, not both.'
  },
  requireEndUser: {
    type: 'boolean',
    description:
      'Every decision of this client must name its end user (endUser, or context.userId in CDS Hooks): 400 ' +
      'otherwise. Default false; pointOfCare always needs one.'
  }
} as const

const clientSchema = {
  type: 'object',
  additionalProperties: false,
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
        additionalProperties: false,
        properties: { purpose: { type: 'string' }, basis: { type: 'string' }, reference: { type: 'string' } }
      }
    },
    kids: { type: 'array', items: { type: 'string' } },
    jwks: { type: ['object', 'null'], additionalProperties: true },
    jwksUrl: { type: ['string', 'null'] },
    status: { type: 'string', enum: CLIENT_STATUSES },
    requireEndUser: { type: 'boolean' },
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
    'requireEndUser',
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
    requireEndUser: true,
    createdAt: '2026-11-25T10:00:00.000Z',
    updatedAt: '2026-11-25T10:00:00.000Z'
  }
} as const

/**
 * A client as a holder of audit:read without admin sees it (SPEC §3 "Audit"): enough to turn a
 * client id in the audit trail into a system and its organisation, nothing of its keys or rights.
 */
const directoryEntrySchema = {
  type: 'object',
  additionalProperties: false,
  // The registration's own fields, so the two views of a client cannot drift apart.
  properties: {
    clientId: clientSchema.properties.clientId,
    name: clientSchema.properties.name,
    odsCode: clientSchema.properties.odsCode,
    status: clientSchema.properties.status
  },
  required: ['clientId', 'name', 'odsCode', 'status'],
  example: {
    clientId: '2f1e0d9c-8b7a-4654-a3b2-c1d0e9f8a7b6',
    name: 'Royal County ED',
    odsCode: 'RA701',
    status: 'active'
  }
} as const

/** What GET answers: the whole registration to an administrator, the directory entry to anyone else. */
const listedClientSchema = {
  description:
    'With the admin scope, the whole registration; with audit:read alone, only clientId, name, odsCode and status',
  anyOf: [clientSchema, directoryEntrySchema]
} as const

type ClientJson = JsonOf<typeof clientSchema>
type DirectoryEntryJson = JsonOf<typeof directoryEntrySchema>

function directoryEntry (c: ClientRecord): DirectoryEntryJson {
  return { clientId: c.id, name: c.name, odsCode: c.odsCode, status: c.status }
}

/** The shape this caller may read: administrators see the whole registration. */
function listedFor (request: FastifyRequest): (c: ClientRecord) => ClientJson | DirectoryEntryJson {
  return callerOf(request).scopes.includes('admin') ? clientJson : directoryEntry
}

function clientJson (c: ClientRecord): ClientJson {
  return {
    clientId: c.id,
    name: c.name,
    odsCode: c.odsCode,
    scopes: c.scopes,
    purposes: c.purposes,
    exemptions: c.exemptions,
    kids: (c.jwks?.keys ?? []).map(k => String(k.kid)),
    jwks: c.jwks,
    jwksUrl: shownJwksUrl(c.jwksUrl),
    status: c.status,
    requireEndUser: c.requireEndUser,
    createdAt: c.createdAt.toISOString(),
    updatedAt: c.updatedAt.toISOString()
  }
}

/**
 * A change's key fields: either switches the client's one key source, clearing the other; null only
 * for the one being cleared, beside the other.
 */
const keySourceChange = {
  jwks: {
    ...jwksSchema,
    type: ['object', 'null'],
    description:
      'Switch to (or replace) inline public keys: jwksUrl is cleared in the same change, so the URL is no longer ' +
      'fetched. Not together with a jwksUrl string (400). null only beside a jwksUrl: a client always has a key source.'
  },
  jwksUrl: {
    ...fields.jwksUrl,
    type: ['string', 'null'],
    description:
      'Switch to keys published at this URL (https, http only for localhost, no credentials): jwks is cleared in ' +
      'the same change, so the inline keys stop working at once. Not together with jwks (400). null only beside ' +
      'jwks: a client always has a key source.'
  }
} as const

const idParams = { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] } as const

export default async function clientRoutes (fastify: FastifyInstance): Promise<void> {
  const routes = fastify.withTypeProvider<JsonSchemaToTsProvider>()
  const clients = fastify.services.clients

  routes.get(
    '/clients',
    {
      onRequest: fastify.requireScope(['admin', 'audit:read']),
      schema: {
        tags: ['clients'],
        summary: 'List registered clients',
        description:
          'An administrator sees each whole registration. A privacy officer (audit:read) sees only clientId, ' +
          'name, ODS code and status: enough to name the systems in the audit trail, nothing of their keys, ' +
          'scopes, purposes or exemptions.',
        security,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            cursor: { type: 'string', maxLength: 200 },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: DEFAULT_LIMIT },
            status: { type: 'string', enum: CLIENT_STATUSES }
          }
        },
        response: {
          200: {
            type: 'object',
            additionalProperties: false,
            properties: {
              items: { type: 'array', items: listedClientSchema },
              nextCursor: { type: ['string', 'null'] }
            },
            required: ['items', 'nextCursor']
          },
          ...problemResponses(400, 401, 403)
        }
      }
    },
    async request => {
      const { cursor, status, limit } = request.query
      // The schema's default has already been applied; the derived type cannot know that.
      const page = await clients.list({ afterId: decodeCursor(cursor), status, limit: limit ?? DEFAULT_LIMIT })
      const last = page.items[page.items.length - 1]
      return {
        items: page.items.map(listedFor(request)),
        nextCursor: page.more ? encodeCursor(last.id) : null
      }
    }
  )

  routes.get(
    '/clients/:id',
    {
      onRequest: fastify.requireScope(['admin', 'audit:read']),
      schema: {
        tags: ['clients'],
        summary: 'One client',
        description: 'As in the list: the whole registration for admin, the directory entry for audit:read alone.',
        security,
        params: idParams,
        response: { 200: listedClientSchema, ...problemResponses(401, 403, 404) }
      }
    },
    async request => listedFor(request)(await clients.get(request.params.id))
  )

  routes.post(
    '/clients',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['clients'],
        summary: 'Register a client system',
        description:
          'Register its public keys (jwks with kids, or a jwksUrl: exactly one of them), the scopes and purposes it ' +
          'may use, and any exemptions (secondary-use purposes only).',
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
      const client = await clients.register(request.body, actorOf(request))
      return reply.code(201).header('location', `/v1/clients/${client.id}`).send(clientJson(client))
    }
  )

  routes.patch(
    '/clients/:id',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['clients'],
        summary: 'Change a client, or suspend it',
        description:
          "Any registration field and status. Suspension and scope cuts stop the client's existing tokens at once. " +
          'A client has exactly one key source: sending jwks switches it to inline keys and clears jwksUrl; sending ' +
          'jwksUrl switches it to the URL and clears jwks (the old keys stop working at once). Both in one change ' +
          'is a 400; null is accepted only for the source being cleared, beside the other.',
        security,
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { ...fields, ...keySourceChange, status: { type: 'string', enum: CLIENT_STATUSES } },
          example: { name: 'Royal County Hospital ED (renamed)' }
        },
        response: { 200: clientSchema, ...problemResponses(400, 401, 403, 404, 503) }
      }
    },
    async request => clientJson(await clients.update(request.params.id, request.body, actorOf(request)))
  )

  routes.put(
    '/clients/:id/keys',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['clients'],
        summary: "Replace a client's public keys (rotation)",
        description:
          'Send the whole new JWKS: to rotate, include the new key and keep the old one until the client has ' +
          'switched, then send the set without it. A client registered with a jwksUrl switches to these keys ' +
          '(its jwksUrl is cleared).',
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
      const body = request.body
      const jwks = 'jwks' in body ? body.jwks : body
      return clientJson(await clients.replaceKeys(request.params.id, jwks, actorOf(request)))
    }
  )
}
