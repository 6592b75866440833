// The OpenAPI 3.1 document, generated from the route schemas, and Swagger UI at /docs.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

const OPENAPI_INFO = {
  title: 'Consent Check Service',
  version: '1.0.0',
  description:
    "May this patient's record be shared for this purpose, by this caller, now? " +
    'Authenticate with a signed-JWT client assertion at POST /oauth2/token (SPEC §4), ' +
    'then send the access token as a Bearer token. ' +
    'Errors are application/problem+json (RFC 9457); the token endpoint answers RFC 6749 errors.'
}

export default fp(
  async function swaggerDocs (fastify: FastifyInstance) {
    await fastify.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: OPENAPI_INFO,
        servers: [{ url: fastify.runtime.config.publicUrl }],
        components: {
          securitySchemes: {
            bearerAuth: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description: 'An access token from POST /oauth2/token (or `npm run cli -- token`).'
            }
          }
        },
        tags: [
          { name: 'decisions', description: 'Ask whether a record may be shared' },
          { name: 'preferences', description: "Patients' recorded choices" },
          { name: 'purposes', description: 'Purposes of sharing and their hierarchy' },
          { name: 'clients', description: 'Client registry (administrators)' },
          { name: 'audit', description: 'Audit trail and emergency-access alerts' },
          { name: 'oauth2', description: 'Signed-JWT client credentials' },
          { name: 'fhir', description: 'FHIR R4 views: Consent (UK Core), AuditEvent, CapabilityStatement' },
          { name: 'cds-hooks', description: 'CDS Hooks patient-consent-consult' },
          { name: 'health', description: 'Liveness and readiness' }
        ]
      }
    })
    // The documentation is public: every route of this scope (Swagger UI's too) is marked so.
    await fastify.register(async function publicDocs (docs) {
      docs.addHook('onRoute', route => {
        route.config = { ...route.config, public: true }
      })
      await docs.register(swaggerUi, {
        routePrefix: '/docs',
        uiConfig: { persistAuthorization: false, deepLinking: true }
      })
      docs.get('/openapi.json', { schema: { hide: true } }, async () => fastify.swagger())
    })
  },
  { name: 'swagger', dependencies: ['runtime'] }
)
