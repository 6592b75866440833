// Mutation testing of the pure domain (issue #11 item 7): `npm run test:mutation`. A report, not a
// CI gate; docs/MUTATION-TESTING.md records the scores and why each surviving mutant is equivalent.
// @ts-check
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
const config = {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.domain.config.ts', related: false },
  mutate: ['src/domain/**/*.ts'],
  // The domain tests need no store: keep the sandbox small (Stryker copies what it does not ignore).
  ignorePatterns: ['/data', '/dist', '/coverage', '/bench', '/.bench', '/.scratch', '/keys', '/openapi', '/docs'],
  coverageAnalysis: 'perTest',
  // The machine has two cores and other test runs share them.
  concurrency: 2,
  // Generous: other test runs share the cores, and a run slowed by them must not count as a mutant
  // killed by a time-out (a real endless loop still ends as one).
  timeoutMS: 30_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 95, low: 90, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true
}
export default config
