// Paging cursors that carry a whole search, sealed (encrypted and authenticated), for the next links
// of a POST search: the patient's NHS number was sent in the body to keep it out of URLs, so the
// link that continues the search must not spell it out either (proxy and access logs keep URLs).
// The key is derived from the service's signing key file, so every instance sharing that file (as
// they must, to share tokens) opens the others' cursors, and nothing new has to be provisioned.
import { hkdfSync } from 'node:crypto'
import { CompactEncrypt, compactDecrypt } from 'jose'

/** What a sealed cursor holds: the search, who may continue it, and where the next page starts. */
export interface SealedSearch {
  /** The resource type searched. */
  r: 'Consent' | 'AuditEvent'
  /** The client that searched: nobody else may follow its links. */
  c: string
  /** The NHS number searched for. */
  p: string
  /** The normalised parameters besides the patient (status, date, _count, _summary). */
  q: Record<string, string | string[]>
  /** The position the next page starts at (an offset or an audit sequence number). */
  o: string
}

const PROTECTED = { alg: 'dir', enc: 'A256GCM', cty: 'fhir-search' } as const

/** Sealed cursors are JWEs (five dot-separated parts); the plain ones are base64url with no dot. */
export const isSealed = (cursor: string): boolean => cursor.split('.').length === 5

export class CursorSealer {
  private keys: Uint8Array[]

  /** `secrets` reads the key material afresh (current key first), so a rotation elsewhere is picked up. */
  constructor (private readonly secrets: () => Uint8Array[]) {
    this.keys = this.derive()
  }

  private derive (): Uint8Array[] {
    return this.secrets().map(
      s => new Uint8Array(hkdfSync('sha256', s, 'consent-check-service', 'fhir search cursor v1', 32))
    )
  }

  async seal (search: SealedSearch): Promise<string> {
    return await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(search)))
      .setProtectedHeader(PROTECTED)
      .encrypt(this.keys[0])
  }

  /** The search a cursor sealed, or null when it is not one this service (with its current keys) sealed. */
  async open (cursor: string): Promise<SealedSearch | null> {
    const tryKeys = async (keys: Uint8Array[]): Promise<SealedSearch | null> => {
      for (const key of keys) {
        try {
          const { plaintext, protectedHeader } = await compactDecrypt(cursor, key, {
            keyManagementAlgorithms: ['dir'],
            contentEncryptionAlgorithms: ['A256GCM']
          })
          if (protectedHeader.cty !== PROTECTED.cty) return null
          return JSON.parse(new TextDecoder().decode(plaintext)) as SealedSearch
        } catch {
          // Not this key (or not a cursor at all): the next key, then null.
        }
      }
      return null
    }
    const found = await tryKeys(this.keys)
    if (found !== null) return found
    // Another instance may have rotated the key file since this one read it: read it once more.
    const fresh = this.derive()
    if (fresh.length === this.keys.length && fresh.every((k, i) => Buffer.from(k).equals(this.keys[i]))) return null
    this.keys = fresh
    return await tryKeys(fresh)
  }
}
