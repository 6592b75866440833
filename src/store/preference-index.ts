// The in-memory preference index (SPEC §6): every active choice, grouped by patient, so that a
// decision never reads the database. Loaded at start and kept current by the change feed; the
// instance that writes a choice applies it here at once (read-your-writes).
//
// Held in columns of typed arrays rather than objects, so that 5 million choices fit in a few
// hundred MB (about 50 bytes a choice, against ~400 as objects with Dates and strings): each
// patient's choices form a linked list of slots, found through an NhsNumberMap. recordsFor()
// builds the PreferenceRecord objects the decision engine takes, for one patient at a time.
import type { PreferenceRecord, Source } from '../domain/preferences.ts'
import { NhsNumberMap } from './nhs-number-map.ts'

const NONE: readonly PreferenceRecord[] = Object.freeze([])
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Strings that repeat across millions of choices (purposes, sources), held once. */
class Interned {
  private readonly codes: string[] = []
  private readonly byCode = new Map<string, number>()
  id (code: string): number {
    let i = this.byCode.get(code)
    if (i === undefined) {
      i = this.codes.length
      this.codes.push(code)
      this.byCode.set(code, i)
    }
    return i
  }

  code (i: number): string {
    return this.codes[i]
  }
}

export class PreferenceIndex {
  private capacity = 1024
  private purpose = new Uint16Array(this.capacity)
  private source = new Uint8Array(this.capacity)
  private deny = new Uint8Array(this.capacity)
  private from = new Float64Array(this.capacity)
  private recorded = new Float64Array(this.capacity)
  private idBytes = new Uint8Array(this.capacity * 16)
  private next = new Int32Array(this.capacity)
  /** Ids that are not UUIDs (never made by this service, but possible in an imported store). */
  private readonly otherIds = new Map<number, string>()
  private readonly heads = new NhsNumberMap()
  private readonly purposes = new Interned()
  private readonly sources = new Interned()
  private readonly freeSlots: number[] = []
  private top = 0
  private count = 0

  get size (): number {
    return this.count
  }

  get patients (): number {
    return this.heads.size
  }

  /** Whether the patient (as a number) has any active record: false means the default answers. */
  hasChoices (nhsNumber: number): boolean {
    return this.heads.has(nhsNumber)
  }

  /** The patient's active records (any purpose). */
  recordsFor (nhsNumber: string): readonly PreferenceRecord[] {
    let slot = this.heads.get(Number(nhsNumber))
    if (slot === -1) return NONE
    const out: PreferenceRecord[] = []
    while (slot !== -1) {
      out.push({
        id: this.idOf(slot),
        nhsNumber,
        purpose: this.purposes.code(this.purpose[slot]),
        decision: this.deny[slot] === 1 ? 'deny' : 'permit',
        effectiveFrom: new Date(this.from[slot]),
        recordedAt: new Date(this.recorded[slot]),
        source: this.sources.code(this.source[slot]) as Source,
        status: 'active'
      })
      slot = this.next[slot]
    }
    return out
  }

  /** Adds, replaces or (when no longer active) removes a record, idempotently. */
  apply (record: PreferenceRecord): void {
    this.applyFields(
      record.id,
      record.nhsNumber,
      record.purpose,
      record.decision,
      record.effectiveFrom.getTime(),
      record.recordedAt.getTime(),
      record.source,
      record.status === 'active'
    )
  }

  /** apply() without building a record: for loading millions of rows at start. */
  applyFields (
    id: string,
    nhsNumber: string,
    purpose: string,
    decision: string,
    effectiveFrom: number,
    recordedAt: number,
    source: string,
    active: boolean
  ): void {
    const n = Number(nhsNumber)
    let previous = -1
    let slot = this.heads.get(n)
    while (slot !== -1 && !this.hasId(slot, id)) {
      previous = slot
      slot = this.next[slot]
    }
    if (!active) {
      if (slot === -1) return
      const after = this.next[slot]
      if (previous === -1) {
        if (after === -1) this.heads.delete(n)
        else this.heads.set(n, after)
      } else {
        this.next[previous] = after
      }
      this.release(slot)
      return
    }
    if (slot === -1) {
      slot = this.allocate()
      this.next[slot] = this.heads.get(n)
      this.heads.set(n, slot)
      this.setId(slot, id)
      this.count++
    }
    this.purpose[slot] = this.purposes.id(purpose)
    this.source[slot] = this.sources.id(source)
    this.deny[slot] = decision === 'deny' ? 1 : 0
    this.from[slot] = effectiveFrom
    this.recorded[slot] = recordedAt
  }

  clear (): void {
    this.heads.clear()
    this.otherIds.clear()
    this.freeSlots.length = 0
    this.top = 0
    this.count = 0
  }

  private allocate (): number {
    const reused = this.freeSlots.pop()
    if (reused !== undefined) return reused
    if (this.top === this.capacity) this.grow()
    return this.top++
  }

  private release (slot: number): void {
    this.otherIds.delete(slot)
    this.freeSlots.push(slot)
    this.count--
  }

  private grow (): void {
    const capacity = Math.ceil(this.capacity * 1.5)
    const widen = <T extends Float64Array | Uint16Array | Uint8Array | Int32Array>(
      old: T,
      make: (n: number) => T,
      per = 1
    ): T => {
      const bigger = make(capacity * per)
      bigger.set(old)
      return bigger
    }
    this.purpose = widen(this.purpose, n => new Uint16Array(n))
    this.source = widen(this.source, n => new Uint8Array(n))
    this.deny = widen(this.deny, n => new Uint8Array(n))
    this.from = widen(this.from, n => new Float64Array(n))
    this.recorded = widen(this.recorded, n => new Float64Array(n))
    this.idBytes = widen(this.idBytes, n => new Uint8Array(n), 16)
    this.next = widen(this.next, n => new Int32Array(n))
    this.capacity = capacity
  }

  private setId (slot: number, id: string): void {
    if (UUID.test(id)) {
      const hex = id.replace(/-/g, '')
      for (let i = 0; i < 16; i++) this.idBytes[slot * 16 + i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
      this.otherIds.delete(slot)
    } else {
      this.otherIds.set(slot, id)
    }
  }

  private idOf (slot: number): string {
    const other = this.otherIds.get(slot)
    if (other !== undefined) return other
    let hex = ''
    for (let i = 0; i < 16; i++) hex += HEX[this.idBytes[slot * 16 + i]]
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  }

  private hasId (slot: number, id: string): boolean {
    const other = this.otherIds.get(slot)
    if (other !== undefined || !UUID.test(id)) return other === id
    return this.idOf(slot) === id
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
