// Small helpers shared by the /v1 routes.
import type { FastifyRequest } from 'fastify'
import { parseNhsNumber } from '../../domain/nhs-number.ts'
import type { Caller } from '../../plugins/auth.ts'
import { badRequest, unavailable } from '../../plugins/problems.ts'
import type { Services } from '../../services.ts'

export function nhsNumberOrThrow (value: unknown, path: string): string {
  const parsed = parseNhsNumber(value)
  if (!parsed.ok) throw badRequest(path, parsed.error)
  return parsed.value
}

export function callerOf (request: FastifyRequest): Caller {
  if (request.caller === null) throw new Error('route has no requireScope hook')
  return request.caller
}

/** Decisions must not be made on a view of the store older than the staleness bound (fail closed). */
export function requireFreshView (services: Services): void {
  if (!services.feed.fresh) throw unavailable()
}

export function dateOrThrow (value: string | undefined, path: string): Date | undefined {
  if (value === undefined) return undefined
  const d = new Date(value)
  if (Number.isNaN(d.getTime())) throw badRequest(path, 'must be an ISO 8601 date-time')
  // Four-digit years only: year 0000 and expanded years are valid JavaScript dates that
  // PostgreSQL refuses (a 500) and SQLite's text ordering would misplace.
  const year = d.getUTCFullYear()
  if (year < 1 || year > 9999) throw badRequest(path, 'must be a date-time between the years 0001 and 9999')
  return d
}

/** Opaque list cursors: base64url of the last item's sequence value. */
export function encodeCursor (seq: bigint | string): string {
  return Buffer.from(String(seq)).toString('base64url')
}

export function decodeCursor (cursor: string | undefined, path = 'querystring:/cursor'): string | undefined {
  if (cursor === undefined || cursor === '') return undefined
  const raw = Buffer.from(cursor, 'base64url').toString()
  if (!/^[0-9A-Za-z:._-]{1,80}$/.test(raw)) throw badRequest(path, 'cursor is not one this service issued')
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
 * A date or a date-time (ISO 8601), for times callers give: a paper form carries a date, a system a
 * date-time. A date means midnight UTC. dateOrThrow then refuses impossible ones (month 13).
 */
export const dateOrDateTime = {
  type: 'string',
  maxLength: 40,
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2}))?$'
} as const
