// The service's own token-signing key (SPEC §4): generated on first start and written with mode
// 0600, unless SIGNING_KEY_FILE names one provided by the operator. Several instances share
// tokens only when they share this file (a mounted secret), see README "Running in production".
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import type { Logger } from 'pino'
import { PRIVATE_FILE_MODE, looseModeMessage, looseModes, makePrivateDir } from '../paths.ts'

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

/**
 * Creates the key file, owner-only, when it is missing. An existing file that its group or others
 * may read is reported, and narrowed to 0600 when the service may (it owns the file, and the file
 * system is writable); a mounted secret it may not change is still used: never a reason not to start.
 */
export async function loadOrCreateSigningKeys (file: string, log?: Pick<Logger, 'warn'>): Promise<SigningKeys> {
  if (!existsSync(file)) {
    makePrivateDir(dirname(file))
    const jwk = await newSigningJwk()
    writePrivate(file, JSON.stringify({ keys: [jwk] }, null, 2), 'wx')
  }
  for (const loose of looseModes([{ path: file, expected: PRIVATE_FILE_MODE }])) {
    let outcome: string
    try {
      chmodSync(file, PRIVATE_FILE_MODE)
      outcome = 'now set to 0600'
    } catch (err) {
      outcome = `left as it is: ${(err as NodeJS.ErrnoException).code ?? 'chmod failed'}`
    }
    log?.warn({ file: { ...loose, outcome } }, `${looseModeMessage(loose)}; ${outcome}`)
  }
  return await loadSigningKeys(file)
}

/** Writes a key file for the owner alone: mode 0600 at creation, and chmod for a file that existed (or a umask). */
function writePrivate (file: string, text: string, flag: 'w' | 'wx'): void {
  writeFileSync(file, text, { mode: PRIVATE_FILE_MODE, flag })
  chmodSync(file, PRIVATE_FILE_MODE)
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
  makePrivateDir(dirname(file))
  writePrivate(file, JSON.stringify({ keys: [jwk, ...parsed.keys.slice(0, 2)] }, null, 2), 'w')
  return String(jwk.kid)
}
