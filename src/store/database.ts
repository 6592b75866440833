// Opens the store named by DATABASE_URL: SQLite (embedded default) or PostgreSQL. Both Prisma
// clients are generated from one schema source, so they share one shape; the rest of the code
// sees only `Database`.
import { randomUUID } from 'node:crypto'
import { dirname, resolve } from 'node:path'
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3'
import { PrismaPg } from '@prisma/adapter-pg'
import type { PoolConfig } from 'pg'
import { PrismaClient as SqliteClient } from './generated/sqlite/client.ts'
import { PrismaClient as PostgresClient } from './generated/postgresql/client.ts'
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, createPrivateFile, makePrivateDir } from '../paths.ts'

export type StoreKind = 'sqlite' | 'postgresql'
export type Prisma = SqliteClient

export interface Database {
  kind: StoreKind
  /** Marks this connection's change-sequence rows, so its own change feed can skip what it applied. */
  instanceId: string
  prisma: Prisma
  /** A positional parameter placeholder for raw SQL ($1 on PostgreSQL, ? on SQLite). */
  param: (index: number) => string
  /** How a Date is passed as a raw SQL parameter so that Prisma reads it back as the same Date. */
  date: (d: Date) => Date | string
  /** How to open a second connection for the audit writer's hot path (driver-writer.ts, openDriverWriter). */
  connection: { kind: 'sqlite'; path: string } | { kind: 'postgresql'; pool: PoolConfig }
  close: () => Promise<void>
}

/**
 * SQLite DateTime text exactly as the Prisma adapter writes it (timestampFormat iso8601: '+00:00',
 * not 'Z'): SQLite compares the text, so a raw row in another format would never equal, and never be
 * <= or >=, the same instant in a Prisma filter (audit ?to=, alert cursors).
 */
export const sqliteDate = (d: Date): string => d.toISOString().replace('Z', '+00:00')

function storeKind (url: string): StoreKind {
  if (url.startsWith('file:')) return 'sqlite'
  if (/^postgres(ql)?:\/\//.test(url)) return 'postgresql'
  throw new Error('DATABASE_URL must start with file: (SQLite) or postgresql:// (PostgreSQL)')
}

export interface DatabaseOptions {
  /**
   * PostgreSQL: how long to wait for a connection, and for a statement (SPEC §7: a hung database
   * must not hang requests).
   */
  connectTimeoutMs?: number
  queryTimeoutMs?: number
}

/**
 * The SQLite files and their directory, with the mode each should have, for the start-up check of
 * their modes (src/runtime.ts); none on PostgreSQL, whose files are the server's business.
 */
export function privateStorePaths (db: Database): Array<{ path: string; expected: number }> {
  if (db.connection.kind !== 'sqlite' || db.connection.path === ':memory:') return []
  const file = db.connection.path
  return [
    { path: dirname(file), expected: PRIVATE_DIR_MODE },
    ...[file, `${file}-wal`, `${file}-shm`, `${file}-journal`].map(path => ({ path, expected: PRIVATE_FILE_MODE }))
  ]
}

export async function openDatabase (url: string, options: DatabaseOptions = {}): Promise<Database> {
  const kind = storeKind(url)
  if (kind === 'sqlite') {
    const file = url.slice('file:'.length).split('?')[0]
    const path = file === ':memory:' ? file : resolve(file)
    if (path !== ':memory:') {
      // Owner-only from the first start (SECURITY.md): the file is made before the driver opens it,
      // and SQLite gives its -wal and -shm files the database file's mode.
      makePrivateDir(dirname(path))
      createPrivateFile(path)
    }
    // busy timeout: the CLI and the service may write the same file at once.
    const adapter = new PrismaBetterSqlite3({ url: path, timeout: 10_000 }, { timestampFormat: 'iso8601' })
    const prisma = new SqliteClient({ adapter })
    // Durability (SPEC §7: acknowledged means durable; test/durability.test.ts kills the service
    // under load). WAL lets readers run beside the writer. A WAL commit already survives kill -9 of
    // the service (it is in the OS's page cache); synchronous=FULL also fsyncs the WAL at every
    // commit, so an acknowledged commit survives power loss and OS crashes too. The pragma is per
    // connection: the audit writer's own connection sets both as well. Group commit keeps the
    // fsync cost per batch of requests, not per request.
    await prisma.$queryRawUnsafe('PRAGMA journal_mode = WAL')
    await prisma.$executeRawUnsafe('PRAGMA synchronous = FULL')
    await prisma.$executeRawUnsafe('PRAGMA foreign_keys = ON')
    return {
      kind,
      instanceId: randomUUID(),
      prisma,
      param: () => '?',
      date: sqliteDate,
      connection: { kind: 'sqlite', path },
      close: async () => {
        await prisma.$disconnect()
      }
    }
  }
  const parsed = new URL(url)
  const schema = parsed.searchParams.get('schema') ?? undefined
  parsed.searchParams.delete('schema')
  const poolSize = Number(parsed.searchParams.get('connection_limit') ?? 10)
  parsed.searchParams.delete('connection_limit')
  // Durability: we rely on PostgreSQL's default synchronous_commit=on, under which COMMIT returns
  // only once the commit's WAL record is flushed to disk; an answer is sent only after its COMMIT,
  // so an acknowledged write survives kill -9 of the service and a crash of the database server.
  // It is deliberately not set per session, so that a deployment with synchronous standbys can
  // raise it (remote_write, remote_apply); it must not be lowered to off, with which a server
  // crash loses the last few hundred milliseconds of acknowledged commits. The cost is one WAL
  // flush per commit, and the audit writer's group commit makes that one per batch of requests.
  const poolConfig: PoolConfig = {
    connectionString: parsed.toString(),
    max: poolSize,
    // A hung database must not hang requests for ever (SPEC §7).
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    statement_timeout: options.queryTimeoutMs ?? 15_000,
    // The client-side bound also covers a server that stopped answering altogether.
    query_timeout: (options.queryTimeoutMs ?? 15_000) + 1_000,
    idle_in_transaction_session_timeout: 30_000,
    keepAlive: true,
    ...(schema !== undefined ? { options: `-c search_path="${schema.replace(/"/g, '')}"` } : {})
  }
  const adapter = new PrismaPg(poolConfig, schema !== undefined ? { schema } : undefined)
  const prisma = new PostgresClient({ adapter }) as unknown as Prisma
  return {
    kind,
    instanceId: randomUUID(),
    prisma,
    param: i => `$${i}`,
    date: d => d,
    connection: { kind: 'postgresql', pool: poolConfig },
    close: async () => {
      await prisma.$disconnect()
    }
  }
}
