// HTTP translation shared by the route files (so no route file imports another): request fields
// parsed by the domain's rules into values or 400s naming the field, cursors, schema fragments.
import type { FastifyRequest } from 'fastify'
import { parseNhsNumber } from '../domain/nhs-number.ts'
import type { Caller } from '../services/types.ts'
import { invalidField } from '../domain/problems.ts'
import { INSTANT_PATTERN, parseInstant } from '../domain/instant.ts'

export function nhsNumberOrThrow (value: unknown, path: string): string {
  const parsed = parseNhsNumber(value)
  if (!parsed.ok) throw invalidField(path, parsed.error)
  return parsed.value
}

export function callerOf (request: FastifyRequest): Caller {
  if (request.caller === null) throw new Error('route has no requireScope hook')
  return request.caller
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
