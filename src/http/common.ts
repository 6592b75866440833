// HTTP translation shared by the route files (so no route file imports another): request fields
// parsed by the domain's rules into values or 400s naming the field, cursors, schema fragments.
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { parseNhsNumber } from '../domain/nhs-number.ts'
import type { Caller } from '../services/types.ts'
import type { Actor } from '../services/clients.ts'
import { HttpProblem } from '../plugins/problems.ts'
import { invalidField } from '../domain/problems.ts'
import { INSTANT_PATTERN, parseInstant } from '../domain/instant.ts'
import { RBAC_ROLE_PATTERN, SDS_USER_ID_PATTERN } from '../domain/end-user.ts'
import { ODS_CODE_PATTERN } from '../domain/clients.ts'

export function nhsNumberOrThrow (value: unknown, path: string): string {
  const parsed = parseNhsNumber(value)
  if (!parsed.ok) throw invalidField(path, parsed.error)
  return parsed.value
}

export function callerOf (request: FastifyRequest): Caller {
  if (request.caller === null) throw new Error('route has no requireScope hook')
  return request.caller
}

/** Who made an administrative change, as the audit trail records it (with the caller's X-Correlation-ID). */
export function actorOf (request: FastifyRequest): Actor {
  const caller = callerOf(request)
  return { clientId: caller.client.id, requestId: caller.requestId, correlationId: caller.correlationId }
}

/** A time the caller gave (parseInstant's rules), or a 400 naming the field. */
export function instantOrThrow (value: string | undefined, path: string): Date | undefined {
  if (value === undefined) return undefined
  const parsed = parseInstant(value)
  if (!parsed.ok) throw invalidField(path, parsed.error)
  return parsed.value
}

/** Opaque list cursors: base64url of the last item's sequence value. */
export function encodeCursor (seq: bigint | string): string {
  return Buffer.from(String(seq)).toString('base64url')
}

export function decodeCursor (cursor: string | undefined, path = 'querystring:/cursor'): string | undefined {
  if (cursor === undefined || cursor === '') return undefined
  const raw = Buffer.from(cursor, 'base64url').toString()
  if (!/^[0-9A-Za-z:._-]{1,80}$/.test(raw)) throw invalidField(path, 'cursor is not one this service issued')
  return raw
}

/**
 * A cursor this service issued for a numbered list (an audit sequence number, a search offset), or
 * a 400 naming the field. At most 18 digits: it always fits PostgreSQL's bigint (a longer one was a 500).
 */
export function seqCursorOrThrow (cursor: string | undefined, path: string): bigint | undefined {
  const raw = decodeCursor(cursor, path)
  if (raw === undefined) return undefined
  if (!/^[0-9]{1,18}$/.test(raw)) throw invalidField(path, 'cursor is not one this service issued')
  return BigInt(raw)
}

export const nhsNumberParam = {
  type: 'string',
  maxLength: 40,
  description: 'NHS number: 10 digits, or 3-3-4 with spaces or hyphens',
  example: '9434765919'
} as const

export const security = [{ bearerAuth: [] }]

/**
 * A date or a date-time (ISO 8601), for times callers give: its shape here, so the OpenAPI
 * document shows it; instantOrThrow (parseInstant) then refuses impossible ones (2021-02-30).
 */
export const dateOrDateTime = {
  type: 'string',
  maxLength: 40,
  pattern: INSTANT_PATTERN
} as const

/** The JSON a response schema describes, as the routes' type provider derives it: mappers are checked against it. */
export type JsonOf<S> = (JsonSchemaToTsProvider & { schema: S })['serializer']

/**
 * A body kept a stream, for bulk uploads: no size limit applies to it, only to each line. Registers
 * the parser for `mediaTypes` on this plugin and returns the route options that let the stream
 * through: the schema documents the body, the reader validates it line by line.
 */
export function streamedBody (
  fastify: FastifyInstance,
  mediaTypes: string[]
): { validatorCompiler: FastifySchemaCompiler<unknown> } {
  fastify.addContentTypeParser(mediaTypes, (_request, payload, done) => {
    done(null, payload)
  })
  // The query string, params and headers go through the app's own validators like any route's.
  return {
    validatorCompiler: route => {
      if (route.httpPart === 'body') return () => true
      const compile = fastify.validatorCompiler
      if (compile === undefined) throw new Error('streamedBody needs the app to set its validator compiler')
      return compile(route)
    }
  }
}

/** The streamed body, or a 415 when it came in a media type streamedBody was not given. */
export function streamOrThrow (body: unknown, message: string): Readable {
  if (!(body instanceof Readable)) throw new HttpProblem(415, message)
  return body
}

/** The person at the keyboard (SPEC §2 "Who asked"), as decisions, choices and reviews take it. */
export const endUserSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  description:
    'The person at the keyboard: stored on the audit event (and any alert) so a privacy officer sees who, ' +
    'not only which system. Required with pointOfCare and for clients registered with requireEndUser.',
  properties: {
    id: {
      type: 'string',
      pattern: SDS_USER_ID_PATTERN,
      description: 'SDS user ID: the 12-digit NHS smartcard number or the CIS2 UUID',
      example: '555021935107'
    },
    name: { type: 'string', minLength: 1, maxLength: 200, example: 'Dr Jane Example' },
    role: {
      type: 'string',
      pattern: RBAC_ROLE_PATTERN,
      description: 'National RBAC role code (R8000), or the full S…:G…:R… form',
      example: 'R8000'
    },
    organisation: {
      type: 'string',
      pattern: ODS_CODE_PATTERN,
      description: 'ODS code of the organisation the user works for',
      example: 'RBA'
    }
  }
} as const
