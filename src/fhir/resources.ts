// FHIR R4 views of the store: a recorded choice as a Consent (following UK Core Consent), an audit
// event as an AuditEvent (following IHE BALP), search Bundles, OperationOutcomes and the
// CapabilityStatement. Pure: callers pass in the rows, the purpose catalogue and the clients.
/// <reference types="fhir" />
import { createHash } from 'node:crypto'
import { parseInstant } from '../domain/instant.ts'
import type { PurposeCatalog } from '../domain/purposes.ts'
import { cancelledBy, effectiveRecord, type PreferenceRecord } from '../domain/preferences.ts'
import type { StoredPreference } from '../store/rows.ts'
import type { StoredEvent } from '../store/audit-chain.ts'
import { SDS_USER_ID_SYSTEM, type EndUser } from '../domain/end-user.ts'
import {
  CANONICAL_BASE,
  SYSTEMS,
  UK_CORE_CONSENT,
  consentCategories,
  consentScope,
  purposeCoding,
  readCodeCoding,
  purposeOfUseCoding,
  purposeOfUseCodes,
  PURPOSE_OF_USE,
  type OwnSystems
} from './terminology.ts'

export const FHIR_JSON = 'application/fhir+json'

export interface FhirContext {
  own: OwnSystems
  catalog: PurposeCatalog
}

const nhsIdentifier = (nhsNumber: string): fhir4.Identifier => ({ system: SYSTEMS.nhsNumber, value: nhsNumber })

/** The Consent.status values a recorded choice maps to. */
export const CONSENT_STATUSES = ['active', 'inactive', 'entered-in-error'] as const
export type ConsentStatus = (typeof CONSENT_STATUSES)[number]

/**
 * Consent.status and provision.period.end from SPEC §2 rule 2 (effectiveRecord), the rule the
 * decisions use: a record is active while it is (or, once its effectiveFrom comes, will be) the
 * effective record for its purpose, inactive once a later choice supersedes it. end is the first
 * moment another recorded choice takes over, in the past or already scheduled. A choice cancelled
 * while still pending (rule 2) is inactive ("terminated or replaced": the patient replaced it by a
 * newer wish; not entered-in-error, which would say it was never the patient's wish) and its period
 * ends where it starts: it never applied.
 */
export function consentState (
  records: readonly PreferenceRecord[],
  r: PreferenceRecord,
  now: number
): { status: ConsentStatus; end: Date | null } {
  if (r.status === 'entered-in-error') return { status: 'entered-in-error', end: null }
  if (cancelledBy(records, r) !== null) return { status: 'inactive', end: r.effectiveFrom }
  const start = r.effectiveFrom.getTime()
  const inForce = effectiveRecord(records, r.purpose, Math.max(now, start))?.id === r.id
  const later = [
    ...new Set(
      records
        .filter(
          o => o.id !== r.id && o.purpose === r.purpose && o.status === 'active' && o.effectiveFrom.getTime() >= start
        )
        .map(o => o.effectiveFrom.getTime())
    )
  ].sort((a, b) => a - b)
  // Once another record takes over, r never returns: its effectiveFrom is fixed and now earlier.
  const end = later.find(t => effectiveRecord(records, r.purpose, t)?.id !== r.id)
  return { status: inForce ? 'active' : 'inactive', end: end === undefined ? null : new Date(end) }
}

/** One recorded choice as a FHIR Consent; `records` are the patient's records (for status). */
export function consentResource (
  p: StoredPreference,
  records: readonly PreferenceRecord[],
  ctx: FhirContext,
  now: number
): fhir4.Consent {
  const purpose = ctx.catalog.get(p.purpose)
  const category = purpose?.category ?? 'secondary-use'
  const { status, end } = consentState(records, p, now)
  const by = p.recordedBy
  return {
    resourceType: 'Consent',
    id: p.id,
    meta: { profile: [UK_CORE_CONSENT], lastUpdated: (p.enteredInErrorAt ?? p.recordedAt).toISOString() },
    status,
    scope: { coding: [consentScope({ category })] },
    // The GP Read code it came from classifies the statement further: implied (9Ndl) and express
    // (9Ndm, 9Ndn) SCR consent are different statements with the same purpose and decision.
    category: [
      ...consentCategories({ category }).map(c => ({ coding: [c] })),
      ...(p.sourceCode !== null ? [{ coding: [readCodeCoding(p.sourceCode)] }] : [])
    ],
    patient: { type: 'Patient', identifier: nhsIdentifier(p.nhsNumber) },
    dateTime: p.recordedAt.toISOString(),
    // The one agreeing to the rule: the patient, or a proxy who chose for them.
    performer: [
      by.proxyRole !== undefined
        ? { type: 'RelatedPerson', display: `${by.proxyRole} (proxy for the patient)` }
        : { type: 'Patient', identifier: nhsIdentifier(p.nhsNumber) }
    ],
    ...(by.odsCode !== undefined
      ? { organization: [{ type: 'Organization', identifier: { system: SYSTEMS.odsOrganisation, value: by.odsCode } }] }
      : {}),
    // FHIR requires a policy (ppc-1): purposes shared unless the patient objects are opt-out
    // choices, an opt-in programme (default deny) is an opt-in.
    policyRule: {
      coding: [
        { system: SYSTEMS.actCode, code: ctx.catalog.defaultDecision(p.purpose) === 'permit' ? 'OPTOUT' : 'OPTIN' }
      ]
    },
    provision: {
      type: p.decision,
      period: { start: p.effectiveFrom.toISOString(), ...(end !== null ? { end: end.toISOString() } : {}) },
      purpose: [
        purposeCoding(ctx.own, ctx.catalog, p.purpose),
        ...purposeOfUseCodes(ctx.catalog, p.purpose).map(purposeOfUseCoding)
      ]
    }
  }
}

export interface ClientInfo {
  name: string
  odsCode: string | null
}

const AUDIT_KINDS: Record<
  string,
  { type: fhir4.Coding; subtype: fhir4.Coding; action: 'C' | 'U' | 'E'; success: (outcome: string | null) => boolean }
> = {
  // A request refused for a scope or purpose it was not allowed: an attempt at a restricted function, failed.
  'access.refused': {
    type: { system: SYSTEMS.dicom, code: '110113', display: 'Security Alert' },
    subtype: { system: SYSTEMS.dicom, code: '110132', display: 'Use of Restricted Function' },
    action: 'E',
    success: () => false
  },
  // IHE BALP "AuthZconsent": a consent decision is a Security Alert / AuthZ-Consent, executed.
  decision: {
    type: { system: SYSTEMS.dicom, code: '110113', display: 'Security Alert' },
    subtype: {
      system: SYSTEMS.balpAuthZ,
      code: 'AuthZ-Consent',
      display: 'Authorization Decision using Roles and Consent'
    },
    action: 'E',
    success: o => o === 'permit'
  },
  'preference.recorded': {
    type: { system: SYSTEMS.auditEventType, code: 'rest', display: 'RESTful Operation' },
    subtype: { system: SYSTEMS.restfulInteraction, code: 'create', display: 'create' },
    action: 'C',
    success: () => true
  },
  'preference.entered-in-error': {
    type: { system: SYSTEMS.auditEventType, code: 'rest', display: 'RESTful Operation' },
    subtype: { system: SYSTEMS.restfulInteraction, code: 'update', display: 'update' },
    action: 'U',
    success: o => o === 'voided'
  },
  'alert.reviewed': {
    type: { system: SYSTEMS.auditEventType, code: 'rest', display: 'RESTful Operation' },
    subtype: { system: SYSTEMS.restfulInteraction, code: 'update', display: 'update' },
    action: 'U',
    success: o => o === 'reviewed'
  }
}
const OTHER_KIND = {
  type: { system: SYSTEMS.auditEventType, code: 'rest', display: 'RESTful Operation' },
  action: 'E' as const,
  success: () => true
}

interface AuditDetails {
  basis?: string
  /** A decision's reason, a void's reason, or why access was refused (scope, purpose). */
  reason?: string
  /** access.refused: what the caller was told. */
  detail?: string
  preferenceId?: string | null
  alertId?: string | null
  cdsHooks?: { purposeOfUse?: string[]; actor?: Array<{ system?: string; value: string }> }
}

/** The person at the keyboard (SPEC §2 "Who asked"): their SDS user ID, name and national RBAC role. */
function endUserAgent (u: EndUser): fhir4.AuditEventAgent {
  return {
    type: { coding: [{ system: SYSTEMS.participationType, code: 'IRCP', display: 'information recipient' }] },
    who: {
      identifier: { system: SDS_USER_ID_SYSTEM, value: u.id },
      ...(u.name !== undefined ? { display: u.name } : {})
    },
    ...(u.role !== undefined ? { role: [{ text: u.role }] } : {}),
    requestor: true
  }
}

/** One audit event about a patient as a FHIR AuditEvent: who asked, for what purpose, with what outcome. */
export function auditEventResource (
  e: StoredEvent,
  ctx: FhirContext,
  clientOf: (id: string) => ClientInfo | undefined
): fhir4.AuditEvent {
  const kind = AUDIT_KINDS[e.type] ?? { ...OTHER_KIND, subtype: undefined }
  const details = JSON.parse(e.details) as AuditDetails
  // The client as it was when the event was written; events older than those fields, as it is now.
  const client: ClientInfo | undefined =
    e.clientName !== null
      ? { name: e.clientName, odsCode: e.clientOdsCode }
      : e.clientId === null
        ? undefined
        : clientOf(e.clientId)
  const endUser = e.endUser === null ? null : (JSON.parse(e.endUser) as EndUser)
  const agents: fhir4.AuditEventAgent[] = [
    // With no client: written by the CLI on the service host, not by a client system.
    e.clientId === null
      ? { who: { display: 'Consent Check Service administrator (CLI)' }, requestor: true }
      : {
          type: { coding: [{ system: SYSTEMS.dicom, code: '110150', display: 'Application' }] },
          who: {
            type: 'Device',
            identifier: { system: ctx.own.clientId, value: e.clientId },
            ...(client !== undefined ? { display: client.name } : {})
          },
          requestor: true
        },
    ...(client?.odsCode != null
      ? [
          {
            type: { coding: [{ system: SYSTEMS.roleClass, code: 'PROV', display: 'healthcare provider' }] },
            who: { type: 'Organization', identifier: { system: SYSTEMS.odsOrganisation, value: client.odsCode } },
            requestor: false
          }
        ]
      : []),
    ...(endUser !== null ? [endUserAgent(endUser)] : []),
    // The end users a CDS Hooks caller named: asserted by the authenticated client, not verified here.
    ...(details.cdsHooks?.actor ?? []).map(a => ({
      type: { coding: [{ system: SYSTEMS.participationType, code: 'IRCP', display: 'information recipient' }] },
      who: { identifier: { ...(a.system !== undefined ? { system: a.system } : {}), value: a.value } },
      requestor: false
    }))
  ]
  // A void that found no such record for this patient names no Consent.
  const consentId = e.type === 'preference.entered-in-error' && e.outcome === 'not-found' ? null : details.preferenceId
  const asked = (details.cdsHooks?.purposeOfUse ?? []).filter(c => Object.hasOwn(PURPOSE_OF_USE, c))
  const purposeOfEvent =
    e.purpose === null
      ? []
      : [
          { coding: [purposeCoding(ctx.own, ctx.catalog, e.purpose)] },
          ...asked.map(c => ({ coding: [purposeOfUseCoding(c)] }))
        ]
  const entity: fhir4.AuditEventEntity[] = [
    ...(e.nhsNumber !== null
      ? [
          {
            what: { type: 'Patient', identifier: nhsIdentifier(e.nhsNumber) },
            type: { system: SYSTEMS.auditEntityType, code: '1', display: 'Person' },
            role: { system: SYSTEMS.objectRole, code: '1', display: 'Patient' },
            ...(e.type === 'decision'
              ? {
                  detail: [
                    { type: 'decision', valueString: e.outcome ?? '' },
                    { type: 'basis', valueString: details.basis ?? '' },
                    ...(details.alertId != null ? [{ type: 'alertId', valueString: details.alertId }] : [])
                  ]
                }
              : {})
          }
        ]
      : []),
    ...(consentId != null
      ? [
          {
            what: { reference: `Consent/${consentId}` },
            type: { system: SYSTEMS.resourceTypes, code: 'Consent', display: 'Consent' }
          }
        ]
      : []),
    ...(e.requestId !== null
      ? [
          {
            what: { identifier: { value: e.requestId } },
            type: {
              system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType',
              code: 'XrequestId',
              display: 'X-Request-Id'
            }
          }
        ]
      : [])
  ]
  const success = kind.success(e.outcome)
  const outcomeDesc =
    e.type === 'decision'
      ? `${e.outcome ?? ''} (${details.basis ?? ''}): ${details.reason ?? ''}`
      : e.type === 'preference.recorded'
        ? `recorded ${e.outcome ?? ''} for ${e.purpose ?? ''}`
        : e.type === 'preference.entered-in-error' && details.reason !== undefined
          ? `${e.outcome ?? ''}: ${details.reason}`
          : e.type === 'access.refused'
            ? `refused (${details.reason ?? 'forbidden'}): ${details.detail ?? ''}`
            : e.outcome
  return {
    resourceType: 'AuditEvent',
    id: e.id,
    meta: { lastUpdated: e.at.toISOString() },
    type: kind.type,
    subtype: [...(kind.subtype !== undefined ? [kind.subtype] : []), { system: ctx.own.auditEventType, code: e.type }],
    action: kind.action,
    recorded: e.at.toISOString(),
    // BALP records a consent deny as a serious failure (8); a request that found nothing to act on
    // is a minor failure (4).
    outcome: success ? '0' : e.type === 'decision' ? '8' : '4',
    ...(outcomeDesc !== null ? { outcomeDesc } : {}),
    ...(purposeOfEvent.length > 0 ? { purposeOfEvent } : {}),
    agent: agents,
    source: {
      observer: { type: 'Device', display: 'Consent Check Service' },
      type: [{ system: SYSTEMS.securitySourceType, code: '4', display: 'Application Server' }]
    },
    entity
  }
}

/**
 * A resource's version: a short hash of what it shows (meta aside), so it changes exactly when the
 * resource does (a Consent superseded, cancelled or entered in error), on every instance alike,
 * with no counter to keep. Hex, so it is a valid FHIR id.
 */
export function versionOf (resource: fhir4.FhirResource): string {
  const { meta: _meta, ...content } = resource
  return createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16)
}

/** The resource with meta.versionId set (versionOf). */
export function versioned<R extends fhir4.FhirResource> (resource: R): R {
  return { ...resource, meta: { versionId: versionOf(resource), ...resource.meta } }
}

/** The weak ETag of a version (FHIR http.html: ETag carries the versionId). */
export const etagOf = (versionId: string): string => `W/"${versionId}"`

/**
 * Whether an If-None-Match header matches a version: `*`, or one of its (weak or strong) tags
 * names it. Weak comparison, as RFC 9110 §13.1.2 has it for If-None-Match.
 */
export function noneMatchHits (header: string | undefined, versionId: string): boolean {
  if (header === undefined) return false
  return header.split(',').some(tag => {
    const t = tag.trim()
    return t === '*' || t.replace(/^W\//, '') === `"${versionId}"`
  })
}

export interface BundleLinks {
  self: string
  next?: string
}

export interface BundleOptions {
  total?: number
  /** _summary=count: the total alone, no entries. */
  countOnly?: boolean
  /** Warnings about the search (ignored parameters): an OperationOutcome entry, search.mode outcome. */
  outcome?: fhir4.OperationOutcome
}

export function searchBundle (
  resources: fhir4.FhirResource[],
  links: BundleLinks,
  base: string,
  total?: number,
  options: BundleOptions = {}
): fhir4.Bundle {
  const t = total ?? options.total
  const matches = options.countOnly === true ? [] : resources.map(r => versioned(r))
  return {
    resourceType: 'Bundle',
    meta: { lastUpdated: new Date().toISOString() },
    type: 'searchset',
    ...(t !== undefined ? { total: t } : {}),
    link: [
      { relation: 'self', url: links.self },
      ...(links.next !== undefined ? [{ relation: 'next', url: links.next }] : [])
    ],
    ...(options.countOnly === true && options.outcome === undefined
      ? {}
      : {
          entry: [
            ...matches.map(r => ({
              fullUrl: `${base}/fhir/${r.resourceType}/${r.id ?? ''}`,
              resource: r,
              search: { mode: 'match' as const }
            })),
            ...(options.outcome !== undefined
              ? [{ resource: options.outcome, search: { mode: 'outcome' as const } }]
              : [])
          ]
        })
  }
}

export type IssueCode = fhir4.OperationOutcomeIssue['code']

/** The issue code for an HTTP error status, for errors that carry no more specific code. */
export function issueCodeFor (status: number): IssueCode {
  switch (status) {
    case 401:
      return 'login'
    case 403:
      return 'forbidden'
    case 404:
      return 'not-found'
    case 405:
    case 406:
    case 415:
      return 'not-supported'
    case 409:
      return 'conflict'
    case 413:
    case 414:
      return 'too-long'
    case 429:
      return 'throttled'
    case 503:
      return 'transient'
    default:
      return status >= 500 ? 'exception' : 'invalid'
  }
}

export function operationOutcome (code: IssueCode, diagnostics: string[]): fhir4.OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: diagnostics.map(d => ({ severity: 'error', code, diagnostics: d }))
  }
}

/** Whether a request is to the FHIR API, whose errors are OperationOutcomes. */
export function isFhirUrl (url: string): boolean {
  return /^\/fhir(\/|\?|$)/.test(url)
}

/** An error answer on /fhir: one issue per bad field, or the message alone. */
export function fhirError (
  status: number,
  detail: string,
  errors?: ReadonlyArray<{ path: string; message: string }>
): fhir4.OperationOutcome {
  const messages = errors !== undefined && errors.length > 0 ? errors.map(e => `${e.path}: ${e.message}`) : [detail]
  return operationOutcome(issueCodeFor(status), messages)
}

const FHIR_DATE =
  /^(eq|ge|gt|le|lt)?(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/

/**
 * A FHIR date search value (R4 search §3.1.1.4.2, prefixes eq ge gt le lt): the instants it
 * matches, as [from, until). A value means its whole precision (2026 is the year, 2026-11 the
 * month, a time without seconds the minute); its start is read by parseInstant, so an impossible
 * calendar date (2026-02-30) or time (24:00) is refused as everywhere else, never rolled over.
 */
export function dateRange (value: string): { from: number | undefined; until: number | undefined } | null {
  const m = FHIR_DATE.exec(value)
  if (m === null) return null
  const [, prefix = 'eq', y, mo, d, h, mi, s, frac, tz] = m
  const parsed = parseInstant(
    h !== undefined ? `${y}-${mo}-${d}T${h}:${mi}:${s ?? '00'}${frac ?? ''}${tz}` : `${y}-${mo ?? '01'}-${d ?? '01'}`
  )
  if (!parsed.ok) return null
  const start = parsed.value.getTime()
  let end: number
  if (h !== undefined) {
    end = start + (frac !== undefined ? 1 : s !== undefined ? 1000 : 60_000)
  } else {
    // A date without a time is a whole UTC day, month or year.
    const next = new Date(start)
    if (d !== undefined) next.setUTCDate(next.getUTCDate() + 1)
    else if (mo !== undefined) next.setUTCMonth(next.getUTCMonth() + 1)
    else next.setUTCFullYear(next.getUTCFullYear() + 1)
    end = next.getTime()
  }
  switch (prefix) {
    case 'ge':
      return { from: start, until: undefined }
    case 'gt':
      return { from: end, until: undefined }
    case 'le':
      return { from: undefined, until: end }
    case 'lt':
      return { from: undefined, until: start }
    default:
      return { from: start, until: end }
  }
}

/**
 * A patient.identifier token: `https://fhir.nhs.uk/Id/nhs-number|9434765919`, or the bare number.
 * Returns the value to check as an NHS number, or an error for any other identifier system.
 */
export function nhsNumberToken (token: string): { ok: true; value: string } | { ok: false; message: string } {
  const bar = token.indexOf('|')
  if (bar < 0) return { ok: true, value: token }
  if (token.slice(0, bar) !== SYSTEMS.nhsNumber) {
    return { ok: false, message: `patients are identified by NHS number only: use ${SYSTEMS.nhsNumber}|{nhs number}` }
  }
  return { ok: true, value: token.slice(bar + 1) }
}

export interface CapabilityOptions {
  base: string
  version: string
  date: string
}

/** What /fhir supports, exactly: read-only Consent and AuditEvent searches behind bearer tokens. */
export function capabilityStatement (o: CapabilityOptions): fhir4.CapabilityStatement {
  const count = {
    name: '_count',
    type: 'number' as const,
    documentation: 'Page size, at least 1 (default 100); above 500 the page is 500'
  }
  const summary = {
    name: '_summary',
    type: 'token' as const,
    documentation: '_summary=count: Bundle.total alone, no entries (still audited as a read)'
  }
  const cursor = {
    name: '_cursor',
    type: 'string' as const,
    documentation: "The next page, as given in the Bundle's next link"
  }
  const patient = {
    name: 'patient',
    type: 'reference' as const,
    documentation:
      `Required, only as patient.identifier=${SYSTEMS.nhsNumber}|{NHS number} (or patient:identifier=...); ` +
      'the bare number is accepted too'
  }
  return {
    resourceType: 'CapabilityStatement',
    url: `${o.base}/fhir/metadata`,
    name: 'ConsentCheckService',
    title: 'Consent Check Service FHIR API',
    status: 'active',
    experimental: false,
    date: o.date,
    publisher: 'Consent Check Service',
    description:
      "Read-only FHIR R4 views of patients' recorded sharing choices (Consent, following UK Core Consent) " +
      'and of the audit trail (AuditEvent, following IHE BALP). ' +
      'Decisions are made by POST /v1/decisions or the CDS Hooks service at /cds-services.',
    kind: 'instance',
    software: { name: 'Consent Check Service', version: o.version },
    implementation: { description: 'Consent Check Service', url: `${o.base}/fhir` },
    fhirVersion: '4.0.1',
    format: [FHIR_JSON, 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Search by GET or by POST [type]/_search with a form body (application/x-www-form-urlencoded), ' +
          'which keeps the NHS number out of URLs: its Bundle links carry no patient identifier. ' +
          'Unknown search parameters are rejected (400) unless the request says Prefer: handling=lenient; ' +
          'then they are ignored and named in an OperationOutcome entry (search.mode outcome). ' +
          'Reads answer ETag W/"{meta.versionId}" and honour If-None-Match (304). Errors are OperationOutcome.',
        security: {
          cors: false,
          service: [
            {
              coding: [
                {
                  system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
                  code: 'SMART-on-FHIR',
                  display: 'SMART-on-FHIR'
                }
              ]
            }
          ],
          description:
            `Bearer access tokens from ${o.base}/oauth2/token ` +
            '(signed-JWT client credentials, as SMART Backend Services). ' +
            'Scope consent:read reads Consent, audit:read reads AuditEvent.',
          extension: [
            {
              url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
              extension: [{ url: 'token', valueUri: `${o.base}/oauth2/token` }]
            }
          ]
        },
        resource: [
          {
            type: 'Consent',
            profile: UK_CORE_CONSENT,
            documentation:
              'One Consent per recorded choice. status: active (in force, or scheduled), ' +
              'inactive (superseded by a later choice, or cancelled by one while still scheduled), entered-in-error. ' +
              'A choice recorded from a GP Read v2 code carries it as a category (http://read.info/readv2).',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            versioning: 'versioned',
            readHistory: false,
            updateCreate: false,
            conditionalRead: 'not-match',
            searchParam: [
              { ...patient, definition: 'http://hl7.org/fhir/SearchParameter/clinical-patient' },
              {
                name: 'status',
                definition: 'http://hl7.org/fhir/SearchParameter/Consent-status',
                type: 'token',
                documentation: 'active, inactive or entered-in-error; comma-separated for any of them'
              },
              count,
              summary,
              cursor
            ]
          },
          {
            type: 'AuditEvent',
            documentation:
              'The audit trail about one patient, newest first: decisions (who asked, for what purpose, ' +
              'the outcome) and changes to their recorded choices.',
            interaction: [{ code: 'search-type' }],
            versioning: 'versioned',
            readHistory: false,
            updateCreate: false,
            searchParam: [
              { ...patient, definition: 'http://hl7.org/fhir/SearchParameter/AuditEvent-patient' },
              {
                name: 'date',
                definition: 'http://hl7.org/fhir/SearchParameter/AuditEvent-date',
                type: 'date',
                documentation: 'Prefixes eq, ge, gt, le, lt; repeat for a range (date=ge2026-01-01&date=lt2026-02-01)'
              },
              count,
              summary,
              cursor
            ]
          },
          {
            type: 'CodeSystem',
            documentation:
              "The service's own code systems (purpose, audit-event-type), whose canonical URLs are fixed and the " +
              'same in every deployment: read them here by id, or search by url. No token needed.',
            interaction: [{ code: 'read' }, { code: 'search-type' }],
            versioning: 'versioned',
            readHistory: false,
            updateCreate: false,
            conditionalRead: 'not-match',
            searchParam: [
              {
                name: 'url',
                definition: 'http://hl7.org/fhir/SearchParameter/CodeSystem-url',
                type: 'uri',
                documentation: `The canonical URL, e.g. ${CANONICAL_BASE}/CodeSystem/purpose`
              }
            ]
          }
        ]
      }
    ]
  }
}
