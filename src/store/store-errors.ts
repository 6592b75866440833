// Which failures mean the store, not the request, is at fault. Only the store knows Prisma's and
// the drivers' error names and codes; src/plugins/errors.ts maps a yes to the domain's one 503
// (`unavailable()`, fail closed).

/** Prisma's error codes for a database that cannot be reached, timed out or has run out of connections. */
const UNAVAILABLE_CODES = new Set([
  'P1001', // can't reach the database server
  'P1002', // the server was reached but timed out
  'P1008', // operations timed out
  'P1017', // the server closed the connection
  'P2024', // timed out fetching a connection from the pool
  'P2028', // transaction API error (the transaction's connection is gone)
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'SQLITE_BUSY',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN'
])
const UNAVAILABLE_NAMES = new Set(['PrismaClientInitializationError', 'DriverAdapterError'])
const UNAVAILABLE_MESSAGE =
  /(Can't reach database|Connection terminated|ECONNREFUSED|timeout exceeded when trying to connect|database is locked)/i

/** Prisma's and the drivers' connection-level failures: the store cannot be reached or trusted right now. */
export function isStoreUnavailable (err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null | undefined
  if (typeof e?.name === 'string' && UNAVAILABLE_NAMES.has(e.name)) return true
  if (typeof e?.code === 'string' && UNAVAILABLE_CODES.has(e.code)) return true
  return typeof e?.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)
}
