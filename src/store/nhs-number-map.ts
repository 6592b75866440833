// A map from NHS numbers (as numbers) to small integers, in two typed arrays (open addressing,
// linear probing). The preference index keeps one entry per patient with a recorded choice, and
// the bulk filter asks it millions of times a second: a JavaScript Map would need a string per key
// (an allocation per question) and ~100 bytes per entry, against 12 here (at most half full).
// Written by hand because no registry package offers an allocation-free numeric map.

// Keys are stored as n + 1, so that 0000000000 (which passes the check digit) differs from EMPTY.
const EMPTY = 0
const TOMBSTONE = -1

export class NhsNumberMap {
  private keys = new Float64Array(1024)
  private values = new Int32Array(1024)
  private used = 0 // live entries plus tombstones
  private live = 0

  get size (): number {
    return this.live
  }

  /** The value for the number, or -1. */
  get (nhsNumber: number): number {
    const n = nhsNumber + 1
    const mask = this.keys.length - 1
    let i = hash(n) & mask
    for (;;) {
      const k = this.keys[i]
      if (k === n) return this.values[i]
      if (k === EMPTY) return -1
      i = (i + 1) & mask
    }
  }

  has (nhsNumber: number): boolean {
    return this.get(nhsNumber) !== -1
  }

  set (nhsNumber: number, value: number): void {
    if ((this.used + 1) * 2 > this.keys.length) {
      this.rehash((this.live + 1) * 4 > this.keys.length ? this.keys.length * 2 : this.keys.length)
    }
    const n = nhsNumber + 1
    const mask = this.keys.length - 1
    let i = hash(n) & mask
    let tomb = -1
    for (;;) {
      const k = this.keys[i]
      if (k === n) {
        this.values[i] = value
        return
      }
      if (k === TOMBSTONE && tomb === -1) tomb = i
      if (k === EMPTY) break
      i = (i + 1) & mask
    }
    if (tomb !== -1) i = tomb
    else this.used++
    this.keys[i] = n
    this.values[i] = value
    this.live++
  }

  delete (nhsNumber: number): void {
    const n = nhsNumber + 1
    const mask = this.keys.length - 1
    let i = hash(n) & mask
    for (;;) {
      const k = this.keys[i]
      if (k === EMPTY) return
      if (k === n) {
        this.keys[i] = TOMBSTONE
        this.live--
        return
      }
      i = (i + 1) & mask
    }
  }

  clear (): void {
    this.keys = new Float64Array(1024)
    this.values = new Int32Array(1024)
    this.used = 0
    this.live = 0
  }

  private rehash (capacity: number): void {
    const keys = this.keys
    const values = this.values
    this.keys = new Float64Array(Math.max(1024, capacity))
    this.values = new Int32Array(this.keys.length)
    this.used = 0
    this.live = 0
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] !== EMPTY && keys[i] !== TOMBSTONE) this.set(keys[i] - 1, values[i])
    }
  }
}

/** Mixes the low and high parts of a number below 2^34 into a 32-bit slot index. */
function hash (n: number): number {
  const lo = n % 4294967296
  const hi = (n - lo) / 4294967296
  return Math.imul((lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0, 0x85ebca6b) >>> 7
}
