// The OpenAPI document as the app serves it, with the environment-specific server URL fixed, so
// the exported copy is the same on every machine.
import { buildTestApp } from './app.ts'

export async function openApiDocument (): Promise<unknown> {
  const t = await buildTestApp({ PUBLIC_URL: 'http://localhost:3000', LOG_LEVEL: 'silent' })
  try {
    return t.app.swagger()
  } finally {
    await t.close()
  }
}
