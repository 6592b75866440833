// Errors as RFC 9457 problem details. The domain and the use cases throw a Problem; a route throws
// an HttpProblem only for what exists in HTTP alone. The error handler (errors.ts) turns both,
// Fastify's validation errors and anything unexpected into the right answer.
import type { ProblemKind } from '../domain/problems.ts'

export type { FieldError } from '../domain/problems.ts'

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
}

export function problemTitle (status: number): string {
  return TITLES[status] ?? 'Error'
}

/**
 * A failure that exists only in HTTP (406, 413, 414, 415: what the request's framing asked for).
 * Everything the domain or a use case refuses is a Problem (src/domain/problems.ts) instead.
 */
export class HttpProblem extends Error {
  constructor (
    readonly statusCode: number,
    readonly detail: string
  ) {
    super(detail)
    this.name = 'HttpProblem'
  }
}

/** The one mapping from a Problem's kind to an HTTP status. */
export const STATUS_OF: Readonly<Record<ProblemKind, number>> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'too-many-requests': 429,
  unavailable: 503
}

/** The problem+json schema, shared by every route's error responses (and so by the OpenAPI document). */
const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    requestId: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { path: { type: 'string' }, message: { type: 'string' } },
        required: ['path', 'message']
      }
    }
  },
  required: ['type', 'title', 'status', 'detail', 'requestId'],
  example: {
    type: 'about:blank',
    title: 'Bad Request',
    status: 400,
    detail: '/nhsNumber: NHS number check digit is wrong',
    requestId: '6f1c9a52-7f0e-4a8e-9a44-1d1a3c0f9b21',
    errors: [{ path: '/nhsNumber', message: 'NHS number check digit is wrong' }]
  }
} as const

/** Error responses for a route: each status it can answer besides success. */
export function problemResponses (...statuses: number[]): Record<number, unknown> {
  const out: Record<number, unknown> = {}
  for (const s of statuses) {
    out[s] = { description: problemTitle(s), content: { 'application/problem+json': { schema: problemSchema } } }
  }
  return out
}
