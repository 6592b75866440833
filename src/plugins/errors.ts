// Turns every error into a clear answer (answerFor: the one mapping to a status), sent as
// problem+json here; /oauth2 (RFC 6749 §5.2) and /fhir (OperationOutcome) dress the same answer
// in their own handlers. Never a stack trace; a 5xx says only that something failed and the id.
import { randomUUID } from 'node:crypto'
import { STATUS_CODES, maxHeaderSize } from 'node:http'
import type { Duplex } from 'node:stream'
import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { HttpProblem, STATUS_OF, problemTitle, type FieldError } from './problems.ts'
import { Problem, unavailable } from '../domain/problems.ts'
import { FHIR_JSON, fhirError, isFhirUrl } from '../fhir/resources.ts'
import { isStoreUnavailable } from '../store/store-errors.ts'

/** What a pattern means, said plainly instead of echoing the regular expression. */
const PATTERN_MEANINGS: Array<[RegExp, string]> = [
  [/^\^\[0-9\]\{4\}-/, 'must be an ISO 8601 date (2025-03-14) or date-time (2025-03-14T09:30:00Z)'],
  [/^\^\[a-z0-9\]\+\(-/, 'must be kebab-case: lower-case letters and digits separated by single hyphens'],
  [/^\^\[A-Za-z0-9\]\{3,10\}\$$/, 'must be an ODS code: 3 to 10 letters or digits'],
  [/^\\S$/, 'must not be blank']
]
/** At most this many field errors are listed: a request with thousands of bad fields gets a short answer. */
const MAX_FIELD_ERRORS = 50

/** Fastify's and ajv's errors, in terms of the field the caller sent. */
function validationErrors (err: FastifyError): FieldError[] {
  const context = err.validationContext ?? 'body'
  return (err.validation ?? []).slice(0, MAX_FIELD_ERRORS).map(v => {
    const params = v.params as Record<string, unknown>
    let path = v.instancePath ?? ''
    let message = v.message ?? 'is invalid'
    if (v.keyword === 'required') {
      path = `${path}/${String(params.missingProperty)}`
      message = 'is required'
    }
    if (v.keyword === 'additionalProperties') {
      path = `${path}/${String(params.additionalProperty)}`
      message = 'is not a known field'
    }
    if (v.keyword === 'enum') message = `must be one of: ${(params.allowedValues as unknown[]).join(', ')}`
    if (v.keyword === 'pattern') {
      message = PATTERN_MEANINGS.find(([re]) => re.test(String(params.pattern)))?.[1] ?? message
    }
    const prefix = context === 'body' ? '' : `${context}:`
    return { path: `${prefix}${path === '' ? '/' : path}`, message }
  })
}

/** An error as an HTTP answer, before it is dressed as problem+json, an OperationOutcome or RFC 6749. */
export interface ErrorAnswer {
  status: number
  detail: string
  errors?: FieldError[]
  headers?: Record<string, string>
  /** Fastify's own code (FST_ERR_...), for formats that say more than a status (RFC 6749). */
  code?: string
}

const UNEXPECTED = 'An unexpected error occurred; it has been logged with this request id.'

/**
 * The one place an error becomes a status: a pending scope refusal (plugins/auth.ts) first, then
 * the domain's and the use cases' Problems by kind, HTTP-only failures, Fastify's validation and
 * parsing errors, a store that has gone away (503, fail closed), and anything else (a 500 that says
 * nothing but the request id, logged in full).
 */
export function answerFor (err: unknown, request: FastifyRequest): ErrorAnswer {
  // A caller refused for a scope is told so, whatever else its request got wrong before the refusal
  // was answered (a body that does not parse, a NUL): authorisation comes first, as it did in onRequest.
  const refusal = request.refusal ?? null
  if (refusal !== null && err !== refusal) return problemAnswer(refusal)
  if (err instanceof Problem) {
    if (err.kind === 'unavailable') {
      request.log.error({ err: { name: err.name, cause: (err.cause as Error | undefined)?.name } }, 'store unavailable')
    }
    return problemAnswer(err)
  }
  if (err instanceof HttpProblem) return { status: err.statusCode, detail: err.detail }
  if (clientAborted(err, request)) {
    // Node fails a request whose connection closed mid-body with ECONNRESET, a code the store's
    // drivers use too: it is the caller's doing, not the store's, and nobody is left to answer.
    request.log.info({ err: { code: (err as FastifyError).code } }, 'client aborted the request')
    return { status: 400, detail: 'The client closed the connection before the request body ended' }
  }
  if (isStoreUnavailable(err)) {
    // A failure the store raised rather than a Problem: the same fail-closed 503 as the domain's.
    request.log.error({ err: { name: (err as Error).name, code: (err as FastifyError).code } }, 'store unavailable')
    return problemAnswer(unavailable())
  }
  const fe = err as FastifyError
  if (fe.validation !== undefined) {
    const errors = validationErrors(fe)
    return { status: 400, detail: errors.map(e => `${e.path}: ${e.message}`).join('; '), errors, code: fe.code }
  }
  const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500
  if (status === 500) {
    request.log.error({ err }, 'unhandled error')
    return { status: 500, detail: UNEXPECTED }
  }
  return { status, detail: describeClientError(fe), code: fe.code }
}

/**
 * The error is the request body's own failure because the client went away: Node's ECONNRESET
 * 'aborted' (or a stream closed early) on a request whose connection is gone.
 */
function clientAborted (err: unknown, request: FastifyRequest): boolean {
  const e = err as { code?: unknown; message?: unknown } | null | undefined
  const bodyFailed = (e?.code === 'ECONNRESET' && e.message === 'aborted') || e?.code === 'ERR_STREAM_PREMATURE_CLOSE'
  return bodyFailed && (request.raw.destroyed || request.raw.socket?.destroyed === true)
}

/** A Problem's answer: its kind's status, and the headers its kind calls for. */
function problemAnswer (problem: Problem): ErrorAnswer {
  const headers: Record<string, string> = {}
  if (problem.retryAfterSeconds !== undefined) headers['retry-after'] = String(problem.retryAfterSeconds)
  if (problem.kind === 'unauthenticated') {
    headers['www-authenticate'] =
      // A header value is printable ASCII only (RFC 9110 §5.5); a detail may echo input or carry "…".
      `Bearer error="invalid_token", error_description="${problem.detail.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?')}"`
  }
  return { status: STATUS_OF[problem.kind], detail: problem.detail, errors: problem.errors, headers }
}

/** An answer as RFC 9457 problem+json. */
export function sendProblem (request: FastifyRequest, reply: FastifyReply, answer: ErrorAnswer): FastifyReply {
  if (answer.headers !== undefined) reply.headers(answer.headers)
  const { status, detail, errors } = answer
  return reply
    .code(status)
    .type('application/problem+json')
    .send({
      type: 'about:blank',
      title: problemTitle(status),
      status,
      detail,
      requestId: request.id,
      ...(errors !== undefined ? { errors } : {})
    })
}

/**
 * An answer outside any route (before routing, or no route matched), where no encapsulated handler
 * exists: under /fhir an OperationOutcome.
 */
export function sendUnrouted (request: FastifyRequest, reply: FastifyReply, answer: ErrorAnswer): FastifyReply {
  if (isFhirUrl(request.url)) {
    return reply
      .code(answer.status)
      .type(FHIR_JSON)
      .send(fhirError(answer.status, answer.detail, answer.errors))
  }
  return sendProblem(request, reply, answer)
}

export default fp(async function errors (fastify: FastifyInstance) {
  // problem+json everywhere; /oauth2 and /fhir set their own handlers in their own plugins.
  // An error on the way to the not-found handler has no route, so no encapsulated handler.
  fastify.setErrorHandler(async (err: unknown, request, reply) => {
    const answer = answerFor(err, request)
    return request.is404 ? sendUnrouted(request, reply, answer) : sendProblem(request, reply, answer)
  })
})

/**
 * Fastify's `frameworkErrors`: errors raised before routing, which never reach the error handler
 * (a URL whose percent-escapes do not decode, a path parameter over maxParamLength). Without it
 * Fastify answers them with its own bare JSON; with it they are problem+json like every other 4xx.
 */
export function frameworkErrors (maxParamLength: number) {
  return function frameworkError (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    if (err.code === 'FST_ERR_BAD_URL') {
      sendUnrouted(request, reply, {
        status: 400,
        detail: 'The URL is malformed: a percent-escape in its path is invalid or does not decode to UTF-8'
      })
    } else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
      sendUnrouted(request, reply, {
        status: 414,
        detail: `A path parameter is longer than ${maxParamLength} characters`
      })
    } else {
      request.log.error({ err }, 'framework error')
      sendUnrouted(request, reply, { status: 500, detail: UNEXPECTED })
    }
  }
}

/**
 * Fastify's `clientErrorHandler`: Node's HTTP parser refused the request before Fastify saw it (a
 * request line and headers over Node's limit, 16 KiB by default; bytes that are not HTTP/1.1; a
 * request too slow to arrive). As Fastify's default, but problem+json saying which; then the
 * connection is closed, since the rest of what the client sends cannot be parsed.
 */
export function clientErrorHandler (
  this: FastifyInstance,
  err: Error & { code?: string; reason?: string },
  socket: Duplex
): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const [status, detail] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, `The request line and headers are larger than ${maxHeaderSize} bytes`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' // Node's headersTimeout: its requestTimeout is off (app.ts)
        ? [408, 'The request line and headers did not arrive in time; the connection is closed']
        : [400, `The request is not valid HTTP/1.1: ${String(err.reason ?? err.code ?? 'unparseable').slice(0, 100)}`]
  this.log.debug({ err: { code: err.code } }, 'client error')
  // An answer already under way on this connection (a pipelined request's) must not be interleaved
  // with this one: the connection is only closed.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage
  if (socket.writable && inFlight?.headersSent !== true) {
    const body = JSON.stringify({
      type: 'about:blank',
      title: problemTitle(status),
      status,
      detail,
      requestId: randomUUID()
    })
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/problem+json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
    )
  }
  socket.destroy(err)
}

/** Fastify's own 4xx errors, said plainly. */
function describeClientError (err: FastifyError): string {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return `The body is not valid JSON: ${err.message}`
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'The body is larger than this endpoint accepts'
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return `Unsupported content type: ${err.message.replace(/^Unsupported Media Type: ?/, '')}; send application/json`
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'Content-Length does not match the body'
    default:
      return err.message
  }
}
