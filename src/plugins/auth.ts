// Bearer-token authentication and authorisation for every protected route. The token says who the
// client is; the registry (kept current by the change feed) says whether it is still active and
// which of the token's scopes it still holds.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify'
import type { Scope } from '../domain/scopes.ts'
import type { Caller } from '../services/types.ts'
import { Problem, forbidden, tooManyRequests, unauthenticated } from '../domain/problems.ts'

declare module 'fastify' {
  interface FastifyInstance {
    requireScope: (scope: Scope) => onRequestHookHandler
    requireAuth: onRequestHookHandler
  }
  interface FastifyRequest {
    caller: Caller | null
  }
}

export default fp(
  async function auth (fastify: FastifyInstance) {
    const { tokens, registry, counters, config } = fastify.runtime
    fastify.decorateRequest('caller', null)
    // Failed authentications (bad, expired or revoked tokens, and failed token requests) share one
    // budget per IP, so tokens cannot be guessed or replayed at speed (SPEC §7).
    const failuresPerIp = config.tokenFailuresPerMinute * 5

    async function authenticate (request: FastifyRequest): Promise<Caller> {
      const key = `authfail:ip:${request.ip}`
      const seen = counters.read(key, 60_000)
      if (seen.current >= failuresPerIp) {
        const retryAfter = Math.max(1, Math.ceil(seen.ttlMs / 1000))
        throw tooManyRequests(
          `Too many failed authentications from this address; retry after ${retryAfter} seconds`,
          retryAfter
        )
      }
      try {
        return await verifyCaller(request)
      } catch (err) {
        if (err instanceof Problem && err.kind === 'unauthenticated') counters.incr(key, 60_000)
        throw err
      }
    }

    async function verifyCaller (request: FastifyRequest): Promise<Caller> {
      const header = request.headers.authorization
      if (header === undefined) {
        throw unauthenticated(
          'Missing Authorization header: send "Authorization: Bearer <access token>" from POST /oauth2/token'
        )
      }
      const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header)
      if (match === null) throw unauthenticated('Authorization header must be "Bearer <access token>"')
      const verified = await tokens.verify(match[1])
      if (typeof verified === 'string') throw unauthenticated(verified)
      const client = registry.cachedClient(verified.clientId) ?? (await registry.client(verified.clientId))
      if (client === undefined) throw unauthenticated('the client of this token no longer exists')
      if (client.status !== 'active') throw unauthenticated('client is suspended')
      return { client, scopes: verified.scopes.filter(s => client.scopes.includes(s)) }
    }

    fastify.decorate('requireScope', (scope: Scope): onRequestHookHandler => {
      return async function requireScope (request) {
        const caller = await authenticate(request)
        if (!caller.scopes.includes(scope)) {
          throw forbidden(`this endpoint needs scope '${scope}', which the access token does not carry`)
        }
        request.caller = caller
      }
    })

    /** Any valid token, whatever its scopes (e.g. reading the purpose catalogue). */
    fastify.decorate('requireAuth', async function requireAuth (request: FastifyRequest) {
      request.caller = await authenticate(request)
    })
  },
  { name: 'auth', dependencies: ['runtime'] }
)
