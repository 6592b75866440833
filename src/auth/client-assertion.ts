// Verifies a signed-JWT client assertion (SPEC §4; RFC 7523, as NHS England's
// application-restricted APIs and SMART Backend Services use it). Each failed check has its own
// error_description so that a developer can see which one failed, except those that would tell a
// stranger whether a client id is registered: an unknown or suspended client and a key that does not
// verify all get NOT_SIGNED_BY_A_CLIENT, after the same work, and the precise reason goes to the audit.
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey
} from 'jose'
import { RemoteJwksError, type RemoteJwks } from './remote-jwks.ts'
import type { ClientRecord } from '../store/rows.ts'

export const MAX_ASSERTION_LENGTH = 16_384
const MAX_LIFETIME_SECONDS = 300
const CLOCK_SKEW_SECONDS = 10

/**
 * The one answer for an assertion that no active registered client's key verifies: an unknown or
 * suspended client, a kid that names none of the client's keys, a client without keys, a signature
 * that does not verify. Telling these apart would tell a stranger which client ids exist; the
 * precise reason is the AssertionError's `reason`, for the audit.
 */
export const NOT_SIGNED_BY_A_CLIENT =
  "client authentication failed: the assertion was not signed by an active registered client's key " +
  '(check iss, kid and the signing key)'

export class AssertionError extends Error {
  /** The RFC 6749 error code the token endpoint answers with. */
  readonly error: 'invalid_request' | 'invalid_client'
  /** Why, precisely: the message unless the message is NOT_SIGNED_BY_A_CLIENT. For the audit, never the caller. */
  readonly reason: string
  /** The registered client the assertion names (whatever its status), or null when it names none. */
  readonly clientId: string | null

  constructor (
    code: 'invalid_request' | 'invalid_client',
    message: string,
    context: { reason?: string; clientId?: string | null } = {}
  ) {
    super(message)
    this.error = code
    this.reason = context.reason ?? message
    this.clientId = context.clientId ?? null
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

const NO_SUCH_KID = 'assertion kid does not match any registered key of this client'

/**
 * How many of the client's keys an assertion without `kid` is tried against. Standard clients
 * (openid-client, oauth4webapi) send no kid unless told one; a client rotating its key holds two.
 * Every assertion without kid that no key verifies costs this many verifications (stand-ins make up
 * the number), so the answer's timing does not tell how many keys a client has, or whether it exists.
 */
export const MAX_KIDLESS_KEYS = 5

/**
 * The client's keys (those at its JWKS URL when it has one: the URL wins over inline keys left
 * over), or why none can verify an assertion naming `kid` (or naming none). An inline kid is looked
 * up here, not left to jose, whose miss costs an exception that a stand-in verification does not.
 */
async function keySetFor (
  client: ClientRecord,
  kid: string | undefined,
  remote: RemoteJwks
): Promise<JWTVerifyGetKey | string> {
  if (client.jwksUrl !== null) return await remote.keySet(client.jwksUrl, kid)
  const registered = client.jwks?.keys ?? []
  if (registered.length === 0) return 'client has no registered public keys'
  if (kid !== undefined && !registered.some(k => k.kid === kid)) return NO_SUCH_KID
  const version = `${client.id}:${JSON.stringify(registered)}`
  let set = localSets.get(version)
  if (set === undefined) {
    if (localSets.size >= 10_000) localSets.clear()
    set = createLocalJWKSet({ keys: registered } as Parameters<typeof createLocalJWKSet>[0])
    localSets.set(version, set)
  }
  return set
}

/**
 * Per algorithm, a key set holding one public key whose private half was never kept. An assertion
 * with no registered key to check it against is checked against this one instead (and refused
 * whatever the result): an unknown or suspended client then costs the key lookup and signature
 * verification a wrong key costs, and the answer's timing does not tell them apart.
 */
const standIns = new Map<string, Promise<JWTVerifyGetKey>>()
const STAND_IN_KID = 'stand-in'

function standInSet (alg: string): Promise<JWTVerifyGetKey> {
  let set = standIns.get(alg)
  if (set === undefined) {
    set = generateKeyPair(alg).then(async ({ publicKey }) =>
      createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: STAND_IN_KID, alg }] })
    )
    standIns.set(alg, set)
    // A failed key is made again on next use rather than failing every later request.
    set.catch(() => standIns.delete(alg))
  }
  return set
}

type VerificationKey = Awaited<ReturnType<JWTVerifyGetKey>>
/** jose's key lookup reads only the header; the token argument is required by its type. */
const NO_TOKEN = { payload: '', signature: '' }

async function standInKey (alg: string): Promise<VerificationKey> {
  return await (await standInSet(alg))({ alg, kid: STAND_IN_KID }, NO_TOKEN)
}

/**
 * The keys of `keys` that may have signed an assertion with this header: the one its kid names, or
 * (no kid) each that fits its alg, at most MAX_KIDLESS_KEYS; or why there is none to try.
 */
async function candidateKeys (
  keys: JWTVerifyGetKey,
  header: { alg: string; kid?: string }
): Promise<VerificationKey[] | string> {
  try {
    return [await keys(header, NO_TOKEN)]
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (code === 'ERR_JWKS_NO_MATCHING_KEY') {
      if (header.kid !== undefined) return NO_SUCH_KID
      return `assertion has no kid and no key of this client fits ${header.alg}`
    }
    if (code !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') {
      return `the registered key cannot verify ${header.alg} (${String(code)})`
    }
    if (header.kid !== undefined) return 'more than one key at the JWKS URL has this kid'
    const found: VerificationKey[] = []
    for await (const key of err as AsyncIterable<VerificationKey>) {
      if (found.length === MAX_KIDLESS_KEYS) {
        return `assertion has no kid and more than ${MAX_KIDLESS_KEYS} keys of this client fit ${header.alg}`
      }
      found.push(key)
    }
    return found
  }
}

/** Makes the stand-in keys ahead of the first request that needs one (an RSA key takes tens of milliseconds). */
export function prepareStandInKeys (algorithms: readonly string[]): void {
  for (const alg of algorithms) standInSet(alg).catch(() => {})
}

/** jose's errors that can only follow a verified signature: the claims of a validly signed assertion. */
const CLAIM_ERRORS = new Set(['ERR_JWT_EXPIRED', 'ERR_JWT_CLAIM_VALIDATION_FAILED', 'ERR_JWT_INVALID'])

export async function verifyClientAssertion (
  assertion: string,
  clientIdParam: string | undefined,
  deps: AssertionDeps
): Promise<{ client: ClientRecord; payload: JWTPayload }> {
  // Every check up to the client lookup depends on the assertion alone, never on the client, so
  // its answer is the same whether or not the client exists.
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
  const alg = header.alg
  if (typeof alg !== 'string' || !deps.allowedAlgorithms.includes(alg)) {
    throw new AssertionError(
      'invalid_client',
      `assertion alg '${String(alg)}' is not allowed; use one of ${deps.allowedAlgorithms.join(', ')}`
    )
  }
  // No kid is accepted (the client's keys are tried); a kid that is there must name a key.
  const kid = header.kid
  if (kid !== undefined && (typeof kid !== 'string' || kid === '')) {
    throw new AssertionError('invalid_client', 'assertion kid must be a non-empty string when present')
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
  if (typeof claims.exp !== 'number') throw new AssertionError('invalid_client', 'assertion has no exp claim')

  // No id that long or holding a NUL is ever registered: such an iss is an unknown client, checked as one.
  const registrable = claims.iss.length <= 64 && !claims.iss.includes('\u0000')
  const lookedUp = registrable ? await deps.loadClient(claims.iss) : undefined
  const clientId = lookedUp?.id ?? null
  const refused = (message: string, reason?: string): AssertionError =>
    new AssertionError('invalid_client', message, { reason, clientId })

  // Why no registered key can verify this assertion, once that is known; the caller is told only
  // NOT_SIGNED_BY_A_CLIENT, after the same signature checks as any other assertion.
  let unverifiable: string | null = null
  let candidates: VerificationKey[] = []
  if (lookedUp === undefined) unverifiable = 'unknown client (iss is not a registered client id)'
  else if (lookedUp.status !== 'active') unverifiable = 'client is suspended'
  else {
    let found: VerificationKey[] | string
    try {
      const keys = await keySetFor(lookedUp, kid, deps.remoteJwks)
      found = typeof keys === 'string' ? keys : await candidateKeys(keys, { alg, kid })
    } catch (err) {
      if (err instanceof RemoteJwksError) throw refused(err.message)
      throw err
    }
    if (typeof found === 'string') unverifiable = found
    else candidates = found
  }

  // One verification for an assertion naming its key; MAX_KIDLESS_KEYS for one naming none, unless
  // a key verifies it sooner. Stand-ins make up the number when the client has fewer keys.
  const attempts = kid === undefined ? MAX_KIDLESS_KEYS : 1
  let payload: JWTPayload | undefined
  let failure: unknown
  for (let i = 0; i < attempts && payload === undefined; i++) {
    const real = i < candidates.length
    try {
      ;({ payload } = await jwtVerify(assertion, real ? candidates[i] : await standInKey(alg), {
        algorithms: deps.allowedAlgorithms,
        issuer: claims.iss,
        subject: claims.iss,
        audience: deps.audiences,
        clockTolerance: CLOCK_SKEW_SECONDS,
        requiredClaims: ['exp', 'jti']
      }))
      if (!real) payload = undefined
    } catch (err) {
      if (!real) continue
      failure ??= err
      // This key verified the signature: the assertion is the client's, and what is wrong is its claims.
      if (CLAIM_ERRORS.has(String((err as { code?: unknown }).code))) {
        failure = err
        break
      }
    }
  }
  if (payload === undefined) {
    const reason = unverifiable ?? describeJoseError(failure, deps.audiences)
    const signed = unverifiable === null && CLAIM_ERRORS.has(String((failure as { code?: unknown } | undefined)?.code))
    throw signed ? refused(reason) : refused(NOT_SIGNED_BY_A_CLIENT, reason)
  }
  // Unreachable (nobody holds a stand-in's private key), and refused should it ever be reached.
  if (unverifiable !== null || lookedUp === undefined) throw refused(NOT_SIGNED_BY_A_CLIENT, unverifiable ?? undefined)
  const client = lookedUp

  // From here the assertion is signed by the client's key: saying precisely what is wrong tells
  // nothing to anyone but the key's holder.
  if (header.jku !== undefined && header.jku !== client.jwksUrl) {
    // Keys are only ever taken from the registration: a jku is never fetched, and one naming
    // another set (or any set, for a client with inline keys) is refused rather than ignored.
    throw refused('assertion jku does not match the registered JWKS URL')
  }
  if (Array.isArray(payload.aud) && payload.aud.length !== 1) {
    throw refused(`assertion aud must be exactly one of ${deps.audiences.join(' or ')}`)
  }
  const now = Math.floor(Date.now() / 1000)
  if ((payload.exp as number) > now + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS) {
    throw refused(`assertion exp is more than ${MAX_LIFETIME_SECONDS} seconds in the future`)
  }
  // iat is optional; when present it must not be ahead of the service's clock by more than the skew.
  if (typeof payload.iat === 'number' && payload.iat > now + CLOCK_SKEW_SECONDS) {
    throw refused(
      `assertion iat is in the future (more than ${CLOCK_SKEW_SECONDS} seconds ahead of the service's clock)`
    )
  }
  const fresh = await deps.rememberJti(
    client.id,
    payload.jti as string,
    new Date(((payload.exp as number) + CLOCK_SKEW_SECONDS) * 1000)
  )
  if (!fresh) throw refused('assertion jti has already been used (replay)')
  return { client, payload }
}

function describeJoseError (err: unknown, audiences: string[]): string {
  const e = err as { code?: string; claim?: string; message?: string }
  switch (e.code) {
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'more than one key at the JWKS URL has this kid'
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'assertion signature does not verify with the registered key'
    case 'ERR_JWT_EXPIRED':
      return 'assertion has expired (exp is in the past)'
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'assertion alg is not allowed'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'aud') return `assertion aud must be ${audiences.join(' or ')}`
      if (e.claim === 'nbf') return 'assertion is not valid yet (nbf is in the future)'
      if (e.claim === 'iat') return 'assertion iat must be a number (seconds since the epoch)'
      return `assertion claim ${String(e.claim)} is invalid`
    default:
      return 'assertion could not be verified'
  }
}
