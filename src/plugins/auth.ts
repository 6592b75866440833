// Bearer-token authentication and authorisation for every protected route: the onRequest hooks
// that ask the token service (src/services/tokens.ts) who the caller is and put the answer on the
// request.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import type { Scope } from '../domain/scopes.ts'
import type { Caller } from '../services/types.ts'

declare module 'fastify' {
  interface FastifyInstance {
    requireScope: (scope: Scope) => onRequestHookHandler
    requireAuth: onRequestHookHandler
  }
  interface FastifyRequest {
    caller: Caller | null
  }
}

/** The hooks requireScope and requireAuth make: app.ts refuses to start with a route that has none. */
const authenticationHooks = new WeakSet<object>()

function authenticating (hook: onRequestHookHandler): onRequestHookHandler {
  authenticationHooks.add(hook)
  return hook
}

export function isAuthenticationHook (hook: unknown): boolean {
  return typeof hook === 'function' && authenticationHooks.has(hook)
}

export default fp(
  async function auth (fastify: FastifyInstance) {
    fastify.decorateRequest('caller', null)

    fastify.decorate('requireScope', (scope: Scope): onRequestHookHandler => {
      return authenticating(async function requireScope (request) {
        request.caller = await fastify.services.tokens.authenticate(request.headers.authorization, request.ip, scope)
      })
    })

    /** Any valid token, whatever its scopes (e.g. reading the purpose catalogue). */
    fastify.decorate(
      'requireAuth',
      authenticating(async function requireAuth (request: FastifyRequest) {
        request.caller = await fastify.services.tokens.authenticate(request.headers.authorization, request.ip)
      })
    )
  },
  { name: 'auth', dependencies: ['runtime'] }
)
