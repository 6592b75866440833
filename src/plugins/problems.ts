// Errors as RFC 9457 problem details. Handlers throw an HttpProblem; the error handler (errors.ts)
// turns it, Fastify's validation errors and anything unexpected into the right answer.

export interface FieldError { path: string, message: string }

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

export class HttpProblem extends Error {
  constructor (
    readonly statusCode: number,
    readonly detail: string,
    readonly errors?: FieldError[],
    readonly headers?: Record<string, string>
  ) {
    super(detail)
    this.name = 'HttpProblem'
  }
}

export const badRequest = (path: string, message: string): HttpProblem => new HttpProblem(400, message, [{ path, message }])
export const invalidFields = (errors: FieldError[]): HttpProblem => new HttpProblem(400, errors.map(e => `${e.path}: ${e.message}`).join('; '), errors)
export const unauthorized = (detail: string): HttpProblem => new HttpProblem(401, detail, undefined, { 'www-authenticate': `Bearer error="invalid_token", error_description="${detail.replace(/"/g, '\'')}"` })
export const forbidden = (detail: string): HttpProblem => new HttpProblem(403, detail)
export const notFound = (detail: string): HttpProblem => new HttpProblem(404, detail)
export const conflict = (detail: string): HttpProblem => new HttpProblem(409, detail)
export const unavailable = (detail = 'The consent store is unavailable; no decision can be made. Retry shortly.'): HttpProblem => new HttpProblem(503, detail, undefined, { 'retry-after': '1' })

/** The problem+json schema, shared by every route's error responses (and so by the OpenAPI document). */
export const problemSchema = {
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
      items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } }, required: ['path', 'message'] }
    }
  },
  required: ['type', 'title', 'status', 'detail', 'requestId'],
  example: { type: 'about:blank', title: 'Bad Request', status: 400, detail: '/nhsNumber: NHS number check digit is wrong', requestId: '6f1c9a52-7f0e-4a8e-9a44-1d1a3c0f9b21', errors: [{ path: '/nhsNumber', message: 'NHS number check digit is wrong' }] }
} as const

/** Error responses for a route: each status it can answer besides success. */
export function problemResponses (...statuses: number[]): Record<number, unknown> {
  const out: Record<number, unknown> = {}
  for (const s of statuses) out[s] = { description: problemTitle(s), content: { 'application/problem+json': { schema: problemSchema } } }
  return out
}
