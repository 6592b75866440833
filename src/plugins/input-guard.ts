// Rejects U+0000 (NUL) anywhere in a request's path parameters, query string or parsed body.
// PostgreSQL cannot store NUL in text and refuses the whole statement (SQLite stores it), so a NUL
// in a name, note, reason or id was a 500 on one store and stored data on the other. No field of
// this API has a use for it: it is a 400 naming the field, on both stores (SPEC §7). Streamed
// bodies (the bulk filter and import) are checked line by line where they are parsed.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'

const NUL = '\u0000'

/** The JSON pointer of the first string (or object key) holding a NUL, or null. Iterative: bodies may nest deeply. */
function nulPath (value: unknown): string | null {
  interface Frame {
    v: unknown
    parent: Frame | null
    key: string
  }
  const pointer = (f: Frame): string => {
    const keys: string[] = []
    for (let at: Frame | null = f; at?.parent != null; at = at.parent) {
      keys.push(at.key.replace(/~/g, '~0').replace(/\//g, '~1'))
    }
    return '/' + keys.reverse().join('/')
  }
  const stack: Frame[] = [{ v: value, parent: null, key: '' }]
  while (stack.length > 0) {
    const f = stack.pop() as Frame
    const v = f.v
    if (typeof v === 'string') {
      if (v.includes(NUL)) return pointer(f)
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], parent: f, key: String(i) })
    } else if (typeof v === 'object' && v !== null && !isStream(v)) {
      for (const [k, child] of Object.entries(v)) {
        const frame = { v: child, parent: f, key: k.replaceAll('\u0000', '\\u0000') }
        if (k.includes(NUL)) return pointer(frame)
        stack.push(frame)
      }
    }
  }
  return null
}

function isStream (v: object): boolean {
  return typeof (v as { pipe?: unknown }).pipe === 'function'
}

/**
 * A Fastify-shaped validation error, so the error handler answers it like any schema error
 * (problem+json, or RFC 6749 on /oauth2).
 */
function nulError (context: 'params' | 'querystring' | 'body', path: string): Error {
  return Object.assign(new Error(`${path} must not contain a NUL character (U+0000)`), {
    statusCode: 400,
    validationContext: context,
    validation: [
      {
        keyword: 'nul',
        instancePath: path === '/' ? '' : path,
        schemaPath: '',
        params: {},
        message: 'must not contain a NUL character (U+0000)'
      }
    ]
  })
}

function checkNul (request: FastifyRequest): Error | null {
  for (const [context, value] of [
    ['params', request.params],
    ['querystring', request.query],
    ['body', request.body]
  ] as const) {
    const path = nulPath(value)
    if (path !== null) return nulError(context, path)
  }
  return null
}

export default fp(
  async function inputGuard (fastify: FastifyInstance) {
    // A callback hook (not async): it runs on every request, the decision hot path included.
    // Not for unknown routes: their answer is 404, whatever the input.
    fastify.addHook('preValidation', (request, _reply, done) => {
      done(request.routeOptions.url === undefined ? undefined : (checkNul(request) ?? undefined))
    })
  },
  { name: 'input-guard' }
)
