// The FHIR and CDS Hooks mappings (src/fhir) without a server: PurposeOfUse, Consent status by SPEC
// §2 rule 2, the resources against the R4 structure, FHIR date search values, consult requests and
// cards. The HTTP side, on both stores, is in test/routes/fhir.test.ts and cds-hooks.test.ts.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { BASES } from '../../src/domain/decision.ts'
import { cancelledBy, effectiveRecord, type PreferenceRecord } from '../../src/domain/preferences.ts'
import type { StoredEvent } from '../../src/store/audit-chain.ts'
import type { StoredPreference } from '../../src/store/rows.ts'
import { consultCard, consultQuestion, type ConsultRequest } from '../../src/fhir/cds-hooks.ts'
import {
  auditEventResource,
  capabilityStatement,
  consentResource,
  consentState,
  dateRange,
  fhirError,
  isFhirUrl,
  nhsNumberToken
} from '../../src/fhir/resources.ts'
import { SYSTEMS, ownSystems, purposeOfUseCodes, resolvePurposeOfUse } from '../../src/fhir/terminology.ts'
import { fhirProblems } from '../helpers/fhir.ts'
import { DAY, NHS, PROGRAMME, T, day, makeCatalog, rec } from './fixtures.ts'

const catalog = makeCatalog()
const own = ownSystems('https://consent.example.nhs.uk/')
const ctx = { own, catalog }
const now = T.getTime()

function stored (r: PreferenceRecord, extra: Partial<StoredPreference> = {}): StoredPreference {
  return {
    ...r,
    recordedBy: { clientId: 'client-1' },
    clientId: 'client-1',
    note: null,
    externalId: null,
    sourceCode: null,
    auditId: null,
    enteredInErrorReason: null,
    enteredInErrorAt: null,
    enteredInErrorBy: null,
    ...extra
  }
}

function event (fields: Omit<Partial<StoredEvent>, 'details'> & { details?: Record<string, unknown> }): StoredEvent {
  return {
    id: 'evt-1',
    chain: 'chain-1',
    chainSeq: 0,
    seq: 1n,
    at: T,
    type: 'decision',
    clientId: 'client-1',
    requestId: '6f1c9a52-7f0e-4a8e-9a44-1d1a3c0f9b21',
    nhsNumber: NHS,
    purpose: 'planning-research',
    outcome: 'permit',
    clientName: null,
    clientOdsCode: null,
    endUser: null,
    correlationId: null,
    prevHash: 'p',
    hash: 'h',
    ...fields,
    details: JSON.stringify(fields.details ?? {})
  }
}

describe('PurposeOfUse mapping', () => {
  it('resolves service purpose codes as themselves and v3 codes that name exactly one purpose', () => {
    expect(resolvePurposeOfUse(catalog, 'summary-care-record')).toEqual({ ok: true, purpose: 'summary-care-record' })
    expect(resolvePurposeOfUse(catalog, 'ETREAT')).toEqual({ ok: true, purpose: 'unplanned-care' })
    for (const code of ['HRESCH', 'HOPERAT', 'PUBHLTH']) {
      expect(resolvePurposeOfUse(catalog, code)).toEqual({ ok: true, purpose: 'planning-research' })
    }
  })

  it('refuses TREAT (planned or unplanned care?) and unknown codes, saying what to send instead', () => {
    const treat = resolvePurposeOfUse(catalog, 'TREAT')
    expect(treat).toMatchObject({ ok: false, message: expect.stringMatching(/planned-care or unplanned-care/) })
    expect(resolvePurposeOfUse(catalog, 'HMARKT')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/unknown purpose of use.*ETREAT/)
    })
    expect(resolvePurposeOfUse(catalog, 'toString')).toMatchObject({ ok: false })
  })

  it('writes on a purpose the v3 codes it falls under, inherited from the nearest ancestor that has any', () => {
    expect(purposeOfUseCodes(catalog, 'planned-care')).toEqual(['TREAT'])
    expect(purposeOfUseCodes(catalog, 'unplanned-care')).toEqual(['TREAT', 'ETREAT'])
    expect(purposeOfUseCodes(catalog, 'summary-care-record')).toEqual(['TREAT', 'ETREAT'])
    expect(purposeOfUseCodes(catalog, 'gp-data-secondary-use')).toEqual(['HRESCH', 'HOPERAT', 'PUBHLTH'])
    expect(purposeOfUseCodes(catalog, PROGRAMME.code)).toEqual(['HRESCH', 'HOPERAT', 'PUBHLTH'])
  })
})

describe('Consent.status follows SPEC §2 rule 2 (effectiveRecord), as decisions do', () => {
  it('a later choice supersedes an earlier one: inactive, ending when the later one took effect', () => {
    const first = rec('planning-research', 'deny', -100)
    const second = rec('planning-research', 'permit', -10)
    expect(consentState([first, second], first, now)).toEqual({ status: 'inactive', end: day(-10) })
    expect(consentState([first, second], second, now)).toEqual({ status: 'active', end: null })
  })

  it('a back-dated choice recorded later is superseded by one in force after it (effectiveFrom wins)', () => {
    const deny = rec('planning-research', 'deny', -10, { recordedAt: -20 })
    const backDated = rec('planning-research', 'permit', -100, { recordedAt: -1 })
    expect(consentState([deny, backDated], deny, now).status).toBe('active')
    expect(consentState([deny, backDated], backDated, now)).toEqual({ status: 'inactive', end: day(-10) })
  })

  it('a future-dated choice is active (scheduled) and ends the current one on its date', () => {
    const current = rec('planning-research', 'permit', -10)
    const future = rec('planning-research', 'deny', 30, { recordedAt: -1 })
    expect(consentState([current, future], current, now)).toEqual({ status: 'active', end: day(30) })
    expect(consentState([current, future], future, now)).toEqual({ status: 'active', end: null })
  })

  it('of two choices taking effect at the same time, the one recorded later wins and the other never applies', () => {
    const a = rec('planning-research', 'deny', -10, { recordedAt: -9 })
    const b = rec('planning-research', 'permit', -10, { recordedAt: -8 })
    expect(consentState([a, b], a, now)).toEqual({ status: 'inactive', end: day(-10) })
    expect(consentState([a, b], b, now).status).toBe('active')
  })

  it('entered-in-error is its own status, and a voided record supersedes nothing', () => {
    const kept = rec('planning-research', 'deny', -100)
    const voided = rec('planning-research', 'permit', -10, { status: 'entered-in-error' })
    expect(consentState([kept, voided], voided, now)).toEqual({ status: 'entered-in-error', end: null })
    expect(consentState([kept, voided], kept, now)).toEqual({ status: 'active', end: null })
  })

  it('a choice cancelled while pending (rule 2) is inactive, and its period ends where it starts', () => {
    const pending = rec('planning-research', 'deny', 10, { recordedAt: -5 })
    const newer = rec('planning-research', 'permit', 20, { recordedAt: -1 })
    const current = rec('planning-research', 'permit', -30, { recordedAt: -30 })
    const records = [current, pending, newer]
    expect(consentState(records, pending, now)).toEqual({ status: 'inactive', end: day(10) })
    expect(consentState(records, pending, now + 15 * DAY)).toEqual({ status: 'inactive', end: day(10) })
    expect(consentState(records, current, now)).toEqual({ status: 'active', end: day(20) })
    expect(consentState(records, newer, now)).toEqual({ status: 'active', end: null })
  })

  it('property: active Consents in force are the effective records; each ends when that changes', () => {
    const purposes = ['planning-research', 'gp-data-secondary-use']
    const record = fc.record({
      purpose: fc.constantFrom(...purposes),
      decision: fc.constantFrom('permit' as const, 'deny' as const),
      from: fc.integer({ min: -5, max: 5 }),
      recorded: fc.integer({ min: -5, max: 5 }),
      voided: fc.boolean()
    })
    fc.assert(
      fc.property(fc.array(record, { maxLength: 8 }), fc.integer({ min: -6, max: 6 }), (specs, nowDay) => {
        const records = specs.map((s, i) =>
          rec(s.purpose, s.decision, s.from, {
            id: `r${i}`,
            recordedAt: s.recorded,
            status: s.voided ? 'entered-in-error' : 'active'
          })
        )
        const at = T.getTime() + nowDay * DAY
        for (const purpose of purposes) {
          const inForceNow = records.filter(
            r =>
              r.purpose === purpose &&
              r.effectiveFrom.getTime() <= at &&
              consentState(records, r, at).status === 'active'
          )
          expect(inForceNow.map(r => r.id)).toEqual(
            [effectiveRecord(records, purpose, at)].filter(r => r !== null).map(r => r.id)
          )
        }
        for (const r of records) {
          const { status, end } = consentState(records, r, at)
          if (status === 'entered-in-error') continue
          // A cancelled choice never applied (rule 2).
          if (cancelledBy(records, r) !== null) {
            expect({ status, end }).toEqual({ status: 'inactive', end: r.effectiveFrom })
          }
          if (end === null) continue
          expect(effectiveRecord(records, r.purpose, end.getTime())?.id).not.toBe(r.id)
          if (end.getTime() > r.effectiveFrom.getTime()) {
            expect(effectiveRecord(records, r.purpose, end.getTime() - 1)?.id).toBe(r.id)
          }
        }
      }),
      { numRuns: 300 }
    )
  })
})

describe('Consent resource (UK Core Consent)', () => {
  it('is valid R4 for a secondary-use opt-out by a practice: a privacy consent, research category, v3 purposes', () => {
    const p = stored(rec('planning-research', 'deny', -10), { recordedBy: { clientId: 'c', odsCode: 'B82005' } })
    const c = consentResource(p, [p], ctx, now)
    expect(fhirProblems(c)).toEqual([])
    expect(c).toMatchObject({
      resourceType: 'Consent',
      id: p.id,
      status: 'active',
      scope: { coding: [{ system: SYSTEMS.consentScope, code: 'patient-privacy' }] },
      patient: { identifier: { system: SYSTEMS.nhsNumber, value: NHS } },
      performer: [{ type: 'Patient', identifier: { system: SYSTEMS.nhsNumber, value: NHS } }],
      organization: [{ identifier: { system: SYSTEMS.odsOrganisation, value: 'B82005' } }],
      policyRule: { coding: [{ code: 'OPTOUT' }] },
      dateTime: p.recordedAt.toISOString(),
      provision: { type: 'deny', period: { start: p.effectiveFrom.toISOString() } }
    })
    expect(c.provision?.purpose?.map(x => `${x.system ?? ''}|${x.code ?? ''}`)).toEqual([
      `${own.purpose}|planning-research`,
      `${SYSTEMS.actReason}|HRESCH`,
      `${SYSTEMS.actReason}|HOPERAT`,
      `${SYSTEMS.actReason}|PUBHLTH`
    ])
    expect(c.category?.map(x => x.coding?.[0].code)).toEqual(['59284-0', 'research'])
  })

  it('is valid R4 for a direct-care choice by a proxy: scope patient-privacy, performer the related person', () => {
    const p = stored(rec('summary-care-record', 'permit', -10), { recordedBy: { clientId: 'c', proxyRole: 'parent' } })
    const c = consentResource(p, [p], ctx, now)
    expect(fhirProblems(c)).toEqual([])
    expect(c.scope.coding?.[0].code).toBe('patient-privacy')
    expect(c.performer).toEqual([{ type: 'RelatedPerson', display: 'parent (proxy for the patient)' }])
    expect(c.organization).toBeUndefined()
    expect(c.provision?.purpose?.map(x => x.code)).toEqual(['summary-care-record', 'TREAT', 'ETREAT'])
  })

  it('a choice recorded from a Read code carries it as a Read v2 category, so 9Ndl and 9Ndm differ', () => {
    const implied = stored(rec('summary-care-record', 'permit', -10), { sourceCode: '9Ndl' })
    const express = stored(rec('summary-care-record', 'permit', -5), { sourceCode: '9Ndm' })
    const typed = stored(rec('summary-care-record', 'permit', -20))
    const records = [implied, express, typed]
    const [a, b, c] = records.map(p => consentResource(p, records, ctx, now))
    for (const r of [a, b, c]) expect(fhirProblems(r)).toEqual([])
    expect(a.category).toContainEqual({
      coding: [{ system: 'http://read.info/readv2', code: '9Ndl', display: 'Implied consent for Summary Care Record' }]
    })
    expect(b.category).toContainEqual({
      coding: [
        { system: 'http://read.info/readv2', code: '9Ndm', display: 'Express consent for core Summary Care Record' }
      ]
    })
    expect(c.category).toEqual([{ coding: [{ system: SYSTEMS.loinc, code: '59284-0', display: 'Patient Consent' }] }])
    expect(a.provision).toMatchObject({ type: 'permit' })
    expect(b.provision).toMatchObject({ type: 'permit' })
  })

  it("an opt-in programme's choices are OPTIN; a voided record is entered-in-error, updated when it was voided", () => {
    const voidedAt = new Date(T.getTime() - DAY)
    const p = stored(rec(PROGRAMME.code, 'permit', -10, { status: 'entered-in-error' }), {
      enteredInErrorAt: voidedAt,
      enteredInErrorReason: 'wrong patient'
    })
    const c = consentResource(p, [p], ctx, now)
    expect(fhirProblems(c)).toEqual([])
    expect(c).toMatchObject({
      status: 'entered-in-error',
      policyRule: { coding: [{ code: 'OPTIN' }] },
      meta: { lastUpdated: voidedAt.toISOString() }
    })
  })
})

describe('AuditEvent resource (IHE BALP)', () => {
  const clients = (id: string): { name: string; odsCode: string | null } | undefined =>
    id === 'client-1' ? { name: 'Dorset ED', odsCode: 'RBD' } : undefined

  it('a permit decision: Security Alert / AuthZ-Consent, executed, success; who asked, for what, the basis', () => {
    const a = auditEventResource(
      event({
        details: {
          basis: 'patient-preference',
          reason: "Patient's recorded choice permits planning-research",
          preferenceId: 'pref-1',
          alertId: null,
          cdsHooks: {
            purposeOfUse: ['HRESCH'],
            actor: [{ system: 'https://fhir.nhs.uk/Id/sds-user-id', value: '555021935107' }]
          }
        }
      }),
      ctx,
      clients
    )
    expect(fhirProblems(a)).toEqual([])
    expect(a).toMatchObject({
      type: { system: SYSTEMS.dicom, code: '110113' },
      subtype: [{ code: 'AuthZ-Consent' }, { system: own.auditEventType, code: 'decision' }],
      action: 'E',
      outcome: '0',
      recorded: T.toISOString(),
      purposeOfEvent: [
        { coding: [{ system: own.purpose, code: 'planning-research' }] },
        { coding: [{ system: SYSTEMS.actReason, code: 'HRESCH' }] }
      ]
    })
    expect(a.agent).toEqual([
      expect.objectContaining({
        who: { type: 'Device', identifier: { system: own.clientId, value: 'client-1' }, display: 'Dorset ED' },
        requestor: true
      }),
      expect.objectContaining({
        who: { type: 'Organization', identifier: { system: SYSTEMS.odsOrganisation, value: 'RBD' } },
        requestor: false
      }),
      expect.objectContaining({
        who: { identifier: { system: 'https://fhir.nhs.uk/Id/sds-user-id', value: '555021935107' } },
        requestor: false
      })
    ])
    expect(a.entity?.map(e => e.what)).toEqual([
      { type: 'Patient', identifier: { system: SYSTEMS.nhsNumber, value: NHS } },
      { reference: 'Consent/pref-1' },
      { identifier: { value: '6f1c9a52-7f0e-4a8e-9a44-1d1a3c0f9b21' } }
    ])
    expect(a.entity?.[0].detail).toEqual([
      { type: 'decision', valueString: 'permit' },
      { type: 'basis', valueString: 'patient-preference' }
    ])
  })

  it('a deny decision is outcome 8 (BALP); an emergency access carries its alert id', () => {
    const deny = auditEventResource(
      event({
        outcome: 'deny',
        details: { basis: 'patient-preference', reason: 'Patient opted out of planning-research' }
      }),
      ctx,
      clients
    )
    expect(fhirProblems(deny)).toEqual([])
    expect(deny).toMatchObject({
      outcome: '8',
      outcomeDesc: 'deny (patient-preference): Patient opted out of planning-research'
    })
    const emergency = auditEventResource(
      event({
        purpose: 'summary-care-record',
        details: { basis: 'emergency-access', reason: 'r', alertId: 'alert-1' }
      }),
      ctx,
      clients
    )
    expect(emergency.entity?.[0].detail).toContainEqual({ type: 'alertId', valueString: 'alert-1' })
  })

  it('choice changes are RESTful create / update; a failed void is a minor failure; the CLI is an agent', () => {
    const created = auditEventResource(
      event({ type: 'preference.recorded', outcome: 'deny', details: { preferenceId: 'pref-2' } }),
      ctx,
      clients
    )
    expect(fhirProblems(created)).toEqual([])
    expect(created).toMatchObject({
      type: { code: 'rest' },
      subtype: [{ code: 'create' }, { code: 'preference.recorded' }],
      action: 'C',
      outcome: '0',
      outcomeDesc: 'recorded deny for planning-research'
    })
    const missed = auditEventResource(
      event({
        type: 'preference.entered-in-error',
        outcome: 'not-found',
        clientId: null,
        details: { preferenceId: 'x', reason: 'typo' }
      }),
      ctx,
      clients
    )
    expect(fhirProblems(missed)).toEqual([])
    expect(missed).toMatchObject({
      action: 'U',
      outcome: '4',
      outcomeDesc: 'not-found: typo',
      agent: [{ who: { display: expect.stringMatching(/CLI/) }, requestor: true }]
    })
    expect(missed.entity?.map(e => e.type?.code)).toEqual(['1', 'XrequestId'])
  })
})

describe('CapabilityStatement, OperationOutcome, search values', () => {
  it('(the validator these tests rely on rejects what R4 rejects)', () => {
    expect(
      fhirProblems({
        resourceType: 'Consent',
        status: 'maybe',
        scope: { coding: [] },
        provision: { type: 'perhaps', extra: 1 }
      })
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/Consent.status/),
        expect.stringMatching(/Consent.category: Missing/),
        expect.stringMatching(/provision.type/),
        expect.stringMatching(/provision.extra: Unexpected/),
        expect.stringMatching(/ppc-1/)
      ])
    )
    expect(
      fhirProblems({
        resourceType: 'AuditEvent',
        recorded: '2026-11-25T10:00:00Z',
        agent: [{ requestor: true }],
        outcome: '3'
      })
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/AuditEvent.type: Missing/),
        expect.stringMatching(/AuditEvent.source: Missing/),
        expect.stringMatching(/AuditEvent.outcome/)
      ])
    )
  })

  it('the CapabilityStatement is valid R4 and names only Consent, AuditEvent (search) and CodeSystem', () => {
    const cs = capabilityStatement({ base: own.base, version: '1.2.3', date: '2026-11-26' })
    expect(fhirProblems(cs)).toEqual([])
    expect(cs.rest?.[0].resource?.map(r => [r.type, r.interaction?.map(i => i.code)])).toEqual([
      ['Consent', ['read', 'search-type']],
      ['AuditEvent', ['search-type']],
      ['CodeSystem', ['read', 'search-type']]
    ])
  })

  it('errors are valid OperationOutcomes whose issue code follows the status', () => {
    const cases: Array<[number, string]> = [
      [400, 'invalid'],
      [401, 'login'],
      [403, 'forbidden'],
      [404, 'not-found'],
      [406, 'not-supported'],
      [429, 'throttled'],
      [500, 'exception'],
      [503, 'transient']
    ]
    for (const [status, code] of cases) {
      const oo = fhirError(status, 'what went wrong')
      expect(fhirProblems(oo)).toEqual([])
      expect(oo.issue).toEqual([{ severity: 'error', code, diagnostics: 'what went wrong' }])
    }
    expect(fhirError(400, 'x', [{ path: 'querystring:/_count', message: 'must be <= 500' }]).issue[0].diagnostics).toBe(
      'querystring:/_count: must be <= 500'
    )
    expect(['/fhir', '/fhir/metadata', '/fhir?x=1'].every(isFhirUrl)).toBe(true)
    expect(['/fhirx', '/v1/fhir', '/cds-services'].some(isFhirUrl)).toBe(false)
  })

  it('date search values: precision gives the range, prefixes compare, malformed or impossible dates refused', () => {
    const at = (s: string): number => Date.parse(s)
    expect(dateRange('2026-11-25')).toEqual({ from: at('2026-11-25T00:00:00Z'), until: at('2026-11-26T00:00:00Z') })
    expect(dateRange('ge2026-11')).toEqual({ from: at('2026-11-01T00:00:00Z'), until: undefined })
    expect(dateRange('lt2026')).toEqual({ from: undefined, until: at('2026-01-01T00:00:00Z') })
    expect(dateRange('gt2026-12-31')).toEqual({ from: at('2027-01-01T00:00:00Z'), until: undefined })
    expect(dateRange('le2026-11-25T10:00:00+01:00')).toEqual({ from: undefined, until: at('2026-11-25T09:00:01Z') })
    for (const bad of ['2026-02-30', '2026-13', 'sa2026', '2026-11-25T10:00', 'yesterday', '']) {
      expect(dateRange(bad)).toBeNull()
    }
  })

  it('date search values refuse impossible dates and times as parseInstant does, never rolling them over', () => {
    const at = (s: string): number => Date.parse(s)
    for (const bad of [
      '2021-02-30T10:00:00Z',
      'ge2021-02-30T10:00Z',
      'lt2023-02-29',
      '2021-04-31',
      '2021-00',
      'eq2026-11-25T24:00:00Z',
      '2026-11-25T10:60Z',
      '2026-11-25T10:00:00+24:00',
      '0000',
      '0000-06-01'
    ]) {
      expect(dateRange(bad), bad).toBeNull()
    }
    // A leap day is a date; a year below 100 is that year, not 19xx.
    expect(dateRange('2024-02-29')).toEqual({ from: at('2024-02-29T00:00:00Z'), until: at('2024-03-01T00:00:00Z') })
    expect(dateRange('0001')).toEqual({ from: at('0001-01-01T00:00:00Z'), until: at('0002-01-01T00:00:00Z') })
    expect(dateRange('ge0099-12')).toEqual({ from: at('0099-12-01T00:00:00Z'), until: undefined })
    // Precision is kept: a minute, a second, a millisecond.
    expect(dateRange('2026-11-25T10:00Z')).toEqual({
      from: at('2026-11-25T10:00:00Z'),
      until: at('2026-11-25T10:01:00Z')
    })
    expect(dateRange('2026-11-25T10:00:05.250Z')).toEqual({
      from: at('2026-11-25T10:00:05.250Z'),
      until: at('2026-11-25T10:00:05.251Z')
    })
  })

  it('patient tokens: the NHS number system or a bare number; any other system is refused', () => {
    expect(nhsNumberToken(`${SYSTEMS.nhsNumber}|${NHS}`)).toEqual({ ok: true, value: NHS })
    expect(nhsNumberToken(NHS)).toEqual({ ok: true, value: NHS })
    expect(nhsNumberToken(`http://hl7.org/fhir/sid/us-ssn|${NHS}`)).toMatchObject({ ok: false })
  })
})

describe('CDS Hooks patient-consent-consult', () => {
  const ask = (
    context: Partial<ConsultRequest['context']>,
    hook = 'patient-consent-consult'
  ): ReturnType<typeof consultQuestion> =>
    consultQuestion(catalog, {
      hook,
      hookInstance: 'h-1',
      context: { patientId: [{ system: SYSTEMS.nhsNumber, value: '943 476 5919' }], ...context }
    })

  it('turns the context into one question: the NHS number (normalised), one purpose, the point of care', () => {
    expect(
      ask({
        purposeOfUse: ['ETREAT', 'unplanned-care'],
        pointOfCare: { permissionToView: 'granted' },
        patientId: [
          { system: 'urn:other', value: 'x' },
          { system: SYSTEMS.nhsNumber, value: '943 476 5919' }
        ]
      })
    ).toEqual({
      ok: true,
      question: {
        nhsNumber: NHS,
        purpose: 'unplanned-care',
        pointOfCare: { permissionToView: 'granted' },
        notes: [],
        notEvaluated: {}
      }
    })
    expect(
      ask({ purposeOfUse: 'HRESCH', scope: 'research', category: [{ system: SYSTEMS.consentScope, code: 'research' }] })
    ).toMatchObject({ ok: true, question: { purpose: 'planning-research' } })
  })

  it('says what is wrong with a question it cannot answer', () => {
    const problems = (r: ReturnType<typeof consultQuestion>): string[] => (r.ok ? [] : r.problems.map(p => p.path))
    expect(problems(ask({ purposeOfUse: 'HRESCH' }, 'order-sign'))).toEqual(['/hook'])
    expect(problems(ask({ purposeOfUse: 'HRESCH', patientId: [{ system: 'urn:other', value: NHS }] }))).toEqual([
      '/context/patientId'
    ])
    expect(
      problems(ask({ purposeOfUse: 'HRESCH', patientId: [{ system: SYSTEMS.nhsNumber, value: '9434765918' }] }))
    ).toEqual(['/context/patientId/0/value'])
    expect(
      problems(
        ask({
          purposeOfUse: 'HRESCH',
          patientId: [
            { system: SYSTEMS.nhsNumber, value: NHS },
            { system: SYSTEMS.nhsNumber, value: '9999999999' }
          ]
        })
      )
    ).toEqual(['/context/patientId'])
    // LEAP: no purposeOfUse, or TREAT, asks about the configured direct-care purpose (LEAP_TREAT_PURPOSE).
    expect(ask({})).toMatchObject({ ok: true, question: { purpose: 'planned-care' } })
    expect(ask({ purposeOfUse: 'TREAT' })).toMatchObject({ ok: true, question: { purpose: 'planned-care' } })
    expect(problems(ask({ purposeOfUse: ['TREAT', 'ETREAT'] }))).toEqual(['/context/purposeOfUse'])
    expect(problems(ask({ purposeOfUse: ['ETREAT', 'HRESCH'] }))).toEqual(['/context/purposeOfUse'])
    expect(problems(ask({ purposeOfUse: 'ETREAT', scope: 'research' }))).toEqual(['/context/scope'])
    expect(
      problems(ask({ purposeOfUse: 'ETREAT', category: [{ system: SYSTEMS.consentScope, code: 'research' }] }))
    ).toEqual(['/context/category'])
  })

  it('one card per decision: NO_CONSENT on a default, else CONSENT_PERMIT or _DENY with its Consent', () => {
    const source = { label: 'Consent Check Service', url: 'https://consent.example.nhs.uk/docs' }
    for (const basis of BASES) {
      for (const decision of ['permit', 'deny'] as const) {
        const card = consultCard(
          {
            decision,
            basis,
            reason: 'why',
            preference: basis === 'default' ? null : { id: 'pref-1' },
            auditId: 'audit-1'
          },
          source,
          id => `https://x/fhir/Consent/${id}`
        )
        const code = basis === 'default' ? 'NO_CONSENT' : decision === 'permit' ? 'CONSENT_PERMIT' : 'CONSENT_DENY'
        expect(card).toMatchObject({
          uuid: 'audit-1',
          // The summary says which way a default went; extension.decision keeps LEAP's plain code.
          summary: basis === 'default' ? `NO_CONSENT: default ${decision}` : code,
          indicator: { NO_CONSENT: 'warning', CONSENT_PERMIT: 'info', CONSENT_DENY: 'critical' }[code],
          source,
          extension: { decision: code, obligations: [], consentDecision: { decision, basis } }
        })
        expect(card.detail).toMatch(/why/)
        expect(card.extension.basedOn).toBe(basis === 'default' ? undefined : 'https://x/fhir/Consent/pref-1')
      }
    }
  })
})
