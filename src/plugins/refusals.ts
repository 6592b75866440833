// Refused attempts in the patient's trail (SPEC §3 "Audit"): a 403 (a scope or a purpose the caller
// is not allowed) to an authenticated caller, for a request that names a patient, is written as an
// access.refused event before the answer leaves. A 401 is never written per patient: anyone could
// fill the audit with them (they are counted in metrics and logs). The patient may be named in the
// path, the query (?nhsNumber=, FHIR's patient identifier tokens), the JSON body or CDS Hooks'
// context.patientId; only a valid NHS number names one.
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { isOdsCode } from '../domain/clients.ts'
import { RBAC_ROLE_PATTERN, isSdsUserId, type EndUser } from '../domain/end-user.ts'
import { parseNhsNumber } from '../domain/nhs-number.ts'
import { Problem } from '../domain/problems.ts'
import type { PurposeCatalog } from '../domain/purposes.ts'
import { nhsNumberToken } from '../fhir/resources.ts'
import { SYSTEMS, resolvePurposeOfUse } from '../fhir/terminology.ts'
import { askedBy } from '../services/types.ts'

/** Query parameters that name a patient: this API's, and FHIR's identifier tokens (system|value). */
const PATIENT_PARAMS = [
  'nhsNumber',
  'patient',
  'patient.identifier',
  'patient:identifier',
  'identifier',
  'subject',
  'subject.identifier',
  'subject:identifier'
]
/** A request naming more patients than this is refused for each of the first ones only (CDS Hooks allows 10). */
const MAX_PATIENTS = 10
const RBAC_ROLE = new RegExp(RBAC_ROLE_PATTERN)

type Fields = Record<string, unknown>
const fieldsOf = (value: unknown): Fields | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : undefined

/** Why the caller was refused: a scope its token lacks, a purpose it is not registered for, or else. */
export type RefusalReason = 'scope' | 'purpose' | 'other'

function reasonOf (problem: Problem, deferredScope: boolean): RefusalReason {
  if (deferredScope) return 'scope'
  if (/registered for purpose/.test(problem.detail)) return 'purpose'
  return /\bscope\b/.test(problem.detail) ? 'scope' : 'other'
}

/** The valid NHS numbers a request names, in the order path, query, body; at most MAX_PATIENTS. */
export function patientsNamed (request: FastifyRequest): string[] {
  const found = new Set<string>()
  const add = (value: unknown): void => {
    const parsed = parseNhsNumber(value)
    if (parsed.ok) found.add(parsed.value)
  }
  add(fieldsOf(request.params)?.nhsNumber)
  const query = fieldsOf(request.query)
  for (const name of PATIENT_PARAMS) {
    for (const value of [query?.[name]].flat()) {
      if (typeof value !== 'string') continue
      const token = nhsNumberToken(value)
      if (token.ok) add(token.value)
    }
  }
  const body = fieldsOf(request.body)
  add(body?.nhsNumber)
  const patientIds = fieldsOf(body?.context)?.patientId
  if (Array.isArray(patientIds)) {
    for (const id of patientIds.slice(0, MAX_PATIENTS)) {
      const identifier = fieldsOf(id)
      if (identifier?.system === SYSTEMS.nhsNumber) add(identifier.value)
    }
  }
  return [...found].slice(0, MAX_PATIENTS)
}

/**
 * The purpose the refusal concerns, when one can be told: the one the refusal names, else the one
 * the request asked about (body or query purpose, CDS Hooks purposeOfUse). Only a purpose of the
 * catalogue: never the caller's free text.
 */
function purposeNamed (request: FastifyRequest, problem: Problem, catalog: PurposeCatalog): string | null {
  const body = fieldsOf(request.body)
  const candidates: unknown[] = [
    /purpose '([^']{1,100})'/.exec(problem.detail)?.[1],
    body?.purpose,
    fieldsOf(request.query)?.purpose
  ]
  for (const c of candidates) if (typeof c === 'string' && catalog.get(c) !== undefined) return c
  const asked = fieldsOf(body?.context)?.purposeOfUse
  const resolved = new Set<string>()
  for (const code of [asked].flat().slice(0, MAX_PATIENTS)) {
    if (typeof code !== 'string') continue
    const r = resolvePurposeOfUse(catalog, code)
    if (r.ok) resolved.add(r.purpose)
  }
  return resolved.size === 1 ? [...resolved][0] : null
}

/** The end user the body names, kept only where it is well-formed (the body was not validated). */
function endUserNamed (request: FastifyRequest): EndUser | null {
  const e = fieldsOf(fieldsOf(request.body)?.endUser)
  if (e === undefined || !isSdsUserId(e.id)) return null
  return {
    id: e.id,
    ...(typeof e.name === 'string' && e.name.length > 0 && e.name.length <= 200 ? { name: e.name } : {}),
    ...(typeof e.role === 'string' && RBAC_ROLE.test(e.role) ? { role: e.role } : {}),
    ...(isOdsCode(e.organisation) ? { organisation: e.organisation } : {})
  }
}

export default fp(
  async function refusals (fastify: FastifyInstance) {
    const { audit, registry } = fastify.runtime
    // onError runs before the error handler answers, and Fastify waits for it: the event is
    // committed before the 403 leaves. Inherited by every route (/v1, /fhir, CDS Hooks).
    fastify.addHook('onError', async (request, _reply, error) => {
      const caller = request.caller
      const refusal = request.refusal ?? (error instanceof Problem && error.kind === 'forbidden' ? error : null)
      if (caller === null || refusal === null) return
      const patients = patientsNamed(request)
      if (patients.length === 0) return
      const purpose = purposeNamed(request, refusal, registry.catalog)
      const details = {
        reason: reasonOf(refusal, refusal === request.refusal),
        detail: refusal.detail,
        method: request.method,
        route: request.routeOptions.url ?? null
      }
      try {
        await Promise.all(
          patients.map(
            async nhsNumber =>
              await audit.record({
                type: 'access.refused',
                ...askedBy(caller, endUserNamed(request)),
                nhsNumber,
                purpose,
                outcome: 'refused',
                details
              })
          )
        )
      } catch (err) {
        // The caller is refused either way; the missing event must be seen by whoever runs the service.
        request.log.error(
          { err: { name: (err as Error).name }, refused: details.reason, route: details.route },
          'a refused request could not be audited (access.refused)'
        )
      }
    })
  },
  { name: 'refusals', dependencies: ['runtime', 'auth'] }
)
