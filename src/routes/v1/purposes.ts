// The purpose catalogue: anyone with a token reads it, administrators add and change purposes.
// Codes are never reused: a deactivated purpose keeps its code. The rules are the purposes
// service's (src/services/purposes.ts); this file is their HTTP shape.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import {
  DECISIONS,
  EDITABLE_PURPOSE_FIELDS,
  EMERGENCY_ACCESS,
  PURPOSE_CATEGORIES,
  PURPOSE_CODE_PATTERN
} from '../../domain/purposes.ts'
import { problemResponses } from '../../plugins/problems.ts'
import { actorOf, security } from '../../http/common.ts'

const purposeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    code: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string' },
    category: { type: 'string', enum: PURPOSE_CATEGORIES },
    parent: { type: ['string', 'null'] },
    defaultDecision: {
      type: 'string',
      enum: DECISIONS,
      description: 'The effective default (inherited from the parent when not set on the purpose)'
    },
    ownDefaultDecision: {
      type: ['string', 'null'],
      enum: [...DECISIONS, null],
      description: 'The default set on this purpose itself, null when inherited'
    },
    requiresPermissionToView: { type: 'boolean' },
    emergencyAccess: { type: 'string', enum: EMERGENCY_ACCESS },
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

/** The fields an administrator may change (EDITABLE_PURPOSE_FIELDS, no more and no fewer), as sent. */
const editable = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  description: { type: 'string', maxLength: 2000 },
  defaultDecision: { type: ['string', 'null'], enum: [...DECISIONS, null] },
  requiresPermissionToView: { type: 'boolean' },
  emergencyAccess: { type: 'string', enum: EMERGENCY_ACCESS },
  active: { type: 'boolean' }
} as const satisfies Record<(typeof EDITABLE_PURPOSE_FIELDS)[number], object>

// A new purpose is active: deactivating is a change.
const { active: _active, ...describing } = editable

const codeParams = {
  type: 'object',
  properties: { code: { type: 'string', maxLength: 100 } },
  required: ['code']
} as const

export default async function purposeRoutes (fastify: FastifyInstance): Promise<void> {
  const routes = fastify.withTypeProvider<JsonSchemaToTsProvider>()
  const purposes = fastify.services.purposes

  routes.get(
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
            additionalProperties: false,
            properties: { items: { type: 'array', items: purposeSchema }, nextCursor: { type: ['string', 'null'] } },
            required: ['items', 'nextCursor']
          },
          ...problemResponses(401)
        }
      }
    },
    async () => ({ items: purposes.list(), nextCursor: null })
  )

  routes.get(
    '/purposes/:code',
    {
      onRequest: fastify.requireAuth,
      schema: {
        tags: ['purposes'],
        summary: 'One purpose',
        security,
        params: codeParams,
        response: { 200: purposeSchema, ...problemResponses(401, 404) }
      }
    },
    async request => purposes.get(request.params.code)
  )

  routes.post(
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
            category: { type: 'string', enum: PURPOSE_CATEGORIES },
            parent: { type: 'string', maxLength: 64 },
            ...describing
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
      const created = await purposes.create(request.body, actorOf(request))
      return reply.code(201).header('location', `/v1/purposes/${created.code}`).send(created)
    }
  )

  routes.patch(
    '/purposes/:code',
    {
      onRequest: fastify.requireScope('admin'),
      schema: {
        tags: ['purposes'],
        summary: 'Change or deactivate a purpose',
        description:
          'code, category and parent cannot change. Deactivating (active: false) makes decisions for the purpose ' +
          'answer 400; its code is never reused.',
        security,
        params: codeParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            ...editable,
            // Accepted here so that the purposes service refuses a change to them, naming the field.
            code: { type: 'string', maxLength: 100 },
            category: { type: 'string', enum: PURPOSE_CATEGORIES },
            parent: { type: ['string', 'null'], maxLength: 100 }
          },
          example: { description: 'Planned care: referrals, appointments and treatment that were arranged in advance' }
        },
        response: { 200: purposeSchema, ...problemResponses(400, 401, 403, 404, 503) }
      }
    },
    async request => await purposes.update(request.params.code, request.body, actorOf(request))
  )
}
