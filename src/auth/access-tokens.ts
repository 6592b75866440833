// Access tokens: minted by the token endpoint, verified on every request. Verification results are
// cached by token (SPEC §6: jwtVerify costs more than the rest of a decision), but the client's
// status and scopes are read from the in-memory registry on every request, so suspension and scope
// cuts take effect at once.
import { randomUUID } from 'node:crypto'
import { jwtVerify, SignJWT, decodeProtectedHeader } from 'jose'
import { ACCESS_TOKEN_ALG, type SigningKeys } from './signing-keys.ts'

export interface VerifiedToken {
  clientId: string
  scopes: string[]
  exp: number
}

const MAX_TOKEN_LENGTH = 4096
const CACHE_LIMIT = 50_000
const KEY_RELOAD_COOLDOWN_MS = 10_000

export class AccessTokens {
  private readonly cache = new Map<string, VerifiedToken>()

  private lastKeyReload = 0

  /**
   * `reloadKeys` reads the signing-key file again: when a token names a kid this instance does not
   * know, another instance sharing the file may have rotated it (README "Running in production").
   */
  constructor (
    private keys: SigningKeys,
    private readonly issuer: string,
    private readonly ttlSeconds: number,
    private readonly reloadKeys?: () => Promise<SigningKeys>
  ) {}

  get ttl (): number {
    return this.ttlSeconds
  }

  async mint (clientId: string, scopes: string[]): Promise<string> {
    const now = Math.floor(Date.now() / 1000)
    return await new SignJWT({ scope: scopes.join(' '), client_id: clientId })
      .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, kid: this.keys.kid, typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setSubject(clientId)
      .setAudience(this.issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + this.ttlSeconds)
      .setJti(randomUUID())
      .sign(this.keys.privateKey)
  }

  /** The token's client and scopes, or an error message saying why it is not accepted. */
  async verify (token: string): Promise<VerifiedToken | string> {
    const now = Date.now() / 1000
    const cached = this.cache.get(token)
    if (cached !== undefined) {
      if (cached.exp > now) return cached
      this.cache.delete(token)
      return 'access token has expired'
    }
    if (token.length > MAX_TOKEN_LENGTH) return 'access token is too long'
    let kid: string | undefined
    try {
      kid = decodeProtectedHeader(token).kid
    } catch {
      return 'access token is not a JWT'
    }
    let key = kid === undefined ? undefined : this.keys.verificationKeys.get(kid)
    if (
      key === undefined &&
      kid !== undefined &&
      this.reloadKeys !== undefined &&
      Date.now() - this.lastKeyReload > KEY_RELOAD_COOLDOWN_MS
    ) {
      // Learn keys another instance added; keep signing with ours until this one restarts.
      this.lastKeyReload = Date.now()
      const fresh = await this.reloadKeys().catch(() => null)
      if (fresh !== null) {
        for (const [k, v] of fresh.verificationKeys) {
          if (!this.keys.verificationKeys.has(k)) this.keys.verificationKeys.set(k, v)
        }
        key = this.keys.verificationKeys.get(kid)
      }
    }
    if (key === undefined) return 'access token was not issued by this service'
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [ACCESS_TOKEN_ALG],
        issuer: this.issuer,
        audience: this.issuer,
        typ: 'at+jwt',
        requiredClaims: ['exp', 'sub', 'scope']
      })
      const verified: VerifiedToken = {
        clientId: String(payload.sub),
        scopes: String(payload.scope).split(' ').filter(Boolean),
        exp: payload.exp as number
      }
      if (this.cache.size >= CACHE_LIMIT) this.evictExpired(now)
      this.cache.set(token, verified)
      return verified
    } catch (err) {
      const code = (err as { code?: string }).code
      return code === 'ERR_JWT_EXPIRED' ? 'access token has expired' : 'access token is invalid'
    }
  }

  private evictExpired (now: number): void {
    for (const [t, v] of this.cache) if (v.exp <= now) this.cache.delete(t)
    // Still full of live tokens: drop the oldest half rather than grow without bound.
    if (this.cache.size >= CACHE_LIMIT) {
      let n = this.cache.size / 2
      for (const t of this.cache.keys()) {
        if (n-- <= 0) break
        this.cache.delete(t)
      }
    }
  }
}
