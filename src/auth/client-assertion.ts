// Verifies a signed-JWT client assertion (SPEC §4; RFC 7523, as NHS England's
// application-restricted APIs and SMART Backend Services use it). Each failed check has its own
// error_description so that a developer can see which one failed.
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey
} from 'jose'
import { RemoteJwksError, type RemoteJwks } from './remote-jwks.ts'
import type { ClientRecord } from '../store/rows.ts'

export const MAX_ASSERTION_LENGTH = 16_384
const MAX_LIFETIME_SECONDS = 300
const CLOCK_SKEW_SECONDS = 10

export class AssertionError extends Error {
  /** The RFC 6749 error code the token endpoint answers with. */
  readonly error: 'invalid_request' | 'invalid_client'

  constructor (code: 'invalid_request' | 'invalid_client', message: string) {
    super(message)
    this.error = code
  }
}

export interface AssertionDeps {
  allowedAlgorithms: string[]
  audiences: string[]
  loadClient: (id: string) => Promise<ClientRecord | undefined>
  /** Records the jti; false when it was already used by this client (a replay). */
  rememberJti: (clientId: string, jti: string, expiresAt: Date) => Promise<boolean>
  remoteJwks: RemoteJwks
}

/** Registered key sets, imported once for each distinct set of keys. */
const localSets = new Map<string, JWTVerifyGetKey>()

async function keySetFor (client: ClientRecord, kid: string, remote: RemoteJwks): Promise<JWTVerifyGetKey | null> {
  if (client.jwks !== null && client.jwks.keys.length > 0) {
    const version = `${client.id}:${JSON.stringify(client.jwks.keys)}`
    let set = localSets.get(version)
    if (set === undefined) {
      if (localSets.size >= 10_000) localSets.clear()
      set = createLocalJWKSet(client.jwks as Parameters<typeof createLocalJWKSet>[0])
      localSets.set(version, set)
    }
    return set
  }
  if (client.jwksUrl !== null) {
    try {
      return await remote.keySet(client.jwksUrl, kid)
    } catch (err) {
      if (err instanceof RemoteJwksError) throw new AssertionError('invalid_client', err.message)
      throw err
    }
  }
  return null
}

export async function verifyClientAssertion (
  assertion: string,
  clientIdParam: string | undefined,
  deps: AssertionDeps
): Promise<{ client: ClientRecord; payload: JWTPayload }> {
  if (assertion.length > MAX_ASSERTION_LENGTH) {
    throw new AssertionError('invalid_request', `client_assertion is longer than ${MAX_ASSERTION_LENGTH} characters`)
  }
  let header: ReturnType<typeof decodeProtectedHeader>
  let claims: JWTPayload
  try {
    header = decodeProtectedHeader(assertion)
    claims = decodeJwt(assertion)
  } catch {
    throw new AssertionError(
      'invalid_request',
      'client_assertion is not a signed JWT (expected three base64url parts with a JSON header and claims)'
    )
  }
  if (typeof header.alg !== 'string' || !deps.allowedAlgorithms.includes(header.alg)) {
    throw new AssertionError(
      'invalid_client',
      `assertion alg '${String(header.alg)}' is not allowed; use one of ${deps.allowedAlgorithms.join(', ')}`
    )
  }
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw new AssertionError('invalid_client', 'assertion header has no kid')
  }
  if (header.typ !== undefined && (typeof header.typ !== 'string' || header.typ.toUpperCase() !== 'JWT')) {
    throw new AssertionError('invalid_client', `assertion typ must be JWT, not '${String(header.typ).slice(0, 50)}'`)
  }
  if (typeof claims.iss !== 'string' || claims.iss === '') {
    throw new AssertionError('invalid_client', 'assertion has no iss claim (it must be the client id)')
  }
  if (claims.sub !== claims.iss) {
    throw new AssertionError('invalid_client', 'assertion sub must equal iss (the client id)')
  }
  if (clientIdParam !== undefined && clientIdParam !== claims.iss) {
    throw new AssertionError('invalid_client', "client_id does not match the assertion's iss")
  }
  if (typeof claims.jti !== 'string' || claims.jti === '') {
    throw new AssertionError('invalid_client', 'assertion has no jti claim')
  }
  if (claims.jti.length > 255) throw new AssertionError('invalid_client', 'assertion jti is longer than 255 characters')
  // PostgreSQL cannot store NUL in text: refused here rather than failing the jti insert or the client lookup.
  if (claims.jti.includes('\u0000')) {
    throw new AssertionError('invalid_client', 'assertion jti must not contain a NUL character')
  }
  if (claims.iss.includes('\u0000')) {
    throw new AssertionError('invalid_client', 'unknown client (iss is not a registered client id)')
  }
  if (typeof claims.exp !== 'number') throw new AssertionError('invalid_client', 'assertion has no exp claim')

  const client = claims.iss.length <= 64 ? await deps.loadClient(claims.iss) : undefined
  if (client === undefined) {
    throw new AssertionError('invalid_client', 'unknown client (iss is not a registered client id)')
  }
  if (client.status !== 'active') throw new AssertionError('invalid_client', 'client is suspended')
  const keys = await keySetFor(client, header.kid, deps.remoteJwks)
  if (keys === null) throw new AssertionError('invalid_client', 'client has no registered public keys')

  let payload: JWTPayload
  try {
    ;({ payload } = await jwtVerify(assertion, keys, {
      algorithms: deps.allowedAlgorithms,
      issuer: client.id,
      subject: client.id,
      audience: deps.audiences,
      clockTolerance: CLOCK_SKEW_SECONDS,
      requiredClaims: ['exp', 'jti']
    }))
  } catch (err) {
    throw new AssertionError('invalid_client', describeJoseError(err, deps.audiences))
  }
  if (Array.isArray(payload.aud) && payload.aud.length !== 1) {
    throw new AssertionError('invalid_client', `assertion aud must be exactly one of ${deps.audiences.join(' or ')}`)
  }
  const now = Math.floor(Date.now() / 1000)
  if ((payload.exp as number) > now + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
    throw new AssertionError(
      'invalid_client',
      `assertion exp is more than ${MAX_LIFETIME_SECONDS} seconds in the future`
    )
  }
  const fresh = await deps.rememberJti(
    client.id,
    payload.jti as string,
    new Date(((payload.exp as number) + CLOCK_SKEW_SECONDS) * 1000)
  )
  if (!fresh) throw new AssertionError('invalid_client', 'assertion jti has already been used (replay)')
  return { client, payload }
}

function describeJoseError (err: unknown, audiences: string[]): string {
  const e = err as { code?: string; claim?: string; message?: string }
  switch (e.code) {
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'assertion kid does not match any registered key of this client'
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'assertion signature does not verify with the registered key'
    case 'ERR_JWT_EXPIRED':
      return 'assertion has expired (exp is in the past)'
    case 'ERR_JWKS_TIMEOUT':
      return "the client's JWKS URL did not answer in time"
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'assertion alg is not allowed'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'aud') return `assertion aud must be ${audiences.join(' or ')}`
      if (e.claim === 'nbf') return 'assertion is not valid yet (nbf is in the future)'
      if (e.claim === 'iat') return 'assertion iat is in the future'
      return `assertion claim ${String(e.claim)} is invalid`
    default:
      return 'assertion could not be verified'
  }
}
