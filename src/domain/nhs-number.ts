// NHS number rules (SPEC §2): 10 digits, modulus-11 check digit with weights 10..2.
// Accepted forms: "9434765919", "943 476 5919", "943-476-5919" (surrounding white space is
// ignored). Callers always get the 10-digit form back.

export type NhsNumberResult = { ok: true; value: string } | { ok: false; error: string }

const GROUPED = /^(\d{3})([ -])(\d{3})\2(\d{4})$/

/** Validates and normalises an NHS number; the error says what is wrong, never echoes the input. */
export function parseNhsNumber (input: unknown): NhsNumberResult {
  if (typeof input !== 'string') return { ok: false, error: 'NHS number must be a string of 10 digits' }
  const trimmed = input.trim()
  let digits: string
  const grouped = GROUPED.exec(trimmed)
  if (grouped !== null) {
    digits = grouped[1] + grouped[3] + grouped[4]
  } else if (/^[0-9]+$/.test(trimmed)) {
    digits = trimmed
  } else if (trimmed.length === 0) {
    return { ok: false, error: 'NHS number is empty' }
  } else if (/^[0-9 -]+$/.test(trimmed)) {
    const count = trimmed.replace(/[ -]/g, '').length
    return count === 10
      ? { ok: false, error: 'NHS number must be written as 10 digits, or grouped 3-3-4 with spaces or hyphens' }
      : { ok: false, error: `NHS number must have 10 digits, found ${count}` }
  } else {
    return {
      ok: false,
      error: 'NHS number must contain only the digits 0-9 (spaces or hyphens allowed between groups 3-3-4)'
    }
  }
  if (digits.length !== 10) return { ok: false, error: `NHS number must have 10 digits, found ${digits.length}` }
  const expected = nhsCheckDigit(digits)
  if (expected === null) {
    return {
      ok: false,
      error: 'NHS number is invalid: its check digit calculation gives 10, which no valid NHS number has'
    }
  }
  if (expected !== digits.charCodeAt(9) - 48) return { ok: false, error: 'NHS number check digit is wrong' }
  return { ok: true, value: digits }
}

/** The check digit for the first nine digits, or null when the calculation gives 10 (invalid). */
export function nhsCheckDigit (digits: string): number | null {
  let sum = 0
  for (let i = 0; i < 9; i++) sum += (digits.charCodeAt(i) - 48) * (10 - i)
  return checkDigitFromSum(sum)
}

/** Modulus 11 with weights 10..2 summed: 11 means 0, 10 means no valid check digit. */
function checkDigitFromSum (sum: number): number | null {
  const check = 11 - (sum % 11)
  if (check === 11) return 0
  if (check === 10) return null
  return check
}

/**
 * The bulk filter's fast path: a line holding exactly ten digits (optionally followed by the
 * national files' trailing comma) that form a valid NHS number, read straight from the bytes; its
 * value as a number, or -1 for anything else (which then goes through parseNhsNumber, for the
 * other accepted forms and for the error message). Same rule, no string made per line.
 */
export function plainNhsNumberFromBytes (buf: Uint8Array, start: number, end: number): number {
  if (end - start === 11 && buf[end - 1] === 0x2c) end--
  if (end - start !== 10) return -1
  let sum = 0
  let value = 0
  for (let i = 0; i < 10; i++) {
    const d = buf[start + i] - 48
    if (d < 0 || d > 9) return -1
    if (i < 9) sum += d * (10 - i)
    value = value * 10 + d
  }
  return checkDigitFromSum(sum) === value % 10 ? value : -1
}

export function isValidNhsNumber (input: unknown): boolean {
  return parseNhsNumber(input).ok
}
