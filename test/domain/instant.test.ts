// The one reading of a time a caller gives (effectiveFrom, asOf, import lines, FHIR dates, the CLI).
import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import { INSTANT_FORMAT, INSTANT_PATTERN, parseInstant } from '../../src/domain/instant.ts'

function value (text: string): string {
  const r = parseInstant(text)
  if (!r.ok) throw new Error(`expected ${text} to be accepted, got: ${r.error}`)
  return r.value.toISOString()
}

function error (text: string): string {
  const r = parseInstant(text)
  if (r.ok) throw new Error(`expected ${text} to be refused`)
  return r.error
}

describe('parseInstant: what it accepts', () => {
  it('reads a date as midnight UTC that day', () => {
    expect(value('2025-03-14')).toBe('2025-03-14T00:00:00.000Z')
    expect(value('0001-01-01')).toBe('0001-01-01T00:00:00.000Z')
    expect(value('0099-12-31')).toBe('0099-12-31T00:00:00.000Z')
    expect(value('9999-12-31')).toBe('9999-12-31T00:00:00.000Z')
  })

  it('reads a date-time with its zone, to the millisecond', () => {
    expect(value('2025-03-14T09:30Z')).toBe('2025-03-14T09:30:00.000Z')
    expect(value('2025-03-14T09:30:15Z')).toBe('2025-03-14T09:30:15.000Z')
    expect(value('2025-03-14T09:30:15.5Z')).toBe('2025-03-14T09:30:15.500Z')
    expect(value('2025-03-14T09:30:15.25Z')).toBe('2025-03-14T09:30:15.250Z')
    expect(value('2025-03-14T09:30:15.123456789Z')).toBe('2025-03-14T09:30:15.123Z')
    expect(value('2025-03-14T23:59:59Z')).toBe('2025-03-14T23:59:59.000Z')
    expect(value('2025-03-14T00:00:00Z')).toBe('2025-03-14T00:00:00.000Z')
  })

  it('applies a UTC offset, with or without its colon, in either direction', () => {
    expect(value('2025-03-14T09:30:00+01:00')).toBe('2025-03-14T08:30:00.000Z')
    expect(value('2025-03-14T09:30:00+0130')).toBe('2025-03-14T08:00:00.000Z')
    expect(value('2025-03-14T09:30:00-05:45')).toBe('2025-03-14T15:15:00.000Z')
    expect(value('2025-03-14T09:30:00+00:00')).toBe('2025-03-14T09:30:00.000Z')
    expect(value('2025-03-14T09:30:00-00:00')).toBe('2025-03-14T09:30:00.000Z')
    expect(value('2025-03-14T01:00:00+23:59')).toBe('2025-03-13T01:01:00.000Z')
  })

  it('knows the length of every month and the leap years', () => {
    const lengths: Array<[string, number]> = [
      ['01', 31],
      ['02', 28],
      ['03', 31],
      ['04', 30],
      ['05', 31],
      ['06', 30],
      ['07', 31],
      ['08', 31],
      ['09', 30],
      ['10', 31],
      ['11', 30],
      ['12', 31]
    ]
    for (const [month, days] of lengths) {
      expect(value(`2025-${month}-${days}`)).toBe(`2025-${month}-${days}T00:00:00.000Z`)
      expect(error(`2025-${month}-${days + 1}`)).toBe(`2025-${month}-${days + 1} is not a calendar date`)
    }
    expect(value('2024-02-29')).toBe('2024-02-29T00:00:00.000Z')
    expect(value('2000-02-29')).toBe('2000-02-29T00:00:00.000Z')
    expect(error('1900-02-29')).toBe('1900-02-29 is not a calendar date')
    expect(error('2023-02-29')).toBe('2023-02-29 is not a calendar date')
  })

  it('property: every date and UTC time of day it accepts is the same instant Date reads', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z') }), d => {
        fc.pre(!Number.isNaN(d.getTime()))
        expect(value(d.toISOString())).toBe(d.toISOString())
      }),
      { numRuns: 300 }
    )
  })
})

describe('parseInstant: each refusal says what is wrong', () => {
  it.each([
    '',
    'x2025-03-14',
    '12025-03-14',
    '2025-03-14Z',
    '2025-03-14T09:30Zx',
    '2025-3-14',
    '14/03/2025',
    '2025-03-14 09:30Z',
    '2025-03-14T09Z',
    '20250314',
    '2025-03-14T09:30:00.Z'
  ])('refuses %j: not the shape', text => {
    expect(error(text)).toBe(`must be ${INSTANT_FORMAT}`)
  })

  it('refuses year 0000', () => {
    expect(error('0000-06-01')).toBe('year must be between 0001 and 9999')
  })

  it.each(['00', '13'])('refuses month %s', month => {
    expect(error(`2025-${month}-01`)).toBe(`month ${month} does not exist`)
  })

  it('refuses day 00 and a day past the end of the month', () => {
    expect(error('2025-01-00')).toBe('2025-01-00 is not a calendar date')
    expect(error('2021-02-30')).toBe('2021-02-30 is not a calendar date')
  })

  it('refuses a date-time without a zone', () => {
    for (const text of ['2025-03-14T09:30', '2025-03-14T09:30:00', '2025-03-14T09:30:00.123']) {
      expect(error(text)).toBe('a date-time must carry its zone (Z or ±hh:mm), or send a date alone')
    }
  })

  it('refuses a time of day that does not exist, never rolling it over', () => {
    expect(error('2025-03-14T24:00Z')).toBe('24:00 is not a time of day')
    expect(error('2025-03-14T23:60:00Z')).toBe('23:60:00 is not a time of day')
    expect(error('2025-03-14T23:59:60Z')).toBe('23:59:60 is not a time of day')
  })

  it('refuses an offset that is not one', () => {
    expect(error('2025-03-14T09:30:00+24:00')).toBe('zone +24:00 is not a UTC offset')
    expect(error('2025-03-14T09:30:00-01:60')).toBe('zone -01:60 is not a UTC offset')
  })

  it('refuses an instant that falls outside years 0001-9999 once the zone is applied', () => {
    expect(error('0001-01-01T00:30:00+01:00')).toBe('must be between the years 0001 and 9999 in UTC')
    expect(error('9999-12-31T23:30:00-01:00')).toBe('must be between the years 0001 and 9999 in UTC')
    expect(value('0001-01-01T01:00:00+01:00')).toBe('0001-01-01T00:00:00.000Z')
    expect(value('9999-12-31T22:59:59-01:00')).toBe('9999-12-31T23:59:59.000Z')
  })
})

describe('INSTANT_PATTERN (the JSON schemas’ shape)', () => {
  it('matches what parseInstant reads and not what it refuses for its shape', () => {
    const pattern = new RegExp(INSTANT_PATTERN)
    for (const text of ['2025-03-14', '2025-03-14T09:30Z', '2025-03-14T09:30:15.123+01:00', '2025-03-14T09:30-0500']) {
      expect(pattern.test(text)).toBe(true)
    }
    for (const text of ['2025-03-14T09:30', '2025-3-14', 'x2025-03-14', '2025-03-14Z']) {
      expect(pattern.test(text)).toBe(false)
    }
  })
})
