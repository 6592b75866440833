// Client public keys: accepted as a JWK, a JWKS or a PEM public key (SPEC §8); a PEM key's kid is
// its RFC 7638 thumbprint. Private key material is refused so that it never reaches the store.
import { calculateJwkThumbprint, exportJWK, importJWK, importSPKI, type JWK } from 'jose'
import { createPublicKey } from 'node:crypto'
import type { FieldError } from '../domain/problems.ts'

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']

/** Checks a JWKS; returns problems as field errors (paths relative to the JWKS). */
export async function validateJwks (
  jwks: { keys: Array<Record<string, unknown>> },
  allowedAlgorithms: string[]
): Promise<FieldError[]> {
  const errors: FieldError[] = []
  const kids = new Set<string>()
  for (const [i, key] of jwks.keys.entries()) {
    const path = `/keys/${i}`
    if (PRIVATE_MEMBERS.some(m => m in key)) {
      errors.push({ path, message: 'is a private or symmetric key; register public keys only' })
      continue
    }
    if (typeof key.kid !== 'string' || key.kid === '') {
      errors.push({ path: `${path}/kid`, message: 'every key needs a kid' })
      continue
    }
    if (kids.has(key.kid)) errors.push({ path: `${path}/kid`, message: `kid '${key.kid}' appears twice` })
    kids.add(key.kid)
    if (key.alg !== undefined && !allowedAlgorithms.includes(String(key.alg))) {
      errors.push({ path: `${path}/alg`, message: `alg must be one of ${allowedAlgorithms.join(', ')}` })
    }
    if (key.kty !== 'RSA' && key.kty !== 'EC') {
      errors.push({ path: `${path}/kty`, message: 'kty must be RSA or EC' })
      continue
    }
    try {
      const probeAlg =
        key.kty === 'RSA'
          ? 'RS512'
          : (({ 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as Record<string, string>)[String(key.crv)] ??
            'ES256')
      await importJWK(key as JWK, String(key.alg ?? probeAlg))
      if (key.kty === 'RSA' && typeof key.n === 'string' && Buffer.from(key.n, 'base64url').length < 256) {
        errors.push({ path, message: 'RSA keys must be at least 2048 bits' })
      }
    } catch (err) {
      errors.push({ path, message: `is not a usable public key: ${(err as Error).message}` })
    }
  }
  return errors
}

/** Reads a JWK, a JWKS or a PEM public key (file contents) into a JWKS. */
export async function readPublicKeys (text: string): Promise<{ keys: JWK[] }> {
  const trimmed = text.trim()
  if (trimmed.startsWith('-----BEGIN')) {
    const spki = createPublicKey(trimmed).export({ type: 'spki', format: 'pem' }).toString()
    const key = await importSPKI(spki, 'RS512', { extractable: true })
      .catch(async () => await importSPKI(spki, 'ES384', { extractable: true }))
      .catch(async () => await importSPKI(spki, 'ES256', { extractable: true }))
    const jwk = await exportJWK(key)
    return { keys: [{ ...jwk, kid: await calculateJwkThumbprint(jwk) }] }
  }
  const parsed = JSON.parse(trimmed) as JWK | { keys: JWK[] }
  const keys = 'keys' in parsed && Array.isArray(parsed.keys) ? parsed.keys : [parsed as JWK]
  return {
    keys: await Promise.all(
      keys.map(async k => {
        if (PRIVATE_MEMBERS.some(m => m in k)) {
          const pub = Object.fromEntries(Object.entries(k).filter(([m]) => !PRIVATE_MEMBERS.includes(m))) as JWK
          return { ...pub, kid: pub.kid ?? (await calculateJwkThumbprint(pub)) }
        }
        return { ...k, kid: k.kid ?? (await calculateJwkThumbprint(k)) }
      })
    )
  }
}
