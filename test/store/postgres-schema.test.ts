// The PostgreSQL schema is derived from the one schema source (prisma/schema.prisma) by
// scripts/prisma-generate.mjs at install time, and checked in. Editing either by hand, or the
// source without running `node scripts/prisma-generate.mjs`, leaves the two stores out of step.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PACKAGE_ROOT } from '../../src/paths.ts'
import { derivePostgresSchema } from '../../scripts/prisma-generate.mjs'

const read = (...path: string[]): string => readFileSync(join(PACKAGE_ROOT, 'prisma', ...path), 'utf8')

describe('the derived PostgreSQL schema', () => {
  it('is exactly what scripts/prisma-generate.mjs derives from prisma/schema.prisma', () => {
    expect(read('postgresql', 'schema.prisma')).toBe(derivePostgresSchema(read('schema.prisma')))
  })
})
