// One line of a bulk import (SPEC §2 Preferences and Read codes, §3 POST /v1/preferences/import):
// each bad line is rejected on its own with a message that says what is wrong.
import { describe, it, expect } from 'vitest'
import { parseImportLine, type ImportChoice } from '../../src/domain/import-line.ts'
import { GP_CODES, PROXY_ROLES, SOURCES } from '../../src/domain/preferences.ts'
import { makeCatalog, NHS } from './fixtures.ts'

const catalog = makeCatalog()
const ALL = ['planned-care', 'unplanned-care', 'planning-research']
const base = { externalId: 'ext-1', nhsNumber: NHS, purpose: 'planning-research', decision: 'deny' }

function parse (line: unknown, allowed: readonly string[] = ALL): ImportChoice | { error: string } {
  return parseImportLine(line, catalog, allowed)
}

function error (line: unknown, allowed: readonly string[] = ALL): string {
  const r = parse(line, allowed)
  if (!('error' in r)) throw new Error(`expected ${JSON.stringify(line)} to be rejected`)
  return r.error
}

describe('parseImportLine: a good line', () => {
  it('is the choice it records, with defaults: source import, no effectiveFrom, no note, no Read code', () => {
    expect(parse(base)).toEqual({
      externalId: 'ext-1',
      nhsNumber: NHS,
      purpose: 'planning-research',
      decision: 'deny',
      effectiveFrom: null,
      source: 'import',
      recordedBy: {},
      note: null,
      sourceCode: null
    })
  })

  it('keeps every field it was given, the NHS number normalised to ten digits', () => {
    expect(
      parse({
        ...base,
        nhsNumber: '943 476 5919',
        decision: 'permit',
        effectiveFrom: '2025-03-14',
        source: 'paper-form',
        recordedBy: { odsCode: 'A81001', name: 'Dr Jones', proxyRole: 'parent' },
        note: 'Signed by her mother'
      })
    ).toEqual({
      externalId: 'ext-1',
      nhsNumber: NHS,
      purpose: 'planning-research',
      decision: 'permit',
      effectiveFrom: new Date('2025-03-14T00:00:00.000Z'),
      source: 'paper-form',
      recordedBy: { odsCode: 'A81001', name: 'Dr Jones', proxyRole: 'parent' },
      note: 'Signed by her mother',
      sourceCode: null
    })
  })

  it.each([...SOURCES])('accepts source %s', source => {
    expect(parse({ ...base, source })).toMatchObject({ source })
  })

  it.each([...PROXY_ROLES])('accepts proxyRole %s', proxyRole => {
    expect(parse({ ...base, recordedBy: { proxyRole } })).toMatchObject({ recordedBy: { proxyRole } })
  })

  it('accepts the longest allowed externalId, name and note', () => {
    const line = {
      ...base,
      externalId: 'x'.repeat(200),
      recordedBy: { name: 'n'.repeat(200) },
      note: 'o'.repeat(2000)
    }
    expect(parse(line)).toMatchObject({ externalId: line.externalId, recordedBy: { name: 'n'.repeat(200) } })
  })

  it('accepts a purpose below one the client is registered for', () => {
    expect(parse({ ...base, purpose: 'gp-data-secondary-use' }, ['planning-research'])).toMatchObject({
      purpose: 'gp-data-secondary-use'
    })
  })
})

describe('parseImportLine: Read codes (SPEC §2 table)', () => {
  it.each([
    ['9Nu0', 'gp-data-secondary-use', 'deny'],
    ['9Nu1', 'gp-data-secondary-use', 'permit'],
    ['9Nu4', 'planning-research', 'deny'],
    ['9Ndo', 'summary-care-record', 'deny'],
    ['9Ndl', 'summary-care-record', 'permit'],
    ['9Ndm', 'summary-care-record', 'permit'],
    ['9Ndn', 'summary-care-record', 'permit']
  ])('maps %s to %s %s and keeps the code as sourceCode', (code, purpose, decision) => {
    const { purpose: _p, decision: _d, ...rest } = base
    expect(parse({ ...rest, code })).toEqual({
      externalId: 'ext-1',
      nhsNumber: NHS,
      purpose,
      decision,
      effectiveFrom: null,
      source: 'import',
      recordedBy: {},
      note: null,
      sourceCode: code
    })
  })

  it('keeps implied (9Ndl) and express (9Ndm, 9Ndn) SCR consent distinguishable', () => {
    const codes = ['9Ndl', '9Ndm', '9Ndn'].map(code => {
      const r = parse({ externalId: code, nhsNumber: NHS, code })
      return 'error' in r ? r.error : r.sourceCode
    })
    expect(codes).toEqual(['9Ndl', '9Ndm', '9Ndn'])
  })

  it('rejects an unknown code, listing the known ones, and cuts a long code short', () => {
    const message = error({ externalId: 'e', nhsNumber: NHS, code: '9Nu2' })
    expect(message).toBe(`unknown GP code '9Nu2'; known codes: ${Object.keys(GP_CODES).join(', ')}`)
    expect(error({ externalId: 'e', nhsNumber: NHS, code: 'Z'.repeat(50) })).toMatch(
      new RegExp(`^unknown GP code '${'Z'.repeat(20)}'; known codes: `)
    )
    expect(error({ externalId: 'e', nhsNumber: NHS, code: 42 })).toMatch(/^unknown GP code '42'/)
    expect(error({ externalId: 'e', nhsNumber: NHS, code: 'toString' })).toMatch(/^unknown GP code 'toString'/)
    // Only a string is a code: an array holding one is not (a property lookup would read it as one).
    expect(error({ externalId: 'e', nhsNumber: NHS, code: ['9Nu0'] })).toMatch(/^unknown GP code '9Nu0'/)
  })

  it('rejects a code sent with purpose or decision', () => {
    const both = 'send either code or purpose + decision, not both'
    expect(error({ externalId: 'e', nhsNumber: NHS, code: '9Nu0', purpose: 'gp-data-secondary-use' })).toBe(both)
    expect(error({ externalId: 'e', nhsNumber: NHS, code: '9Nu0', decision: 'deny' })).toBe(both)
  })

  it('rejects a code whose purpose the client is not registered for (SCR consent by a research importer)', () => {
    expect(error({ externalId: 'e', nhsNumber: NHS, code: '9Ndm' }, ['planning-research'])).toBe(
      "this client is not registered for purpose 'summary-care-record'"
    )
  })
})

describe('parseImportLine: each rejection says what is wrong', () => {
  it.each([null, 'text', 42, [base], true])('rejects %j: not an object', line => {
    expect(error(line)).toBe('line must be a JSON object')
  })

  it('rejects unknown fields, naming each (cut short)', () => {
    expect(error({ ...base, optOut: true })).toBe("unknown field 'optOut'")
    expect(error({ ...base, a: 1, b: 2 })).toBe("unknown field 'a', 'b'")
    expect(error({ ...base, ['k'.repeat(60)]: 1 })).toBe(`unknown field '${'k'.repeat(40)}'`)
  })

  it.each([undefined, 42, '', '   ', 'x'.repeat(201)])('rejects externalId %j', externalId => {
    expect(error({ ...base, externalId })).toBe(
      'externalId is required: a string of 1-200 characters that identifies the choice in the source system'
    )
  })

  it('rejects a NUL character in externalId, note or recordedBy.name', () => {
    expect(error({ ...base, externalId: 'a\u0000b' })).toBe('externalId must not contain a NUL character (U+0000)')
    expect(error({ ...base, note: 'a\u0000' })).toBe('note must not contain a NUL character (U+0000)')
    expect(error({ ...base, recordedBy: { name: '\u0000' } })).toBe(
      'recordedBy.name must not contain a NUL character (U+0000)'
    )
    // A recordedBy that is not an object is refused later, for what it is, not here.
    expect(error({ ...base, recordedBy: null })).toBe('recordedBy must be an object { odsCode?, name?, proxyRole? }')
  })

  it('rejects a bad NHS number with the reason, prefixed by the field', () => {
    expect(error({ ...base, nhsNumber: '9434765918' })).toBe('nhsNumber: NHS number check digit is wrong')
    expect(error({ ...base, nhsNumber: undefined })).toBe('nhsNumber: NHS number must be a string of 10 digits')
  })

  it('rejects a line without purpose (or code), or with a bad decision', () => {
    const { purpose: _p, ...noPurpose } = base
    expect(error(noPurpose)).toBe('purpose is required (or a GP code in code)')
    expect(error({ ...base, purpose: 7 })).toBe('purpose is required (or a GP code in code)')
    for (const decision of [undefined, 'opt-out', 1, 'Deny']) {
      expect(error({ ...base, decision })).toBe('decision must be permit or deny')
    }
  })

  it('rejects an unknown or deactivated purpose', () => {
    expect(error({ ...base, purpose: 'no-such-purpose' })).toBe("unknown purpose 'no-such-purpose'")
    expect(error({ ...base, purpose: 'care-data' }, ['planning-research'])).toBe(
      "purpose 'care-data' is no longer active"
    )
  })

  it('rejects a purpose the client is not registered for, or only a child of it is', () => {
    expect(error(base, ['planned-care'])).toBe("this client is not registered for purpose 'planning-research'")
    expect(error(base, ['gp-data-secondary-use'])).toBe("this client is not registered for purpose 'planning-research'")
    expect(error(base, [])).toBe("this client is not registered for purpose 'planning-research'")
  })

  it('rejects an effectiveFrom that is not a date or a zoned date-time', () => {
    expect(error({ ...base, effectiveFrom: 20250314 })).toBe(
      'effectiveFrom must be an ISO 8601 date (2025-03-14) or date-time with a zone (2025-03-14T09:30:00Z)'
    )
    expect(error({ ...base, effectiveFrom: '2021-02-30' })).toBe('effectiveFrom: 2021-02-30 is not a calendar date')
    expect(error({ ...base, effectiveFrom: '2025-03-14T09:30:00' })).toBe(
      'effectiveFrom: a date-time must carry its zone (Z or ±hh:mm), or send a date alone'
    )
    expect(parse({ ...base, effectiveFrom: '2025-03-14T09:30:00+01:00' })).toMatchObject({
      effectiveFrom: new Date('2025-03-14T08:30:00.000Z')
    })
  })

  it.each([3, 'fax', 'Import', ''])('rejects source %j, listing the sources', source => {
    expect(error({ ...base, source })).toBe(`source must be one of ${SOURCES.join(', ')}`)
  })

  it('reads a null source as no source: import', () => {
    expect(parse({ ...base, source: null })).toMatchObject({ source: 'import' })
  })

  it('rejects a recordedBy that is not an object, or has unknown fields', () => {
    for (const recordedBy of ['Dr Jones', [], 1]) {
      expect(error({ ...base, recordedBy })).toBe('recordedBy must be an object { odsCode?, name?, proxyRole? }')
    }
    expect(error({ ...base, recordedBy: { clientId: 'x' } })).toBe("recordedBy: unknown field 'clientId'")
    expect(error({ ...base, recordedBy: { ['f'.repeat(50)]: 1 } })).toBe(
      `recordedBy: unknown field '${'f'.repeat(40)}'`
    )
  })

  it('rejects a bad recordedBy.odsCode, name or proxyRole', () => {
    for (const odsCode of ['A1', 'A81001-X', 42]) {
      expect(error({ ...base, recordedBy: { odsCode } })).toBe(
        'recordedBy.odsCode must be an ODS code (3-10 letters or digits)'
      )
    }
    for (const name of [42, 'n'.repeat(201)]) {
      expect(error({ ...base, recordedBy: { name } })).toBe(
        'recordedBy.name must be a string of at most 200 characters'
      )
    }
    for (const proxyRole of ['aunt', 3]) {
      expect(error({ ...base, recordedBy: { proxyRole } })).toBe(
        `recordedBy.proxyRole must be one of ${PROXY_ROLES.join(', ')}`
      )
    }
  })

  it('rejects a note that is not a string or is too long', () => {
    for (const note of [1, null, 'o'.repeat(2001)]) {
      expect(error({ ...base, note })).toBe('note must be a string of at most 2000 characters')
    }
  })

  it('checks the fields in order, so the first problem is the one reported', () => {
    const line = { externalId: '', nhsNumber: 'x', purpose: 'nope', decision: 'maybe', source: 'fax' }
    expect(error(line)).toMatch(/^externalId is required/)
    expect(error({ ...line, externalId: 'e' })).toMatch(/^nhsNumber: /)
    expect(error({ ...line, externalId: 'e', nhsNumber: NHS })).toBe('decision must be permit or deny')
    expect(error({ ...line, externalId: 'e', nhsNumber: NHS, decision: 'deny' })).toBe("unknown purpose 'nope'")
  })
})
