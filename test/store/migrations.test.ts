// The hand-applied SQL migrations match the Prisma schema (SPEC §8): on a freshly migrated store
// every model round-trips every field, with nullable fields both set and unset; migrating again
// applies nothing; both providers have the same migration history.
import { describe, expect, it } from 'vitest'
import { Prisma as SqlitePrisma } from '../../src/store/generated/sqlite/client.ts'
import { Prisma as PostgresPrisma } from '../../src/store/generated/postgresql/client.ts'
import { openDatabase } from '../../src/store/database.ts'
import { isMigrated, migrate, readMigrations } from '../../src/store/migrator.ts'
import { freshStore, testStore, useTestApp } from '../helpers/app.ts'
import { storeOf } from '../helpers/store.ts'

const t = useTestApp()

const d = (iso: string): Date => new Date(iso)
const awkward = 'O\'Brien "quoted" — ünïcödé 😀; semi\ncolon'

/** Per model: rows to create (one with every nullable set, one with them unset), and how to read one back. */
const samples = {
  Purpose: [
    {
      code: 'rt-full-purpose',
      name: awkward,
      description: 'Not the default description',
      category: 'secondary-use',
      parent: 'planning-research',
      defaultDecision: 'deny',
      requiresPermissionToView: true,
      emergencyAccess: 'when-unable-to-ask',
      active: false,
      createdAt: d('1999-12-31T23:59:59.999Z'),
      updatedAt: d('2100-01-02T03:04:05.006Z')
    },
    {
      code: 'rt-null-purpose',
      name: 'Nulls',
      description: '',
      category: 'direct-care',
      parent: null,
      defaultDecision: null,
      requiresPermissionToView: false,
      emergencyAccess: 'never',
      active: true,
      createdAt: d('2026-01-01T00:00:00.001Z'),
      updatedAt: d('2026-01-01T00:00:00.002Z')
    }
  ],
  Client: [
    {
      id: 'rt-full-client',
      name: awkward,
      odsCode: 'B82005',
      scopes: '["consent:check","admin"]',
      purposes: '["planned-care"]',
      exemptions: '[{"purpose":"planning-research","basis":"legal-requirement","reference":"Court order 1"}]',
      jwks: '{"keys":[{"kty":"EC","kid":"k1"}]}',
      jwksUrl: 'https://example.test/jwks.json',
      status: 'suspended',
      requireEndUser: true,
      createdAt: d('2025-05-05T05:05:05.555Z'),
      updatedAt: d('2025-06-06T06:06:06.666Z')
    },
    {
      id: 'rt-null-client',
      name: 'Nulls',
      odsCode: null,
      scopes: '[]',
      purposes: '[]',
      exemptions: '[]',
      jwks: null,
      jwksUrl: null,
      status: 'active',
      requireEndUser: false,
      createdAt: d('2025-05-05T05:05:05.000Z'),
      updatedAt: d('2025-05-05T05:05:05.000Z')
    }
  ],
  Preference: [
    {
      id: 'rt-full-preference',
      nhsNumber: '9434765919',
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: d('2024-02-29T12:34:56.789Z'),
      recordedAt: d('2024-03-01T00:00:00.123Z'),
      source: 'paper-form',
      recordedBy: '{"odsCode":"B82005","proxyRole":"parent","clientId":"c"}',
      clientId: 'rt-full-client',
      note: awkward,
      status: 'entered-in-error',
      externalId: 'ext-rt-1',
      enteredInErrorReason: 'Wrong patient',
      enteredInErrorAt: d('2024-03-02T01:02:03.004Z'),
      enteredInErrorBy: 'rt-full-client',
      sourceCode: '9Ndm',
      auditId: 'rt-full-audit'
    },
    {
      id: 'rt-null-preference',
      nhsNumber: '9434765919',
      purpose: 'planned-care',
      decision: 'permit',
      effectiveFrom: d('2024-02-29T00:00:00.000Z'),
      recordedAt: d('2024-02-29T00:00:00.000Z'),
      source: 'gp-practice',
      recordedBy: '{"clientId":"c"}',
      clientId: 'rt-null-client',
      note: null,
      status: 'active',
      externalId: null,
      enteredInErrorReason: null,
      enteredInErrorAt: null,
      enteredInErrorBy: null,
      sourceCode: null,
      auditId: null
    }
  ],
  Change: [
    // Beyond Number.MAX_SAFE_INTEGER: a bigint must come back exactly.
    {
      seq: 9_007_199_254_740_999n,
      kind: 'roundtrip',
      ref: awkward,
      at: d('2030-01-01T00:00:00.999Z'),
      origin: 'instance-1'
    },
    {
      seq: 9_007_199_254_740_998n,
      kind: 'roundtrip',
      ref: 'null origin',
      at: d('2030-01-01T00:00:00.000Z'),
      origin: null
    }
  ],
  AuditEvent: [
    {
      seq: 9_007_199_254_740_993n,
      id: 'rt-full-audit',
      chain: 'rt-chain',
      chainSeq: 2_000_000_000,
      at: d('2026-11-25T10:00:00.123Z'),
      type: 'decision',
      clientId: 'rt-full-client',
      requestId: 'req-1',
      nhsNumber: '9434765919',
      purpose: 'summary-care-record',
      outcome: 'permit',
      details: JSON.stringify({ basis: 'emergency-access', note: awkward }),
      clientName: awkward,
      clientOdsCode: 'RBA',
      endUser: '{"id":"555021935107","role":"R8000"}',
      correlationId: awkward,
      prevHash: 'a'.repeat(64),
      hash: 'b'.repeat(64)
    },
    {
      seq: 9_007_199_254_740_995n,
      id: 'rt-null-audit',
      chain: 'rt-chain',
      chainSeq: 0,
      at: d('2026-11-25T10:00:00.000Z'),
      type: 'token.issued',
      clientId: null,
      requestId: null,
      nhsNumber: null,
      purpose: null,
      outcome: null,
      details: '{}',
      clientName: null,
      clientOdsCode: null,
      endUser: null,
      correlationId: null,
      prevHash: 'c'.repeat(64),
      hash: 'd'.repeat(64)
    }
  ],
  Alert: [
    {
      id: 'rt-full-alert',
      auditId: 'rt-full-audit',
      nhsNumber: '9434765919',
      purpose: 'summary-care-record',
      clientId: 'rt-full-client',
      reason: awkward,
      endUser: '{"id":"555021935107"}',
      raisedAt: d('2026-11-25T10:00:00.123Z'),
      status: 'reviewed',
      reviewedBy: 'rt-null-client',
      reviewedByUser: '{"id":"555021935108"}',
      reviewNote: 'Justified',
      reviewedAt: d('2026-11-26T09:00:00.456Z')
    },
    {
      id: 'rt-null-alert',
      auditId: 'rt-null-audit',
      nhsNumber: '9434765919',
      purpose: 'summary-care-record',
      clientId: 'rt-full-client',
      reason: 'Unconscious',
      endUser: null,
      raisedAt: d('2026-11-25T10:00:00.000Z'),
      status: 'open',
      reviewedBy: null,
      reviewedByUser: null,
      reviewNote: null,
      reviewedAt: null
    }
  ],
  UsedAssertion: [{ clientId: 'rt-full-client', jti: awkward, expiresAt: d('2026-11-25T10:05:00.999Z') }],
  RateLimit: [{ key: `client:${awkward}`, windowStart: 1_795_650_000_000n, count: 2_000_000_000 }]
} as const

type ModelName = keyof typeof samples
const delegates: Record<ModelName, string> = {
  Purpose: 'purpose',
  Client: 'client',
  Preference: 'preference',
  Change: 'change',
  AuditEvent: 'auditEvent',
  Alert: 'alert',
  UsedAssertion: 'usedAssertion',
  RateLimit: 'rateLimit'
}
const nullable: Record<ModelName, string[]> = {
  Purpose: ['parent', 'defaultDecision'],
  Client: ['odsCode', 'jwks', 'jwksUrl'],
  Preference: ['note', 'externalId', 'enteredInErrorReason', 'enteredInErrorAt', 'enteredInErrorBy'],
  Change: ['origin'],
  AuditEvent: ['clientId', 'requestId', 'nhsNumber', 'purpose', 'outcome'],
  Alert: ['reviewedBy', 'reviewNote', 'reviewedAt'],
  UsedAssertion: [],
  RateLimit: []
}

function whereUnique (model: ModelName, row: Record<string, unknown>): Record<string, unknown> {
  switch (model) {
    case 'Purpose':
      return { code: row.code }
    case 'Change':
      return { seq: row.seq }
    case 'UsedAssertion':
      return { clientId_jti: { clientId: row.clientId, jti: row.jti } }
    case 'RateLimit':
      return { key_windowStart: { key: row.key, windowStart: row.windowStart } }
    default:
      return { id: row.id }
  }
}

describe('every model round-trips every field on a freshly migrated store', () => {
  it('the samples cover every model and every scalar field of both generated clients', () => {
    for (const P of [SqlitePrisma, PostgresPrisma]) {
      expect(Object.keys(samples).sort()).toEqual(Object.values(P.ModelName).sort())
      const enums = P as unknown as Record<string, Record<string, string>>
      for (const model of Object.keys(samples) as ModelName[]) {
        const fields = Object.values(enums[`${model}ScalarFieldEnum`]).sort()
        for (const row of samples[model]) expect(Object.keys(row).sort(), model).toEqual(fields)
      }
    }
  })

  for (const model of Object.keys(samples) as ModelName[]) {
    it(`${model}: create, read back, deep-equal (nullable fields set and unset)`, async () => {
      const delegate = (
        storeOf(t.app).prismaForMigrationTest() as unknown as Record<
          string,
          { create: (a: unknown) => Promise<unknown>; findUnique: (a: unknown) => Promise<unknown> }
        >
      )[delegates[model]]
      const rows = samples[model] as ReadonlyArray<Record<string, unknown>>
      for (const row of rows) {
        const created = await delegate.create({ data: row })
        expect(created).toEqual(row)
        const read = await delegate.findUnique({ where: whereUnique(model, row) })
        expect(read).toEqual(row)
        for (const [k, v] of Object.entries(row)) {
          if (v instanceof Date) expect((read as Record<string, unknown>)[k]).toBeInstanceOf(Date)
          if (typeof v === 'bigint') expect(typeof (read as Record<string, unknown>)[k]).toBe('bigint')
        }
      }
      // Both the set and the unset form of every nullable field were stored.
      for (const field of nullable[model]) {
        expect(
          rows.some(r => r[field] === null),
          `${model}.${field} unset`
        ).toBe(true)
        expect(
          rows.some(r => r[field] !== null),
          `${model}.${field} set`
        ).toBe(true)
      }
    })
  }

  it('defaults apply when optional fields are left out, and autoincrement sequences count up', async () => {
    const prisma = storeOf(t.app).prismaForMigrationTest()
    const p = await prisma.purpose.create({
      data: {
        code: 'rt-defaults',
        name: 'Defaults',
        category: 'direct-care',
        createdAt: d('2026-01-01T00:00:00Z'),
        updatedAt: d('2026-01-01T00:00:00Z')
      }
    })
    expect(p).toMatchObject({
      description: '',
      parent: null,
      defaultDecision: null,
      requiresPermissionToView: false,
      emergencyAccess: 'never',
      active: true
    })
    const a = await prisma.auditEvent.create({
      data: {
        id: 'rt-auto-1',
        chain: 'rt-auto',
        chainSeq: 0,
        at: new Date(),
        type: 'import',
        details: '{}',
        prevHash: 'x',
        hash: 'y'
      }
    })
    const b = await prisma.auditEvent.create({
      data: {
        id: 'rt-auto-2',
        chain: 'rt-auto',
        chainSeq: 1,
        at: new Date(),
        type: 'import',
        details: '{}',
        prevHash: 'y',
        hash: 'z'
      }
    })
    expect(typeof a.seq).toBe('bigint')
    expect(b.seq).toBeGreaterThan(a.seq)
    expect(a).toMatchObject({ clientId: null, requestId: null, nhsNumber: null, purpose: null, outcome: null })
  })

  it('unique constraints of the schema exist in the migrated tables', async () => {
    const prisma = storeOf(t.app).prismaForMigrationTest()
    const base = { chain: 'rt-unique', at: new Date(), type: 'import', details: '{}', prevHash: 'x', hash: 'y' }
    await prisma.auditEvent.create({ data: { ...base, id: 'rt-unique-1', chainSeq: 0 } })
    // @@unique([chain, chainSeq])
    await expect(prisma.auditEvent.create({ data: { ...base, id: 'rt-unique-2', chainSeq: 0 } })).rejects.toThrow()
    // id @unique
    await expect(prisma.auditEvent.create({ data: { ...base, id: 'rt-unique-1', chainSeq: 1 } })).rejects.toThrow()
    const pref = {
      nhsNumber: '9434765919',
      purpose: 'planned-care',
      decision: 'deny',
      effectiveFrom: new Date(),
      recordedAt: new Date(),
      source: 'import',
      recordedBy: '{}',
      clientId: 'c',
      status: 'active',
      externalId: 'rt-ext-unique'
    }
    await prisma.preference.create({ data: { ...pref, id: 'rt-ext-1' } })
    // externalId @unique
    await expect(prisma.preference.create({ data: { ...pref, id: 'rt-ext-2' } })).rejects.toThrow()
  })
})

describe('migrations', () => {
  it('migrating an already migrated store applies nothing', async () => {
    expect(await migrate(t.app.runtime.db)).toEqual([])
    expect(await isMigrated(t.app.runtime.db)).toBe(true)
  })

  it('a fresh store gets every migration once; a second run applies nothing', async () => {
    const store = await freshStore()
    const db = await openDatabase(store.url)
    try {
      expect(await isMigrated(db).catch(() => false)).toBe(false)
      const names = readMigrations(db.kind).map(m => m.name)
      expect(await migrate(db)).toEqual(names)
      expect(await migrate(db)).toEqual([])
      expect(await isMigrated(db)).toBe(true)
      expect(await storeOf(db).appliedMigrations()).toEqual(names)
    } finally {
      await db.close()
      await store.drop()
    }
  })

  it(`readMigrations gives the same migration names for sqlite and postgresql (running on ${testStore})`, () => {
    const sqlite = readMigrations('sqlite')
    const postgresql = readMigrations('postgresql')
    expect(sqlite.length).toBeGreaterThan(0)
    expect(sqlite.map(m => m.name)).toEqual(postgresql.map(m => m.name))
    for (const m of [...sqlite, ...postgresql]) {
      expect(m.checksum).toMatch(/^[0-9a-f]{64}$/)
      expect(m.sql).toMatch(/CREATE TABLE|ALTER TABLE/)
    }
    // Every table of the schema is created by both providers' migrations.
    for (const table of [
      'purposes',
      'clients',
      'preferences',
      'changes',
      'audit_events',
      'alerts',
      'used_assertions',
      'rate_limits'
    ]) {
      expect(
        sqlite.some(m => m.sql.includes(`CREATE TABLE "${table}"`)),
        `sqlite ${table}`
      ).toBe(true)
      expect(
        postgresql.some(m => m.sql.includes(`CREATE TABLE "${table}"`)),
        `postgresql ${table}`
      ).toBe(true)
    }
  })
})
