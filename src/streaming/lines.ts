// Splits a byte stream into lines for the bulk filter and the import. Written by hand rather than
// with readline or split2 because it is the hot path of a 10-million-line filter: it scans Buffers
// with indexOf and yields byte ranges, so the filter can read NHS numbers without making a string
// per line; only the import (and the filter's rare odd lines) decode text. At most one partial line
// is kept between chunks, and a line longer than the limit is skipped rather than buffered, so
// memory stays flat whatever the input size.

const LF = 0x0a
const CR = 0x0d

/** The complete lines found in one chunk: line k is buf[starts[k], ends[k]) without LF or CR. */
export interface LineBlock {
  buf: Buffer
  count: number
  starts: Int32Array
  /** -1 marks a line that was longer than the limit (its bytes were not kept). */
  ends: Int32Array
  /** The 1-based number of the block's first line in the whole input. */
  firstLine: number
}

export async function * lineBlocks (
  input: AsyncIterable<Buffer | string>,
  maxLineBytes = 1024
): AsyncGenerator<LineBlock> {
  let carry: Buffer | null = null
  let number = 0
  let skippingLongLine = false
  for await (const raw of input) {
    let buf = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw
    if (carry !== null) {
      buf = Buffer.concat([carry, buf])
      carry = null
    }
    let capacity = 64
    let starts = new Int32Array(capacity)
    let ends = new Int32Array(capacity)
    let count = 0
    let start = 0
    for (;;) {
      const end = buf.indexOf(LF, start)
      if (end === -1) break
      if (count === capacity) {
        capacity *= 4
        const s2 = new Int32Array(capacity)
        s2.set(starts)
        starts = s2
        const e2 = new Int32Array(capacity)
        e2.set(ends)
        ends = e2
      }
      if (skippingLongLine) {
        skippingLongLine = false
        starts[count] = start
        ends[count] = -1
      } else {
        starts[count] = start
        ends[count] = end > start && buf[end - 1] === CR ? end - 1 : end
      }
      count++
      start = end + 1
    }
    if (start < buf.length) {
      if (skippingLongLine || buf.length - start > maxLineBytes) skippingLongLine = true
      else carry = buf.subarray(start)
    }
    if (count > 0) {
      yield { buf, count, starts, ends, firstLine: number + 1 }
      number += count
    }
  }
  if (skippingLongLine || (carry !== null && carry.length > 0)) {
    const buf = carry ?? Buffer.alloc(0)
    const end = skippingLongLine ? -1 : buf[buf.length - 1] === CR ? buf.length - 1 : buf.length
    yield { buf, count: 1, starts: Int32Array.of(0), ends: Int32Array.of(end), firstLine: number + 1 }
  }
}
