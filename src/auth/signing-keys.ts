// The service's own token-signing key (SPEC §4): generated on first start and written with mode
// 0600, unless SIGNING_KEY_FILE names one provided by the operator. Several instances share
// tokens only when they share this file (a mounted secret), see README "Running in production".
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'

export const ACCESS_TOKEN_ALG = 'ES256'

export interface SigningKeys {
  kid: string
  privateKey: CryptoKey
  /** Public keys accepted for verification: the current one first, then earlier ones. */
  verificationKeys: Map<string, CryptoKey>
  publicJwks: { keys: JWK[] }
}

interface KeyFile {
  keys: JWK[]
}

export async function loadOrCreateSigningKeys (file: string): Promise<SigningKeys> {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    const jwk = await newSigningJwk()
    writeFileSync(file, JSON.stringify({ keys: [jwk] }, null, 2), { mode: 0o600, flag: 'wx' })
  }
  chmodSync(file, 0o600)
  return await loadSigningKeys(file)
}

/** Reads the key file (never creates one): at start, and when another instance may have rotated it. */
export async function loadSigningKeys (file: string): Promise<SigningKeys> {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as KeyFile
  if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error(`SIGNING_KEY_FILE ${file} holds no keys`)
  const verificationKeys = new Map<string, CryptoKey>()
  const publicJwks: JWK[] = []
  for (const jwk of parsed.keys) {
    const { d: _d, ...pub } = jwk
    verificationKeys.set(
      String(jwk.kid),
      (await importJWK({ ...pub, alg: ACCESS_TOKEN_ALG }, ACCESS_TOKEN_ALG)) as CryptoKey
    )
    publicJwks.push({ ...pub, use: 'sig', alg: ACCESS_TOKEN_ALG })
  }
  const current = parsed.keys[0]
  return {
    kid: String(current.kid),
    privateKey: (await importJWK({ ...current, alg: ACCESS_TOKEN_ALG }, ACCESS_TOKEN_ALG)) as CryptoKey,
    verificationKeys,
    publicJwks: { keys: publicJwks }
  }
}

async function newSigningJwk (): Promise<JWK> {
  const { privateKey } = await generateKeyPair(ACCESS_TOKEN_ALG, { extractable: true })
  const jwk = await exportJWK(privateKey)
  const { d: _d, ...pub } = jwk
  return { ...jwk, kid: await calculateJwkThumbprint(pub), alg: ACCESS_TOKEN_ALG, use: 'sig' }
}

/** Adds a new current key in front of the old ones (tokens signed by those stay valid until expiry). */
export async function rotateSigningKey (file: string): Promise<string> {
  const parsed = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as KeyFile) : { keys: [] }
  const jwk = await newSigningJwk()
  writeFileSync(file, JSON.stringify({ keys: [jwk, ...parsed.keys.slice(0, 2)] }, null, 2), { mode: 0o600 })
  chmodSync(file, 0o600)
  return String(jwk.kid)
}
