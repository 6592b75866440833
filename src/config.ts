// Configuration from the environment, validated once at start (SPEC §8). A bad value stops the
// service with a message naming the variable, instead of surfacing later as odd behaviour.
import { envSchema } from 'env-schema'
import { PURPOSE_CODE_PATTERN } from './domain/purposes.ts'

/**
 * Every algorithm a client assertion may be signed with (never none or HS*), and whether it is on
 * SPEC §4's default list; the others are accepted only when ASSERTION_ALGORITHMS names them.
 */
const ON_DEFAULT_LIST = {
  RS512: true,
  RS384: true,
  RS256: false,
  ES384: true,
  ES256: true,
  ES512: false,
  PS256: true,
  PS384: false,
  PS512: false
} as const
export type AssertionAlgorithm = keyof typeof ON_DEFAULT_LIST
export const ASSERTION_ALGORITHMS = Object.keys(ON_DEFAULT_LIST) as readonly AssertionAlgorithm[]

export interface Config {
  port: number
  host: string
  databaseUrl: string
  publicUrl: string
  logLevel: string
  tokenTtlSeconds: number
  signingKeyFile: string
  assertionAlgorithms: string[]
  metricsPort: number | null
  bodyLimitBytes: number
  changePollMs: number
  storeStaleAfterMs: number
  dbConnectTimeoutMs: number
  dbQueryTimeoutMs: number
  rateLimitPerMinute: number
  tokenFailuresPerMinute: number
  notFoundPerMinute: number
  /** Fastify's trustProxy: false, a number of hops, or the proxies' addresses. */
  trustProxy: boolean | number | string
  /** How long a request line and headers may take to arrive (Node's headersTimeout). */
  headersTimeoutMs: number
  /** How long an ordinary (not bulk) request's body may take to arrive after its headers. */
  bodyTimeoutMs: number
  /** How long a bulk filter or import body may go without a byte arriving. */
  streamIdleTimeoutMs: number
  /** Concurrent bulk filter streams one client may hold on this instance. */
  filterStreamsPerClient: number
  /** Concurrent imports one client may hold on this instance. */
  importsPerClient: number
  /**
   * The purpose a CDS Hooks consult asking about HL7 PurposeOfUse TREAT (or naming no purpose, as
   * LEAP allows) is decided for: TREAT covers both kinds of direct care, so the deployment says which.
   */
  leapTreatPurpose: string
}

interface RawEnv {
  PORT: number
  HOST: string
  DATABASE_URL: string
  PUBLIC_URL?: string
  LOG_LEVEL: string
  TOKEN_TTL_SECONDS: number
  SIGNING_KEY_FILE: string
  ASSERTION_ALGORITHMS: string
  METRICS_PORT?: number
  BODY_LIMIT_BYTES: number
  CHANGE_POLL_MS: number
  STORE_STALE_AFTER_MS: number
  DB_CONNECT_TIMEOUT_MS: number
  DB_QUERY_TIMEOUT_MS: number
  RATE_LIMIT_PER_MINUTE: number
  TOKEN_FAILURES_PER_MINUTE: number
  NOT_FOUND_PER_MINUTE: number
  TRUST_PROXY: string
  HEADERS_TIMEOUT_MS: number
  BODY_TIMEOUT_MS: number
  STREAM_IDLE_TIMEOUT_MS: number
  FILTER_STREAMS_PER_CLIENT: number
  IMPORTS_PER_CLIENT: number
  LEAP_TREAT_PURPOSE: string
}

const schema = {
  type: 'object',
  properties: {
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    HOST: { type: 'string', minLength: 1, default: '127.0.0.1' },
    DATABASE_URL: { type: 'string', pattern: '^(file:.+|postgres(ql)?://.+)$', default: 'file:./data/consent.db' },
    PUBLIC_URL: { type: 'string', pattern: '^https?://[^\\s]+[^/\\s]$' },
    LOG_LEVEL: {
      type: 'string',
      enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info'
    },
    TOKEN_TTL_SECONDS: { type: 'integer', minimum: 30, maximum: 3600, default: 600 },
    SIGNING_KEY_FILE: { type: 'string', minLength: 1, default: './data/signing-key.json' },
    ASSERTION_ALGORITHMS: {
      type: 'string',
      pattern: '^[A-Z0-9]+(,[A-Z0-9]+)*$',
      default: ASSERTION_ALGORITHMS.filter(alg => ON_DEFAULT_LIST[alg]).join(',')
    },
    METRICS_PORT: { type: 'integer', minimum: 1, maximum: 65535 },
    BODY_LIMIT_BYTES: { type: 'integer', minimum: 1024, maximum: 10485760, default: 65536 },
    CHANGE_POLL_MS: { type: 'integer', minimum: 10, maximum: 900, default: 200 },
    STORE_STALE_AFTER_MS: { type: 'integer', minimum: 500, maximum: 600000, default: 5000 },
    DB_CONNECT_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 60000, default: 5000 },
    DB_QUERY_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 600000, default: 15000 },
    RATE_LIMIT_PER_MINUTE: { type: 'integer', minimum: 1, maximum: 100000000, default: 6000 },
    TOKEN_FAILURES_PER_MINUTE: { type: 'integer', minimum: 1, maximum: 100000, default: 30 },
    NOT_FOUND_PER_MINUTE: { type: 'integer', minimum: 1, maximum: 100000, default: 120 },
    TRUST_PROXY: { type: 'string', pattern: '^(false|true|[0-9]{1,2}|[0-9A-Fa-f.:/, ]+)$', default: 'false' },
    // Time-outs for slow clients (SECURITY.md T15). A request's headers come in one or two packets
    // from an NHS system on the same network; an ordinary JSON body is at most BODY_LIMIT_BYTES.
    HEADERS_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 300000, default: 10000 },
    BODY_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 600000, default: 30000 },
    STREAM_IDLE_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 600000, default: 30000 },
    FILTER_STREAMS_PER_CLIENT: { type: 'integer', minimum: 1, maximum: 1000, default: 2 },
    IMPORTS_PER_CLIENT: { type: 'integer', minimum: 1, maximum: 1000, default: 2 },
    // A purpose code's shape; whether the catalogue holds it is checked when a consult uses it
    // (administrators add purposes at run time).
    LEAP_TREAT_PURPOSE: { type: 'string', pattern: PURPOSE_CODE_PATTERN, maxLength: 100, default: 'planned-care' }
  }
} as const

/** Every environment variable the service reads (the Docker files are checked against this list). */
export const ENV_VARIABLES: readonly string[] = Object.keys(schema.properties)

export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const raw = envSchema<RawEnv>({ schema, data: env, dotenv: false })
  const assertionAlgorithms = raw.ASSERTION_ALGORITHMS.split(',')
  for (const alg of assertionAlgorithms) {
    if (!(ASSERTION_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new Error(
        `ASSERTION_ALGORITHMS: '${alg}' is not allowed; ` +
          `choose from ${ASSERTION_ALGORITHMS.join(', ')} (never none or HS*)`
      )
    }
  }
  return {
    port: raw.PORT,
    host: raw.HOST,
    databaseUrl: raw.DATABASE_URL,
    publicUrl: raw.PUBLIC_URL ?? `http://localhost:${raw.PORT}`,
    logLevel: raw.LOG_LEVEL,
    tokenTtlSeconds: raw.TOKEN_TTL_SECONDS,
    signingKeyFile: raw.SIGNING_KEY_FILE,
    assertionAlgorithms,
    metricsPort: raw.METRICS_PORT ?? null,
    bodyLimitBytes: raw.BODY_LIMIT_BYTES,
    changePollMs: raw.CHANGE_POLL_MS,
    storeStaleAfterMs: raw.STORE_STALE_AFTER_MS,
    dbConnectTimeoutMs: raw.DB_CONNECT_TIMEOUT_MS,
    dbQueryTimeoutMs: raw.DB_QUERY_TIMEOUT_MS,
    rateLimitPerMinute: raw.RATE_LIMIT_PER_MINUTE,
    tokenFailuresPerMinute: raw.TOKEN_FAILURES_PER_MINUTE,
    notFoundPerMinute: raw.NOT_FOUND_PER_MINUTE,
    trustProxy:
      raw.TRUST_PROXY === 'false'
        ? false
        : raw.TRUST_PROXY === 'true'
          ? true
          : /^[0-9]+$/.test(raw.TRUST_PROXY)
            ? Number(raw.TRUST_PROXY)
            : raw.TRUST_PROXY,
    headersTimeoutMs: raw.HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: raw.BODY_TIMEOUT_MS,
    streamIdleTimeoutMs: raw.STREAM_IDLE_TIMEOUT_MS,
    filterStreamsPerClient: raw.FILTER_STREAMS_PER_CLIENT,
    importsPerClient: raw.IMPORTS_PER_CLIENT,
    leapTreatPurpose: raw.LEAP_TREAT_PURPOSE
  }
}
