// A set of NHS numbers held as numbers in one Float64Array (open addressing, linear probing): the
// bulk filter asks "has this patient any recorded choice?" millions of times a second, and a
// JavaScript Set or Map would need a string (an allocation) per question. 8 bytes a slot, at most
// half full. Written by hand because no registry package offers an allocation-free numeric set.

// Slots hold n + 1, so that 0000000000 (which passes the check digit) is distinct from EMPTY.
const EMPTY = 0
const TOMBSTONE = -1

export class NhsNumberSet {
  private slots = new Float64Array(1024)
  private used = 0 // live entries plus tombstones
  private live = 0

  get size (): number { return this.live }

  clear (): void {
    this.slots = new Float64Array(1024)
    this.used = 0
    this.live = 0
  }

  has (nhsNumber: number): boolean {
    const n = nhsNumber + 1
    const mask = this.slots.length - 1
    let i = hash(n) & mask
    for (;;) {
      const v = this.slots[i]
      if (v === n) return true
      if (v === EMPTY) return false
      i = (i + 1) & mask
    }
  }

  add (nhsNumber: number): void {
    const n = nhsNumber + 1
    if ((this.used + 1) * 2 > this.slots.length) this.resize(this.live * 2 + 2 > this.slots.length / 2 ? this.slots.length * 2 : this.slots.length)
    const mask = this.slots.length - 1
    let i = hash(n) & mask
    let tomb = -1
    for (;;) {
      const v = this.slots[i]
      if (v === n) return
      if (v === TOMBSTONE && tomb === -1) tomb = i
      if (v === EMPTY) break
      i = (i + 1) & mask
    }
    if (tomb !== -1) { this.slots[tomb] = n } else { this.slots[i] = n; this.used++ }
    this.live++
  }

  delete (nhsNumber: number): void {
    const n = nhsNumber + 1
    const mask = this.slots.length - 1
    let i = hash(n) & mask
    for (;;) {
      const v = this.slots[i]
      if (v === EMPTY) return
      if (v === n) { this.slots[i] = TOMBSTONE; this.live--; return }
      i = (i + 1) & mask
    }
  }

  private resize (capacity: number): void {
    const old = this.slots
    this.slots = new Float64Array(Math.max(1024, capacity))
    this.used = 0
    this.live = 0
    for (const v of old) if (v !== EMPTY && v !== TOMBSTONE) this.add(v - 1)
  }
}

/** Mixes the low and high parts of a number below 2^34 into a 32-bit slot index. */
function hash (n: number): number {
  const lo = n % 4294967296
  const hi = (n - lo) / 4294967296
  return Math.imul((lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0, 0x85ebca6b) >>> 7
}
