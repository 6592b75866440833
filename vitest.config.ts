// The whole suite runs twice: on SQLite (always) and on PostgreSQL (when a server answers; in CI it
// must). Pure domain tests need no store and run once.
import { defineConfig } from 'vitest/config'
import pg from 'pg'

const pgUrl = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test'

async function postgresAnswers (): Promise<boolean> {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 })
  try {
    await client.connect()
    await client.query('select 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

export default defineConfig(async () => {
  const wanted = process.env.TEST_STORES?.split(',') ?? ['sqlite', 'postgresql']
  let withPostgres = wanted.includes('postgresql') && (await postgresAnswers())
  if (wanted.includes('postgresql') && !withPostgres) {
    if (process.env.CI === 'true') {
      throw new Error(
        `CI: PostgreSQL does not answer at ${pgUrl.replace(/\/\/[^@]*@/, '//')}; the PostgreSQL half of the suite is mandatory in CI`
      )
    }
    console.log(
      `PostgreSQL half skipped: no server answers at ${pgUrl.replace(/\/\/[^@]*@/, '//')} (set TEST_DATABASE_URL)`
    )
    withPostgres = false
  }
  const storeTests = ['test/**/*.test.ts']
  const projects = [
    { test: { name: 'domain', include: ['test/domain/**/*.test.ts'] } },
    ...(wanted.includes('sqlite')
      ? [{ test: { name: 'sqlite', include: storeTests, exclude: ['test/domain/**'], env: { TEST_STORE: 'sqlite' } } }]
      : []),
    ...(withPostgres
      ? [
          {
            test: {
              name: 'postgresql',
              include: storeTests,
              exclude: ['test/domain/**'],
              env: { TEST_STORE: 'postgresql', TEST_DATABASE_URL: pgUrl }
            }
          }
        ]
      : [])
  ]
  return {
    test: {
      testTimeout: 30_000,
      hookTimeout: 60_000,
      projects: projects.map(p => ({ ...p, test: { ...p.test, testTimeout: 30_000, hookTimeout: 60_000 } }))
    }
  }
})
