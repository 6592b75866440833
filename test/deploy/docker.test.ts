// No Docker engine runs on these machines, so the image and compose file cannot be built here.
// This test keeps them consistent with the code: ports, variable names, start command, health
// check route, a non-root user and a multi-stage build.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { ENV_VARIABLES, loadConfig } from '../../src/config.ts'
import { PACKAGE_ROOT } from '../../src/paths.ts'
import { buildTestApp } from '../helpers/app.ts'

const dockerfile = readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8')
const compose = parse(readFileSync(join(PACKAGE_ROOT, 'docker-compose.yml'), 'utf8')) as {
  services: Record<
    string,
    {
      environment?: Record<string, string>
      ports?: string[]
      volumes?: string[]
      depends_on?: Record<string, unknown>
      image?: string
      build?: string
    }
  >
}
const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
const dockerEnv = Object.fromEntries(
  [...runtime.matchAll(/^\s*(?:ENV\s+)?([A-Z_]+)=(\S+?)\s*\\?$/gm)].map(m => [m[1], m[2]])
)

describe('Dockerfile and docker-compose.yml', () => {
  it('the Dockerfile is multi-stage, runs as a non-root user with production dependencies only', () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2)
    expect(runtime).toMatch(/^USER node$/m)
    expect(dockerfile).toMatch(/npm prune --omit=dev/)
    expect(dockerfile).toMatch(/node:20/)
  })

  it('the image starts the same entry point as npm start, and its health check asks a real route', async () => {
    expect(pkg.scripts.start).toContain('dist/src/server.js')
    expect(runtime).toMatch(/CMD \["node", "dist\/src\/server\.js"\]/)
    const health = /HEALTHCHECK[\s\S]*?(\/health\/\w+)/.exec(runtime)?.[1]
    expect(health).toBe('/health/ready')
    const t = await buildTestApp()
    try {
      expect((await t.app.inject({ method: 'GET', url: health as string })).statusCode).toBe(200)
    } finally {
      await t.close()
    }
  })

  it('every variable set in the image and the compose file is one the service reads, and is valid', () => {
    const service = compose.services.consent
    const env = { ...dockerEnv, ...service.environment }
    // NODE_ENV is Node's own (it only tells libraries this is production).
    for (const name of Object.keys(env).filter(n => n !== 'NODE_ENV')) {
      expect(ENV_VARIABLES, `${name} is read by src/config.ts`).toContain(name)
    }
    // Values with compose defaults resolved as compose would.
    const resolved = Object.fromEntries(
      Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')])
    )
    expect(() => loadConfig(resolved)).not.toThrow()
  })

  it('ports agree: EXPOSE, PORT and the compose port mapping', () => {
    const exposed = /^EXPOSE (\d+)$/m.exec(runtime)?.[1]
    const service = compose.services.consent
    expect(dockerEnv.PORT).toBe(exposed)
    expect(service.environment?.PORT).toBe(exposed)
    expect(service.ports?.[0].split(':')[1]).toBe(exposed)
    expect(service.environment?.HOST).toBe('0.0.0.0')
  })

  it('compose runs the service on PostgreSQL with a volume, after PostgreSQL is healthy', () => {
    const service = compose.services.consent
    const url = new URL(String(service.environment?.DATABASE_URL).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1'))
    expect(url.protocol).toBe('postgresql:')
    expect(Object.keys(compose.services)).toContain(url.hostname)
    expect(compose.services[url.hostname].volumes?.[0]).toMatch(/:\/var\/lib\/postgresql\/data$/)
    expect(service.depends_on?.[url.hostname]).toMatchObject({ condition: 'service_healthy' })
    // The signing key must survive restarts: it lives on the service's volume.
    expect(service.volumes?.some(v => String(service.environment?.SIGNING_KEY_FILE).startsWith(v.split(':')[1]))).toBe(
      true
    )
  })
})
