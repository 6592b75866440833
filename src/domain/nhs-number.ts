// NHS number rules (SPEC §2): 10 digits, modulus-11 check digit with weights 10..2.
// Accepted forms: "9434765919", "943 476 5919", "943-476-5919" (surrounding white space is
// ignored). Callers always get the 10-digit form back.

export type NhsNumberResult =
  | { ok: true, value: string }
  | { ok: false, error: string }

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
    return { ok: false, error: 'NHS number must contain only the digits 0-9 (spaces or hyphens allowed between groups 3-3-4)' }
  }
  if (digits.length !== 10) return { ok: false, error: `NHS number must have 10 digits, found ${digits.length}` }
  const expected = nhsCheckDigit(digits)
  if (expected === null) return { ok: false, error: 'NHS number is invalid: its check digit calculation gives 10, which no valid NHS number has' }
  if (expected !== digits.charCodeAt(9) - 48) return { ok: false, error: 'NHS number check digit is wrong' }
  return { ok: true, value: digits }
}

/** The check digit for the first nine digits, or null when the calculation gives 10 (invalid). */
export function nhsCheckDigit (digits: string): number | null {
  let sum = 0
  for (let i = 0; i < 9; i++) sum += (digits.charCodeAt(i) - 48) * (10 - i)
  const check = 11 - (sum % 11)
  if (check === 11) return 0
  if (check === 10) return null
  return check
}

export function isValidNhsNumber (input: unknown): boolean {
  return parseNhsNumber(input).ok
}
