import { describe, it, expect } from 'vitest'
import fc from 'fast-check'
import {
  parseNhsNumber,
  nhsCheckDigit,
  isValidNhsNumber,
  plainNhsNumberFromBytes
} from '../../src/domain/nhs-number.ts'

const MSG = {
  empty: /empty/i,
  length: (n: number) => new RegExp(`must have 10 digits, found ${n}$`),
  nonDigit: /only the digits 0-9/,
  grouping: /grouped 3-3-4/,
  checkWrong: /check digit is wrong/,
  checkTen: /gives 10/,
  notString: /must be a string/
}

function error (input: unknown): string {
  const r = parseNhsNumber(input)
  if (r.ok) throw new Error(`expected ${String(input)} to be rejected`)
  return r.error
}

/** Builds a valid NHS number from the first 9 digits, or null when the check digit would be 10. */
function complete (nine: string): string | null {
  const cd = nhsCheckDigit(nine)
  return cd === null ? null : nine + String(cd)
}

const nineDigits = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 9, maxLength: 9 }).map(a => a.join(''))

describe('nhsCheckDigit', () => {
  it('computes weights 10..2, 11 - (sum mod 11)', () => {
    // 9*10 + 4*9 + 3*8 + 4*7 + 7*6 + 6*5 + 5*4 + 9*3 + 1*2 = 299; 299 mod 11 = 2; 11 - 2 = 9
    expect(nhsCheckDigit('943476591')).toBe(9)
    expect(nhsCheckDigit('401023213')).toBe(7)
  })

  it('maps 11 (sum divisible by 11) to check digit 0', () => {
    expect(nhsCheckDigit('000000000')).toBe(0)
    // 1 * weight 9 (position 2) + 1 * weight 2 (position 9) = 11
    expect(nhsCheckDigit('010000001')).toBe(0)
  })

  it('returns null when the calculation gives 10', () => {
    // 4 * weight 3 = 12; 12 mod 11 = 1; 11 - 1 = 10
    expect(nhsCheckDigit('000000040')).toBeNull()
  })

  it('only reads the first nine digits', () => {
    expect(nhsCheckDigit('9434765919')).toBe(nhsCheckDigit('943476591'))
    expect(nhsCheckDigit('9434765910')).toBe(9)
  })
})

describe('parseNhsNumber: valid forms', () => {
  it.each([
    ['9434765919', 'plain 10 digits'],
    ['943 476 5919', 'grouped 3-3-4 with spaces'],
    ['943-476-5919', 'grouped 3-3-4 with hyphens'],
    ['  9434765919  ', 'surrounding spaces'],
    ['\t943 476 5919\n', 'surrounding tab and newline, grouped'],
    [' 943-476-5919\r\n', 'surrounding white space, hyphenated'],
    ['\u00a09434765919\u00a0', 'surrounding no-break spaces']
  ])('accepts %j (%s) and answers in 10-digit form', input => {
    expect(parseNhsNumber(input)).toEqual({ ok: true, value: '9434765919' })
    expect(isValidNhsNumber(input)).toBe(true)
  })

  it('accepts a number whose check digit is 0 (calculation gives 11)', () => {
    expect(parseNhsNumber('0100000010')).toEqual({ ok: true, value: '0100000010' })
    expect(parseNhsNumber('010 000 0010')).toEqual({ ok: true, value: '0100000010' })
  })

  it('accepts other valid numbers', () => {
    expect(parseNhsNumber('4010232137')).toEqual({ ok: true, value: '4010232137' })
    expect(parseNhsNumber('401-023-2137')).toEqual({ ok: true, value: '4010232137' })
  })
})

describe('parseNhsNumber: each kind of invalid input says what is wrong', () => {
  it('rejects non-string input', () => {
    for (const input of [9434765919, null, undefined, {}, ['9434765919'], true, 9434765919n]) {
      expect(error(input)).toMatch(MSG.notString)
      expect(isValidNhsNumber(input)).toBe(false)
    }
  })

  it('rejects empty and blank input', () => {
    expect(error('')).toMatch(MSG.empty)
    expect(error('   ')).toMatch(MSG.empty)
    expect(error('\t\n')).toMatch(MSG.empty)
  })

  it.each([
    ['943476591', 9],
    ['94347659190', 11],
    ['1', 1],
    ['943 476 591', 9],
    ['943-476-59190', 11],
    ['1943 476 5919', 11],
    ['9434 7659 1999', 12],
    ['943476591999999', 15]
  ])('rejects %j as wrong length with the count (%i)', (input, count) => {
    expect(error(input)).toMatch(MSG.length(count))
  })

  it.each([
    ['94347659l9', 'latin letter l'],
    ['943476591O', 'letter O'],
    ['\u0669\u0664\u0663\u0664\u0667\u0666\u0665\u0669\u0661\u0669', 'Arabic-Indic digits ٩٤٣٤٧٦٥٩١٩'],
    ['943476591\u0669', 'one Arabic-Indic digit ٩'],
    ['\uff19\uff14\uff13\uff14\uff17\uff16\uff15\uff19\uff11\uff19', 'full-width digits'],
    ['\u096f\u096a\u0969\u096a\u096d\u096c\u096b\u096f\u0967\u096f', 'Devanagari digits'],
    ['943.476.5919', 'dots as separators'],
    ['943/476/5919', 'slashes as separators'],
    ['+449434765919', 'plus sign'],
    ['943_476_5919', 'underscores'],
    ['9434765919x', 'trailing letter'],
    ['x943-476-5919', 'a letter before a grouped number'],
    ['94347 65919;', 'punctuation']
  ])('rejects %j as containing a non-digit (%s)', input => {
    expect(error(input)).toMatch(MSG.nonDigit)
  })

  it.each([
    ['943 476-5919', 'mixed space and hyphen'],
    ['943-476 5919', 'mixed hyphen and space'],
    ['9434 765 919', 'wrong grouping 4-3-3'],
    ['94 347 65919', 'wrong grouping 2-3-5'],
    ['943  476  5919', 'double spaces'],
    ['943--476--5919', 'double hyphens'],
    ['9 4 3 4 7 6 5 9 1 9', 'every digit separated'],
    ['-9434765919', 'leading hyphen']
  ])('rejects %j as badly separated 10 digits (%s)', input => {
    expect(error(input)).toMatch(MSG.grouping)
  })

  it('rejects a wrong check digit', () => {
    expect(error('9434765918')).toMatch(MSG.checkWrong)
    expect(error('943 476 5910')).toMatch(MSG.checkWrong)
    expect(error('943-476-5911')).toMatch(MSG.checkWrong)
  })

  it('rejects every number whose check digit calculation gives 10', () => {
    for (let d = 0; d <= 9; d++) {
      expect(error(`000000040${d}`)).toMatch(MSG.checkTen)
      expect(error(`000 000 040${d}`)).toMatch(MSG.checkTen)
    }
  })

  it('gives a distinct message for each kind of problem', () => {
    const messages = [
      error(42),
      error(''),
      error('943476591'),
      error('94347659l9'),
      error('943 476-5919'),
      error('9434765918'),
      error('0000000400')
    ]
    expect(new Set(messages).size).toBe(messages.length)
  })
})

describe('parseNhsNumber: properties', () => {
  it(
    'for any 9 digits, appending the computed check digit gives a valid ' +
      'number and any other last digit is rejected',
    () => {
      fc.assert(
        fc.property(nineDigits, nine => {
          const cd = nhsCheckDigit(nine)
          for (let d = 0; d <= 9; d++) {
            const r = parseNhsNumber(nine + String(d))
            if (cd === null) {
              expect(r.ok).toBe(false)
              if (!r.ok) expect(r.error).toMatch(MSG.checkTen)
            } else if (d === cd) {
              expect(r).toEqual({ ok: true, value: nine + String(d) })
            } else {
              expect(r.ok).toBe(false)
              if (!r.ok) expect(r.error).toMatch(MSG.checkWrong)
            }
          }
        }),
        { numRuns: 1000 }
      )
    }
  )

  it('accepts the spaced and hyphenated forms of every valid number and normalises them', () => {
    fc.assert(
      fc.property(nineDigits, fc.constantFrom(' ', '-'), fc.constantFrom('', ' ', '\t', '\n '), (nine, sep, pad) => {
        const full = complete(nine)
        fc.pre(full !== null)
        const grouped = `${pad}${full.slice(0, 3)}${sep}${full.slice(3, 6)}${sep}${full.slice(6)}${pad}`
        expect(parseNhsNumber(grouped)).toEqual({ ok: true, value: full })
      }),
      { numRuns: 500 }
    )
  })

  it('the check digit catches every single-digit substitution', () => {
    fc.assert(
      fc.property(nineDigits, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 9 }), (nine, pos, delta) => {
        const full = complete(nine)
        fc.pre(full !== null)
        const digits = full.split('')
        digits[pos] = String((Number(digits[pos]) + delta) % 10)
        expect(parseNhsNumber(digits.join('')).ok).toBe(false)
      }),
      { numRuns: 500 }
    )
  })

  it('the error message never contains the input digits', () => {
    const digitRun = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 5, maxLength: 14 }).map(a => a.join(''))
    const mangled = fc
      .tuple(digitRun, fc.nat(), fc.constantFrom('', ' ', '-', 'x', '\u0669', '.', '  ', '/'))
      .map(([digits, at, ch]) => {
        const i = at % (digits.length + 1)
        return digits.slice(0, i) + ch + digits.slice(i)
      })
    fc.assert(
      fc.property(fc.oneof(digitRun, mangled), input => {
        const r = parseNhsNumber(input)
        if (r.ok) return
        const digits = input.replace(/[^0-9]/g, '')
        expect(r.error).not.toContain(input.trim())
        expect(r.error).not.toContain(digits)
        // nor any run of 5 or more of its digits
        for (let i = 0; i + 5 <= digits.length; i++) expect(r.error).not.toContain(digits.slice(i, i + 5))
      }),
      { numRuns: 1000 }
    )
  })

  it('never throws and answers ok only with exactly 10 ASCII digits', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.anything()), input => {
        const r = parseNhsNumber(input)
        if (r.ok) expect(r.value).toMatch(/^[0-9]{10}$/)
        else expect(r.error.length).toBeGreaterThan(0)
      }),
      { numRuns: 500 }
    )
  })
})

describe('plainNhsNumberFromBytes (the bulk filter fast path)', () => {
  it(
    'agrees with parseNhsNumber: a number exactly when the line is a valid ' +
      'plain 10-digit NHS number (optionally with a trailing comma)',
    () => {
      const line = fc.oneof(
        fc.stringMatching(/^[0-9]{10},?$/),
        fc.stringMatching(/^[0-9 ,-]{0,14}$/),
        fc.string({ maxLength: 14 })
      )
      fc.assert(
        fc.property(line, text => {
          const bytes = Buffer.from(text, 'latin1')
          const fast = plainNhsNumberFromBytes(bytes, 0, bytes.length)
          const plain = text.endsWith(',') ? text.slice(0, -1) : text
          const slow = /^[0-9]{10}$/.test(plain) ? parseNhsNumber(plain) : { ok: false as const }
          if (slow.ok) expect(String(fast).padStart(10, '0')).toBe(slow.value)
          else expect(fast).toBe(-1)
        }),
        { numRuns: 3000 }
      )
    }
  )

  it('reads only the line between start and end, wherever it sits in the buffer', () => {
    const buf = Buffer.from('xx\n9434765919\n9434765919,\n94347659190\n943476591,\n9434765919x\n', 'latin1')
    const line = (n: number): [number, number] => {
      const lines = buf.toString('latin1').split('\n')
      const start = lines.slice(0, n).reduce((sum, l) => sum + l.length + 1, 0)
      return [start, start + lines[n].length]
    }
    expect(plainNhsNumberFromBytes(buf, ...line(1))).toBe(9434765919)
    expect(plainNhsNumberFromBytes(buf, ...line(2))).toBe(9434765919)
    // eleven digits, nine digits and a comma, ten digits and a letter: none is a plain NHS number
    expect(plainNhsNumberFromBytes(buf, ...line(3))).toBe(-1)
    expect(plainNhsNumberFromBytes(buf, ...line(4))).toBe(-1)
    expect(plainNhsNumberFromBytes(buf, ...line(5))).toBe(-1)
  })

  it('refuses a byte just outside 0-9 even where the sums would agree', () => {
    // '000000000' has check digit 0; ':' (one past '9') and '/' (one before '0') must not count as digits.
    expect(plainNhsNumberFromBytes(Buffer.from('0000000000'), 0, 10)).toBe(0)
    expect(plainNhsNumberFromBytes(Buffer.from('000000000:'), 0, 10)).toBe(-1)
    expect(plainNhsNumberFromBytes(Buffer.from('/000000001'), 0, 10)).toBe(-1)
    // '0000000019' is valid; with '/' (digit value -1) in place of the 9 the arithmetic would agree too.
    expect(plainNhsNumberFromBytes(Buffer.from('0000000019'), 0, 10)).toBe(19)
    expect(plainNhsNumberFromBytes(Buffer.from('000000001/'), 0, 10)).toBe(-1)
  })

  it('refuses ten digits with a wrong check digit', () => {
    expect(plainNhsNumberFromBytes(Buffer.from('9434765918'), 0, 10)).toBe(-1)
    expect(plainNhsNumberFromBytes(Buffer.from('9434765918,'), 0, 11)).toBe(-1)
  })

  it('property: the same answer for a line at any offset in a buffer', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.stringMatching(/^[0-9]{10},?$/), fc.stringMatching(/^[0-9,]{9,12}$/)),
        fc.string({ maxLength: 12 }),
        fc.string({ maxLength: 12 }),
        (text, before, after) => {
          const alone = Buffer.from(text, 'latin1')
          const inside = Buffer.from(before + text + after, 'latin1')
          const start = Buffer.byteLength(before, 'latin1')
          expect(plainNhsNumberFromBytes(inside, start, start + alone.length)).toBe(
            plainNhsNumberFromBytes(alone, 0, alone.length)
          )
        }
      ),
      { numRuns: 1000 }
    )
  })
})
