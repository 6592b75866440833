// Validates FHIR output against the R4 structure definitions with FHIR.js (the `fhir` package:
// element names, cardinality, data types, required bindings), plus the R4 invariants it does not
// evaluate that our resources could break. Returns the problems, so a test shows all of them.
import type { LightMyRequestResponse } from 'fastify'
import fhirJs from 'fhir'
import { expect } from 'vitest'
import type { Json } from './app.ts'

const validator = new fhirJs.Fhir()

/** R4 invariants (FHIRPath constraints) the structural validator skips. */
function invariantProblems (r: Json): string[] {
  const out: string[] = []
  switch (r.resourceType) {
    case 'Consent':
      if (r.policy === undefined && r.policyRule === undefined) out.push('ppc-1: Consent needs policy or policyRule')
      if (
        ['patient-privacy', 'research', 'treatment', 'adr'].includes(r.scope?.coding?.[0]?.code) &&
        r.patient === undefined
      ) {
        out.push('ppc-2..5: Consent of this scope needs a patient')
      }
      break
    case 'AuditEvent':
      for (const e of r.entity ?? []) {
        if (e.name !== undefined && e.query !== undefined) out.push('sev-1: entity has both name and query')
      }
      break
    case 'CapabilityStatement':
      if (r.rest === undefined && r.messaging === undefined && r.document === undefined) {
        out.push('cpb-1: needs rest, messaging or document')
      }
      if (r.kind === 'instance' && r.implementation === undefined) {
        out.push('cpb-14: kind instance needs implementation')
      }
      break
    case 'Bundle': {
      const urls = (r.entry ?? []).map((e: Json) => e.fullUrl)
      if (new Set(urls).size !== urls.length) out.push('bdl-7: fullUrls must be unique')
      if (r.type !== 'searchset' && r.total !== undefined) out.push('bdl-1: total only on search or history')
      for (const e of r.entry ?? []) {
        out.push(...invariantProblems(e.resource).map(p => `entry ${String(e.fullUrl)}: ${p}`))
      }
      break
    }
    case 'OperationOutcome':
      if (!Array.isArray(r.issue) || r.issue.length === 0) out.push('OperationOutcome needs at least one issue')
      break
  }
  return out
}

/** Every error the R4 structure and invariants find in a resource (empty when valid). */
export function fhirProblems (resource: unknown): string[] {
  const result = validator.validate(resource as object, { errorOnUnexpected: true })
  const errors = result.messages
    .filter(m => ['error', 'fatal'].includes(String(m.severity)))
    .map(m => `${m.location ?? ''}: ${m.message ?? ''}`)
  const entries = ((resource as Json).entry ?? []) as Json[]
  // Validate each entry on its own too, so its own invariants and codes are checked in full.
  for (const e of entries) errors.push(...fhirProblems(e.resource).map(p => `entry ${String(e.fullUrl)}: ${p}`))
  return [...errors, ...invariantProblems(resource as Json)]
}

/** A 200 FHIR answer (application/fhir+json), valid R4; its body. */
export function expectFhirOk (res: LightMyRequestResponse): Json {
  expect(res.statusCode, res.body).toBe(200)
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/)
  const body = res.json()
  expect(fhirProblems(body)).toEqual([])
  return body
}

/** A FHIR error: `status`, a valid OperationOutcome whose one issue has `code` and says why; its body. */
export function expectOutcome (res: LightMyRequestResponse, status: number, code: string): Json {
  expect(res.statusCode, res.body).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/)
  const body = res.json()
  expect(fhirProblems(body)).toEqual([])
  expect(body).toMatchObject({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics: expect.any(String) }]
  })
  return body
}
