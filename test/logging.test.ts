// SPEC §2 and §7: the service never logs NHS numbers (in any written form), tokens or keys; the
// request id is in every request's log lines so that callers can find them.
import { beforeAll, describe, expect, it } from 'vitest'
import { bearer, clientWithToken, requestToken, signAssertion, tokenForm, useTestApp } from './helpers/app.ts'
import { decodePercentFully, encodedDigits } from './security/log-percent-encoding.helpers.ts'

const t = useTestApp({ LOG_LEVEL: 'info' })
let token: string
const NHS = '9434765919'
const INVALID = '9434765918' // wrong check digit
/** Sent only percent-encoded (in part, in mixed case, doubly), so that only the encoded forms can leak it. */
const ENCODED = '2277239690'
/** Its groups of 3, 3 and 4 digits. */
const [g1, g2, g3] = [ENCODED.slice(0, 3), ENCODED.slice(3, 6), ENCODED.slice(6)]
/** https://fhir.nhs.uk/Id/nhs-number, percent-encoded in lower case. */
const FHIR_SYSTEM = 'https%3a%2f%2ffhir.nhs.uk%2fId%2fnhs-number'
const encodedUrls = {
  encodedPath: `/v1/patients/${encodedDigits(ENCODED)}/preferences`,
  encodedMixed: `/v1/patients/${ENCODED[0]}${encodedDigits(ENCODED.slice(1, 3))}${ENCODED.slice(3)}/preferences`,
  encodedPlus: `/v1/patients/${g1}%2B${g2}%2b${g3}/preferences`,
  encodedHyphen: `/v1/patients/${g1}%2d${g2}%2D${g3}/preferences`,
  encodedSpaceAndPlus: `/v1/patients/${g1}%20${encodedDigits(g2, true)}+${g3}/preferences`,
  doubleEncoded: `/v1/patients/${encodedDigits(ENCODED).replace(/%/g, '%25')}/preferences`,
  encodedQuery: `/v1/audit?nhsNumber=${encodedDigits(ENCODED.slice(0, 5))}${ENCODED.slice(5)}`,
  encodedFhir: `/fhir/Consent?patient.identifier=${FHIR_SYSTEM}%7c${encodedDigits(g1)}${g2}${g3}`
}

const ids = {
  record: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e41',
  readSpaced: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e42',
  readHyphen: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e43',
  decidePlain: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e44',
  decideSpaced: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e45',
  decideHyphen: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e46',
  emergency: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e47',
  invalid: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e48',
  invalidPath: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e49',
  auditQuery: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e4a',
  badToken: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e4b',
  fhirSearch: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e4c',
  encodedPath: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e4d',
  encodedMixed: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e4e',
  encodedPlus: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e4f',
  encodedHyphen: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e50',
  encodedSpaceAndPlus: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e51',
  doubleEncoded: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e52',
  encodedQuery: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e53',
  encodedFhir: '0b7e8c2a-3f1d-4c55-9a0e-5d2f7c1b9e54'
}

beforeAll(async () => {
  const caller = await clientWithToken(t.app)
  token = caller.token
  const auth = caller.auth
  const inject = async (
    requestId: string,
    opts: { method: 'GET' | 'POST'; url: string; payload?: Record<string, unknown>; headers?: Record<string, string> }
  ): Promise<number> => {
    const res = await t.app.inject({ ...opts, headers: { ...auth, 'x-request-id': requestId, ...opts.headers } })
    return res.statusCode
  }
  // A choice recorded through the spaced form in the URL, read back through both grouped forms.
  expect(
    await inject(ids.record, {
      method: 'POST',
      url: '/v1/patients/943%20476%205919/preferences',
      payload: {
        purpose: 'planning-research',
        decision: 'deny',
        source: 'gp-practice',
        note: `Patient ${NHS} asked in person`
      }
    })
  ).toBe(201)
  expect(await inject(ids.readSpaced, { method: 'GET', url: '/v1/patients/943%20476%205919/preferences' })).toBe(200)
  expect(await inject(ids.readHyphen, { method: 'GET', url: '/v1/patients/943-476-5919/preferences' })).toBe(200)
  // Decisions in every form.
  expect(
    await inject(ids.decidePlain, {
      method: 'POST',
      url: '/v1/decisions',
      payload: { nhsNumber: NHS, purpose: 'planning-research' }
    })
  ).toBe(200)
  expect(
    await inject(ids.decideSpaced, {
      method: 'POST',
      url: '/v1/decisions',
      payload: { nhsNumber: '943 476 5919', purpose: 'gp-data-secondary-use' }
    })
  ).toBe(200)
  expect(
    await inject(ids.decideHyphen, {
      method: 'POST',
      url: '/v1/decisions',
      payload: { nhsNumber: '943-476-5919', purpose: 'planned-care' }
    })
  ).toBe(200)
  expect(
    await inject(ids.emergency, {
      method: 'POST',
      url: '/v1/decisions',
      payload: {
        nhsNumber: NHS,
        purpose: 'summary-care-record',
        pointOfCare: { permissionToView: 'unable-to-ask', reason: `Unconscious; wristband reads ${NHS}` },
        endUser: { id: '555021935107' }
      }
    })
  ).toBe(200)
  // Deliberate 400s for an invalid number, in the body and in the path.
  expect(
    await inject(ids.invalid, {
      method: 'POST',
      url: '/v1/decisions',
      payload: { nhsNumber: INVALID, purpose: 'planned-care' }
    })
  ).toBe(400)
  expect(await inject(ids.invalidPath, { method: 'GET', url: `/v1/patients/${INVALID}/preferences` })).toBe(400)
  // The NHS number in a query string.
  expect(await inject(ids.auditQuery, { method: 'GET', url: `/v1/audit?nhsNumber=${NHS}` })).toBe(200)
  // A FHIR search, where clients percent-encode the | before the number.
  expect(
    await inject(ids.fhirSearch, {
      method: 'GET',
      url: `/fhir/Consent?patient.identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C${NHS}`
    })
  ).toBe(200)
  // The NHS number hidden by percent-encoding: read (200) or refused (400: not a number once decoded
  // only once, or grouped by '+'), the URL reaches the request log either way.
  for (const [name, url] of Object.entries(encodedUrls)) {
    expect(await inject(ids[name as keyof typeof encodedUrls], { method: 'GET', url }), name).toBeLessThan(500)
  }
  // A rejected token and a token request (assertion in the body, access token in the answer).
  expect(await inject(ids.badToken, { method: 'GET', url: '/v1/audit', headers: bearer(`${token}x`) })).toBe(401)
  const res = await requestToken(t.app, tokenForm(await signAssertion(caller)))
  expect(res.statusCode).toBe(200)
  await t.app.runtime.audit.flush()
})

describe('logs (SPEC §7: never NHS numbers, tokens or keys)', () => {
  it('were written at LOG_LEVEL info', () => {
    expect(t.config.logLevel).toBe('info')
    expect(t.logs.length).toBeGreaterThan(10)
  })

  it('contain no NHS number in any written form', () => {
    const all = t.logs.join('')
    for (const form of [NHS, '943 476 5919', '943-476-5919', '943%20476%205919', '943+476+5919', INVALID]) {
      expect(all, form).not.toContain(form)
    }
    // Whatever separates the groups (encoded or not), the digits never appear in order.
    expect(all).not.toMatch(/943\D{0,6}476\D{0,6}591[89]/)
  })

  it('contain no NHS number hidden by percent-encoding the URL (decoded at any depth, its digits are gone)', () => {
    const decoded = decodePercentFully(t.logs.join(''))
    expect(decoded).not.toMatch(new RegExp(ENCODED.split('').join('[ +-]?')))
    // Each encoded request was logged, with its URL masked where the number was.
    const lines = t.logs.flatMap(chunk => chunk.split('\n')).filter(l => l.trim() !== '')
    for (const name of Object.keys(encodedUrls)) {
      const line = lines.find(l => l.includes(ids[name as keyof typeof encodedUrls]) && l.includes('"url"'))
      expect(line, name).toContain('[REDACTED-NHS]')
    }
  })

  it('contain no access token or client assertion', () => {
    const all = t.logs.join('')
    expect(all).not.toContain('eyJ')
    expect(all).not.toContain(token.slice(20, 60))
  })

  it('contain every request id, on JSON lines', () => {
    const lines = t.logs.flatMap(chunk => chunk.split('\n')).filter(l => l.trim() !== '')
    const parsed = lines.map(l => JSON.parse(l) as Record<string, unknown>)
    for (const [name, id] of Object.entries(ids)) {
      expect(
        parsed.some(p => p.reqId === id),
        name
      ).toBe(true)
    }
    // The 400 is logged with its request id and status.
    expect(
      parsed.some(p => p.reqId === ids.invalid && (p.res as { statusCode?: number } | undefined)?.statusCode === 400)
    ).toBe(true)
  })
})
