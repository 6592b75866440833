// The audit hash chain (SPEC §7): each event stores the hash of its predecessor in its chain (one
// chain per writer instance), so an edit, deletion or reordering breaks a link that verify finds.
import { createHash } from 'node:crypto'

export interface ChainedFields {
  id: string
  chain: string
  chainSeq: number
  at: Date
  type: string
  clientId: string | null
  requestId: string | null
  nhsNumber: string | null
  purpose: string | null
  outcome: string | null
  details: string
  /** Who asked, as they were when it happened (SPEC §3 "Audit"). */
  clientName: string | null
  clientOdsCode: string | null
  /** JSON of the end user ({ id, name?, role?, organisation? }), when there is one. */
  endUser: string | null
  correlationId: string | null
  prevHash: string
}

/** The hash every chain starts from: bound to the chain id so that chains cannot be spliced. */
export function genesisHash (chain: string): string {
  return createHash('sha256').update(`consent-audit-genesis:${chain}`).digest('hex')
}

export function hashEvent (e: ChainedFields): string {
  // A JSON array fixes the field order and escapes separators, so no two events share a preimage.
  // The "who asked" fields (SPEC revision 2) are appended only when one is set, so events written
  // before they existed still verify; once set, each is covered like every other field.
  const who = [e.clientName, e.clientOdsCode, e.endUser, e.correlationId]
  const preimage = JSON.stringify([
    e.id,
    e.chain,
    e.chainSeq,
    e.at.toISOString(),
    e.type,
    e.clientId,
    e.requestId,
    e.nhsNumber,
    e.purpose,
    e.outcome,
    e.details,
    e.prevHash,
    ...(who.some(v => v !== null) ? who : [])
  ])
  return createHash('sha256').update(preimage).digest('hex')
}

export interface StoredEvent extends ChainedFields {
  seq: bigint
  hash: string
}

export interface BrokenLink {
  eventId: string | null
  chain: string
  reason: string
}

/** Checks one chain's events (in chainSeq order); returns the first broken link or null. */
export async function verifyChain (
  chain: string,
  events: AsyncIterable<StoredEvent> | Iterable<StoredEvent>
): Promise<{ checked: number; broken: BrokenLink | null }> {
  let expectedSeq = 0
  let prevHash = genesisHash(chain)
  let lastSeq = -1n
  let checked = 0
  for await (const e of events) {
    checked++
    if (e.chainSeq !== expectedSeq) {
      return {
        checked,
        broken: {
          eventId: e.id,
          chain,
          reason:
            e.chainSeq > expectedSeq
              ? `gap: events ${expectedSeq}..${e.chainSeq - 1} of the chain are missing before this one`
              : `event repeats position ${e.chainSeq} of the chain`
        }
      }
    }
    if (e.prevHash !== prevHash) {
      return {
        checked,
        broken: { eventId: e.id, chain, reason: 'prevHash does not match the hash of the previous event in the chain' }
      }
    }
    if (hashEvent(e) !== e.hash) {
      return {
        checked,
        broken: { eventId: e.id, chain, reason: "hash does not match the event's content (the event was edited)" }
      }
    }
    if (e.seq <= lastSeq) {
      return { checked, broken: { eventId: e.id, chain, reason: 'event is out of order in the log' } }
    }
    lastSeq = e.seq
    prevHash = e.hash
    expectedSeq++
  }
  return { checked, broken: null }
}
