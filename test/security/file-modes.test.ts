// SECURITY.md T8, T13: the SQLite data directory is created 0700 and its database files 0600, the
// signing key 0600, whatever the umask; at start, a looser directory or file is reported in the log
// (path and mode) and the service starts all the same. PostgreSQL's files are the server's business,
// so on that store only the key file is checked.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rotateSigningKey } from '../../src/auth/signing-keys.ts'
import { buildTestApp, freshStore, registerClient, testStore, type TestApp, type TestStore } from '../helpers/app.ts'

const modeOf = (path: string): number => statSync(path).mode & 0o777
const sqliteOnly = testStore === 'sqlite'

/** The warnings of a started app's log, parsed. */
function warnings (t: TestApp): Array<{ msg: string; file?: { path: string; mode: string; outcome?: string } }> {
  return t.logs
    .join('')
    .split('\n')
    .filter(l => l.trim() !== '')
    .map(l => JSON.parse(l) as { level: number; msg: string; file?: { path: string; mode: string } })
    .filter(l => l.level === 40)
}

/**
 * A store for one test: on SQLite a database file in `dataDir`, which may not exist yet (the service
 * creates it); on PostgreSQL a fresh schema.
 */
async function storeIn (root: string, dataDir: string): Promise<TestStore> {
  if (sqliteOnly) {
    return {
      url: `file:${join(dataDir, 'consent.db')}`,
      drop: async () => {
        rmSync(root, { recursive: true, force: true })
      }
    }
  }
  const store = await freshStore()
  return {
    url: store.url,
    drop: async () => {
      await store.drop()
      rmSync(root, { recursive: true, force: true })
    }
  }
}

describe('first start on a fresh data directory', () => {
  let root: string
  let t: TestApp
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'consent-modes-'))
    const store = await storeIn(root, join(root, 'data'))
    t = await buildTestApp({ SIGNING_KEY_FILE: join(root, 'keys', 'signing-key.json') }, store)
    // A write, so that every file of the store is there (SQLite: the -wal and -shm files).
    await registerClient(t.app)
  })
  afterAll(async () => {
    await t.close()
    await t.store.drop()
  })

  it.runIf(sqliteOnly)('creates the SQLite data directory 0700 and its database, -wal and -shm files 0600', () => {
    expect(modeOf(join(root, 'data')).toString(8)).toBe('700')
    for (const file of ['consent.db', 'consent.db-wal', 'consent.db-shm']) {
      expect(modeOf(join(root, 'data', file)).toString(8), file).toBe('600')
    }
  })

  it("creates the signing key's directory 0700 and the key file 0600", () => {
    expect(modeOf(join(root, 'keys')).toString(8)).toBe('700')
    expect(modeOf(join(root, 'keys', 'signing-key.json')).toString(8)).toBe('600')
  })

  it('logs no warning about file modes when it made the files itself', () => {
    expect(warnings(t).filter(w => w.file !== undefined)).toEqual([])
  })
})

describe('a start on files and a directory that group and others may read', () => {
  let root: string
  let keyFile: string
  let t: TestApp
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'consent-loose-'))
    const dataDir = join(root, 'data')
    if (sqliteOnly) {
      mkdirSync(dataDir)
      chmodSync(dataDir, 0o755)
      // An empty file is a new SQLite database.
      writeFileSync(join(dataDir, 'consent.db'), '')
      chmodSync(join(dataDir, 'consent.db'), 0o644)
    }
    keyFile = join(root, 'signing-key.json')
    await rotateSigningKey(keyFile)
    chmodSync(keyFile, 0o644)
    t = await buildTestApp({ SIGNING_KEY_FILE: keyFile }, await storeIn(root, dataDir))
  })
  afterAll(async () => {
    await t.close()
    await t.store.drop()
  })

  it('starts all the same', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200)
    await registerClient(t.app)
  })

  it.runIf(sqliteOnly)(
    'warns naming the data directory and database file and their modes, and leaves them as they are',
    () => {
      const found = warnings(t)
      for (const [path, mode] of [
        [join(root, 'data'), '0755'],
        [join(root, 'data', 'consent.db'), '0644']
      ]) {
        const warning = found.find(w => w.file?.path === path)
        expect(warning, path).toMatchObject({ file: { path, mode } })
        expect(warning?.msg).toContain(`${path} has mode ${mode}`)
      }
      expect(modeOf(join(root, 'data'))).toBe(0o755)
      expect(modeOf(join(root, 'data', 'consent.db'))).toBe(0o644)
    }
  )

  it('warns naming the signing key file and its mode, and narrows it to 0600', () => {
    const warning = warnings(t).find(w => w.file?.path === keyFile)
    expect(warning).toMatchObject({ file: { path: keyFile, mode: '0644', outcome: 'now set to 0600' } })
    expect(warning?.msg).toContain(`${keyFile} has mode 0644`)
    expect(modeOf(keyFile)).toBe(0o600)
  })
})
