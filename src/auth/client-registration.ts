// Checks a client registration or change, for the admin API and the CLI alike.
import { validateExemption } from '../domain/exemptions.ts'
import type { PurposeCatalog } from '../domain/purposes.ts'
import { isScope, SCOPES } from '../domain/scopes.ts'
import type { FieldError } from '../domain/problems.ts'
import { validateJwks } from './client-keys.ts'

/** An exemption as an administrator sends it: the basis is checked here, with its reasons. */
export interface ExemptionInput {
  purpose: string
  basis: string
  reference: string
}

export interface ClientFields {
  scopes?: string[]
  purposes?: string[]
  exemptions?: ExemptionInput[]
  jwks?: { keys: Array<Record<string, unknown>> } | null
  jwksUrl?: string | null
}

export async function validateClientFields (
  catalog: PurposeCatalog,
  f: ClientFields,
  allowedAlgorithms: string[]
): Promise<FieldError[]> {
  const errors: FieldError[] = []
  f.scopes?.forEach((s, i) => {
    if (!isScope(s)) {
      errors.push({ path: `/scopes/${i}`, message: `unknown scope '${s}'; scopes are ${SCOPES.join(', ')}` })
    }
  })
  f.purposes?.forEach((p, i) => {
    if (catalog.get(p) === undefined) errors.push({ path: `/purposes/${i}`, message: `unknown purpose '${p}'` })
  })
  f.exemptions?.forEach((e, i) => {
    for (const err of validateExemption(catalog, e)) {
      errors.push({ path: `/exemptions/${i}${err.path}`, message: err.message })
    }
  })
  if (f.jwks !== undefined && f.jwks !== null) {
    if (f.jwks.keys.length === 0) errors.push({ path: '/jwks/keys', message: 'must hold at least one public key' })
    for (const err of await validateJwks(f.jwks, allowedAlgorithms)) {
      errors.push({ path: `/jwks${err.path}`, message: err.message })
    }
  }
  if (f.jwksUrl !== undefined && f.jwksUrl !== null) {
    let url: URL | null = null
    try {
      url = new URL(f.jwksUrl)
    } catch {
      errors.push({ path: '/jwksUrl', message: 'must be an absolute URL' })
    }
    const local = url !== null && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
    if (url !== null && url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
      errors.push({ path: '/jwksUrl', message: 'must use https (http only for localhost)' })
    }
  }
  return errors
}
