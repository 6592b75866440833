// @ts-check
// Derives the PostgreSQL schema from the one schema source and generates both Prisma clients.
// Runs offline: `prisma generate` only needs PRISMA_SCHEMA_ENGINE_BINARY to name an existing
// executable (it never runs it), so we point it at node itself instead of letting the CLI try to
// download the schema engine (SPEC §8).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const source = join(root, 'prisma', 'schema.prisma')
const derived = join(root, 'prisma', 'postgresql', 'schema.prisma')

/**
 * The PostgreSQL schema derived from the one schema source, prisma/schema.prisma.
 * @param {string} text the source schema
 * @returns {string}
 */
export function derivePostgresSchema (text) {
  const out = text
    .replace('provider = "sqlite"', 'provider = "postgresql"')
    .replace('../src/store/generated/sqlite', '../../src/store/generated/postgresql')
    .replace(
      /^\/\/ The one schema source[\s\S]*?by hand\.\n/m,
      '// DERIVED from prisma/schema.prisma by scripts/prisma-generate.mjs. Do not edit.\n'
    )
  if (!out.includes('provider = "postgresql"') || !out.includes('generated/postgresql')) {
    throw new Error('could not derive the PostgreSQL schema: the source datasource or generator block changed shape')
  }
  return out
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]
if (isMain) {
  mkdirSync(dirname(derived), { recursive: true })
  writeFileSync(derived, derivePostgresSchema(readFileSync(source, 'utf8')))
  const env = {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1'
  }
  const cli = join(root, 'node_modules', 'prisma', 'build', 'index.js')
  if (!existsSync(cli)) {
    // A production-only install (npm ci --omit=dev) has no Prisma CLI; the Docker image builds the
    // clients in its build stage instead.
    console.log('prisma CLI not installed (production-only install): skipping client generation')
    process.exit(0)
  }
  for (const schema of [source, derived]) {
    execFileSync(process.execPath, [cli, 'generate', '--schema', schema, '--no-hints'], {
      cwd: root,
      env,
      stdio: ['ignore', 'inherit', 'inherit']
    })
  }
}
