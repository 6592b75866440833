// Logger options (SPEC §7): NHS numbers, tokens and keys are removed by the logger itself, so no
// call site can leak them by forgetting to redact.
import type { LoggerOptions } from 'pino'

/**
 * Ten digits, optionally grouped 3-3-4 by spaces or hyphens, not part of a longer word or number.
 * The separators may also be URL-encoded (%20, %2D, +), as they are in a logged request URL such
 * as /v1/patients/943%20476%205919/preferences, and may follow a percent-encoded character, as in
 * a FHIR search ?patient.identifier=https://fhir.nhs.uk/Id/nhs-number%7C9434765919.
 */
const NHS_NUMBER_LIKE =
  /(?:(?<=%[0-9A-Fa-f]{2})|(?<![0-9A-Za-z]))[0-9]{3}(?:[ -]|%20|%2[Dd]|\+)?[0-9]{3}(?:[ -]|%20|%2[Dd]|\+)?[0-9]{4}(?![0-9A-Za-z])/g
/** Compact JWS/JWE strings (tokens, assertions) wherever they appear. */
const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g

export function scrubLogLine (line: string): string {
  return line.replace(JWT_LIKE, '[REDACTED-TOKEN]').replace(NHS_NUMBER_LIKE, '[REDACTED-NHS]')
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
