// Paths: the package root, and the owner-only files and directories the service keeps on disk
// (SECURITY.md T8, T13: the SQLite data directory 0700, its database files and the signing key 0600).
import { chmodSync, closeSync, existsSync, fchmodSync, mkdirSync, openSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url))
    dir = up
  }
  return dir
}

export const PACKAGE_ROOT = findRoot()

export const PRIVATE_DIR_MODE = 0o700
export const PRIVATE_FILE_MODE = 0o600

/**
 * Creates `dir` (and any missing parents) for the owner alone. The umask can only take bits away
 * from mkdir's mode, so the chmod makes it exactly 0700 whatever the umask. A directory that exists
 * already is the operator's and is left as it is (looseModes reports it).
 */
export function makePrivateDir (dir: string): void {
  if (existsSync(dir)) return
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  chmodSync(dir, PRIVATE_DIR_MODE)
}

/**
 * Creates `file` empty, for the owner alone, unless it exists; true when it was created. Used before
 * a driver opens a file it would otherwise create with its default mode (SQLite: 0644 less the umask).
 */
export function createPrivateFile (file: string): boolean {
  let fd: number
  try {
    fd = openSync(file, 'wx', PRIVATE_FILE_MODE)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
  try {
    fchmodSync(fd, PRIVATE_FILE_MODE)
  } finally {
    closeSync(fd)
  }
  return true
}

/** A path that gives its group or others some access, its mode as octal text ('0644'). */
export interface LooseMode {
  path: string
  mode: string
  expected: string
}

const octal = (mode: number): string => '0' + (mode & 0o777).toString(8).padStart(3, '0')

/**
 * The paths among these that exist and let their group or others in (any of the 0o077 bits): what
 * the service warns about at start. A path that is missing or cannot be read is not reported here.
 */
export function looseModes (paths: Array<{ path: string; expected: number }>): LooseMode[] {
  const loose: LooseMode[] = []
  for (const { path, expected } of paths) {
    let mode: number
    try {
      mode = statSync(path).mode
    } catch {
      continue
    }
    if ((mode & 0o077) !== 0) loose.push({ path, mode: octal(mode), expected: octal(expected) })
  }
  return loose
}

/** The start-up warning for a loose path: names the path and its mode, never the contents. */
export function looseModeMessage (loose: LooseMode): string {
  const expected = `SECURITY.md expects ${loose.expected}, owner only`
  return `${loose.path} has mode ${loose.mode}: its group or others may read it (${expected})`
}
