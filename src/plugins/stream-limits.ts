// Request bodies in time and in number (SECURITY.md T15). Node bounds the headers (headersTimeout,
// app.ts); this bounds the body:
// - an ordinary body must arrive within BODY_TIMEOUT_MS of the request's start, else 408;
// - a bulk body (the filter, the import: route config `bulkStream`) may take as long as it needs,
//   since a cohort of millions of lines legitimately streams for minutes on a slow link, but not
//   STREAM_IDLE_TIMEOUT_MS without a byte, else 408 (or, once the filter's answer has begun, the
//   connection is closed and the run recorded as incomplete);
// - a body still arriving after its answer (a 401, 413 or 429 sent before it was read), which Node
//   reads and discards to keep the connection, gets what is left of BODY_TIMEOUT_MS, then the
//   connection is closed;
// - a client holds at most FILTER_STREAMS_PER_CLIENT bulk filter streams and IMPORTS_PER_CLIENT
//   imports at once on this instance; the next is a 429 with Retry-After before its body is read or
//   anything is audited, and the slot comes back when the answer ends, fails or the client goes away.
// After a 408 the connection is closed: the rest of the body cannot be told from a next request.
import type { IncomingMessage } from 'node:http'
import { PassThrough, type Readable } from 'node:stream'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { tooManyRequests } from '../domain/problems.ts'
import { HttpProblem } from './problems.ts'

export type BulkStream = 'filter' | 'import'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads its body as a long stream: an idle bound instead of a deadline, and a per-client cap. */
    bulkStream?: BulkStream
  }
}

const NAMES: Record<BulkStream, string> = { filter: 'bulk filter streams', import: 'imports' }
/** A bulk stream runs for seconds to minutes: retrying sooner than this would mostly be refused again. */
const RETRY_AFTER_SECONDS = 10

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`

/** Node's own error for a request whose connection closed before its body ended. */
function abortedError (): Error {
  return Object.assign(new Error('aborted'), { code: 'ECONNRESET' })
}

/**
 * The body as a stream that fails with a 408 once `limitMs` has passed: since the request started
 * (a deadline), or since the last byte arrived (idle). A client that goes away fails it as Node
 * fails the request itself (ECONNRESET 'aborted'), so the reader sees one error either way.
 */
function timedBody (raw: IncomingMessage, reply: FastifyReply, limitMs: number, idle: boolean): Readable {
  const body = new PassThrough()
  // The reader may not be listening yet when the body fails (the filter and the import commit a
  // start event before they read): the error stays on the stream, and a later read gets it.
  body.on('error', () => {})
  const detail = idle
    ? `No byte of the request body arrived for ${seconds(limitMs)}; the connection is closed`
    : `The request body did not arrive within ${seconds(limitMs)}; the connection is closed`
  const timer = setTimeout(
    () => {
      stop()
      raw.unpipe(body)
      reply.header('connection', 'close')
      body.destroy(new HttpProblem(408, detail))
    },
    idle ? limitMs : Math.max(0, limitMs - reply.elapsedTime)
  )
  function stop (): void {
    clearTimeout(timer)
    raw.removeListener('data', onData)
    raw.removeListener('end', stop)
    raw.removeListener('error', onError)
    raw.removeListener('close', onClose)
  }
  function onData (): void {
    timer.refresh()
  }
  function onError (err: Error): void {
    stop()
    body.destroy(err)
  }
  function onClose (): void {
    if (!raw.complete) onError(abortedError())
    else stop()
  }
  if (raw.destroyed) {
    // Gone while it was being authenticated: its 'error' and 'close' have been and will not come
    // again. Failed on the next turn, once the reader (Fastify's body parser) is listening.
    setImmediate(() => {
      onError(abortedError())
    })
    return body
  }
  if (idle) raw.on('data', onData)
  raw.once('end', stop)
  raw.on('error', onError)
  raw.once('close', onClose)
  body.once('close', stop)
  raw.pipe(body)
  return body
}

export default fp(
  async function streamLimits (fastify: FastifyInstance) {
    const { config } = fastify.runtime
    const caps: Record<BulkStream, number> = { filter: config.filterStreamsPerClient, import: config.importsPerClient }
    const open: Record<BulkStream, Map<string, number>> = { filter: new Map(), import: new Map() }

    /** Takes one of the caller's slots for this kind of stream until its answer is over, or refuses (429). */
    const takeSlot = (request: FastifyRequest, reply: FastifyReply, kind: BulkStream): void => {
      // An unauthenticated request was refused in onRequest; one refused for its scope is answered
      // 403 at preValidation, and holds no slot meanwhile.
      const caller = request.caller
      if (caller === null || request.refusal !== null) return
      const id = caller.client.id
      const held = open[kind].get(id) ?? 0
      if (held >= caps[kind]) {
        throw tooManyRequests(
          `This client already has ${held} ${NAMES[kind]} open, the most it may hold at once on this instance; ` +
            'nothing was read or recorded. Retry when one has ended.',
          RETRY_AFTER_SECONDS
        )
      }
      open[kind].set(id, held + 1)
      const socket = request.raw.socket
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        socket?.removeListener('close', release)
        const left = (open[kind].get(id) ?? 1) - 1
        if (left <= 0) open[kind].delete(id)
        else open[kind].set(id, left)
      }
      // 'close' comes once the answer has ended, or failed, or the client went away; the socket's
      // too, for an answer still queued behind another on the connection when it closes.
      reply.raw.once('close', release)
      socket?.once('close', release)
    }

    // A callback hook (not async): it runs on every request, the decision hot path included.
    fastify.addHook('preParsing', (request, reply, payload, done) => {
      const kind = request.routeOptions.config.bulkStream
      if (kind !== undefined) {
        try {
          takeSlot(request, reply, kind)
        } catch (err) {
          done(err as Error)
          return
        }
      }
      // complete: the whole body has arrived already (false only on a real socket, not inject()).
      if (request.raw.complete !== false) {
        done(null, payload)
        return
      }
      done(
        null,
        kind === undefined
          ? timedBody(request.raw, reply, config.bodyTimeoutMs, false)
          : timedBody(request.raw, reply, config.streamIdleTimeoutMs, true)
      )
    })

    fastify.addHook('onResponse', (request, reply, done) => {
      const raw = request.raw
      const socket = raw.socket as IncomingMessage['socket'] | null
      if (raw.complete === false && socket !== null && !socket.destroyed) {
        // Answered before its body arrived: Node reads and discards the rest to keep the connection,
        // but not beyond the ordinary body deadline.
        const timer = setTimeout(() => socket.destroy(), Math.max(0, config.bodyTimeoutMs - reply.elapsedTime))
        const clear = (): void => {
          clearTimeout(timer)
          raw.removeListener('end', clear)
          socket.removeListener('close', clear)
        }
        raw.once('end', clear)
        socket.once('close', clear)
      }
      done()
    })
  },
  { name: 'stream-limits', dependencies: ['runtime', 'auth'] }
)
