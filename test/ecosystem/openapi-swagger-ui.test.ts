// Swagger UI from any host the service answers on (not only PUBLIC_URL's): the document's servers
// are relative, so "Execute" goes to the origin the page was opened at, and the page's CSP lets it
// fetch that origin. Before, servers named PUBLIC_URL and every Execute from 127.0.0.1 failed.
import { describe, expect, it } from 'vitest'
import { PUBLIC_URL, useTestApp } from '../helpers/app.ts'

const t = useTestApp()
const OTHER_HOSTS = ['127.0.0.1:3000', 'localhost:8080', 'consent-check.internal']

/** The CSP directive's sources, falling back to default-src as browsers do. */
function sources (csp: string, directive: string): string[] | undefined {
  const parsed = new Map(
    csp
      .split(';')
      .map(d => d.trim().split(/\s+/))
      .filter(d => d[0] !== '')
      .map(([name, ...values]) => [name, values])
  )
  return parsed.get(directive) ?? parsed.get('default-src')
}

describe('Swagger UI served at a host other than PUBLIC_URL', () => {
  it("the document's servers resolve to the origin the document was fetched from", async () => {
    expect(new URL(PUBLIC_URL).host).not.toBe(OTHER_HOSTS[0])
    for (const host of OTHER_HOSTS) {
      for (const url of ['/docs/json', '/openapi.json']) {
        const res = await t.app.inject({ method: 'GET', url, headers: { host } })
        expect(res.statusCode, `${host}${url}`).toBe(200)
        const { servers } = res.json() as { servers: Array<{ url: string }> }
        expect(servers.length).toBeGreaterThan(0)
        const page = `http://${host}${url}`
        for (const server of servers) {
          expect(new URL(server.url, page).origin, `${host}${url}: ${server.url}`).toBe(`http://${host}`)
        }
      }
    }
  })

  it('the page and its script allow fetch() to the same origin (connect-src self)', async () => {
    for (const host of OTHER_HOSTS) {
      for (const url of ['/docs/', '/docs/static/swagger-initializer.js', '/docs/json']) {
        const res = await t.app.inject({ method: 'GET', url, headers: { host } })
        expect(res.statusCode, url).toBe(200)
        const csp = String(res.headers['content-security-policy'])
        expect(sources(csp, 'connect-src'), `${url}: ${csp}`).toContain("'self'")
      }
    }
    // Swagger UI fetches the document next to the page (./json), not at PUBLIC_URL.
    const initializer = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
    expect(initializer.body).toContain("'./json'")
    expect(initializer.body).not.toContain(PUBLIC_URL)
  })
})
