// Rejects U+0000 (NUL) anywhere in a request's path parameters, query string or parsed body.
// PostgreSQL cannot store NUL in text and refuses the whole statement (SQLite stores it), so a NUL
// in a name, note, reason or id was a 500 on one store and stored data on the other. No field of
// this API has a use for it: it is a 400 naming the field, on both stores (SPEC §7). Streamed
// bodies (the bulk filter and import) are checked line by line where they are parsed.
// Also rejects a value nested more than MAX_DEPTH levels deep: JSON.parse takes any depth, but
// recursive code after it does not (JSON.stringify of a JWK nested 5 000 arrays deep overflowed the
// stack in the store: a 500). No body of this API nests beyond a dozen levels.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'

const NUL = '\u0000'
/** The deepest a value may sit in a request: the root's members are at depth 1. */
export const MAX_DEPTH = 64
/** A too-deep value is named by its ancestor at this depth: its own pointer is as long as the nesting. */
const NAMED_DEPTH = 4

interface Finding {
  path: string
  problem: 'nul' | 'depth'
}

/**
 * The first string (or object key) holding a NUL, or value deeper than MAX_DEPTH (named by its
 * ancestor at NAMED_DEPTH), with its JSON pointer; null when there is none. Iterative, so that it
 * survives the nesting it refuses.
 */
function hostilePath (value: unknown): Finding | null {
  interface Frame {
    v: unknown
    parent: Frame | null
    key: string
    depth: number
  }
  const pointer = (f: Frame): string => {
    const keys: string[] = []
    for (let at: Frame | null = f; at?.parent != null; at = at.parent) {
      keys.push(at.key.replace(/~/g, '~0').replace(/\//g, '~1'))
    }
    return '/' + keys.reverse().join('/')
  }
  const stack: Frame[] = [{ v: value, parent: null, key: '', depth: 0 }]
  while (stack.length > 0) {
    const f = stack.pop() as Frame
    const v = f.v
    if (f.depth > MAX_DEPTH) {
      let named = f
      while (named.depth > NAMED_DEPTH && named.parent !== null) named = named.parent
      return { path: pointer(named), problem: 'depth' }
    }
    if (typeof v === 'string') {
      if (v.includes(NUL)) return { path: pointer(f), problem: 'nul' }
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], parent: f, key: String(i), depth: f.depth + 1 })
    } else if (typeof v === 'object' && v !== null && !isStream(v)) {
      for (const [k, child] of Object.entries(v)) {
        const frame = { v: child, parent: f, key: k.replaceAll('\u0000', '\\u0000'), depth: f.depth + 1 }
        if (k.includes(NUL)) return { path: pointer(frame), problem: 'nul' }
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
function inputError (context: 'params' | 'querystring' | 'body', found: Finding): Error {
  const path = found.path
  const message =
    found.problem === 'nul'
      ? 'must not contain a NUL character (U+0000)'
      : `holds values nested more than ${MAX_DEPTH} levels deep (the limit for any request)`
  return Object.assign(new Error(`${path} ${message}`), {
    statusCode: 400,
    validationContext: context,
    validation: [
      { keyword: found.problem, instancePath: path === '/' ? '' : path, schemaPath: '', params: {}, message }
    ]
  })
}

function checkInput (request: FastifyRequest): Error | null {
  for (const [context, value] of [
    ['params', request.params],
    ['querystring', request.query],
    ['body', request.body]
  ] as const) {
    const found = hostilePath(value)
    if (found !== null) return inputError(context, found)
  }
  return null
}

export default fp(
  async function inputGuard (fastify: FastifyInstance) {
    // A callback hook (not async): it runs on every request, the decision hot path included.
    // Not for unknown routes: their answer is 404, whatever the input.
    fastify.addHook('preValidation', (request, _reply, done) => {
      done(request.routeOptions.url === undefined ? undefined : (checkInput(request) ?? undefined))
    })
  },
  { name: 'input-guard' }
)
