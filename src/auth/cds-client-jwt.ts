// Verifies the JWT a CDS client (an EHR) signs to call a CDS service (CDS Hooks 2.0, "Trusting CDS
// Clients"): iss is the EHR's own URL, sub its client id here, aud the CDS service's endpoint, exp
// at most five minutes ahead, jti never used before, kid naming one of its registered keys (jku, when
// sent, must be its registered JWKS URL: keys are only ever taken from the registration). An
// unknown or suspended client and a key that does not verify get one answer, so that the answer does
// not tell a stranger which client ids exist; the precise reason is the error's `reason`.
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type ProtectedHeaderParameters
} from 'jose'
import { RemoteJwksError, type RemoteJwks } from './remote-jwks.ts'
import type { ClientRecord } from '../store/rows.ts'

const MAX_JWT_LENGTH = 16_384
const MAX_LIFETIME_SECONDS = 300
const CLOCK_SKEW_SECONDS = 10
const MAX_CLIENT_ID_LENGTH = 64

export const NOT_SIGNED_BY_A_CDS_CLIENT =
  "CDS Hooks JWT not accepted: it was not signed by an active registered client's key (sub must be the client " +
  'id, kid one of its registered keys)'

export class CdsJwtError extends Error {
  /** Why, precisely (the message, unless the message is NOT_SIGNED_BY_A_CDS_CLIENT). Never for the caller. */
  readonly reason: string
  constructor (message: string, reason?: string) {
    super(message)
    this.name = 'CdsJwtError'
    this.reason = reason ?? message
  }
}

export interface CdsJwtDeps {
  allowedAlgorithms: string[]
  /** The CDS service endpoint URLs the JWT may be addressed to. */
  audiences: string[]
  loadClient: (id: string) => Promise<ClientRecord | undefined>
  /** Records the jti; false when this client already used it (a replay). */
  rememberJti: (clientId: string, jti: string, expiresAt: Date) => Promise<boolean>
  remoteJwks: RemoteJwks
}

/**
 * A JWT that may be a CDS client's: anything that is not one of this service's own access tokens
 * (typ at+jwt, or signed with one of the service's key ids). Undecodable tokens are left to the
 * access-token check, which says what is wrong with them.
 */
export function looksLikeCdsClientJwt (token: string, serviceKids: { has: (kid: string) => boolean }): boolean {
  let header: ProtectedHeaderParameters
  try {
    header = decodeProtectedHeader(token)
  } catch {
    return false
  }
  if (typeof header.typ === 'string' && header.typ.toLowerCase() === 'at+jwt') return false
  return !(typeof header.kid === 'string' && serviceKids.has(header.kid))
}

/** The client's key set for `kid` (its JWKS URL's when it has one), or why there is none. */
async function keySetFor (client: ClientRecord, kid: string, remote: RemoteJwks): Promise<JWTVerifyGetKey | string> {
  if (client.jwksUrl !== null) return await remote.keySet(client.jwksUrl, kid)
  const keys = client.jwks?.keys ?? []
  if (keys.length === 0) return 'client has no registered public keys'
  if (!keys.some(k => k.kid === kid)) return 'kid does not match any registered key of this client'
  return createLocalJWKSet({ keys } as Parameters<typeof createLocalJWKSet>[0])
}

function isHttpUrl (value: string): boolean {
  try {
    const u = new URL(value)
    return u.protocol === 'https:' || u.protocol === 'http:'
  } catch {
    return false
  }
}

/** The registered client the JWT speaks for, and the EHR's iss; throws CdsJwtError. */
export async function verifyCdsClientJwt (
  jwt: string,
  deps: CdsJwtDeps
): Promise<{ client: ClientRecord; iss: string; payload: JWTPayload }> {
  if (jwt.length > MAX_JWT_LENGTH) throw new CdsJwtError(`CDS Hooks JWT is longer than ${MAX_JWT_LENGTH} characters`)
  let header: ProtectedHeaderParameters
  let claims: JWTPayload
  try {
    header = decodeProtectedHeader(jwt)
    claims = decodeJwt(jwt)
  } catch {
    throw new CdsJwtError('Bearer token is neither an access token from POST /oauth2/token nor a signed CDS Hooks JWT')
  }
  const alg = header.alg
  if (typeof alg !== 'string' || !deps.allowedAlgorithms.includes(alg)) {
    throw new CdsJwtError(
      `CDS Hooks JWT alg '${String(alg)}' is not allowed; use one of ${deps.allowedAlgorithms.join(', ')}`
    )
  }
  if (typeof header.kid !== 'string' || header.kid === '') throw new CdsJwtError('CDS Hooks JWT header has no kid')
  if (typeof claims.iss !== 'string' || !isHttpUrl(claims.iss) || claims.iss.length > 2000) {
    throw new CdsJwtError("CDS Hooks JWT iss must be the CDS client's base URL")
  }
  if (typeof claims.sub !== 'string' || claims.sub === '') {
    throw new CdsJwtError("CDS Hooks JWT has no sub claim (it must be the client's client id here)")
  }
  if (typeof claims.jti !== 'string' || claims.jti === '' || claims.jti.length > 255 || claims.jti.includes('\u0000')) {
    throw new CdsJwtError('CDS Hooks JWT must have a jti of at most 255 characters')
  }
  if (typeof claims.exp !== 'number') throw new CdsJwtError('CDS Hooks JWT has no exp claim')

  const registrable = claims.sub.length <= MAX_CLIENT_ID_LENGTH && !claims.sub.includes('\u0000')
  const client = registrable ? await deps.loadClient(claims.sub) : undefined
  if (client === undefined) throw new CdsJwtError(NOT_SIGNED_BY_A_CDS_CLIENT, 'unknown client (sub)')
  if (client.status !== 'active') throw new CdsJwtError(NOT_SIGNED_BY_A_CDS_CLIENT, 'client is suspended')
  let keys: JWTVerifyGetKey | string
  try {
    keys = await keySetFor(client, header.kid, deps.remoteJwks)
  } catch (err) {
    if (err instanceof RemoteJwksError) throw new CdsJwtError(err.message)
    throw err
  }
  if (typeof keys === 'string') throw new CdsJwtError(NOT_SIGNED_BY_A_CDS_CLIENT, keys)

  let payload: JWTPayload
  try {
    ;({ payload } = await jwtVerify(jwt, keys, {
      algorithms: deps.allowedAlgorithms,
      subject: claims.sub,
      audience: deps.audiences,
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'jti']
    }))
  } catch (err) {
    const e = err as { code?: string; claim?: string }
    if (e.code === 'ERR_JWT_EXPIRED') throw new CdsJwtError('CDS Hooks JWT has expired (exp is in the past)')
    if (e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && e.claim === 'aud') {
      throw new CdsJwtError(`CDS Hooks JWT aud must be the CDS service's endpoint: ${deps.audiences.join(' or ')}`)
    }
    if (e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
      throw new CdsJwtError(`CDS Hooks JWT claim ${String(e.claim)} is invalid`)
    }
    throw new CdsJwtError(NOT_SIGNED_BY_A_CDS_CLIENT, `signature does not verify (${String(e.code)})`)
  }
  // Signed by the client's key from here: precise reasons tell nothing to anyone but its holder.
  if (header.jku !== undefined && header.jku !== client.jwksUrl) {
    throw new CdsJwtError('CDS Hooks JWT jku does not match the registered JWKS URL')
  }
  const now = Math.floor(Date.now() / 1000)
  if ((payload.exp as number) > now + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
    throw new CdsJwtError(`CDS Hooks JWT exp is more than ${MAX_LIFETIME_SECONDS} seconds in the future`)
  }
  if (typeof payload.iat === 'number' && payload.iat > now + CLOCK_SKEW_SECONDS) {
    throw new CdsJwtError("CDS Hooks JWT iat is in the future (ahead of the service's clock)")
  }
  const fresh = await deps.rememberJti(
    client.id,
    payload.jti as string,
    new Date(((payload.exp as number) + CLOCK_SKEW_SECONDS) * 1000)
  )
  if (!fresh) throw new CdsJwtError('CDS Hooks JWT jti has already been used (replay)')
  return { client, iss: claims.iss, payload }
}
