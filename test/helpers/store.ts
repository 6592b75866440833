// The one way tests reach past the service into its store: to see what was written (an audit row
// as stored, not as an answer shows it), and to break it on purpose (tamper with the audit log, drop
// a table). Everything else goes through the HTTP surface. Only this file touches Prisma in test/
// (an eslint rule in eslint.config.mjs), so a change to the store's internals shows up here once.
import type { FastifyInstance } from 'fastify'
import type { Database } from '../../src/store/database.ts'

/** The store of a test app, or a store opened directly (a service process's, after it exited). */
export function storeOf (target: FastifyInstance | Database) {
  const db = 'runtime' in target ? target.runtime.db : target
  const { prisma } = db
  return {
    /** The audit event with this id, as stored, or null. */
    auditRow: async (id: string) => await prisma.auditEvent.findUnique({ where: { id } }),

    /** The first audit event ever written (lowest seq), or null. */
    firstAuditRow: async () => await prisma.auditEvent.findFirst({ orderBy: { seq: 'asc' } }),

    /** The audit events of one chain at these positions, in chain order. */
    auditRowsAt: async (chain: string, chainSeqs: number[]) =>
      await prisma.auditEvent.findMany({ where: { chain, chainSeq: { in: chainSeqs } }, orderBy: { chainSeq: 'asc' } }),

    /** The audit events of one type (their details as stored, JSON text). */
    auditRowsOfType: async (type: string) =>
      await prisma.auditEvent.findMany({ where: { type }, select: { id: true, details: true } }),

    countAuditEvents: async () => await prisma.auditEvent.count(),

    /** The ids among these that are not stored audit events (of this type, when given), in order. */
    missingAuditIds: async (ids: string[], type?: string) =>
      await missingIds(
        ids,
        async chunk =>
          await prisma.auditEvent.findMany({
            where: { id: { in: chunk }, ...(type !== undefined ? { type } : {}) },
            select: { id: true }
          })
      ),

    /** The ids among these that are not stored preferences, in order. */
    missingPreferenceIds: async (ids: string[]) =>
      await missingIds(
        ids,
        async chunk => await prisma.preference.findMany({ where: { id: { in: chunk } }, select: { id: true } })
      ),

    /**
     * Runs one SQL statement that changes the store behind the service's back, `?` marking each
     * parameter on either store; the number of rows it changed.
     */
    tamper: async (sql: string, ...values: unknown[]): Promise<number> => {
      let i = 0
      return await prisma.$executeRawUnsafe(
        sql.replace(/\?/g, () => db.param(++i)),
        ...values
      )
    },

    /** Drops a table, so that the store fails the way a broken database does. */
    dropTable: async (name: string): Promise<void> => {
      await prisma.$executeRawUnsafe(`DROP TABLE "${name}"`)
    },

    /** The migrations the store records as applied, by name, in order. */
    appliedMigrations: async () =>
      (
        await prisma.$queryRawUnsafe<Array<{ migration_name: string }>>(
          'SELECT "migration_name" FROM "_prisma_migrations" ORDER BY "migration_name"'
        )
      ).map(r => r.migration_name),

    /**
     * The Prisma client itself, for the migration test alone: it checks that every model of the
     * schema round-trips through the migrated tables, which only the generated client can say.
     */
    prismaForMigrationTest: () => prisma
  }
}

type FindIds = (chunk: string[]) => Promise<Array<{ id: string }>>

/** The ids among `ids` that `find` does not return, asked in chunks (SQLite limits a query's parameters). */
async function missingIds (ids: string[], find: FindIds): Promise<string[]> {
  const found = new Set<string>()
  for (let i = 0; i < ids.length; i += 500) {
    for (const row of await find(ids.slice(i, i + 500))) found.add(row.id)
  }
  return ids.filter(id => !found.has(id))
}
