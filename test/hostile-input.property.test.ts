// SPEC §7: "No input crashes it or yields a 5xx: malformed JSON, wrong types, huge bodies (limits),
// huge or malformed JWTs, unknown purposes, invalid NHS numbers. Every rejection says what was
// wrong." fast-check generates and mutates requests for every route the app serves (the static
// list below, plus any route printRoutes shows that the list does not know, e.g. /fhir): wrong
// types, huge strings, deep nesting, odd content types, broken JSON, NUL bytes, non-ASCII digits,
// broken and oversized JWTs (as bearer tokens and as client assertions), bad cursors and dates, bad
// NHS numbers in paths, huge query strings; with a valid all-scopes token and with bad ones.
// Every answer must be below 500; every 4xx must be problem+json with a non-empty detail (RFC 6749
// {error, error_description} on POST /oauth2/token, an OperationOutcome under /fhir); and the
// service must still answer afterwards. HOSTILE_RUNS=n raises the runs per route for a deep soak
// (1500 runs a route, ~50 000 requests, pass on both stores); HOSTILE_DEBUG='POST /v1/filter' prints
// each answer of the routes whose key contains it.
import { randomUUID } from 'node:crypto'
import { Buffer } from 'node:buffer'
import fc from 'fast-check'
import { generateKeyPair, type CryptoKey } from 'jose'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { beforeAll, describe, expect, it } from 'vitest'
import { signClientAssertion } from '../src/auth/client-assertion-signer.ts'
import {
  ALL_PURPOSES,
  ALL_SCOPES,
  ASSERTION_TYPE,
  TOKEN_URL,
  clientWithToken,
  expectProblem,
  forgeAccessToken,
  registerClient,
  requestToken,
  signAssertion,
  tokenForm,
  useTestApp,
  type Auth,
  type TestCaller,
  type TestClient
} from './helpers/app.ts'

const RUNS = Number(process.env.HOSTILE_RUNS ?? 250)
const NHS = '9434765919'

interface RouteDef {
  method: string
  url: string
}

/** Every route SPEC §3 names (and the few the app adds); the test fails if one disappears. */
const KNOWN_ROUTES: RouteDef[] = [
  { method: 'POST', url: '/oauth2/token' },
  { method: 'GET', url: '/.well-known/oauth-authorization-server' },
  { method: 'GET', url: '/.well-known/smart-configuration' },
  { method: 'GET', url: '/.well-known/jwks.json' },
  { method: 'POST', url: '/v1/decisions' },
  { method: 'POST', url: '/v1/filter' },
  { method: 'POST', url: '/v1/preferences/import' },
  { method: 'GET', url: '/v1/patients/:nhsNumber/preferences' },
  { method: 'POST', url: '/v1/patients/:nhsNumber/preferences' },
  { method: 'POST', url: '/v1/patients/:nhsNumber/preferences/:id/entered-in-error' },
  { method: 'GET', url: '/v1/purposes' },
  { method: 'POST', url: '/v1/purposes' },
  { method: 'GET', url: '/v1/purposes/:code' },
  { method: 'PATCH', url: '/v1/purposes/:code' },
  { method: 'GET', url: '/v1/clients' },
  { method: 'POST', url: '/v1/clients' },
  { method: 'GET', url: '/v1/clients/:id' },
  { method: 'PATCH', url: '/v1/clients/:id' },
  { method: 'PUT', url: '/v1/clients/:id/keys' },
  { method: 'GET', url: '/v1/audit' },
  { method: 'GET', url: '/v1/audit/verify' },
  { method: 'GET', url: '/v1/alerts' },
  { method: 'POST', url: '/v1/alerts/:id/review' },
  { method: 'GET', url: '/health/live' },
  { method: 'GET', url: '/health/ready' },
  { method: 'GET', url: '/metrics' },
  { method: 'GET', url: '/openapi.json' },
  { method: 'GET', url: '/docs' }
]

/** The routes the app serves, read from Fastify's route tree (printRoutes, without common prefixes). */
function servedRoutes (printed: string): RouteDef[] {
  const out: RouteDef[] = []
  const stack: string[] = []
  for (const line of printed.split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?\s*$/.exec(line)
    if (m === null) continue
    const depth = m[1].length / 4
    const path = (depth === 0 ? '' : stack[depth - 1]) + m[2]
    stack[depth] = path
    stack.length = depth + 1
    for (const method of (m[3] ?? '')
      .split(',')
      .map(s => s.trim())
      .filter(Boolean)) {
      out.push({ method, url: path })
    }
  }
  return out
}

const key = (r: RouteDef): string => `${r.method} ${r.url}`

// ---------------------------------------------------------------------------------------------
// What a generated request is made of

type BodySpec =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'raw'; text: string }
  | { kind: 'bytes'; bytes: number[] }
  | { kind: 'form'; fields: Array<[string, string]> }
  | {
    kind: 'assertion'
    claims: Record<string, unknown>
    header: Record<string, unknown>
    signer: 'client' | 'stranger' | 'hs256'
    fields: Array<[string, string]>
  }

type AuthSpec = 'admin' | 'none' | { raw: string } | { jwt: JwtSpec } | 'expired' | 'unknown-client'

interface JwtSpec {
  header: unknown
  payload: unknown
  signature: string
  parts?: number
}

interface Generated {
  method: string
  path: string
  query: string
  auth: AuthSpec
  contentType: string | null
  extraHeaders: Record<string, string>
  body: BodySpec
}

interface Sent {
  method: string
  url: string
  headers: Record<string, string>
  payload?: string | Buffer
}

// ---------------------------------------------------------------------------------------------
// Hostile values

const b64u = (s: string | Buffer): string => Buffer.from(s).toString('base64url')

/** Encodes a path or query component; a lone surrogate becomes the raw (invalid UTF-8) escape. */
function enc (s: string): string {
  try {
    return encodeURIComponent(s)
  } catch {
    return '%ED%A0%80' + encodeURIComponent(s.replace(/[\ud800-\udfff]/g, ''))
  }
}

function nested (depth: number, leaf: unknown = 'x'): unknown {
  let v: unknown = leaf
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v }
  return v
}

const NON_ASCII_DIGITS = [
  '٩٤٣٤٧٦٥٩١٩',
  '۹۴۳۴۷۶۵۹۱۹',
  '９４３４７６５９１９',
  '𝟗𝟒𝟑𝟒𝟕𝟔𝟓𝟗𝟏𝟗',
  '९४३४७६५९१९',
  '943４765919',
  '943\u00a0476\u00a05919',
  '943\u2013476\u20135919'
]
const BAD_DATES = [
  '2024-02-30T00:00:00Z',
  '2024-13-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '0000-01-01T00:00:00Z',
  '+275760-09-13T00:00:00.000Z',
  '-271821-04-20T00:00:00Z',
  '2024-01-01',
  'yesterday',
  '2024-01-01T00:00:00+99:99',
  '1e10',
  '2024-01-01T25:61:61Z',
  '',
  ' ',
  '2024-01-01T00:00:00.0000000000000000001Z',
  '٢٠٢٤-٠١-٠١T00:00:00Z'
]
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u0000'.repeat(50),
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '../../etc/passwd',
  '%00',
  "' OR 1=1 --",
  '"; DROP TABLE preferences; --',
  '$' + '{jndi:ldap://x}', // a Log4Shell lookup, kept out of a template literal
  '<script>alert(1)</script>',
  '\ud800',
  '\udfff',
  '\uffff',
  '\ufeff',
  'é',
  '😀',
  '\u202e',
  '\r\n',
  '\t',
  'NaN',
  'null',
  'true',
  '-1',
  '1e309'
]

const hugeString = fc.integer({ min: 70_000, max: 100_000 }).map(n => 'x'.repeat(n))
const longString = fc.integer({ min: 201, max: 20_000 }).map(n => 'é9'.repeat(Math.ceil(n / 2)))
const nulString = fc.string({ maxLength: 20 }).map(s => `${s}\u0000${s}`)

/** A value of the wrong type, or of the right type and hostile content. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 4 },
  {
    arbitrary: fc.constantFrom<unknown>(
      null,
      true,
      false,
      0,
      -1,
      -0,
      0.5,
      1e308,
      Number.MAX_SAFE_INTEGER,
      [],
      {},
      [null],
      { '': '' }
    ),
    weight: 2
  },
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 3 },
  { arbitrary: fc.constantFrom(...NON_ASCII_DIGITS), weight: 2 },
  { arbitrary: fc.constantFrom(...BAD_DATES), weight: 2 },
  { arbitrary: nulString, weight: 2 },
  { arbitrary: longString, weight: 1 },
  { arbitrary: hugeString, weight: 1 },
  { arbitrary: fc.integer({ min: 50, max: 3000 }).map(n => nested(n)), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.array(fc.constantFrom(...NASTY_STRINGS), { maxLength: 30 }), weight: 1 }
)

/** A template body, then one mutation: a field replaced by a hostile value, removed, or added; or no object at all. */
function mutated (template: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { arbitrary: template, weight: 5 },
    {
      arbitrary: fc.tuple(template, fc.nat(), hostileValue).map(([t, i, v]) => {
        const keys = Object.keys(t)
        if (keys.length === 0) return { field: v }
        return { ...t, [keys[i % keys.length]]: v }
      }),
      weight: 6
    },
    {
      arbitrary: fc.tuple(template, fc.nat(), fc.nat(), hostileValue).map(([t, i, j, v]) => {
        // Two levels down: the first object-valued field, one of its fields replaced.
        const obj = Object.entries(t).find(([, x]) => typeof x === 'object' && x !== null && !Array.isArray(x))
        if (obj === undefined) return t
        const inner = obj[1] as Record<string, unknown>
        const ks = Object.keys(inner)
        return { ...t, [obj[0]]: ks.length === 0 ? { [String(i)]: v } : { ...inner, [ks[j % ks.length]]: v } }
      }),
      weight: 2
    },
    {
      arbitrary: fc.tuple(template, fc.nat()).map(([t, i]) => {
        const ks = Object.keys(t)
        const c = { ...t }
        if (ks.length > 0) delete c[ks[i % ks.length]]
        return c
      }),
      weight: 2
    },
    {
      // An extra field, '__proto__' included as an own property (as JSON.parse makes it).
      arbitrary: fc
        .tuple(template, fc.constantFrom('extra', '__proto__', 'constructor', ''), hostileValue)
        .map(([t, k, v]) => {
          const rest = JSON.stringify(t).slice(1)
          return JSON.parse(
            `{${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}${rest === '}' ? '}' : `,${rest}`}`
          ) as unknown
        }),
      weight: 1
    },
    { arbitrary: hostileValue, weight: 1 }
  )
}

/** Bodies that are not JSON, or not quite. */
const brokenJson: fc.Arbitrary<BodySpec> = fc.oneof(
  fc
    .constantFrom(
      '',
      ' ',
      'null',
      '[]',
      '"str"',
      '123',
      'NaN',
      'undefined',
      '{',
      '}',
      '{"a":1,}',
      '{"a":1}{"b":2}',
      '{"a":01}',
      "{'a':1}",
      '\ufeff{"purpose":"planned-care"}',
      '{"__proto__":{"admin":true}}',
      '{"constructor":{"prototype":{"x":1}}}',
      '{"a":"\u0000"}',
      '{"nhsNumber":"\\u0000"}',
      '{"a":"\\ud800"}',
      '{"a":1e999999}',
      '\u0000',
      '{"a":"x"\u0000}'
    )
    .map(text => ({ kind: 'raw' as const, text })),
  fc.integer({ min: 1000, max: 200_000 }).map(n => ({ kind: 'raw' as const, text: '['.repeat(n) + ']'.repeat(n) })),
  fc
    .integer({ min: 1000, max: 50_000 })
    .map(n => ({ kind: 'raw' as const, text: '{"a":'.repeat(n) + '1' + '}'.repeat(n) })),
  fc.integer({ min: 1000, max: 20_000 }).map(n => ({ kind: 'raw' as const, text: '['.repeat(n) })),
  fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.nat()).map(([v, cut]) => {
    const s = JSON.stringify(v)
    return { kind: 'raw' as const, text: s.slice(0, cut % Math.max(1, s.length)) }
  }),
  fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 300 })
    .map(bytes => ({ kind: 'bytes' as const, bytes })),
  fc.constant<BodySpec>({
    kind: 'bytes',
    bytes: [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]
  }), // {"a":"<invalid UTF-8>"}
  fc.constant<BodySpec>({ kind: 'raw', text: JSON.stringify({ a: 'x'.repeat(80_000) }) })
)

// ---------------------------------------------------------------------------------------------
// Tokens that are not what they claim

const jwtSpec: fc.Arbitrary<JwtSpec> = fc.record({
  header: fc.oneof(
    fc.constant<unknown>({ alg: 'none' }),
    fc.constant<unknown>({ alg: 'ES256', kid: 'nope', typ: 'at+jwt' }),
    fc.constant<unknown>({ alg: 'HS256', typ: 'JWT' }),
    fc.constant<unknown>([]),
    fc.constant<unknown>('header'),
    fc.constant<unknown>(null),
    fc.record({ alg: hostileValue, kid: hostileValue }),
    fc.jsonValue({ maxDepth: 2 })
  ),
  payload: fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.record({ sub: hostileValue, scope: hostileValue, exp: hostileValue }),
    fc.constant<unknown>('not json')
  ),
  signature: fc.oneof(
    fc.constant(''),
    fc.string({ maxLength: 20 }).map(b64u),
    fc.constantFrom('!!!', '====', 'a'.repeat(600))
  ),
  parts: fc.constantFrom(3, 3, 3, 2, 4, 1)
})

function encodeJwt (j: JwtSpec): string {
  const enc1 = (v: unknown): string => (v === 'not json' ? b64u('{not json') : b64u(JSON.stringify(v) ?? 'undefined'))
  const parts = [enc1(j.header), enc1(j.payload), j.signature]
  const n = j.parts ?? 3
  return n <= 3 ? parts.slice(0, n).join('.') : [...parts, 'extra'].join('.')
}

const authSpec: fc.Arbitrary<AuthSpec> = fc.oneof(
  { arbitrary: fc.constant<AuthSpec>('admin'), weight: 30 },
  { arbitrary: fc.constant<AuthSpec>('none'), weight: 1 },
  { arbitrary: fc.constant<AuthSpec>('expired'), weight: 1 },
  { arbitrary: fc.constant<AuthSpec>('unknown-client'), weight: 1 },
  { arbitrary: jwtSpec.map(jwt => ({ jwt })), weight: 2 },
  {
    arbitrary: fc
      .oneof(
        fc.constantFrom(
          'Bearer',
          'Bearer ',
          'Bearer  ',
          'bearer x',
          'Basic YWRtaW46YWRtaW4=',
          'Digest x',
          'Bearer a.b.c',
          'Bearer ...',
          'Bearer =',
          'Bearer eyJ',
          'Bearer a.b.c.d.e.f',
          'Token abc',
          'Bearer \t'
        ),
        fc.integer({ min: 4097, max: 14_000 }).map(n => `Bearer ${'A'.repeat(n)}`),
        fc
          .integer({ min: 4097, max: 14_000 })
          .map(n => `Bearer ${b64u('{"alg":"ES256","kid":"x"}')}.${'B'.repeat(n)}.sig`),
        fc.string({ maxLength: 60 }).map(s => `Bearer ${s.replace(/[^\x20-\x7e]/g, '')}`),
        fc.string({ unit: 'binary-ascii', maxLength: 60 }).map(s => s.replace(/[^\x20-\x7e\t]/g, ''))
      )
      .map(raw => ({ raw })),
    weight: 3
  }
)

// ---------------------------------------------------------------------------------------------
// Path parameters and query strings

const nhsParam = fc.oneof(
  { arbitrary: fc.constantFrom(NHS, '943%20476%205919', '943-476-5919'), weight: 16 },
  {
    arbitrary: fc.constantFrom(
      '9434765918',
      '943476591',
      '94347659190',
      'abcdefghij',
      '%00',
      '9434765919%00',
      '%',
      '%zz',
      '%2F',
      '..',
      '%2e%2e',
      '+9434765919',
      '9434765919.0',
      '%209434765919',
      '0000000000',
      '-943-476-5919',
      '943%20476-5919',
      '943%0A476%0A5919',
      '%C0%AE',
      '%ED%A0%80',
      '9'.repeat(10_000),
      'x'.repeat(201),
      '%F0%9F%98%80'
    ),
    weight: 4
  },
  { arbitrary: fc.constantFrom(...NON_ASCII_DIGITS).map(enc), weight: 2 },
  { arbitrary: fc.string({ maxLength: 50 }).map(enc), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map(enc), weight: 1 }
)

function idParam (known: () => string[]): fc.Arbitrary<string> {
  return fc.oneof(
    {
      arbitrary: fc.nat().map(i => {
        const k = known()
        return k.length === 0 ? randomUUID() : k[k.length - 1 - (i % k.length)]
      }),
      weight: 12
    },
    { arbitrary: fc.uuid().map(String), weight: 1 },
    {
      arbitrary: fc.constantFrom(
        '%00',
        'a%00b',
        '%',
        '%zz',
        '__proto__',
        'constructor',
        '..',
        '%2e%2e%2f',
        'x'.repeat(65),
        'y'.repeat(199),
        'z'.repeat(201),
        'w'.repeat(5000),
        "'%20OR%201=1",
        '%ED%A0%80'
      ),
      weight: 3
    },
    { arbitrary: fc.string({ maxLength: 70 }).map(enc), weight: 1 },
    { arbitrary: fc.constantFrom(...NASTY_STRINGS).map(enc), weight: 1 }
  )
}

const cursorValue = fc.oneof(
  fc.constantFrom(
    '',
    '!!!',
    '%00',
    'AAAA',
    b64u('1'),
    b64u('-1'),
    b64u('0'),
    b64u('99999999999999999999999999999'),
    b64u('9223372036854775807'),
    b64u('9223372036854775808'),
    b64u('1e5'),
    b64u('1_2'),
    b64u('99999999999999999999_zz'),
    b64u(`${Date.now()}_${randomUUID()}`),
    b64u('NaN_'),
    b64u('\u0000'),
    b64u('a'.repeat(80)),
    b64u('a'.repeat(81)),
    'x'.repeat(201)
  ),
  fc.string({ maxLength: 40 }).map(s => b64u(s)),
  fc.string({ maxLength: 40 })
)

const queryValue = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      'planned-care',
      'planning-research',
      'summary-care-record',
      'decision',
      'open',
      'reviewed',
      'active',
      NHS,
      '10',
      '1',
      '500',
      '501',
      '0',
      '-1',
      '1.5',
      'abc',
      '1e3',
      'true'
    ),
    weight: 3
  },
  { arbitrary: fc.constantFrom(...BAD_DATES, new Date().toISOString(), '2024-01-01T00:00:00Z'), weight: 2 },
  { arbitrary: cursorValue, weight: 2 },
  { arbitrary: fc.constantFrom(...NASTY_STRINGS, ...NON_ASCII_DIGITS), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }), weight: 1 },
  { arbitrary: fc.integer({ min: 201, max: 9000 }).map(n => 'q'.repeat(n)), weight: 1 }
)

const QUERY_KEYS = [
  'purpose',
  'asOf',
  'nhsNumber',
  'clientId',
  'type',
  'from',
  'to',
  'cursor',
  'limit',
  'status',
  'format',
  '_format',
  'patient',
  'identifier',
  '__proto__',
  'constructor',
  'a[b]',
  'purpose[]',
  ''
]

const queryString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constant(''), weight: 2 },
  {
    arbitrary: fc
      .array(
        fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 10 })), queryValue, fc.boolean()),
        { maxLength: 6 }
      )
      .map(pairs =>
        pairs
          .map(([k, v, raw]) =>
            raw && typeof v === 'string' && /^[\x21-\x7e]*$/.test(v) ? `${k}=${v}` : `${enc(k)}=${enc(v as string)}`
          )
          .join('&')
      ),
    weight: 6
  },
  {
    arbitrary: fc.constantFrom(
      '&&&',
      '=',
      '==',
      '&=&',
      'a',
      '%',
      '%zz',
      'a=%00',
      '?',
      '#',
      'purpose=planned-care&purpose=planning-research',
      'limit=1&limit=2',
      'a=1&a=2&a=3',
      '__proto__[x]=1',
      'constructor[prototype][x]=1'
    ),
    weight: 2
  },
  {
    arbitrary: fc.integer({ min: 1000, max: 6000 }).map(n => Array.from({ length: n }, (_, i) => `k${i}=v`).join('&')),
    weight: 1
  },
  { arbitrary: fc.integer({ min: 20_000, max: 120_000 }).map(n => `purpose=${'p'.repeat(n)}`), weight: 1 }
)

/** The query a route expects (mostly sensible, then bent), or a generic hostile one. */
function queryFor (route: RouteDef): fc.Arbitrary<string> {
  const pair = (k: string, good: fc.Arbitrary<string>): fc.Arbitrary<string> =>
    mostly(
      good,
      queryValue.map(v => enc(v as string))
    ).map(v => `${k}=${v}`)
  const sensible: Record<string, Array<fc.Arbitrary<string>>> = {
    'POST /v1/filter': [
      pair('purpose', fc.constantFrom('planning-research', 'gp-data-secondary-use', 'planned-care', 'fuzz-target')),
      pair('asOf', fc.constant(new Date().toISOString()))
    ],
    'GET /v1/audit': [
      pair('type', fc.constantFrom('decision', 'filter', 'import')),
      pair('nhsNumber', fc.constant(NHS)),
      pair('from', fc.constant('2020-01-01T00:00:00Z')),
      pair('to', fc.constant('2100-01-01T00:00:00Z')),
      pair('limit', fc.constantFrom('1', '5')),
      pair('cursor', fc.constant(b64u('5'))),
      pair('clientId', fc.uuid().map(String))
    ],
    'GET /v1/alerts': [
      pair('status', fc.constantFrom('open', 'reviewed')),
      pair('limit', fc.constantFrom('1', '2')),
      pair('cursor', fc.constant(b64u(`${Date.now()}_${randomUUID()}`)))
    ],
    'GET /v1/clients': [
      pair('status', fc.constantFrom('active', 'suspended')),
      pair('limit', fc.constantFrom('1', '2')),
      pair('cursor', fc.constant(b64u('0')))
    ]
  }
  const fhirPatient = pair(
    'patient.identifier',
    fc.constantFrom(
      `https://fhir.nhs.uk/Id/nhs-number|${NHS}`,
      'https://fhir.nhs.uk/Id/nhs-number|943 476 5919',
      NHS,
      `https://fhir.nhs.uk/Id/nhs-number|${NHS.replace(/9$/, '8')}`,
      '|',
      'https://fhir.nhs.uk/Id/nhs-number|'
    )
  )
  const fhir = [
    fhirPatient,
    pair('_count', fc.constantFrom('1', '10', '0', '1000')),
    pair('_format', fc.constantFrom('json', 'application/fhir+json', 'xml')),
    pair('status', fc.constantFrom('active', 'inactive', 'entered-in-error')),
    pair('date', fc.constantFrom('ge2020-01-01', 'le2100-01-01', 'gt2024-13-01', 'xx2020'))
  ]
  const mine = sensible[key(route)] ?? (route.url.startsWith('/fhir') ? fhir : undefined)
  if (mine === undefined) return queryString
  return fc.oneof(
    {
      arbitrary: fc.tuple(...mine.map(a => fc.option(a, { freq: 2 }))).map(ps => ps.filter(p => p !== null).join('&')),
      weight: 6
    },
    { arbitrary: fc.tuple(mine[0], queryString).map(([a, b]) => (b === '' ? a : `${a}&${b}`)), weight: 2 },
    { arbitrary: queryString, weight: 1 }
  )
}

const contentType = fc.constantFrom<string | null>(
  null,
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/json;',
  'application/problem+json',
  'application/fhir+json',
  'application/x-www-form-urlencoded',
  'text/plain',
  'text/csv',
  'application/x-ndjson',
  'multipart/form-data; boundary=----x',
  'application/xml',
  '',
  '*/*',
  'application/json, text/plain',
  'application',
  '/',
  ';',
  `application/${'x'.repeat(3000)}`,
  'text/plain; charset=utf-7'
)

const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    accept: fc.constantFrom(
      'application/json',
      'text/plain',
      'application/x-ndjson',
      '*/*',
      'text/html',
      'application/xml',
      '',
      'application/fhir+json',
      'x'.repeat(3000),
      'text/plain;q=0, */*;q=0'
    ),
    'x-request-id': fc.oneof(
      fc.uuid().map(String),
      fc.string({ unit: 'binary-ascii', maxLength: 300 }).map(s => s.replace(/[^\x20-\x7e]/g, ''))
    ),
    'x-correlation-id': fc.string({ unit: 'binary-ascii', maxLength: 300 }).map(s => s.replace(/[^\x20-\x7e]/g, '')),
    'accept-encoding': fc.constantFrom('gzip', 'br', 'deflate', 'identity', 'x-nonsense', '*')
  },
  { requiredKeys: [] }
)

// ---------------------------------------------------------------------------------------------
// Route-specific bodies

interface Context {
  admin: TestCaller
  victim: TestClient
  /** Ids the service handed out so far (seeded, then learnt from 201/200 answers), so requests can name real ones. */
  preferenceIds: string[]
  alertIds: string[]
  clientIds: string[]
  expiredToken: string
  unknownClientToken: string
  stranger: { privateKey: CryptoKey }
}

/** Mostly a good value (so that requests get past validation), sometimes a bad one. */
const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>): fc.Arbitrary<T | U> =>
  fc.oneof({ arbitrary: good, weight: 12 }, { arbitrary: bad, weight: 1 })

const purposeCode = fc.oneof(
  fc.constantFrom(...ALL_PURPOSES, 'summary-care-record', 'gp-data-secondary-use', 'fuzz-target', 'no-such-purpose'),
  fc.constantFrom(...NASTY_STRINGS)
)
const isoDate = fc.oneof(
  fc.date({ min: new Date('1900-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map(d => d.toISOString()),
  fc.constantFrom(...BAD_DATES)
)
const nhsValue = fc.oneof(
  fc.constantFrom(NHS, '943 476 5919', '943-476-5919', '9434765918', '0000000000'),
  fc.constantFrom(...NON_ASCII_DIGITS)
)

const decisionBody = fc.record(
  {
    nhsNumber: mostly(fc.constantFrom(NHS, '943 476 5919', '943-476-5919'), nhsValue),
    purpose: mostly(
      fc.constantFrom(...ALL_PURPOSES, 'summary-care-record', 'gp-data-secondary-use', 'fuzz-target'),
      purposeCode
    ),
    pointOfCare: fc.record(
      {
        permissionToView: mostly(fc.constantFrom('granted', 'refused', 'unable-to-ask'), fc.constant('maybe')),
        reason: mostly(fc.constant('Unconscious'), fc.constantFrom('', ' ', 'x'.repeat(1001), 'r\u0000'))
      },
      { requiredKeys: ['permissionToView'] }
    ),
    asOf: mostly(
      fc
        .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
        .map(d => d.toISOString()),
      isoDate
    )
  },
  { requiredKeys: ['nhsNumber', 'purpose'] }
)

const preferenceBody = fc.record(
  {
    purpose: mostly(
      fc.constantFrom(...ALL_PURPOSES, 'summary-care-record', 'gp-data-secondary-use', 'fuzz-target'),
      purposeCode
    ),
    decision: mostly(fc.constantFrom('permit', 'deny'), fc.constant('maybe')),
    effectiveFrom: isoDate,
    source: mostly(
      fc.constantFrom('gp-practice', 'paper-form', 'online', 'telephone', 'import'),
      fc.constant('carrier-pigeon')
    ),
    recordedBy: fc.record(
      {
        odsCode: mostly(fc.constant('B82005'), fc.constantFrom('x', '!!!')),
        name: mostly(fc.constant('Reception'), fc.constantFrom('', 'n'.repeat(201), 'n\u0000')),
        proxyRole: mostly(fc.constantFrom('parent', 'guardian', 'lasting-power-of-attorney'), fc.constant('cat'))
      },
      { requiredKeys: [] }
    ),
    note: fc.oneof(
      fc.constantFrom('from the paper form', 'a\u0000b', 'é😀', '', '\ud800'),
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 40 })
    )
  },
  { requiredKeys: ['purpose', 'decision', 'source'] }
)

const purposeBody = fc.record(
  {
    code: mostly(
      fc.uuid().map(u => `fz-${u.slice(0, 8)}`),
      fc.constantFrom('planned-care', 'Bad Code', 'a', 'x-'.repeat(40), 'fz-\u0000')
    ),
    name: fc.oneof(
      fc.constantFrom('Fuzz study', 'n\u0000n', ''),
      fc.string({ maxLength: 30 }),
      fc.string({ unit: 'binary', maxLength: 30 })
    ),
    description: fc.oneof(
      fc.constantFrom('desc', 'd\u0000'),
      fc.string({ maxLength: 30 }),
      fc.string({ unit: 'binary', maxLength: 30 })
    ),
    category: mostly(fc.constant('secondary-use'), fc.constantFrom('direct-care', 'other')),
    parent: mostly(
      fc.constantFrom('planning-research', 'fuzz-target'),
      fc.constantFrom('unplanned-care', 'no-such', '\u0000')
    ),
    defaultDecision: mostly(fc.constantFrom('permit', 'deny', null), fc.constant('maybe')),
    requiresPermissionToView: fc.boolean(),
    emergencyAccess: mostly(fc.constant('never'), fc.constantFrom('when-unable-to-ask', 'always'))
  },
  { requiredKeys: ['code', 'name', 'category'] }
)

const purposePatch = fc.record(
  {
    name: fc.oneof(
      fc.constantFrom('Renamed', 'r\u0000'),
      fc.string({ maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 20 })
    ),
    description: fc.oneof(fc.string({ maxLength: 20 }), fc.constant('d\u0000')),
    defaultDecision: fc.constantFrom('permit', 'deny', null),
    requiresPermissionToView: fc.boolean(),
    emergencyAccess: fc.constantFrom('never', 'when-unable-to-ask'),
    active: fc.boolean()
  },
  { requiredKeys: [] }
)

function jwkArb (ctx: () => Context): fc.Arbitrary<Record<string, unknown>> {
  return fc.oneof(
    fc
      .constant(null)
      .map(() => ({ ...ctx().victim.publicJwk, kid: `k-${randomUUID().slice(0, 6)}` }) as Record<string, unknown>),
    // A usable key with a member nested past the 64-level limit (once a 500: the store's JSON.stringify).
    fc.tuple(fc.integer({ min: 61, max: 3000 }), fc.constantFrom('x5c', 'key_ops', 'ext')).map(([depth, member]) => ({
      ...ctx().victim.publicJwk,
      kid: `k-${randomUUID().slice(0, 6)}`,
      [member]: nested(depth)
    })),
    fc.record(
      {
        kty: fc.constantFrom('EC', 'RSA', 'oct', 'OKP', 'x'),
        crv: fc.constantFrom('P-256', 'P-384', 'Ed25519', 'x'),
        kid: fc.constantFrom('k1', '', 'k\u0000'),
        x: fc.string({ maxLength: 50 }),
        y: fc.string({ maxLength: 50 }),
        alg: fc.constantFrom('ES256', 'none', 'HS256', 'RS512'),
        k: fc.string({ maxLength: 20 }),
        d: fc.string({ maxLength: 20 })
      },
      { requiredKeys: [] }
    ),
    fc.dictionary(
      fc.string({ maxLength: 10 }),
      fc.oneof(fc.string({ maxLength: 40 }), fc.boolean(), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 })),
      { maxKeys: 25 }
    )
  )
}

function clientBody (ctx: () => Context): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(
    {
      name: fc.oneof(
        fc.constantFrom('Fuzz client', 'c\u0000c', ''),
        fc.string({ maxLength: 30 }),
        fc.string({ unit: 'binary', maxLength: 30 })
      ),
      odsCode: mostly(fc.constantFrom('RA701', null), fc.constantFrom('!', 'x'.repeat(11))),
      scopes: mostly(
        fc.uniqueArray(fc.constantFrom(...ALL_SCOPES), { maxLength: 4 }),
        fc.uniqueArray(fc.constantFrom(...ALL_SCOPES, 'root', 'consent:*'), { maxLength: 4 })
      ),
      purposes: mostly(
        fc.uniqueArray(fc.constantFrom(...ALL_PURPOSES, 'summary-care-record'), { maxLength: 3 }),
        fc.uniqueArray(fc.constantFrom(...ALL_PURPOSES, 'nope', '\u0000'), { maxLength: 3 })
      ),
      exemptions: mostly(
        fc.constant([]),
        fc.array(
          fc.record({
            purpose: purposeCode,
            basis: fc.constantFrom('legal-requirement', 'section-251', 'explicit-consent', 'because'),
            reference: fc.constantFrom('CAG 1', '', 'r\u0000')
          }),
          { maxLength: 2 }
        )
      ),
      jwks: fc.record({
        keys: mostly(
          fc
            .constant(null)
            .map(
              () =>
                [{ ...ctx().victim.publicJwk, kid: `k-${randomUUID().slice(0, 6)}` }] as Array<Record<string, unknown>>
            ),
          fc.array(jwkArb(ctx), { minLength: 0, maxLength: 3 })
        )
      }),
      jwksUrl: mostly(
        fc.constant('https://keys.example/jwks.json'),
        fc.constantFrom(
          'http://evil.example/jwks',
          'not a url',
          'http://localhost:1/jwks',
          'file:///etc/passwd',
          'https://\u0000/',
          'https://[::1/'
        )
      )
    },
    { requiredKeys: ['name', 'scopes', 'purposes'] }
  )
}

function clientPatch (ctx: () => Context): fc.Arbitrary<Record<string, unknown>> {
  return clientBody(ctx)
    .chain(b => fc.subarray(Object.keys(b)).map(ks => Object.fromEntries(ks.map(k => [k, b[k]]))))
    .chain(b =>
      fc
        .constantFrom<Record<string, unknown>>({}, { status: 'suspended' }, { status: 'active' }, { status: 'deleted' })
        .map(s => ({ ...b, ...s }))
    )
}

const ndjsonLine = fc.oneof(
  fc
    .record(
      {
        externalId: fc.oneof(fc.uuid().map(String), fc.constantFrom('', 'e\u0000', 'x'.repeat(201), '__proto__')),
        nhsNumber: nhsValue,
        purpose: purposeCode,
        decision: fc.constantFrom('permit', 'deny', 'maybe'),
        code: fc.constantFrom('9Nu0', '9Nu1', '9Nu4', '9Ndo', '9Ndl', 'XXXX', '\u0000'),
        effectiveFrom: isoDate,
        source: fc.constantFrom('import', 'gp-practice', 'nope'),
        recordedBy: fc.oneof(
          fc.record(
            {
              odsCode: fc.constantFrom('B82005', '!'),
              name: fc.constantFrom('n', 'n\u0000', 'x'.repeat(201)),
              proxyRole: fc.constantFrom('parent', 'cat')
            },
            { requiredKeys: [] }
          ),
          hostileValue
        ),
        note: fc.oneof(fc.constantFrom('imported', 'n\u0000te', ''), hostileValue)
      },
      { requiredKeys: ['externalId', 'nhsNumber'] }
    )
    .map(v => JSON.stringify(v)),
  fc.constantFrom('', '{', 'null', '[]', '"x"', '\u0000', '{"externalId":"a"}', '\ufeff{}', 'x'.repeat(17_000)),
  hostileValue.map(v => JSON.stringify(v) ?? 'undefined')
)

const ndjsonBody: fc.Arbitrary<BodySpec> = fc.oneof(
  fc
    .array(ndjsonLine, { maxLength: 12 })
    .chain(lines => fc.constantFrom('\n', '\r\n').map(sep => ({ kind: 'raw' as const, text: lines.join(sep) }))),
  brokenJson
)

const filterLine = fc.oneof(
  fc.constantFrom(
    NHS,
    '943 476 5919',
    '943-476-5919,',
    '"9434765919"',
    'nhs_number',
    '9434765918',
    '',
    ',',
    ',,,',
    '\u0000',
    'é',
    '\ufeff9434765919',
    '9'.repeat(2000),
    ...NON_ASCII_DIGITS
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 })
)

const filterBody: fc.Arbitrary<BodySpec> = fc.oneof(
  fc
    .array(filterLine, { maxLength: 30 })
    .chain(lines => fc.constantFrom('\n', '\r\n', '\r').map(sep => ({ kind: 'raw' as const, text: lines.join(sep) }))),
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 400 }).map(bytes => ({ kind: 'bytes' as const, bytes })),
  fc.integer({ min: 10_000, max: 200_000 }).map(n => ({ kind: 'raw' as const, text: '9'.repeat(n) })),
  fc.constant({ kind: 'none' as const })
)

const formValue = fc.oneof(
  { arbitrary: fc.string({ maxLength: 30 }), weight: 6 },
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 3 },
  { arbitrary: longString, weight: 1 },
  { arbitrary: fc.integer({ min: 33_000, max: 40_000 }).map(n => 'f'.repeat(n)), weight: 1 }
)
/** Present once in `absent + 1` times, otherwise null. */
const sometimes = <T>(a: fc.Arbitrary<T>, absent = 4): fc.Arbitrary<T | null> =>
  fc.oneof({ arbitrary: fc.constant(null), weight: absent }, { arbitrary: a, weight: 1 })

const formFields: fc.Arbitrary<Array<[string, string]>> = fc
  .record({
    grant_type: mostly(
      fc.constant('client_credentials'),
      fc.oneof(fc.constantFrom('password', 'authorization_code', '', 'CLIENT_CREDENTIALS'), formValue)
    ),
    client_assertion_type: mostly(fc.constant(ASSERTION_TYPE), formValue),
    client_id: sometimes(formValue, 12),
    scope: sometimes(
      mostly(
        fc.constantFrom('consent:check', 'admin consent:check', '   ', ALL_SCOPES.join(' ')),
        fc.oneof(fc.constant('root'), formValue)
      ),
      1
    ),
    extra: sometimes(formValue, 12),
    dup: sometimes(fc.constantFrom('grant_type', 'client_assertion', 'scope'), 12)
  })
  .map(r => {
    const fields: Array<[string, string]> = [
      ['grant_type', r.grant_type],
      ['client_assertion_type', r.client_assertion_type]
    ]
    if (r.client_id !== null) fields.push(['client_id', r.client_id])
    if (r.scope !== null) fields.push(['scope', r.scope])
    if (r.extra !== null) fields.push(['extra', r.extra])
    if (r.dup !== null) fields.push([r.dup, 'again'])
    return fields
  })

const claimValue = (good: () => unknown): fc.Arbitrary<unknown> =>
  mostly(fc.constant(null).map(good), fc.oneof(hostileValue, fc.constant(undefined)))

function assertionBody (ctx: () => Context): fc.Arbitrary<BodySpec> {
  const now = (): number => Math.floor(Date.now() / 1000)
  return fc
    .record({
      claims: fc.record({
        iss: claimValue(() => ctx().admin.id),
        sub: claimValue(() => ctx().admin.id),
        aud: claimValue(() => TOKEN_URL),
        exp: claimValue(() => now() + 60).chain(v =>
          mostly(fc.constant(v), fc.constantFrom(0, -1, 1e308, 2 ** 53, 4102444800))
        ),
        jti: claimValue(() => randomUUID()).chain(v =>
          mostly(fc.constant(v), fc.constantFrom('', 'j\u0000', 'x'.repeat(255), 'x'.repeat(256), '\ud800', '\u0000'))
        ),
        iat: claimValue(() => now()),
        nbf: mostly(fc.constant(undefined), hostileValue)
      }),
      header: fc.record({
        kid: claimValue(() => ctx().admin.kid),
        typ: mostly(fc.constantFrom(undefined, 'JWT'), fc.oneof(fc.constantFrom('jwt', 'at+jwt'), hostileValue)),
        x5u: mostly(fc.constant(undefined), fc.constant('https://evil.example/x')),
        jku: mostly(fc.constant(undefined), fc.constant('https://evil.example/jwks'))
      }),
      signer: mostly(fc.constant<'client'>('client'), fc.constantFrom<'stranger' | 'hs256'>('stranger', 'hs256')),
      fields: formFields
    })
    .map(r => ({ kind: 'assertion' as const, ...r }))
}

function tokenBody (ctx: () => Context): fc.Arbitrary<BodySpec> {
  return fc.oneof(
    { arbitrary: assertionBody(ctx), weight: 8 },
    {
      arbitrary: fc
        .tuple(
          formFields,
          fc.oneof(
            jwtSpec.map(encodeJwt),
            fc
              .integer({ min: 16_385, max: 30_000 })
              .map(n => `${b64u('{"alg":"ES256","kid":"k"}')}.${'A'.repeat(n)}.sig`),
            fc.constantFrom('', 'a.b.c', '...', 'x', '\u0000', 'eyJ.eyJ.eyJ'),
            fc.string({ maxLength: 100 })
          )
        )
        .map(([fields, assertion]) => ({
          kind: 'form' as const,
          fields: [...fields, ['client_assertion', assertion] as [string, string]]
        })),
      weight: 3
    },
    { arbitrary: formFields.map(fields => ({ kind: 'form' as const, fields })), weight: 1 },
    {
      arbitrary: fc
        .record({ grant_type: hostileValue, client_assertion: hostileValue })
        .map(value => ({ kind: 'json' as const, value })),
      weight: 1
    },
    { arbitrary: brokenJson, weight: 1 }
  )
}

function jsonBody (template: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<BodySpec> {
  return fc.oneof(
    { arbitrary: mutated(template).map(value => ({ kind: 'json' as const, value })), weight: 8 },
    { arbitrary: brokenJson, weight: 2 },
    { arbitrary: fc.constant({ kind: 'none' as const }), weight: 1 }
  )
}

/** The natural content type and body of a route; the generic ones for routes this file does not know. */
function bodyFor (route: RouteDef, ctx: () => Context): { type: string | null; body: fc.Arbitrary<BodySpec> } {
  const k = key(route)
  if (k === 'POST /oauth2/token') return { type: 'application/x-www-form-urlencoded', body: tokenBody(ctx) }
  if (k === 'POST /v1/filter') return { type: 'text/plain', body: filterBody }
  if (k === 'POST /v1/preferences/import') return { type: 'application/x-ndjson', body: ndjsonBody }
  if (k === 'POST /v1/decisions') return { type: 'application/json', body: jsonBody(decisionBody) }
  if (k === 'POST /v1/patients/:nhsNumber/preferences') {
    return { type: 'application/json', body: jsonBody(preferenceBody) }
  }
  if (k === 'POST /v1/patients/:nhsNumber/preferences/:id/entered-in-error') {
    return {
      type: 'application/json',
      body: jsonBody(
        fc.record({
          reason: mostly(fc.constant('wrong patient'), fc.constantFrom('', ' ', 'r\u0000', 'x'.repeat(2001)))
        })
      )
    }
  }
  if (k === 'POST /v1/purposes') return { type: 'application/json', body: jsonBody(purposeBody) }
  if (k === 'PATCH /v1/purposes/:code') return { type: 'application/json', body: jsonBody(purposePatch) }
  if (k === 'POST /v1/clients') return { type: 'application/json', body: jsonBody(clientBody(ctx)) }
  if (k === 'PATCH /v1/clients/:id') return { type: 'application/json', body: jsonBody(clientPatch(ctx)) }
  if (k === 'PUT /v1/clients/:id/keys') {
    return {
      type: 'application/json',
      body: jsonBody(
        fc.record({
          keys: mostly(
            fc.constant(null).map(() => [{ ...ctx().victim.publicJwk }] as Array<Record<string, unknown>>),
            fc.array(jwkArb(ctx), { maxLength: 3 })
          )
        })
      )
    }
  }
  if (k === 'POST /v1/alerts/:id/review') {
    return {
      type: 'application/json',
      body: jsonBody(
        fc.record({ note: mostly(fc.constant('Justified'), fc.constantFrom('', 'n\u0000', 'x'.repeat(4001))) })
      )
    }
  }
  if (route.method === 'GET' || route.method === 'HEAD') {
    return {
      type: null,
      body: fc.oneof(
        { arbitrary: fc.constant({ kind: 'none' as const }), weight: 6 },
        { arbitrary: fc.jsonValue({ maxDepth: 2 }).map(value => ({ kind: 'json' as const, value })), weight: 1 },
        { arbitrary: brokenJson, weight: 1 }
      )
    }
  }
  if (route.method === 'POST' && route.url.startsWith('/cds-services/')) {
    return {
      type: 'application/json',
      body: jsonBody(
        fc.record(
          {
            hook: mostly(fc.constant(route.url.slice('/cds-services/'.length)), fc.constantFrom('', 'patient-view')),
            hookInstance: mostly(fc.uuid().map(String), fc.constantFrom('', 'h\u0000')),
            context: fc.record(
              {
                patientId: mostly(
                  fc.constant([{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS }]),
                  fc.array(
                    fc.record({ system: fc.constantFrom('https://fhir.nhs.uk/Id/nhs-number', 'x'), value: nhsValue }),
                    { maxLength: 3 }
                  )
                ),
                purposeOfUse: mostly(
                  fc.constantFrom<unknown>(['HRESCH'], ['ETREAT'], 'planning-research', 'planned-care'),
                  fc.constantFrom<unknown>(['TREAT'], [], 'nope', ['HRESCH', 'ETREAT'])
                ),
                pointOfCare: fc.record(
                  {
                    permissionToView: fc.constantFrom('granted', 'unable-to-ask', 'maybe'),
                    reason: fc.constantFrom('Unconscious', '')
                  },
                  { requiredKeys: ['permissionToView'] }
                )
              },
              { requiredKeys: ['patientId'] }
            )
          },
          { requiredKeys: ['hook', 'hookInstance', 'context'] }
        )
      )
    }
  }
  // A route this file does not know (a new FHIR or CDS Hooks route): generic hostile JSON.
  return {
    type: route.url.startsWith('/fhir') ? 'application/fhir+json' : 'application/json',
    body: jsonBody(
      fc.dictionary(
        fc.constantFrom(
          'resourceType',
          'parameter',
          'hook',
          'context',
          'prefetch',
          'patient',
          'purpose',
          'nhsNumber',
          'identifier'
        ),
        hostileValue,
        { maxKeys: 4 }
      )
    )
  }
}

function pathFor (route: RouteDef, ctx: () => Context): fc.Arbitrary<string> {
  const segments = route.url.split(/(:[A-Za-z0-9_]+|\*)/)
  const parts = segments.map(seg => {
    if (seg === '*') {
      return fc.oneof(
        fc.constantFrom(
          'index.html',
          'swagger-initializer.js',
          'static/../../package.json',
          '%2e%2e/%2e%2e/package.json',
          'x'.repeat(300),
          '%00'
        ),
        fc.string({ maxLength: 20 }).map(enc)
      )
    }
    if (!seg.startsWith(':')) return fc.constant(seg)
    const name = seg.slice(1)
    if (name === 'nhsNumber' || /patient/i.test(name)) return nhsParam
    // Only the fuzz's own purpose is changed (PATCH may deactivate it); the seeded ones stay as they are.
    if (name === 'code') {
      return mostly(
        fc.constant('fuzz-target'),
        fc.oneof(
          fc.constantFrom('no-such-purpose', 'x'.repeat(101), 'x'.repeat(201), '%00', '__proto__', '%zz'),
          fc.string({ maxLength: 30 }).map(enc)
        )
      )
    }
    if (name === 'id' && route.url.startsWith('/v1/alerts')) return idParam(() => ctx().alertIds)
    if (name === 'id' && route.url.startsWith('/v1/clients')) return idParam(() => ctx().clientIds)
    if (name === 'id') return idParam(() => ctx().preferenceIds)
    return fc.oneof(fc.constantFrom(NHS, 'x', '%00', 'y'.repeat(201)), fc.string({ maxLength: 30 }).map(enc))
  })
  const base = fc.tuple(...parts).map(ps => {
    const p = ps.join('')
    return route.url.endsWith('*') && !route.url.endsWith('/*') && !p.startsWith(route.url.slice(0, -1) + '/')
      ? p.replace(route.url.slice(0, -1), route.url.slice(0, -1) + '/')
      : p
  })
  // Occasionally the path itself is bent: a trailing slash, doubled slashes, a different case, junk after it.
  const bent = fc
    .tuple(
      base,
      fc.constantFrom(
        (p: string) => p + '/',
        (p: string) => p.replace(/\//g, '//'),
        (p: string) => p.toUpperCase(),
        (p: string) => p + '/%00',
        (p: string) => p + '/..',
        (p: string) => p + ';jsessionid=1'
      )
    )
    .map(([p, bend]) => bend(p))
  return fc.oneof({ arbitrary: base, weight: 15 }, { arbitrary: bent, weight: 1 })
}

function requestFor (route: RouteDef, ctx: () => Context): fc.Arbitrary<Generated> {
  const { type, body } = bodyFor(route, ctx)
  return fc.record({
    method: fc.oneof(
      { arbitrary: fc.constant(route.method), weight: 20 },
      { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE'), weight: 1 }
    ),
    path: pathFor(route, ctx),
    query: queryFor(route),
    auth: authSpec,
    contentType: fc.oneof({ arbitrary: fc.constant(type), weight: 6 }, { arbitrary: contentType, weight: 1 }),
    extraHeaders,
    body
  })
}

// ---------------------------------------------------------------------------------------------
// Sending and judging

async function materialise (g: Generated, ctx: Context): Promise<Sent> {
  const headers: Record<string, string> = { ...g.extraHeaders }
  if (g.contentType !== null) headers['content-type'] = g.contentType
  if (g.auth === 'admin') headers.authorization = `Bearer ${ctx.admin.token}`
  else if (g.auth === 'expired') headers.authorization = `Bearer ${ctx.expiredToken}`
  else if (g.auth === 'unknown-client') headers.authorization = `Bearer ${ctx.unknownClientToken}`
  else if (g.auth !== 'none') headers.authorization = 'raw' in g.auth ? g.auth.raw : `Bearer ${encodeJwt(g.auth.jwt)}`
  let payload: string | Buffer | undefined
  const b = g.body
  if (b.kind === 'json') payload = JSON.stringify(b.value) ?? 'undefined'
  else if (b.kind === 'raw') payload = b.text
  else if (b.kind === 'bytes') payload = Buffer.from(b.bytes)
  else if (b.kind === 'form') payload = new URLSearchParams(b.fields).toString()
  else if (b.kind === 'assertion') {
    const alg = b.signer === 'hs256' ? 'HS256' : ctx.admin.alg
    const signingKey =
      b.signer === 'client'
        ? ctx.admin.privateKey
        : b.signer === 'stranger'
          ? ctx.stranger.privateKey
          : new TextEncoder().encode('a-shared-secret-of-32-bytes-long!')
    let assertion: string
    try {
      // The generated claims and header replace the signer's own (an undefined one is left out).
      assertion = await signClientAssertion({
        clientId: ctx.admin.id,
        key: signingKey,
        alg,
        audience: TOKEN_URL,
        extraClaims: b.claims,
        header: { kid: undefined, typ: undefined, ...b.header }
      })
    } catch {
      // jose refuses some generated headers: send the same parts unsigned.
      const present = (o: Record<string, unknown>): Record<string, unknown> =>
        Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
      const header = { alg, ...present(b.header) }
      assertion = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(present(b.claims)))}.c2ln`
    }
    payload = new URLSearchParams([...b.fields, ['client_assertion', assertion]]).toString()
  }
  return {
    method: g.method,
    url: g.query === '' ? g.path : `${g.path}?${g.query}`,
    headers,
    ...(payload !== undefined ? { payload } : {})
  }
}

const short = (s: string, n = 300): string => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s)

function describeSent (s: Sent): string {
  const body =
    s.payload === undefined
      ? ''
      : typeof s.payload === 'string'
        ? short(JSON.stringify(s.payload))
        : `<${s.payload.length} bytes>`
  const headers = Object.fromEntries(Object.entries(s.headers).map(([k, v]) => [k, short(v, 80)]))
  return `${s.method} ${short(s.url, 200)} ${JSON.stringify(headers)} ${body}`
}

function parseJson (body: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(body) as unknown
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null
  } catch {
    return null
  }
}

const nonEmpty = (v: unknown): boolean => typeof v === 'string' && v.trim() !== ''

/** Why this answer breaks SPEC §3/§7, or null when it is fine. */
function judge (sent: Sent, res: LightMyRequestResponse): string | null {
  const status = res.statusCode
  if (status >= 500) return `a ${status} for client input: ${short(res.body, 500)}`
  if (status < 400) return null
  // The path as the server saw it (the injector resolves dot segments: /fhir/Consent/../.. is /).
  let seen = sent.url.split('?')[0]
  try {
    seen = new URL(sent.url, 'http://localhost').pathname
  } catch {}
  const path = seen.replace(/\/+$/, '')
  const ctype = String(res.headers['content-type'] ?? '')
  const fhir = seen === '/fhir' || seen.startsWith('/fhir/')
  if (sent.method === 'HEAD') {
    return (fhir ? /^application\/fhir\+json/ : /^application\/problem\+json/).test(ctype)
      ? null
      : `HEAD ${status} with content-type '${ctype}'`
  }
  const body = parseJson(res.body)
  if (body === null) return `${status} whose body is not a JSON object: ${short(res.body)}`
  const oauthShape = typeof body.error === 'string' && nonEmpty(body.error_description)
  if (path === '/oauth2/token' && sent.method === 'POST' && (status === 400 || status === 401)) {
    if (!oauthShape) return `token endpoint ${status} is not an RFC 6749 error: ${short(res.body)}`
    if (
      !['invalid_request', 'invalid_client', 'unsupported_grant_type', 'invalid_scope', 'invalid_grant'].includes(
        body.error as string
      )
    ) {
      return `unknown OAuth error code '${String(body.error)}'`
    }
    return null
  }
  if (seen.startsWith('/oauth2/') && oauthShape) return null
  if (fhir) {
    if (body.resourceType !== 'OperationOutcome') {
      return `${status} under /fhir is not an OperationOutcome: ${short(res.body)}`
    }
    const issues = body.issue as Array<Record<string, unknown>> | undefined
    const said =
      Array.isArray(issues) &&
      issues.length > 0 &&
      issues.every(i => nonEmpty(i.diagnostics) || nonEmpty((i.details as { text?: unknown } | undefined)?.text))
    return said ? null : `OperationOutcome ${status} without diagnostics: ${short(res.body)}`
  }
  if (!ctype.startsWith('application/problem+json')) {
    return `${status} with content-type '${ctype}', not problem+json: ${short(res.body)}`
  }
  if (body.status !== status) return `problem status ${String(body.status)} differs from HTTP ${status}`
  if (!nonEmpty(body.title) || !nonEmpty(body.type) || typeof body.requestId !== 'string') {
    return `problem without type, title or requestId: ${short(res.body)}`
  }
  if (!nonEmpty(body.detail)) return `problem without a detail: ${short(res.body)}`
  if (
    body.errors !== undefined &&
    !(
      Array.isArray(body.errors) &&
      body.errors.every(e => nonEmpty((e as { path?: unknown }).path) && nonEmpty((e as { message?: unknown }).message))
    )
  ) {
    return `problem errors[] without path/message: ${short(res.body)}`
  }
  return null
}

// ---------------------------------------------------------------------------------------------

describe('hostile input never yields a 5xx, and every rejection says what was wrong (SPEC §7)', () => {
  const t = useTestApp({ LOG_LEVEL: 'warn' })
  let ctx: Context
  let served: RouteDef[]
  const statuses = new Map<string, Map<number, number>>()

  beforeAll(async () => {
    const admin = await clientWithToken(t.app, { name: 'fuzz admin', scopes: ALL_SCOPES, purposes: ALL_PURPOSES })
    const victim = await registerClient(t.app, { name: 'victim', scopes: ['consent:check'] })
    const auth = admin.auth
    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/purposes',
      headers: auth,
      payload: { code: 'fuzz-target', name: 'Fuzz target', category: 'secondary-use', parent: 'planning-research' }
    })
    expect(created.statusCode).toBe(201)
    const preferenceIds: string[] = []
    for (const decision of ['deny', 'permit', 'deny']) {
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/patients/${NHS}/preferences`,
        headers: auth,
        payload: { purpose: 'planning-research', decision, source: 'paper-form' }
      })
      expect(res.statusCode).toBe(201)
      preferenceIds.push(res.json().id as string)
    }
    const alertIds: string[] = []
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: auth,
        payload: {
          nhsNumber: NHS,
          purpose: 'summary-care-record',
          pointOfCare: { permissionToView: 'unable-to-ask', reason: 'Unconscious' },
          endUser: { id: '555021935107' }
        }
      })
      expect(res.statusCode).toBe(200)
      alertIds.push(res.json().alertId as string)
    }
    const now = Math.floor(Date.now() / 1000)
    const sign = async (clientId: string, iat: number, exp: number): Promise<string> =>
      await forgeAccessToken(t.app, { clientId, iat, exp })
    ctx = {
      admin,
      victim,
      preferenceIds,
      alertIds,
      clientIds: [victim.id],
      expiredToken: await sign(admin.id, now - 3600, now - 60),
      unknownClientToken: await sign(randomUUID(), now, now + 600),
      stranger: { privateKey: (await generateKeyPair('ES256')).privateKey }
    }
    served = servedRoutes(t.app.printRoutes({ commonPrefix: false }))
  })

  /** Remembers the ids a success handed out (never the admin client's own: it must stay usable). */
  function learn (res: LightMyRequestResponse): void {
    if (res.statusCode !== 200 && res.statusCode !== 201) return
    if (!String(res.headers['content-type'] ?? '').startsWith('application/json')) return
    const body = parseJson(res.body)
    if (body === null) return
    const keep = (list: string[], id: unknown): void => {
      if (typeof id === 'string' && !list.includes(id) && list.length < 200) list.push(id)
    }
    if (typeof body.alertId === 'string') keep(ctx.alertIds, body.alertId)
    if (typeof body.clientId === 'string' && body.clientId !== ctx.admin.id) keep(ctx.clientIds, body.clientId)
    if (typeof body.id === 'string' && typeof body.nhsNumber === 'string' && typeof body.decision === 'string') {
      keep(ctx.preferenceIds, body.id)
    }
  }

  async function fuzz (route: RouteDef, runs: number): Promise<void> {
    const seen = new Map<number, number>()
    statuses.set(key(route), seen)
    const out = await fc.check(
      fc.asyncProperty(
        requestFor(route, () => ctx),
        async g => {
          const sent = await materialise(g, ctx)
          const res = await t.app.inject(sent as InjectOptions)
          seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1)
          const wrong = judge(sent, res)
          if (wrong !== null) throw new Error(`${wrong}\n  request: ${describeSent(sent)}`)
          learn(res)
          if (process.env.HOSTILE_DEBUG !== undefined && key(route).includes(process.env.HOSTILE_DEBUG)) {
            console.log(res.statusCode, short(res.body, 200), '<=', short(describeSent(sent), 300))
          }
        }
      ),
      { numRuns: runs }
    )
    // The counterexample itself can be megabytes: report the judge's summary, the seed and the path.
    if (out.failed) {
      const why = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance)
      throw new Error(
        `${key(route)}: ${why}\n  (fast-check seed ${out.seed}, path ${String(out.counterexamplePath)}, ` +
          `after ${out.numRuns} runs and ${out.numShrinks} shrinks)`
      )
    }
    // Still serving, with a valid token too.
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
    expect(
      (
        await t.app.inject({
          method: 'GET',
          url: '/v1/purposes',
          headers: ctx.admin.auth
        })
      ).statusCode
    ).toBe(200)
  }

  it('the static route list matches what the app serves', () => {
    const have = new Set(served.map(key))
    expect(KNOWN_ROUTES.filter(r => !have.has(key(r))).map(key)).toEqual([])
  })

  it('a 5xx, a bare-JSON 4xx or a 4xx without detail is caught by the judge (self-check)', () => {
    const fake = (statusCode: number, body: string, ctype: string): LightMyRequestResponse =>
      ({ statusCode, body, headers: { 'content-type': ctype } }) as unknown as LightMyRequestResponse
    const get: Sent = { method: 'GET', url: '/v1/audit', headers: {} }
    expect(judge(get, fake(500, '{}', 'application/problem+json'))).toMatch(/500/)
    expect(judge(get, fake(400, '{"statusCode":400,"error":"Bad Request","message":"x"}', 'application/json'))).toMatch(
      /not problem\+json/
    )
    expect(
      judge(
        get,
        fake(
          400,
          '{"type":"about:blank","title":"Bad Request","status":400,"detail":"","requestId":"r"}',
          'application/problem+json'
        )
      )
    ).toMatch(/detail/)
    expect(
      judge(
        get,
        fake(
          400,
          '{"type":"about:blank","title":"Bad Request","status":400,"detail":"bad","requestId":"r"}',
          'application/problem+json'
        )
      )
    ).toBeNull()
    const token: Sent = { method: 'POST', url: '/oauth2/token', headers: {} }
    expect(
      judge(
        token,
        fake(
          400,
          '{"type":"about:blank","title":"Bad Request","status":400,"detail":"bad","requestId":"r"}',
          'application/problem+json'
        )
      )
    ).toMatch(/RFC 6749/)
    expect(
      judge(token, fake(401, '{"error":"invalid_client","error_description":"unknown client"}', 'application/json'))
    ).toBeNull()
  })

  for (const route of KNOWN_ROUTES) {
    it(`${route.method} ${route.url}`, async () => {
      await fuzz(
        route,
        route.url.startsWith('/docs') ||
          route.url.startsWith('/.well-known') ||
          route.url.startsWith('/health') ||
          route.url === '/metrics' ||
          route.url === '/openapi.json'
          ? Math.ceil(RUNS / 3)
          : RUNS
      )
    }, 120_000)
  }

  it('every other route the app serves (e.g. /fhir, /cds-services, /docs assets)', async () => {
    const known = new Set(KNOWN_ROUTES.map(key))
    const others = served.filter(r => !known.has(key(r)) && r.method !== 'HEAD')
    for (const route of others) await fuzz(route, route.url.startsWith('/docs') ? 10 : RUNS)
  }, 300_000)

  it('HEAD of every GET route', async () => {
    for (const route of served.filter(r => r.method === 'HEAD' && !r.url.startsWith('/docs/'))) await fuzz(route, 8)
  }, 120_000)

  it('the generated requests reach past authentication and validation, not only the error paths', () => {
    // A fuzzer that only ever hits 401 or 404 proves nothing: each authenticated route must have
    // answered at least one success and one 400 (or, for reads without input, one success).
    const sparse: string[] = []
    for (const route of KNOWN_ROUTES) {
      const seen = statuses.get(key(route))
      if (seen === undefined) continue
      const ok = [...seen.keys()].some(s => s < 300)
      const rejected = [...seen.keys()].some(s => s === 400 || s === 409 || s === 413 || s === 415 || s === 404)
      if (!ok && route.url !== '/v1/alerts/:id/review') {
        sparse.push(`${key(route)}: no 2xx (${JSON.stringify([...seen])})`)
      }
      if (route.method !== 'GET' && !rejected) sparse.push(`${key(route)}: no 4xx (${JSON.stringify([...seen])})`)
    }
    expect(sparse).toEqual([])
  })

  describe('regressions the fuzzer found (each was a 500 on PostgreSQL, or not problem+json)', () => {
    const auth = (): Auth => ctx.admin.auth
    const nulRejected = (res: LightMyRequestResponse, path: string): void => {
      expect(res.statusCode).toBe(400)
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(res.json().errors).toEqual([{ path, message: 'must not contain a NUL character (U+0000)' }])
    }

    it('a NUL in a stored text field, a path parameter or a query: 400 naming it', async () => {
      nulRejected(
        await t.app.inject({
          method: 'POST',
          url: `/v1/patients/${NHS}/preferences`,
          headers: auth(),
          payload: { purpose: 'gp-data-secondary-use', decision: 'deny', source: 'paper-form', note: 'a\u0000b' }
        }),
        '/note'
      )
      nulRejected(
        await t.app.inject({
          method: 'POST',
          url: `/v1/patients/${NHS}/preferences`,
          headers: auth(),
          payload: {
            purpose: 'gp-data-secondary-use',
            decision: 'deny',
            source: 'paper-form',
            recordedBy: { name: '\u0000' }
          }
        }),
        '/recordedBy/name'
      )
      nulRejected(
        await t.app.inject({
          method: 'POST',
          url: '/v1/purposes',
          headers: auth(),
          payload: { code: 'nul-study', name: 'n\u0000', category: 'secondary-use', parent: 'planning-research' }
        }),
        '/name'
      )
      nulRejected(
        await t.app.inject({
          method: 'PATCH',
          url: '/v1/purposes/fuzz-target',
          headers: auth(),
          payload: { description: 'd\u0000' }
        }),
        '/description'
      )
      nulRejected(
        await t.app.inject({
          method: 'POST',
          url: '/v1/clients',
          headers: auth(),
          payload: { name: 'c\u0000', scopes: [], purposes: [], jwks: { keys: [ctx.victim.publicJwk] } }
        }),
        '/name'
      )
      nulRejected(
        await t.app.inject({
          method: 'POST',
          url: `/v1/alerts/${ctx.alertIds[0]}/review`,
          headers: auth(),
          payload: { note: '\u0000' }
        }),
        '/note'
      )
      nulRejected(
        await t.app.inject({
          method: 'POST',
          url: `/v1/patients/${NHS}/preferences/${ctx.preferenceIds[0]}/entered-in-error`,
          headers: auth(),
          payload: { reason: 'r\u0000' }
        }),
        '/reason'
      )
      nulRejected(await t.app.inject({ method: 'GET', url: '/v1/clients/%00', headers: auth() }), 'params:/id')
      nulRejected(
        await t.app.inject({ method: 'GET', url: '/v1/audit?clientId=%00', headers: auth() }),
        'querystring:/clientId'
      )
    })

    it("a NUL in a client assertion's iss or jti: 401 invalid_client, not a failed insert", async () => {
      for (const claims of [{ jti: 'j\u0000' }, { iss: '\u0000', sub: '\u0000' }]) {
        const res = await requestToken(t.app, tokenForm(await signAssertion(ctx.admin, claims)))
        expect(res.statusCode).toBe(401)
        expect(res.json()).toMatchObject({ error: 'invalid_client' })
      }
    })

    it('an import line with a NUL or a year-0000 date is rejected on its own; the others load', async () => {
      const lines = [
        {
          externalId: `nul-${randomUUID()}`,
          nhsNumber: NHS,
          purpose: 'gp-data-secondary-use',
          decision: 'permit',
          note: 'n\u0000'
        },
        {
          externalId: `y0-${randomUUID()}`,
          nhsNumber: NHS,
          purpose: 'gp-data-secondary-use',
          decision: 'permit',
          effectiveFrom: '0000-01-01'
        },
        { externalId: `ok-${randomUUID()}`, nhsNumber: NHS, purpose: 'gp-data-secondary-use', decision: 'permit' }
      ]
        .map(l => JSON.stringify(l))
        .join('\n')
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/preferences/import',
        headers: { ...auth(), 'content-type': 'application/x-ndjson' },
        payload: lines
      })
      expect(res.statusCode).toBe(200)
      expect(res.json()).toMatchObject({
        imported: 1,
        rejectedCount: 2,
        rejected: [
          { line: 1, error: expect.stringMatching(/NUL/) },
          { line: 2, error: expect.stringMatching(/0001 and 9999/) }
        ]
      })
    })

    it('a date in year 0000 (valid in JavaScript, refused by PostgreSQL): 400', async () => {
      const choice = await t.app.inject({
        method: 'POST',
        url: `/v1/patients/${NHS}/preferences`,
        headers: auth(),
        payload: {
          purpose: 'gp-data-secondary-use',
          decision: 'permit',
          source: 'paper-form',
          effectiveFrom: '0000-01-01T00:00:00Z'
        }
      })
      expect(expectProblem(choice, 400).errors).toEqual([
        { path: '/effectiveFrom', message: expect.stringMatching(/0001 and 9999/) }
      ])
      const audit = await t.app.inject({ method: 'GET', url: '/v1/audit?from=0000-01-01T00:00:00Z', headers: auth() })
      expect(audit.statusCode).toBe(400)
    })

    it("an audit cursor past PostgreSQL's bigint (9223372036854775808): 400", async () => {
      for (const raw of ['9223372036854775808', '99999999999999999999999999']) {
        const res = await t.app.inject({ method: 'GET', url: `/v1/audit?cursor=${b64u(raw)}`, headers: auth() })
        expect(res.statusCode).toBe(400)
        expect(res.json().detail).toMatch(/cursor/)
      }
    })

    const undecodable =
      "a URL that does not decode, or an over-long path parameter: problem+json, not Fastify's bare JSON"
    it(undecodable, async () => {
      const bad = await t.app.inject({ method: 'GET', url: '/v1/clients/%ED%A0%80', headers: auth() })
      expect(bad.statusCode).toBe(400)
      expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/)
      const long = await t.app.inject({ method: 'GET', url: `/v1/purposes/${'p'.repeat(201)}`, headers: auth() })
      expect(long.statusCode).toBe(414)
      expect(long.headers['content-type']).toMatch(/^application\/problem\+json/)
    })
  })

  it('the service still answers, and its audit chains verify, after all of it', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
    expect((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200)
    const verify = await t.app.inject({
      method: 'GET',
      url: '/v1/audit/verify',
      headers: ctx.admin.auth
    })
    expect(verify.json()).toMatchObject({ valid: true, firstBrokenLink: null })
  })
})
