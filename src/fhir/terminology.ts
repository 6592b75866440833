// Code systems used by the FHIR views and the CDS Hooks service, and the one mapping between this
// service's purposes and HL7 v3 PurposeOfUse (v3-ActReason). Pure: no Fastify, no store.
/// <reference types="fhir" />
import { GP_CODES } from '../domain/preferences.ts'
import type { Purpose, PurposeCatalog } from '../domain/purposes.ts'

export const SYSTEMS = {
  nhsNumber: 'https://fhir.nhs.uk/Id/nhs-number',
  odsOrganisation: 'https://fhir.nhs.uk/Id/ods-organization-code',
  consentScope: 'http://terminology.hl7.org/CodeSystem/consentscope',
  consentCategory: 'http://terminology.hl7.org/CodeSystem/consentcategorycodes',
  loinc: 'http://loinc.org',
  actReason: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  dicom: 'http://dicom.nema.org/resources/ontology/DCM',
  auditEventType: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  restfulInteraction: 'http://hl7.org/fhir/restful-interaction',
  balpAuthZ: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType',
  auditEntityType: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
  objectRole: 'http://terminology.hl7.org/CodeSystem/object-role',
  securitySourceType: 'http://terminology.hl7.org/CodeSystem/security-source-type',
  roleClass: 'http://terminology.hl7.org/CodeSystem/v3-RoleClass',
  participationType: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  resourceTypes: 'http://hl7.org/fhir/resource-types',
  readV2: 'http://read.info/readv2'
} as const

export const UK_CORE_CONSENT = 'https://fhir.hl7.org.uk/StructureDefinition/UKCore-Consent'

/**
 * The fixed canonical base of this service's own code systems. A canonical URL is an identifier, so
 * it is the same in every deployment and never follows PUBLIC_URL (a system that changed with the
 * host name would make the same code two different codes). It is under a reserved name (RFC 6761
 * `.example`) so nobody can ever serve something else there; each deployment serves the content
 * itself, at {PUBLIC_URL}/fhir/CodeSystem/{id} and by `GET /fhir/CodeSystem?url={canonical}`.
 */
export const CANONICAL_BASE = 'https://consent-check-service.example/fhir'

/** The ids of the code systems served at /fhir/CodeSystem/{id}. */
export const OWN_CODE_SYSTEMS = ['purpose', 'audit-event-type'] as const
export type OwnCodeSystem = (typeof OWN_CODE_SYSTEMS)[number]

/** The service's own systems (fixed canonical URLs), and the deployment's base for its links. */
export interface OwnSystems {
  base: string
  purpose: string
  auditEventType: string
  clientId: string
}

export function ownSystems (publicUrl: string): OwnSystems {
  return {
    base: publicUrl.replace(/\/+$/, ''),
    purpose: `${CANONICAL_BASE}/CodeSystem/purpose`,
    auditEventType: `${CANONICAL_BASE}/CodeSystem/audit-event-type`,
    clientId: `${CANONICAL_BASE}/sid/client-id`
  }
}

/**
 * One of the service's own code systems as a FHIR CodeSystem: the deployment's purpose catalogue
 * (a purpose's parent is its parent concept, as a hierarchy), or the audit event types.
 */
export function ownCodeSystem (
  id: OwnCodeSystem,
  o: { own: OwnSystems; catalog: PurposeCatalog; auditTypes: readonly string[]; version: string }
): fhir4.CodeSystem {
  const common = {
    resourceType: 'CodeSystem' as const,
    id,
    version: o.version,
    status: 'active' as const,
    experimental: false,
    publisher: 'Consent Check Service',
    caseSensitive: true
  }
  if (id === 'audit-event-type') {
    return {
      ...common,
      url: o.own.auditEventType,
      name: 'ConsentCheckAuditEventType',
      title: 'Consent Check Service audit event types',
      description: "The kinds of event in the service's audit trail (AuditEvent.subtype).",
      content: 'complete',
      concept: o.auditTypes.map(code => ({ code }))
    }
  }
  const purposes = o.catalog.all()
  const concept = (p: Purpose): fhir4.CodeSystemConcept => {
    const children = purposes.filter(c => c.parent === p.code)
    return {
      code: p.code,
      display: p.name,
      ...(p.description !== '' ? { definition: p.description } : {}),
      ...(children.length > 0 ? { concept: children.map(concept) } : {})
    }
  }
  return {
    ...common,
    url: o.own.purpose,
    name: 'ConsentCheckPurpose',
    title: 'Consent Check Service purposes',
    description:
      'The purposes this deployment decides for (GET /v1/purposes). Administrators add to them: the ' +
      "content is this deployment's catalogue, and meta.versionId changes when it does.",
    hierarchyMeaning: 'is-a',
    content: 'complete',
    concept: purposes.filter(p => p.parent === null || o.catalog.get(p.parent) === undefined).map(concept)
  }
}

/**
 * HL7 v3 PurposeOfUse codes and the service purposes each one covers. TREAT covers both kinds of
 * direct care, so it is written on Consents of either but is refused as a question (asking TREAT
 * could silently skip an unplanned-care opt-out). Planning and research (the National Data
 * Opt-out) covers research, planning (operations) and public health uses of identifiable data;
 * public health with a COPI notice is an exemption registered on the caller, not a separate purpose.
 */
export const PURPOSE_OF_USE: Readonly<Record<string, { display: string; purposes: readonly string[] }>> = {
  TREAT: { display: 'treatment', purposes: ['planned-care', 'unplanned-care'] },
  ETREAT: { display: 'Emergency Treatment', purposes: ['unplanned-care'] },
  HRESCH: { display: 'healthcare research', purposes: ['planning-research'] },
  HOPERAT: { display: 'healthcare operations', purposes: ['planning-research'] },
  PUBHLTH: { display: 'public health', purposes: ['planning-research'] }
}

export function purposeOfUseCoding (code: string): fhir4.Coding {
  return { system: SYSTEMS.actReason, code, display: PURPOSE_OF_USE[code].display }
}

/**
 * The v3 codes a purpose falls under: those naming it, else those of its nearest ancestor that has
 * any (summary-care-record is unplanned care; an opt-in research programme is research).
 */
export function purposeOfUseCodes (catalog: PurposeCatalog, purpose: string): string[] {
  const chain = catalog.chain(purpose).map(p => p.code)
  for (const code of chain.length > 0 ? chain : [purpose]) {
    const found = Object.keys(PURPOSE_OF_USE).filter(k => PURPOSE_OF_USE[k].purposes.includes(code))
    if (found.length > 0) return found
  }
  return []
}

export function purposeCoding (own: OwnSystems, catalog: PurposeCatalog, purpose: string): fhir4.Coding {
  const p = catalog.get(purpose)
  return { system: own.purpose, code: purpose, ...(p !== undefined ? { display: p.name } : {}) }
}

export type PurposeResolution = { ok: true; purpose: string } | { ok: false; message: string }

/**
 * A purpose asked for by code: one of the service's purpose codes, or a v3 PurposeOfUse code that
 * maps to exactly one purpose. Whether that purpose is active and allowed is checked afterwards by
 * checkPurposeRequest, as for every other decision.
 */
export function resolvePurposeOfUse (catalog: PurposeCatalog, code: string): PurposeResolution {
  if (catalog.get(code) !== undefined) return { ok: true, purpose: code }
  const v3 = Object.hasOwn(PURPOSE_OF_USE, code) ? PURPOSE_OF_USE[code] : undefined
  if (v3 === undefined) {
    const unambiguous = Object.keys(PURPOSE_OF_USE).filter(k => PURPOSE_OF_USE[k].purposes.length === 1)
    return {
      ok: false,
      message:
        `unknown purpose of use '${code}': send one of this service's purpose codes (GET /v1/purposes) ` +
        `or one of the HL7 PurposeOfUse codes ${unambiguous.join(', ')}`
    }
  }
  if (v3.purposes.length !== 1) {
    return {
      ok: false,
      message:
        `PurposeOfUse ${code} (${v3.display}) could mean ${v3.purposes.join(' or ')}; ` +
        "send the service's purpose code instead"
    }
  }
  return { ok: true, purpose: v3.purposes[0] }
}

/**
 * Consent.scope: every choice held here is about sharing a record, so a privacy consent, whatever
 * the purpose (FHIR's `research` scope means consent to take part in a study, which an opt-out of
 * data sharing for planning and research is not). Secondary use shows in Consent.category instead.
 */
export function consentScope (_purpose: Pick<Purpose, 'category'>): fhir4.Coding {
  return { system: SYSTEMS.consentScope, code: 'patient-privacy', display: 'Privacy Consent' }
}

/** Consent.category: LOINC "Patient Consent" always; secondary use is also research access. */
export function consentCategories (purpose: Pick<Purpose, 'category'>): fhir4.Coding[] {
  const patientConsent = { system: SYSTEMS.loinc, code: '59284-0', display: 'Patient Consent' }
  return purpose.category === 'direct-care'
    ? [patientConsent]
    : [patientConsent, { system: SYSTEMS.consentCategory, code: 'research', display: 'Research Information Access' }]
}

/** A GP Read v2 code a choice was recorded as (SPEC §2 Read codes), with its meaning when it is one of ours. */
export function readCodeCoding (code: string): fhir4.Coding {
  const known = Object.hasOwn(GP_CODES, code) ? GP_CODES[code] : undefined
  return { system: SYSTEMS.readV2, code, ...(known !== undefined ? { display: known.meaning } : {}) }
}
