// The OpenAPI document exactly as the app serves it at /openapi.json, for `npm run openapi` (which
// writes openapi/openapi.json) and the test that keeps that file current. The app is built on a
// throwaway SQLite store, and the server URL is fixed so that the document is the same everywhere.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'

const DOCUMENTED_SERVER_URL = 'http://localhost:3000'

export async function openApiDocument (): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'consent-openapi-'))
  try {
    const config = loadConfig({
      DATABASE_URL: `file:${join(dir, 'openapi.db')}`,
      SIGNING_KEY_FILE: join(dir, 'signing-key.json'),
      PUBLIC_URL: DOCUMENTED_SERVER_URL,
      LOG_LEVEL: 'silent'
    })
    const app = await buildApp({ config })
    try {
      return app.swagger()
    } finally {
      await app.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
