// POST /oauth2/token (signed-JWT client credentials) and the discovery documents (SPEC §4). Token
// issuing is the token service's (src/services/tokens.ts); this file is its HTTP shape.
import type { FastifyInstance } from 'fastify'
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts'
import { SCOPES, SMART_SCOPES } from '../domain/scopes.ts'
import { CLIENT_ASSERTION_TYPE } from '../auth/client-assertion-signer.ts'
import { OAUTH_ERRORS, OAuthError } from '../services/tokens.ts'
import { answerFor, sendProblem, sendUnrouted } from '../plugins/errors.ts'

const oauthErrorSchema = {
  type: 'object',
  description: 'RFC 6749 §5.2 error',
  properties: {
    error: { type: 'string', enum: [...OAUTH_ERRORS, 'temporarily_unavailable'] },
    error_description: { type: 'string' }
  },
  required: ['error', 'error_description'],
  example: { error: 'invalid_client', error_description: 'assertion jti has already been used (replay)' }
} as const

export default async function oauthRoutes (fastify: FastifyInstance): Promise<void> {
  const { config } = fastify.runtime
  const tokenEndpoint = fastify.services.tokens.endpoint

  // The token endpoint in its own scope: its errors are RFC 6749's, the discovery documents' are not.
  await fastify.register(async function tokenRoute (scope) {
    // RFC 6749 §5.2 errors for what the token request got wrong; problem+json for the rest (a 503).
    scope.setErrorHandler(async (err: unknown, request, reply) => {
      reply.header('cache-control', 'no-store')
      const answer = answerFor(err, request)
      if (err instanceof OAuthError) {
        return await reply.code(answer.status).send({ error: err.error, error_description: err.detail })
      }
      if (answer.status >= 500) return sendProblem(request, reply, answer)
      if (answer.headers !== undefined) reply.headers(answer.headers)
      if (answer.status === 429) {
        return await reply.code(429).send({ error: 'temporarily_unavailable', error_description: answer.detail })
      }
      const description = answer.errors?.map(e => `${e.path} ${e.message}`).join('; ') ?? answer.detail
      return await reply.code(400).send({ error: 'invalid_request', error_description: description })
    })

    scope.withTypeProvider<JsonSchemaToTsProvider>().post(
      '/oauth2/token',
      {
        // Public: the client authenticates with its signed assertion, not a token.
        config: { public: true },
        schema: {
          tags: ['oauth2'],
          summary: 'Exchange a signed client assertion for an access token',
          description:
            'Form-encoded, as RFC 6749 §4.4 with RFC 7523 client authentication. The assertion is a JWT signed ' +
            "with one of the client's registered keys: iss = sub = client id, aud = the token endpoint URL (or the " +
            'issuer URL), exp at most 300 s ahead, a unique jti.',
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
              client_assertion_type: CLIENT_ASSERTION_TYPE,
              client_assertion:
                'eyJhbGciOiJSUzUxMiIsImtpZCI6ImtleS0xIiwidHlwIjoiSldUIn0.eyJpc3MiOiIuLi4ifQ.c2lnbmF0dXJl',
              scope: 'consent:check'
            }
          },
          response: {
            200: {
              type: 'object',
              additionalProperties: false,
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
        const form = request.body ?? {}
        const issued = await fastify.services.tokens.issue(
          {
            grantType: form.grant_type,
            clientAssertionType: form.client_assertion_type,
            clientAssertion: form.client_assertion,
            clientId: form.client_id,
            scope: form.scope
          },
          { ip: request.ip, requestId: request.id, correlationId: request.correlationId, log: request.log }
        )
        return await reply
          .header('cache-control', 'no-store')
          .header('pragma', 'no-cache')
          .send({
            access_token: issued.accessToken,
            token_type: 'Bearer',
            expires_in: issued.expiresIn,
            scope: issued.grantedNames.join(' ')
          })
      }
    )
  })

  // RFC 8414 metadata of a server with a token endpoint and nothing else: no authorization endpoint,
  // so no response type (response_types_supported is REQUIRED, and empty is the truth). Not served
  // as /.well-known/openid-configuration: this is no OpenID provider (no id_token, no userinfo), so
  // an OIDC client discovers it the RFC 8414 way (openid-client: `algorithm: 'oauth2'`).
  const metadata = {
    issuer: config.publicUrl,
    token_endpoint: tokenEndpoint,
    jwks_uri: `${config.publicUrl}/.well-known/jwks.json`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: config.assertionAlgorithms,
    scopes_supported: [...SCOPES, ...SMART_SCOPES],
    response_types_supported: [],
    service_documentation: `${config.publicUrl}/docs`
  }
  // SMART App Launch 2 for Backend Services: asymmetric client authentication, system scopes in
  // both syntaxes (v2 `.rs`, v1 `.read`). No authorization endpoint and no PKCE methods: there is no
  // launch and no authorization code, so SMART's fields for those are left out rather than faked.
  const smartConfiguration = {
    ...metadata,
    capabilities: ['client-confidential-asymmetric', 'permission-v1', 'permission-v2']
  }
  const discoverySchema = { tags: ['oauth2'], response: { 200: { type: 'object', additionalProperties: true } } }
  fastify.get(
    '/.well-known/oauth-authorization-server',
    {
      config: { public: true },
      schema: { ...discoverySchema, summary: 'OAuth 2.0 authorization server metadata (RFC 8414)' }
    },
    async (_r, reply) => reply.header('cache-control', 'public, max-age=3600').send(metadata)
  )
  // At the FHIR base, where SMART clients look (`{fhir base}/.well-known/smart-configuration`), and
  // at the root, where it was first published. Outside the FHIR plugin, so its refusals (a hostile
  // query) are dressed by URL: an OperationOutcome under /fhir, as every error there.
  await fastify.register(async function smartDiscovery (scope) {
    scope.setErrorHandler(async (err: unknown, request, reply) => sendUnrouted(request, reply, answerFor(err, request)))
    for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration']) {
      scope.get(
        path,
        {
          config: { public: true },
          schema: { ...discoverySchema, summary: 'SMART configuration (SMART App Launch 2, Backend Services)' }
        },
        async (_r, reply) => reply.header('cache-control', 'public, max-age=3600').send(smartConfiguration)
      )
    }
  })
  fastify.get(
    '/.well-known/jwks.json',
    {
      config: { public: true },
      schema: { ...discoverySchema, summary: "Public keys that verify this service's access tokens" }
    },
    async (_r, reply) => reply.header('cache-control', 'public, max-age=300').send(fastify.runtime.keys.publicJwks)
  )
}
