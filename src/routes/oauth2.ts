// POST /oauth2/token (signed-JWT client credentials) and the discovery documents (SPEC §4).
import type { FastifyInstance } from 'fastify'
import { decodeJwt } from 'jose'
import { SCOPES } from '../domain/scopes.ts'
import { AssertionError, verifyClientAssertion } from '../auth/client-assertion.ts'
import { RemoteJwks } from '../auth/remote-jwks.ts'
import { OAuthError } from '../auth/oauth-error.ts'
import { answerFor, sendProblem } from '../plugins/errors.ts'

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** The client an assertion claims to be (unverified: only to key the failure limit). */
function claimedClient (assertion: string): string | undefined {
  try {
    const iss = decodeJwt(assertion).iss
    return typeof iss === 'string' ? iss : undefined
  } catch {
    return undefined
  }
}

const oauthErrorSchema = {
  type: 'object',
  description: 'RFC 6749 §5.2 error',
  properties: {
    error: {
      type: 'string',
      enum: ['invalid_request', 'invalid_client', 'unsupported_grant_type', 'invalid_scope', 'temporarily_unavailable']
    },
    error_description: { type: 'string' }
  },
  required: ['error', 'error_description'],
  example: { error: 'invalid_client', error_description: 'assertion jti has already been used (replay)' }
} as const

export default async function oauthRoutes (fastify: FastifyInstance): Promise<void> {
  const { config, registry, db, tokens, audit, counters } = fastify.runtime
  const tokenEndpoint = `${config.publicUrl}/oauth2/token`
  const remoteJwks = new RemoteJwks()

  async function rememberJti (clientId: string, jti: string, expiresAt: Date): Promise<boolean> {
    try {
      await db.prisma.usedAssertion.create({ data: { clientId, jti, expiresAt } })
      return true
    } catch (err) {
      if ((err as { code?: string }).code === 'P2002') return false
      throw err
    }
  }
  // Expired jtis can never be replayed (exp is checked first), so they are dropped now and then.
  const sweep = setInterval(() => {
    db.prisma.usedAssertion.deleteMany({ where: { expiresAt: { lt: new Date() } } }).catch(() => {})
  }, 60_000)
  sweep.unref()
  fastify.addHook('onClose', async () => {
    clearInterval(sweep)
  })

  // The token endpoint in its own scope: its errors are RFC 6749's, the discovery documents' are not.
  await fastify.register(async function tokenRoute (scope) {
    // RFC 6749 §5.2 errors for what the token request got wrong; problem+json for the rest (a 503).
    scope.setErrorHandler(async (err: unknown, request, reply) => {
      reply.header('cache-control', 'no-store')
      if (err instanceof OAuthError) {
        return await reply.code(err.statusCode).send({ error: err.error, error_description: err.description })
      }
      const answer = answerFor(err, request)
      if (answer.status >= 500) return sendProblem(request, reply, answer)
      if (answer.headers !== undefined) reply.headers(answer.headers)
      if (answer.status === 429) {
        return await reply.code(429).send({ error: 'temporarily_unavailable', error_description: answer.detail })
      }
      const description = answer.errors?.map(e => `${e.path} ${e.message}`).join('; ') ?? answer.detail
      return await reply.code(400).send({ error: 'invalid_request', error_description: description })
    })

    scope.post(
      '/oauth2/token',
      {
        schema: {
          tags: ['oauth2'],
          summary: 'Exchange a signed client assertion for an access token',
          description:
            "Form-encoded, as RFC 6749 §4.4 with RFC 7523 client authentication. The assertion is a JWT signed with one of the client's registered keys: iss = sub = client id, aud = the token endpoint URL (or the issuer URL), exp at most 300 s ahead, a unique jti.",
          consumes: ['application/x-www-form-urlencoded'],
          body: {
            type: 'object',
            properties: {
              grant_type: { type: 'string', maxLength: 100 },
              client_assertion_type: { type: 'string', maxLength: 200 },
              client_assertion: { type: 'string' },
              client_id: { type: 'string', maxLength: 200 },
              scope: { type: 'string', maxLength: 1000 }
            },
            example: {
              grant_type: 'client_credentials',
              client_assertion_type: ASSERTION_TYPE,
              client_assertion:
                'eyJhbGciOiJSUzUxMiIsImtpZCI6ImtleS0xIiwidHlwIjoiSldUIn0.eyJpc3MiOiIuLi4ifQ.c2lnbmF0dXJl',
              scope: 'consent:check'
            }
          },
          response: {
            200: {
              type: 'object',
              properties: {
                access_token: { type: 'string' },
                token_type: { type: 'string' },
                expires_in: { type: 'integer' },
                scope: { type: 'string' }
              },
              required: ['access_token', 'token_type', 'expires_in', 'scope'],
              example: {
                access_token: 'eyJhbGciOiJFUzI1NiIsImtpZCI6Ii4uLiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiIuLi4ifQ.c2ln',
                token_type: 'Bearer',
                expires_in: 600,
                scope: 'consent:check'
              }
            },
            400: oauthErrorSchema,
            401: oauthErrorSchema,
            429: oauthErrorSchema
          }
        }
      },
      async (request, reply) => {
        // RFC 6749 §4.4: the token request is form-encoded; anything else is refused, not guessed at.
        if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
          throw new OAuthError(
            'invalid_request',
            'the token request must be application/x-www-form-urlencoded (RFC 6749)'
          )
        }
        const body = (request.body ?? {}) as Record<string, string | undefined>
        if (body.grant_type === undefined) {
          throw new OAuthError('invalid_request', 'grant_type is required (client_credentials)')
        }
        if (body.grant_type !== 'client_credentials') {
          throw new OAuthError(
            'unsupported_grant_type',
            `grant_type '${body.grant_type.slice(0, 50)}' is not supported; use client_credentials`
          )
        }
        if (body.client_assertion_type !== ASSERTION_TYPE) {
          throw new OAuthError('invalid_request', `client_assertion_type must be ${ASSERTION_TYPE}`)
        }
        if (body.client_assertion === undefined || body.client_assertion === '') {
          throw new OAuthError('invalid_request', 'client_assertion is required')
        }
        // Failed attempts are limited per claimed client and per IP, so keys cannot be guessed at speed.
        const claimed = claimedClient(body.client_assertion) ?? body.client_id
        // Per client *and* IP: a stranger's failures elsewhere cannot lock a clinical system out.
        const failureKeys = [
          `authfail:ip:${request.ip}`,
          ...(claimed !== undefined ? [`tokenfail:client:${claimed.slice(0, 64)}:${request.ip}`] : [])
        ]
        const limits = [config.tokenFailuresPerMinute * 5, config.tokenFailuresPerMinute]
        for (const [i, key] of failureKeys.entries()) {
          const seen = counters.read(key, 60_000)
          if (seen.current >= limits[i]) {
            const retryAfter = Math.max(1, Math.ceil(seen.ttlMs / 1000))
            return reply
              .code(429)
              .header('retry-after', String(retryAfter))
              .header('cache-control', 'no-store')
              .send({
                error: 'temporarily_unavailable',
                error_description: `too many failed token requests; retry after ${retryAfter} seconds`
              })
          }
        }
        let verified
        try {
          verified = await verifyClientAssertion(body.client_assertion, body.client_id, {
            allowedAlgorithms: config.assertionAlgorithms,
            audiences: [tokenEndpoint, config.publicUrl],
            loadClient: async id => await registry.reloadClient(id),
            rememberJti,
            remoteJwks
          })
        } catch (err) {
          if (err instanceof AssertionError) {
            for (const key of failureKeys) counters.incr(key, 60_000)
            throw new OAuthError(err.error, err.message)
          }
          throw err
        }
        const { client } = verified
        let scopes = client.scopes
        if (body.scope !== undefined && body.scope.trim() !== '') {
          const asked = body.scope.trim().split(/\s+/)
          const notGranted = asked.filter(s => !client.scopes.includes(s))
          if (notGranted.length > 0) {
            throw new OAuthError(
              'invalid_scope',
              `scope not registered for this client: ${notGranted.join(' ').slice(0, 200)}`
            )
          }
          scopes = [...new Set(asked)]
        }
        const accessToken = await tokens.mint(client.id, scopes)
        await audit.record({
          type: 'token.issued',
          clientId: client.id,
          requestId: request.id,
          outcome: 'issued',
          details: { scopes, expiresIn: tokens.ttl }
        })
        return reply
          .header('cache-control', 'no-store')
          .header('pragma', 'no-cache')
          .send({ access_token: accessToken, token_type: 'Bearer', expires_in: tokens.ttl, scope: scopes.join(' ') })
      }
    )
  })

  const metadata = {
    issuer: config.publicUrl,
    token_endpoint: tokenEndpoint,
    jwks_uri: `${config.publicUrl}/.well-known/jwks.json`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: config.assertionAlgorithms,
    scopes_supported: [...SCOPES],
    response_types_supported: ['token'],
    service_documentation: `${config.publicUrl}/docs`
  }
  const discoverySchema = { tags: ['oauth2'], response: { 200: { type: 'object', additionalProperties: true } } }
  fastify.get(
    '/.well-known/oauth-authorization-server',
    { schema: { ...discoverySchema, summary: 'OAuth 2.0 authorization server metadata (RFC 8414)' } },
    async (_r, reply) => reply.header('cache-control', 'public, max-age=3600').send(metadata)
  )
  fastify.get(
    '/.well-known/smart-configuration',
    { schema: { ...discoverySchema, summary: 'SMART Backend Services configuration' } },
    async (_r, reply) =>
      reply.header('cache-control', 'public, max-age=3600').send({
        ...metadata,
        capabilities: ['client-confidential-asymmetric'],
        grant_types_supported: ['client_credentials']
      })
  )
  fastify.get(
    '/.well-known/jwks.json',
    { schema: { ...discoverySchema, summary: "Public keys that verify this service's access tokens" } },
    async (_r, reply) => reply.header('cache-control', 'public, max-age=300').send(fastify.runtime.keys.publicJwks)
  )
}
