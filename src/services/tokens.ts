// Token issuing (SPEC §4: signed-JWT client credentials, RFC 6749 §4.4 with RFC 7523 client
// authentication) and bearer authentication of every protected request. Credentials are checked
// first, always: valid ones are never refused because of anyone's failures. Failures of both spend
// from one failure budget (services/failure-budget.ts); a failure beyond it is answered 429 instead
// of 401, so neither endpoint can be used to make the service explain many failures at speed.
import { decodeJwt } from 'jose'
import { Problem, forbidden, tooManyRequests, unauthenticated } from '../domain/problems.ts'
import { SCOPES, SMART_SCOPES, serviceScopeFor, type Scope } from '../domain/scopes.ts'
import { AssertionError, prepareStandInKeys, verifyClientAssertion } from '../auth/client-assertion.ts'
import { CLIENT_ASSERTION_TYPE } from '../auth/client-assertion-signer.ts'
import { RemoteJwks } from '../auth/remote-jwks.ts'
import type { Runtime } from '../runtime.ts'
import { isStoreUnavailable } from '../store/store-errors.ts'
import { CLAIMED_ID_LENGTH, FailureBudget } from './failure-budget.ts'
import type { Authenticated } from './types.ts'

/** The RFC 6749 §5.2 error codes token issuing answers with (a 429 is temporarily_unavailable). */
export const OAUTH_ERRORS = ['invalid_request', 'invalid_client', 'unsupported_grant_type', 'invalid_scope'] as const
export type OAuthErrorCode = (typeof OAUTH_ERRORS)[number]

/**
 * What token issuing refuses, in the protocol's own words. A Problem like any other (invalid_client
 * is unauthenticated, the rest invalid), so its status is decided where every status is.
 */
export class OAuthError extends Problem {
  constructor (
    readonly error: OAuthErrorCode,
    description: string
  ) {
    super(error === 'invalid_client' ? 'unauthenticated' : 'invalid', description)
    this.name = 'OAuthError'
  }
}

/** The token request's form parameters (RFC 6749 §4.4.2, RFC 7523 §2.2), unchecked. */
export interface TokenRequest {
  grantType?: string
  clientAssertionType?: string
  clientAssertion?: string
  clientId?: string
  scope?: string
}

export interface IssuedToken {
  accessToken: string
  expiresIn: number
  /** The service scopes the access token carries (what requireScope checks). */
  scopes: string[]
  /** The token answer's `scope`: the names the client asked for (SMART aliases as asked), else `scopes`. */
  grantedNames: string[]
}

/** Who is asking, as far as the transport knows: for failure budgets and the audit trail. */
export interface RequestOrigin {
  ip: string
  requestId: string
  /** The token request's X-Correlation-ID, recorded on token.issued like on every event (SPEC §3). */
  correlationId?: string | null
  /** Where to report what the caller is not told (a refusal that could not be audited). */
  log?: { error: (fields: Record<string, unknown>, message: string) => void }
}

/** The client an assertion claims to be (unverified: only to key the failure budget). */
function claimedClient (assertion: string): string | undefined {
  try {
    const iss = decodeJwt(assertion).iss
    return typeof iss === 'string' ? iss : undefined
  } catch {
    return undefined
  }
}

export class TokenService {
  /** The token endpoint's URL: an assertion's aud must be it (or the issuer). */
  readonly endpoint: string
  private readonly budget: FailureBudget
  /** Clients' JWKS URLs, fetched and cached (its fetch and failure counts are published in /metrics). */
  readonly remoteJwks = new RemoteJwks()

  constructor (private readonly runtime: Runtime) {
    this.endpoint = `${runtime.config.publicUrl}/oauth2/token`
    this.budget = new FailureBudget(runtime.counters, runtime.config.tokenFailuresPerMinute)
    prepareStandInKeys(runtime.config.assertionAlgorithms)
  }

  /**
   * An access token for a client that proves who it is with a signed assertion, carrying the
   * scopes it asked for (all it holds when it asks for none), audited as token.issued. A refused
   * request is audited as token.refused with the precise reason, until its budget is spent.
   */
  async issue (request: TokenRequest, origin: RequestOrigin): Promise<IssuedToken> {
    const { config, registry, tokens, audit, usedAssertions } = this.runtime
    const assertion = this.checkGrant(request)
    let verified
    try {
      verified = await verifyClientAssertion(assertion, request.clientId, {
        allowedAlgorithms: config.assertionAlgorithms,
        audiences: [this.endpoint, config.publicUrl],
        loadClient: async id => await registry.reloadClient(id),
        rememberJti: async (clientId, jti, expiresAt) => await usedAssertions.remember(clientId, jti, expiresAt),
        remoteJwks: this.remoteJwks
      })
    } catch (err) {
      throw await this.refuseToken(err, claimedClient(assertion) ?? request.clientId, origin)
    }
    const { client } = verified
    let scopes: string[]
    let grantedNames: string[]
    try {
      ;({ scopes, names: grantedNames } = grantedScopes(client.scopes, request.scope))
    } catch (err) {
      // Authenticated: not a failure of the budget's kind, but a refusal the client's trail shows.
      if (err instanceof OAuthError) await this.auditRefusal(origin, client.id, err.error, err.detail)
      throw err
    }
    const accessToken = await tokens.mint(client.id, scopes)
    await audit.record({
      type: 'token.issued',
      clientId: client.id,
      requestId: origin.requestId,
      correlationId: origin.correlationId ?? null,
      outcome: 'issued',
      details: {
        scopes,
        expiresIn: tokens.ttl,
        ...(grantedNames.some(n => !scopes.includes(n)) ? { requestedScopes: grantedNames } : {})
      }
    })
    return { accessToken, expiresIn: tokens.ttl, scopes, grantedNames }
  }

  /**
   * The caller a bearer token speaks for, holding `scope` when one is named. Only a refused token
   * spends from the address's failure budget, and only once that is spent is it answered 429; a
   * valid token costs the budget nothing, not even a look (this runs on every decision).
   */
  async authenticate (
    authorization: string | undefined,
    ip: string,
    scope?: Scope | readonly Scope[]
  ): Promise<Authenticated> {
    let caller: Authenticated
    try {
      caller = await this.verifyBearer(authorization)
    } catch (err) {
      if (err instanceof Problem && err.kind === 'unauthenticated') {
        const retryAfter = this.budget.fail({ ip })
        if (retryAfter !== null) {
          throw tooManyRequests(
            `Too many failed authentications from this address; retry after ${retryAfter} seconds`,
            retryAfter
          )
        }
      }
      throw err
    }
    const refused = scope === undefined ? null : scopeRefusal(caller, scope)
    if (refused !== null) throw refused
    return caller
  }

  /**
   * What a token request whose client authentication failed is answered: its refusal, counted
   * against the failure budget and audited, or a 429 once the budget is spent. A failure that is
   * not the assertion's (a bug: a 500) is counted too, so it cannot be provoked without limit; a
   * store outage is not a failure of the caller's and stays a 503, neither counted nor audited.
   */
  private async refuseToken (err: unknown, claimed: string | undefined, origin: RequestOrigin): Promise<unknown> {
    if ((err instanceof Problem && err.kind === 'unavailable') || isStoreUnavailable(err)) return err
    const retryAfter = this.budget.fail({ ip: origin.ip, claimedClient: claimed })
    if (retryAfter !== null) {
      return tooManyRequests(`too many failed token requests; retry after ${retryAfter} seconds`, retryAfter)
    }
    if (!(err instanceof AssertionError)) {
      const name = String((err as Error | null)?.name)
      await this.auditRefusal(origin, null, 'server_error', `unexpected error (${name})`, claimed)
      return err
    }
    await this.auditRefusal(origin, err.clientId, err.error, err.reason, err.clientId === null ? claimed : undefined)
    return new OAuthError(err.error, err.message)
  }

  /**
   * A token.refused event: the registered client when the request named one, else the id it
   * claimed (cut short: it is unverified input). The reason is the precise one, which the answer
   * may not give. The caller is refused either way: an event that cannot be written is logged.
   */
  private async auditRefusal (
    origin: RequestOrigin,
    clientId: string | null,
    error: string,
    reason: string,
    claimed?: string
  ): Promise<void> {
    try {
      await this.runtime.audit.record({
        type: 'token.refused',
        clientId,
        requestId: origin.requestId,
        correlationId: origin.correlationId ?? null,
        outcome: 'refused',
        details: {
          error,
          reason,
          address: origin.ip,
          ...(claimed !== undefined ? { claimedClientId: claimed.slice(0, CLAIMED_ID_LENGTH) } : {})
        }
      })
    } catch (auditErr) {
      origin.log?.error(
        { err: { name: (auditErr as Error).name }, refused: error },
        'a refused token request could not be audited (token.refused)'
      )
    }
  }

  /** The request's grant and client authentication method; returns the assertion. */
  private checkGrant (request: TokenRequest): string {
    if (request.grantType === undefined) {
      throw new OAuthError('invalid_request', 'grant_type is required (client_credentials)')
    }
    if (request.grantType !== 'client_credentials') {
      throw new OAuthError(
        'unsupported_grant_type',
        `grant_type '${request.grantType.slice(0, 50)}' is not supported; use client_credentials`
      )
    }
    if (request.clientAssertionType !== CLIENT_ASSERTION_TYPE) {
      throw new OAuthError('invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`)
    }
    if (request.clientAssertion === undefined || request.clientAssertion === '') {
      throw new OAuthError('invalid_request', 'client_assertion is required')
    }
    return request.clientAssertion
  }

  /**
   * The token says who the client is; the registry (kept current by the change feed) says whether
   * it is still active and which of the token's scopes it still holds.
   */
  private async verifyBearer (authorization: string | undefined): Promise<Authenticated> {
    const { tokens, registry } = this.runtime
    if (authorization === undefined) {
      throw unauthenticated(
        'Missing Authorization header: send "Authorization: Bearer <access token>" from POST /oauth2/token'
      )
    }
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization)
    if (match === null) throw unauthenticated('Authorization header must be "Bearer <access token>"')
    const verified = await tokens.verify(match[1])
    if (typeof verified === 'string') throw unauthenticated(verified)
    const client = registry.cachedClient(verified.clientId) ?? (await registry.client(verified.clientId))
    if (client === undefined) throw unauthenticated('the client of this token no longer exists')
    if (client.status !== 'active') throw unauthenticated('client is suspended')
    return { client, scopes: verified.scopes.filter(s => client.scopes.includes(s)) }
  }
}

/** The 403 for a caller whose token carries none of the scopes (any one of them admits it), or null. */
export function scopeRefusal (caller: Authenticated, scope: Scope | readonly Scope[]): Problem | null {
  const anyOf: readonly Scope[] = typeof scope === 'string' ? [scope] : scope
  if (anyOf.length === 0 || anyOf.some(s => caller.scopes.includes(s))) return null
  return forbidden(
    `this endpoint needs scope ${anyOf.map(s => `'${s}'`).join(' or ')}, which the access token does not carry`
  )
}

/**
 * The scopes asked for (space-separated, RFC 6749 §3.3), all registered to the client; all it holds
 * if none. A SMART system scope is granted as the service scope it stands for (domain/scopes.ts):
 * the token carries service scopes only, and the answer names what was asked, as a SMART client
 * expects (RFC 6749 §5.1: the answer's scope is the requested one when they are the same grant).
 */
function grantedScopes (registered: string[], asked: string | undefined): { scopes: string[]; names: string[] } {
  if (asked === undefined || asked.trim() === '') return { scopes: registered, names: registered }
  const wanted = [...new Set(asked.trim().split(/\s+/))]
  const unknown = wanted.filter(s => serviceScopeFor(s) === undefined)
  if (unknown.length > 0) {
    throw new OAuthError(
      'invalid_scope',
      `unknown scope: ${unknown.join(' ').slice(0, 200)} (scopes are ${SCOPES.join(', ')}; ` +
        `SMART system scopes ${SMART_SCOPES.join(', ')})`
    )
  }
  const notGranted = wanted.filter(s => !registered.includes(serviceScopeFor(s) as Scope))
  if (notGranted.length > 0) {
    throw new OAuthError('invalid_scope', `scope not registered for this client: ${notGranted.join(' ').slice(0, 200)}`)
  }
  return { scopes: [...new Set(wanted.map(s => serviceScopeFor(s) as Scope))], names: wanted }
}
