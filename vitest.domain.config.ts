// The pure domain tests alone, for mutation testing (stryker.config.mjs): no store, no PostgreSQL
// probe, one project, so every mutant runs only the tests that can kill it.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    name: 'domain',
    include: ['test/domain/**/*.test.ts'],
    testTimeout: 30_000
  }
})
