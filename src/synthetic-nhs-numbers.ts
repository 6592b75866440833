// Valid but made-up NHS numbers, the same ones for the same seed: for the benchmark's generated
// load and the tests' patients. The check digit comes from the domain's one NHS number rule.
import { nhsCheckDigit } from './domain/nhs-number.ts'

/** `count` valid NHS numbers: nine pseudo-random digits and their check digit. */
export function syntheticNhsNumbers (count: number, seed = 1): string[] {
  const out: string[] = []
  // A 32-bit xorshift: exact in JavaScript numbers (an LCG with a large multiplier is not, and
  // then repeats after a few thousand values).
  let x = (seed * 2654435761) >>> 0 || 1
  const next = (): number => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x
  }
  while (out.length < count) {
    const nine = String(100_000_000 + ((next() * 1024 + (next() & 1023)) % 900_000_000)).slice(0, 9)
    const check = nhsCheckDigit(nine)
    if (check !== null) out.push(nine + String(check))
  }
  return out
}
