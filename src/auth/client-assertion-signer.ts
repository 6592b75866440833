// Signs a client assertion (RFC 7523, SPEC §4): what a client sends to POST /oauth2/token. The CLI's
// `token` command, the benchmark and the tests all sign with this one function, so they all send
// what the verifier (client-assertion.ts) expects. Tests that probe the verifier override or remove
// any claim or header parameter through `extraClaims` and `header` (an `undefined` value removes it).
import { randomUUID } from 'node:crypto'
import { calculateJwkThumbprint, SignJWT, type JWK, type KeyInput } from 'jose'

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** Lifetime of an assertion when `exp` is not given: well inside the verifier's 300-second ceiling. */
export const DEFAULT_ASSERTION_LIFETIME_SECONDS = 60

export interface ClientAssertionOptions {
  clientId: string
  /** The client's private key; a private JWK also supplies the default alg and kid. */
  key: KeyInput
  kid?: string
  alg?: string
  /** The token endpoint's URL (the `aud` claim). */
  audience: string | string[]
  jti?: string
  /** Seconds since the epoch; default now. */
  iat?: number
  /** Seconds since the epoch; default iat + DEFAULT_ASSERTION_LIFETIME_SECONDS. */
  exp?: number
  /** Claims added last: they override the standard ones, and an undefined value removes one. */
  extraClaims?: Record<string, unknown>
  /** Protected header parameters added last, the same way. */
  header?: Record<string, unknown>
}

function isJwk (key: KeyInput): key is JWK {
  return !(key instanceof Uint8Array) && 'kty' in key && typeof key.kty === 'string'
}

/** The algorithm a JWK without `alg` is used with. */
function algorithmFor (jwk: JWK): string {
  if (jwk.kty === 'RSA') return 'RS512'
  if (jwk.crv === 'P-256') return 'ES256'
  if (jwk.crv === 'P-521') return 'ES512'
  return 'ES384'
}

function withoutUndefined (entries: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined))
}

export async function signClientAssertion (o: ClientAssertionOptions): Promise<string> {
  const jwk = isJwk(o.key) ? o.key : undefined
  const alg = o.alg ?? jwk?.alg ?? (jwk !== undefined ? algorithmFor(jwk) : undefined)
  if (alg === undefined) throw new Error('signClientAssertion: alg is needed unless the key is a JWK')
  const kid = o.kid ?? (jwk !== undefined ? (jwk.kid ?? (await calculateJwkThumbprint(jwk))) : undefined)
  const iat = o.iat ?? Math.floor(Date.now() / 1000)
  const claims = withoutUndefined({
    iss: o.clientId,
    sub: o.clientId,
    aud: o.audience,
    iat,
    exp: o.exp ?? iat + DEFAULT_ASSERTION_LIFETIME_SECONDS,
    jti: o.jti ?? randomUUID(),
    ...o.extraClaims
  })
  const header = withoutUndefined({ alg, kid, typ: 'JWT', ...o.header })
  return await new SignJWT(claims)
    .setProtectedHeader(header as { alg: string })
    .sign(o.key)
}
