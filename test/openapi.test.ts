import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PACKAGE_ROOT } from '../src/paths.ts'
import { openApiDocument } from '../src/openapi.ts'

interface Operation {
  requestBody?: unknown
  responses: Record<string, { content?: Record<string, { schema?: { example?: unknown } }> }>
  security?: unknown
}

describe('OpenAPI document', () => {
  it('the checked-in openapi/openapi.json is the one the code serves (run npm run openapi after changing a ' +
    'route)', async () => {
    const served = await openApiDocument()
    const checkedIn = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'openapi', 'openapi.json'), 'utf8')) as unknown
    expect(checkedIn).toEqual(JSON.parse(JSON.stringify(served)))
  })

  it('is OpenAPI 3.1 and every /v1 operation documents its request, success, errors and an example', async () => {
    const doc = (await openApiDocument()) as { openapi: string; paths: Record<string, Record<string, Operation>> }
    expect(doc.openapi).toBe('3.1.0')
    const v1 = Object.entries(doc.paths).filter(([p]) => p.startsWith('/v1/'))
    expect(v1.length).toBeGreaterThanOrEqual(12)
    for (const [path, ops] of v1) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${path}`
        const statuses = Object.keys(op.responses)
        expect(
          statuses.some(s => s.startsWith('2')),
          `${where} has a success response`
        ).toBe(true)
        expect(
          statuses.some(s => s.startsWith('4')),
          `${where} has error responses`
        ).toBe(true)
        expect(op.security, `${where} declares its security`).toBeDefined()
        const errorContent = op.responses[statuses.find(s => s.startsWith('4')) as string].content ?? {}
        expect(Object.keys(errorContent), `${where} errors are problem+json`).toContain('application/problem+json')
        if (method === 'post' || method === 'patch' || method === 'put') {
          expect(op.requestBody, `${where} documents its body`).toBeDefined()
        }
      }
    }
  })
})
