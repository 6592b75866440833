// SPEC §7, SECURITY.md T8: no NHS number reaches the log however a URL percent-encodes it: any digit
// or separator, in any mix, in either case of hex, at any depth (%39, %2539, %25%33%39).
import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { nhsCheckDigit } from '../../src/domain/nhs-number.ts'
import { scrubLogLine } from '../../src/logger.ts'
import { clientWithToken, useTestApp, type Auth } from '../helpers/app.ts'
import { decodePercentFully, encodedDigits } from './log-percent-encoding.helpers.ts'

const validNhsNumber = fc
  .array(fc.integer({ min: 0, max: 9 }), { minLength: 9, maxLength: 9 })
  .map(digits => digits.join(''))
  .filter(nine => nhsCheckDigit(nine) !== null)
  .map(nine => nine + String(nhsCheckDigit(nine)))

/** A number as a caller may write it: grouped 3-3-4 or not, then encoded level by level, character by character. */
interface Written {
  nhs: string
  text: string
}

/**
 * Encodes some characters of `text` once: the next bit of `bits` says whether the next character is
 * written as %XX (so a later level may encode a '%' of an earlier one as %25, or its hex digits).
 */
function encodeSome (text: string, bits: boolean[], lower: boolean): string {
  return text
    .split('')
    .map(c => (bits.shift() === true ? encodedDigits(c, lower) : c))
    .join('')
}

const writtenNhsNumber: fc.Arbitrary<Written> = fc
  .record({
    nhs: validNhsNumber,
    separators: fc.tuple(fc.constantFrom('', ' ', '-', '+'), fc.constantFrom('', ' ', '-', '+')),
    levels: fc.array(fc.tuple(fc.array(fc.boolean(), { maxLength: 40 }), fc.boolean()), { maxLength: 3 })
  })
  .map(({ nhs, separators: [first, second], levels }) => {
    let text = nhs.slice(0, 3) + first + nhs.slice(3, 6) + second + nhs.slice(6)
    for (const [bits, lower] of levels) text = encodeSome(text, [...bits], lower)
    return { nhs, text }
  })

/** The digits in order, with at most one separator between two of them: an NHS number a reader could recover. */
const recoverable = (nhs: string): RegExp => new RegExp(nhs.split('').join('[ +-]?'))

describe('the log scrubber (property)', () => {
  it('masks any valid NHS number in any mix of percent-encoding of its digits and separators', () => {
    fc.assert(
      fc.property(
        writtenNhsNumber,
        fc.constantFrom(
          '/v1/patients/',
          '/fhir/Consent?patient.identifier=nhs-number%7C',
          'nhs-number%7c',
          '?nhsNumber=',
          '|'
        ),
        fc.constantFrom('/preferences', '&_count=10', '', '%26x=1'),
        ({ nhs, text }, before, after) => {
          const line =
            JSON.stringify({ level: 30, req: { url: before + text + after }, msg: 'incoming request' }) + '\n'
          const scrubbed = scrubLogLine(line)
          expect(scrubbed).toContain('[REDACTED-NHS]')
          expect(decodePercentFully(scrubbed)).not.toMatch(recoverable(nhs))
        }
      ),
      { numRuns: 2000 }
    )
  })

  it('leaves a line without an NHS number as it was written, escapes included', () => {
    fc.assert(
      fc.property(fc.webPath(), fc.webQueryParameters(), (path, query) => {
        const line = JSON.stringify({ req: { url: `${path}?${query}` } }) + '\n'
        // Ten digits, grouped or not, may be a number written some way: this property is about the rest.
        fc.pre(!/[0-9]{3}[ +-]?[0-9]{3}[ +-]?[0-9]{4}/.test(decodePercentFully(line)))
        expect(scrubLogLine(line)).toBe(line)
      })
    )
  })
})

describe('request logs through HTTP (property)', () => {
  const t = useTestApp({ LOG_LEVEL: 'info' })
  let auth: Auth
  beforeAll(async () => {
    auth = (await clientWithToken(t.app)).auth
  })

  it('a request whose URL percent-encodes an NHS number in any way leaves no recoverable one in the log', async () => {
    await fc.assert(
      fc.asyncProperty(writtenNhsNumber, async ({ nhs, text }) => {
        const requestId = randomUUID()
        // A raw space cannot be sent in a request line; a caller encodes it.
        const url = `/v1/patients/${text.replace(/ /g, '%20')}/preferences`
        const res = await t.app.inject({ method: 'GET', url, headers: { ...auth, 'x-request-id': requestId } })
        expect(res.statusCode).toBeLessThan(500)
        const lines = t.logs
          .join('')
          .split('\n')
          .filter(l => l.includes(requestId))
        // The request was logged with its URL, the number masked in it.
        expect(
          lines.some(l => l.includes('"url"') && l.includes('[REDACTED-NHS]')),
          url
        ).toBe(true)
        expect(decodePercentFully(lines.join('\n'))).not.toMatch(recoverable(nhs))
      }),
      { numRuns: 100 }
    )
  })
})
