// Logger options (SPEC §7): NHS numbers, tokens and keys are removed by the logger itself, so no
// call site can leak them by forgetting to redact.
import { Buffer } from 'node:buffer'
import { endianness } from 'node:os'
import type { LoggerOptions } from 'pino'

/**
 * Ten digits, optionally grouped 3-3-4 by a space, hyphen or `+` (a space in a query string), not part
 * of a longer word or number. Run on the line as written, and on its percent-decoded view when it has
 * a '%' (see scrubLogLine).
 */
const NHS_NUMBER_LIKE = /(?<![0-9A-Za-z])[0-9]{3}[ +-]?[0-9]{3}[ +-]?[0-9]{4}(?![0-9A-Za-z])/g
/** Compact JWS/JWE strings (tokens, assertions) wherever they appear. */
const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g
const NHS_MASK = '[REDACTED-NHS]'

/**
 * Masks tokens and NHS numbers in one log line. A URL may percent-encode any digit or separator of an
 * NHS number, in any mix and at any depth (/v1/patients/%39%34%33..., 9%3434765919, %2539 for a
 * doubly encoded 9, nhs-number%7C9434765919 in a FHIR search), so a line with a '%' is matched on its
 * decoded view and the masks are put over the encoded text they came from. Everything else of the line
 * is left as written. Linear in the line's length; lines without a '%' do no decoding work.
 */
export function scrubLogLine (line: string): string {
  const unsigned = line.replace(JWT_LIKE, '[REDACTED-TOKEN]')
  if (!unsigned.includes('%')) return unsigned.replace(NHS_NUMBER_LIKE, NHS_MASK)
  return maskDecoded(unsigned)
}

/** The value of a hex digit's character code, or -1. */
function hexValue (code: number): number {
  if (code >= 48 && code <= 57) return code - 48
  const lower = code | 0x20
  return lower >= 97 && lower <= 102 ? lower - 87 : -1
}

const PERCENT = 37

/**
 * Scratch space for maskDecoded, kept between lines and grown when a line is longer: allocating typed
 * arrays for every line cost more than the decoding itself. Safe to share: the hook is synchronous.
 */
let scratch = newScratch(1024)
const MAX_SCRATCH = 32_768

function newScratch (length: number): { codes: Uint16Array; starts: Int32Array; decoded: Uint8Array } {
  return { codes: new Uint16Array(length), starts: new Int32Array(length + 1), decoded: new Uint8Array(length) }
}

/** The text of codes[0..n): read as UTF-16 in place where the machine is little-endian, as it nearly always is. */
const textOf =
  endianness() === 'LE'
    ? (codes: Uint16Array, n: number): string => Buffer.from(codes.buffer, codes.byteOffset, n * 2).toString('utf16le')
    : (codes: Uint16Array, n: number): string => {
        let text = ''
        for (let k = 0; k < n; k += 4096) text += String.fromCharCode(...codes.subarray(k, Math.min(n, k + 4096)))
        return text
      }

/** Whether a decoded character may be part of an NHS number as written: a digit, a separator or '%'. */
function mayBeInNumber (code: number): boolean {
  return (code >= 48 && code <= 57) || code === 32 || code === 43 || code === 45 || code === PERCENT
}

/**
 * Decodes %XX escapes innermost first, left to right: whenever what has been decoded so far ends in
 * '%' and two hex digits (written or themselves decoded), they become one character. This reaches
 * every depth of encoding in one pass (%2539 -> %39 -> 9, %25%33%39 -> 9), and each step shortens the
 * decoded text, so the work stays linear. Each decoded character keeps where its text starts in the
 * line, so that a mask covers exactly the written text of the number.
 */
function maskDecoded (line: string): string {
  // Nothing before the first '%' can change: the decoding starts there, and offsets before it are the line's.
  const first = line.indexOf('%')
  const length = line.length - first
  if (scratch.codes.length < length && length <= MAX_SCRATCH) scratch = newScratch(length * 2)
  // A rare longer line gets space of its own, so that one huge line does not stay in memory.
  const { codes, starts, decoded } = scratch.codes.length >= length ? scratch : newScratch(length)
  let n = 0
  for (let i = first; i < line.length; i++) {
    codes[n] = line.charCodeAt(i)
    starts[n] = i
    decoded[n] = 0
    n++
    while (n >= 3 && codes[n - 3] === PERCENT) {
      const high = hexValue(codes[n - 2])
      const low = hexValue(codes[n - 1])
      if (high < 0 || low < 0) break
      n -= 2
      codes[n - 1] = high * 16 + low
      decoded[n - 1] = 1
    }
  }
  starts[n] = line.length
  // A decoded character other than a digit, a separator or '%' (%41 is A, %7C is |) bounds a number
  // in the view (as NUL), as its escape did in the written line.
  for (let k = 0; k < n; k++) {
    if (decoded[k] === 1 && !mayBeInNumber(codes[k])) codes[k] = 0
  }
  const view = line.slice(0, first) + textOf(codes, n)
  const offset = (k: number): number => (k < first ? k : starts[k - first])
  let out = ''
  let from = 0
  for (const m of view.matchAll(NHS_NUMBER_LIKE)) {
    out += line.slice(from, offset(m.index)) + NHS_MASK
    from = offset(m.index + m[0].length)
  }
  return from === 0 ? line : out + line.slice(from)
}

export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        '*.client_assertion',
        '*.access_token',
        '*.nhsNumber',
        '*.jwks',
        '*.d',
        '*.privateKey',
        'nhsNumber',
        'client_assertion',
        'access_token',
        'token',
        'jwks',
        'privateKey'
      ],
      censor: '[REDACTED]'
    },
    hooks: {
      // The last line of defence: whatever a message or a URL carries, no NHS number or token
      // reaches the output. Epoch seconds also have ten digits and are masked too; a fair price.
      streamWrite: scrubLogLine
    }
  }
}
