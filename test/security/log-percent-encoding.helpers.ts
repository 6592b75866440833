// Percent-encoding as a caller may write it, and decoding as a reader of a log may undo it, for the
// tests that no NHS number reaches the log however its URL is encoded (SPEC §7, SECURITY.md T8).

/** Every character of `text` as %XX, upper-case hex unless `lower`. */
export function encodedDigits (text: string, lower = false): string {
  return text
    .split('')
    .map(c => {
      const hex = c.charCodeAt(0).toString(16).padStart(2, '0')
      return '%' + (lower ? hex.toLowerCase() : hex.toUpperCase())
    })
    .join('')
}

/**
 * Undoes percent-encoding as many times as it was applied (as a reader would, level by level, not the
 * way the logger decodes), and reads '+' as a space; malformed escapes stay as they are.
 */
export function decodePercentFully (text: string): string {
  let current = text
  for (let level = 0; level < 20; level++) {
    const next = current.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    if (next === current) break
    current = next
  }
  return current.replace(/\+/g, ' ')
}
