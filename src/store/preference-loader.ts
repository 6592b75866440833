// Loads every active choice into the PreferenceIndex at start (SPEC §6: 5 million choices loaded
// and serving within 30 s). Read through the drivers, not Prisma: materialising millions of
// Prisma rows costs several microseconds each, and the index needs only seven columns.
import Database from 'better-sqlite3'
import pg from 'pg'
import type { Database as Store } from './database.ts'
import type { PreferenceIndex } from './preference-index.ts'

const PAGE = 100_000

export async function loadPreferences (store: Store, index: PreferenceIndex): Promise<number> {
  let loaded = 0
  if (store.connection.kind === 'sqlite') {
    const db = new Database(store.connection.path, { readonly: true, timeout: 10_000 })
    try {
      const rows = db
        .prepare(
          'SELECT "id", "nhsNumber", "purpose", "decision", "effectiveFrom", "recordedAt", "source" ' +
            'FROM "preferences" WHERE "status" = \'active\''
        )
        .raw()
      for (const [id, nhs, purpose, decision, from, recorded, source] of rows.iterate() as IterableIterator<
        [string, string, string, string, string, string, string]
      >) {
        index.applyFields(id, nhs, purpose, decision, Date.parse(from), Date.parse(recorded), source, true)
        loaded++
      }
    } finally {
      db.close()
    }
    return loaded
  }
  const client = new pg.Client(store.connection.pool)
  await client.connect()
  try {
    let after = ''
    for (;;) {
      const { rows } = await client.query<[string, string, string, string, number, number, string]>({
        text:
          'SELECT "id", "nhsNumber", "purpose", "decision", (EXTRACT(EPOCH FROM "effectiveFrom") * 1000)::float8, ' +
            '(EXTRACT(EPOCH FROM "recordedAt") * 1000)::float8, "source" ' +
          'FROM "preferences" WHERE "status" = \'active\' AND "id" > $1 ORDER BY "id" LIMIT $2',
        values: [after, PAGE],
        rowMode: 'array'
      })
      for (const [id, nhs, purpose, decision, from, recorded, source] of rows) {
        index.applyFields(id, nhs, purpose, decision, Number(from), Number(recorded), source, true)
      }
      loaded += rows.length
      if (rows.length < PAGE) return loaded
      after = rows[rows.length - 1][0]
    }
  } finally {
    await client.end()
  }
}
