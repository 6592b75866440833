// Bearer-token authentication and authorisation for every protected route: the onRequest hooks
// that ask the token service (src/services/tokens.ts) who the caller is and put the answer on the
// request. A bad token is refused at once: 401, or 429 once its address has spent its failure budget
// (a valid token never is, services/failure-budget.ts). A good token without the route's scope is
// refused only once the body is read (preValidation), still before any validation or work: the
// refusal is audited per patient (SPEC §3 "Audit", plugins/refusals.ts), and the patient may be named
// in the body.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import type { Problem } from '../domain/problems.ts'
import type { Scope } from '../domain/scopes.ts'
import { scopeRefusal } from '../services/tokens.ts'
import type { Caller } from '../services/types.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** A hook admitting a token that carries `scope` (or any one of the scopes given). */
    requireScope: (scope: Scope | readonly Scope[]) => onRequestHookHandler
    requireAuth: onRequestHookHandler
  }
  interface FastifyRequest {
    /** The authenticated caller; set as well when the caller is refused for a scope (to audit who). */
    caller: Caller | null
    /** The scope refusal of an authenticated caller, answered once the body is read; null when admitted. */
    refusal: Problem | null
    /** Past the point where a deferred refusal is answered: a later requireScope refuses at once. */
    refusalDue: boolean
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
    fastify.decorateRequest('refusal', null)
    fastify.decorateRequest('refusalDue', false)

    const authenticate = async (request: FastifyRequest): Promise<Caller> => {
      // Authenticated already by an earlier hook of this route with the credentials of its own
      // protocol (CDS Hooks: the EHR's signed JWT, routes/cds-hooks.ts); the scope is checked alike.
      if (request.caller !== null) return request.caller
      const authenticated = await fastify.services.tokens.authenticate(request.headers.authorization, request.ip)
      const caller = { ...authenticated, requestId: request.id, correlationId: request.correlationId }
      request.caller = caller
      return caller
    }

    fastify.decorate('requireScope', (scope: Scope | readonly Scope[]): onRequestHookHandler => {
      return authenticating(async function requireScope (request) {
        const refused = scopeRefusal(await authenticate(request), scope)
        if (refused === null) return
        // Used later than onRequest (the app refuses to start so, but a refusal must never be lost).
        if (request.refusalDue) throw refused
        request.refusal = refused
      })
    })

    /** Any valid token, whatever its scopes (e.g. reading the purpose catalogue). */
    fastify.decorate(
      'requireAuth',
      authenticating(async function requireAuth (request: FastifyRequest) {
        await authenticate(request)
      })
    )

    // A callback hook (not async): it runs on every request, the decision hot path included.
    fastify.addHook('preValidation', (request, _reply, done) => {
      request.refusalDue = true
      done(request.refusal ?? undefined)
    })
  },
  { name: 'auth', dependencies: ['runtime'] }
)
