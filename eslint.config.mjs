// Lint and format: neostandard (standard style for TypeScript) with the layering rules of
// docs/ARCHITECTURE.md. `npm run format` runs prettier (line wrapping) then `eslint --fix`.
import neostandard from 'neostandard'

const NO_PRISMA = {
  group: ['**/generated/**', '@prisma/client', '@prisma/client/*', '@prisma/adapter-*'],
  message: 'Only src/store touches Prisma.'
}
const NO_TEST_HELPERS = { group: ['**/test/**'], message: 'Import from src, never from test helpers.' }
const NO_HTTP = {
  group: ['fastify', 'fastify-*', '@fastify/*', '**/plugins/**', '**/routes/**', '**/http/**'],
  message: 'This layer knows no HTTP.'
}
const routeFiles = (...group) => ({
  group,
  message: 'Routes never import another route file: share through src/services or src/http.'
})
const restrictImports = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] })
// Reaching the Prisma client of a Database: `db.prisma` and `const { prisma } = db`.
const noPrismaClient = message => ({
  'no-restricted-syntax': [
    'error',
    { selector: 'MemberExpression[property.name="prisma"]', message },
    { selector: 'ObjectPattern > Property[key.name="prisma"]', message }
  ]
})

export default [
  ...neostandard({
    ts: true,
    // scripts/*.mts are TypeScript too: linted, and held to the same import rules, as the .ts files.
    filesTs: ['**/*.mts'],
    ignores: [
      'dist/**',
      'node_modules/**',
      'src/store/generated/**',
      'openapi/**',
      'coverage/**',
      '.stryker-tmp/**',
      'reports/**',
      '.bench/**'
    ]
  }),
  {
    rules: {
      '@stylistic/max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }]
    }
  },
  { files: ['scripts/**', 'bench/**'], rules: restrictImports(NO_TEST_HELPERS) },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/store/**'],
    rules: {
      // Only the store touches Prisma: everything else goes through a repository.
      ...noPrismaClient('Only src/store touches Prisma: add or use a repository in src/store.'),
      ...restrictImports(NO_PRISMA, NO_TEST_HELPERS)
    }
  },
  { files: ['src/store/**/*.ts'], rules: restrictImports(NO_TEST_HELPERS, NO_HTTP) },
  // A route file is the HTTP shape of one resource: it calls services, never another route file.
  { files: ['src/routes/*.ts'], rules: restrictImports(NO_PRISMA, NO_TEST_HELPERS, routeFiles('./*', './v1/*')) },
  { files: ['src/routes/v1/*.ts'], rules: restrictImports(NO_PRISMA, NO_TEST_HELPERS, routeFiles('./*', '../*.ts')) },
  {
    // The domain is pure TypeScript: no framework, no store, no use cases.
    files: ['src/domain/**/*.ts'],
    rules: restrictImports(NO_PRISMA, NO_TEST_HELPERS, NO_HTTP, {
      group: ['**/store/**', '**/services/**', '**/runtime.ts', '**/auth/**'],
      message: 'src/domain is pure: everything it needs is passed in.'
    })
  },
  // The use cases know no HTTP.
  { files: ['src/services/**/*.ts'], rules: restrictImports(NO_PRISMA, NO_TEST_HELPERS, NO_HTTP) },
  {
    // Tests see and break the store through one helper, so a change to the store's internals is
    // made there once. Flat config replaces a rule per file, so no later block may set
    // no-restricted-syntax for test files.
    files: ['test/**/*.ts'],
    ignores: ['test/helpers/store.ts'],
    rules: noPrismaClient('Tests reach the store only through storeOf() in test/helpers/store.ts.')
  }
]
