// Applies the SQL migrations in prisma/migrations/<provider>/<name>/migration.sql, recording them
// in Prisma's own _prisma_migrations table so that `prisma migrate deploy` (where it can run)
// sees the same history. Written by hand because the Prisma CLI's migrate needs a schema engine
// binary that cannot be downloaded on these machines (SPEC §8).
import { createHash, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { PACKAGE_ROOT } from '../paths.ts'
import type { Database } from './database.ts'

export interface Migration {
  name: string
  sql: string
  checksum: string
}

export function readMigrations (kind: Database['kind']): Migration[] {
  const dir = join(PACKAGE_ROOT, 'prisma', 'migrations', kind)
  return readdirSync(dir, { withFileTypes: true })
    .filter(d => d.isDirectory() && existsSync(join(dir, d.name, 'migration.sql')))
    .map(d => d.name)
    .sort()
    .map(name => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8')
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') }
    })
}

/** Splits a migration into statements; our migrations never put a semicolon inside a literal. */
function splitStatements (sql: string): string[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map(s => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(s => s.length > 0)
}

const MIGRATIONS_TABLE = {
  sqlite: `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" TEXT PRIMARY KEY NOT NULL, "checksum" TEXT NOT NULL, "finished_at" DATETIME,
    "migration_name" TEXT NOT NULL, "logs" TEXT, "rolled_back_at" DATETIME,
    "started_at" DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0)`,
  postgresql: `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`
}

// Any fixed number: serialises migrations of several instances starting at once on PostgreSQL.
const PG_MIGRATION_LOCK = 72_411_903

/** Applies pending migrations; returns the names applied. Refuses a changed, already applied file. */
export async function migrate (db: Database): Promise<string[]> {
  const migrations = readMigrations(db.kind)
  const applied: string[] = []
  await db.prisma.$transaction(
    async tx => {
      if (db.kind === 'postgresql') await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${PG_MIGRATION_LOCK})`)
      await tx.$executeRawUnsafe(MIGRATIONS_TABLE[db.kind])
      const done = await tx.$queryRawUnsafe<Array<{ migration_name: string; checksum: string }>>(
        'SELECT "migration_name", "checksum" FROM "_prisma_migrations" ' +
          'WHERE "finished_at" IS NOT NULL AND "rolled_back_at" IS NULL'
      )
      const byName = new Map(done.map(r => [r.migration_name, r.checksum]))
      for (const m of migrations) {
        const previous = byName.get(m.name)
        if (previous !== undefined) {
          if (previous !== m.checksum) {
            throw new Error(`migration ${m.name} was changed after it was applied (checksum mismatch)`)
          }
          continue
        }
        const statements = splitStatements(m.sql)
        for (const statement of statements) await tx.$executeRawUnsafe(statement)
        const now = new Date()
        await tx.$executeRawUnsafe(
          'INSERT INTO "_prisma_migrations" ' +
            '("id", "checksum", "finished_at", "migration_name", "started_at", "applied_steps_count") ' +
            `VALUES (${[1, 2, 3, 4, 5, 6].map(i => db.param(i)).join(', ')})`,
          randomUUID(),
          m.checksum,
          db.date(now),
          m.name,
          db.date(now),
          statements.length
        )
        applied.push(m.name)
      }
    },
    { timeout: 120_000, maxWait: 30_000 }
  )
  return applied
}

/** True when every migration file has been applied (readiness). */
export async function isMigrated (db: Database): Promise<boolean> {
  const expected = readMigrations(db.kind).map(m => m.name)
  const rows = await db.prisma.$queryRawUnsafe<Array<{ migration_name: string }>>(
    'SELECT "migration_name" FROM "_prisma_migrations" WHERE "finished_at" IS NOT NULL AND "rolled_back_at" IS NULL'
  )
  const have = new Set(rows.map(r => r.migration_name))
  return expected.every(n => have.has(n))
}
