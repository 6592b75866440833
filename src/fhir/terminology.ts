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
 * The deployment's own systems. Purposes are this deployment's catalogue (administrators add
 * them), so their code system lives under its public URL rather than a made-up global one.
 */
export interface OwnSystems {
  base: string
  purpose: string
  auditEventType: string
  clientId: string
}

export function ownSystems (publicUrl: string): OwnSystems {
  const base = publicUrl.replace(/\/+$/, '')
  return {
    base,
    purpose: `${base}/fhir/CodeSystem/purpose`,
    auditEventType: `${base}/fhir/CodeSystem/audit-event-type`,
    clientId: `${base}/fhir/sid/client-id`
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

/** Consent.scope: privacy consent for direct care, research for secondary use (UK Core Consent). */
export function consentScope (purpose: Pick<Purpose, 'category'>): fhir4.Coding {
  return purpose.category === 'direct-care'
    ? { system: SYSTEMS.consentScope, code: 'patient-privacy', display: 'Privacy Consent' }
    : { system: SYSTEMS.consentScope, code: 'research', display: 'Research' }
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
