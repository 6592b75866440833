// The one reading of a time a caller gives (effectiveFrom, asOf, FHIR dates, import lines, the
// CLI). A paper form carries a date, a system a date-time:
// - a date (2025-03-14) means midnight UTC that day;
// - a date-time must say its zone (Z or ±hh:mm): a zone-less time would be read in whatever zone
//   the server runs in, so the same line could mean different instants on different machines;
// - an impossible calendar date (2021-02-30, month 13, 24:00) is refused, never rolled over;
// - years are 0001-9999, before and after the zone is applied (PostgreSQL refuses year 0 and
//   SQLite's text ordering would misplace five-digit years).
// Hand-written rather than Date.parse: Date.parse rolls impossible dates over and reads zone-less
// date-times as local time, the two things this parser exists to refuse.

export type InstantResult = { ok: true; value: Date } | { ok: false; error: string }

/** The shape, for JSON schemas (the reasons a value is refused come from parseInstant). */
export const INSTANT_PATTERN =
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2}))?$'

export const INSTANT_FORMAT = 'an ISO 8601 date (2025-03-14) or date-time with a zone (2025-03-14T09:30:00Z)'

const SHAPE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/

function daysIn (year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return [4, 6, 9, 11].includes(month) ? 30 : 31
}

export function parseInstant (text: string): InstantResult {
  const m = SHAPE.exec(text)
  if (m === null) return { ok: false, error: `must be ${INSTANT_FORMAT}` }
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  if (year < 1) return { ok: false, error: 'year must be between 0001 and 9999' }
  if (month < 1 || month > 12) return { ok: false, error: `month ${mo} does not exist` }
  if (day < 1 || day > daysIn(year, month)) return { ok: false, error: `${y}-${mo}-${d} is not a calendar date` }
  if (h !== undefined && zone === undefined) {
    return { ok: false, error: 'a date-time must carry its zone (Z or ±hh:mm), or send a date alone' }
  }
  const hour = Number(h ?? 0)
  const minute = Number(mi ?? 0)
  const second = Number(s ?? 0)
  if (hour > 23 || minute > 59 || second > 59) {
    return { ok: false, error: `${h}:${mi}${s === undefined ? '' : `:${s}`} is not a time of day` }
  }
  let offsetMinutes = 0
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '')
    const zh = Number(digits.slice(0, 2))
    const zm = Number(digits.slice(2))
    if (zh > 23 || zm > 59) return { ok: false, error: `zone ${zone} is not a UTC offset` }
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (zh * 60 + zm)
  }
  const date = new Date(0)
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute - offsetMinutes, second, Number((frac ?? '0').padEnd(3, '0').slice(0, 3)))
  const utcYear = date.getUTCFullYear()
  if (utcYear < 1 || utcYear > 9999) return { ok: false, error: 'must be between the years 0001 and 9999 in UTC' }
  return { ok: true, value: date }
}
