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

/**
 * Checks the fields of a registration (`creating`) or of a change. A client has exactly one key
 * source, inline public keys (`jwks`) or a JWKS URL (`jwksUrl`): setting one clears the other
 * (src/store/clients.ts does it in the same write), so both in one request is refused, and null
 * is accepted only for the one being cleared, beside the other (a client always has a key source).
 */
export async function validateClientFields (
  catalog: PurposeCatalog,
  f: ClientFields,
  allowedAlgorithms: string[],
  creating = false
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
  errors.push(...keySourceErrors(f, creating))
  if (f.jwks !== undefined && f.jwks !== null) {
    if (f.jwks.keys.length === 0) errors.push({ path: '/jwks/keys', message: 'must hold at least one public key' })
    for (const err of await validateJwks(f.jwks, allowedAlgorithms)) {
      errors.push({ path: `/jwks${err.path}`, message: err.message })
    }
  }
  if (f.jwksUrl !== undefined && f.jwksUrl !== null) errors.push(...jwksUrlErrors(f.jwksUrl))
  return errors
}

function keySourceErrors (f: ClientFields, creating: boolean): FieldError[] {
  const keys = f.jwks !== undefined && f.jwks !== null
  const url = f.jwksUrl !== undefined && f.jwksUrl !== null
  if (keys && url) {
    return [
      {
        path: '/jwksUrl',
        message: 'send jwks or jwksUrl, not both: a client has exactly one key source (setting one clears the other)'
      }
    ]
  }
  if (creating && !keys && !url) return [{ path: '/jwks', message: 'send jwks (public keys with kids) or jwksUrl' }]
  if (f.jwks === null && !url) {
    return [
      {
        path: '/jwks',
        message: 'may be null only beside a jwksUrl: a client always has a key source (a jwksUrl alone clears jwks)'
      }
    ]
  }
  if (f.jwksUrl === null && !keys) {
    return [
      {
        path: '/jwksUrl',
        message: 'may be null only beside jwks: a client always has a key source (jwks alone clears jwksUrl)'
      }
    ]
  }
  return []
}

/**
 * The rules for a JWKS URL (SECURITY.md T14): absolute, https (http only for localhost), and no
 * credentials, which would be stored, shown to administrators and audited. No message repeats the URL.
 */
function jwksUrlErrors (value: string): FieldError[] {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return [{ path: '/jwksUrl', message: 'must be an absolute URL' }]
  }
  const errors: FieldError[] = []
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    errors.push({ path: '/jwksUrl', message: 'must use https (http only for localhost)' })
  }
  if (url.username !== '' || url.password !== '') {
    errors.push({
      path: '/jwksUrl',
      message: 'must not hold credentials (user:password@): credentials are not allowed in the URL'
    })
  }
  return errors
}
