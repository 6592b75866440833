// Tamper evidence beyond single edits (reordering, truncation against anchored heads) and rotation
// of the service's own signing key (SPEC §4, §7).
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeProtectedHeader } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rotateSigningKey } from '../../src/auth/signing-keys.ts'
import { chainHeads, verifyAuditLog } from '../../src/store/audit-log.ts'
import {
  bearer,
  buildTestApp,
  clientWithToken,
  freshStore,
  registerClient,
  tokenFor,
  useTestApp,
  type Auth,
  type TestApp,
  type TestStore
} from '../helpers/app.ts'
import { storeOf } from '../helpers/store.ts'

describe('audit tamper evidence', () => {
  const t = useTestApp()
  let auth: Auth
  beforeAll(async () => {
    auth = (await clientWithToken(t.app)).auth
    for (let i = 0; i < 6; i++) {
      await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: auth,
        payload: { nhsNumber: '9434765919', purpose: 'planned-care' }
      })
    }
    await t.app.runtime.audit.flush()
  })

  const sql = async (text: string, ...values: unknown[]): Promise<number> =>
    await storeOf(t.app).tamper(text, ...values)

  it('reordered events (two swapped in the log) are reported', async () => {
    const chain = t.app.runtime.audit.chainId
    const [e1, e2] = await storeOf(t.app).auditRowsAt(chain, [2, 3])
    await sql('UPDATE "audit_events" SET "seq" = ? WHERE "id" = ?', -1n, e1.id)
    await sql('UPDATE "audit_events" SET "seq" = ? WHERE "id" = ?', e1.seq, e2.id)
    await sql('UPDATE "audit_events" SET "seq" = ? WHERE "id" = ?', e2.seq, e1.id)
    const report = await (await t.app.inject({ method: 'GET', url: '/v1/audit/verify', headers: auth })).json()
    expect(report).toMatchObject({
      valid: false,
      firstBrokenLink: { chain, eventId: e2.id, reason: expect.stringMatching(/out of order/) }
    })
    // Put them back for the next test.
    await sql('UPDATE "audit_events" SET "seq" = ? WHERE "id" = ?', -1n, e1.id)
    await sql('UPDATE "audit_events" SET "seq" = ? WHERE "id" = ?', e2.seq, e2.id)
    await sql('UPDATE "audit_events" SET "seq" = ? WHERE "id" = ?', e1.seq, e1.id)
    expect((await verifyAuditLog(t.app.runtime.db)).valid).toBe(true)
  })

  it(
    'deleting the newest events cannot be seen in the chain alone, ' +
      'but is found against heads anchored outside the database',
    async () => {
      const anchors = await chainHeads(t.app.runtime.db)
      expect((await verifyAuditLog(t.app.runtime.db, anchors)).valid).toBe(true)
      const head = anchors.find(a => a.chain === t.app.runtime.audit.chainId) as { chain: string; chainSeq: number }
      await sql('DELETE FROM "audit_events" WHERE "chain" = ? AND "chainSeq" = ?', head.chain, head.chainSeq)
      expect((await verifyAuditLog(t.app.runtime.db)).valid).toBe(true)
      const anchored = await verifyAuditLog(t.app.runtime.db, anchors)
      expect(anchored).toMatchObject({
        valid: false,
        firstBrokenLink: { chain: head.chain, reason: expect.stringMatching(/truncated/) }
      })
    }
  )
})

describe("rotating the service's signing key", () => {
  let store: TestStore
  let keyFile: string
  let before: TestApp
  let after: TestApp | undefined

  beforeAll(async () => {
    store = await freshStore()
    keyFile = join(mkdtempSync(join(tmpdir(), 'consent-rotate-')), 'signing-key.json')
    before = await buildTestApp({ SIGNING_KEY_FILE: keyFile }, store)
  })
  afterAll(async () => {
    await before.close()
    await after?.close()
    await store.drop()
  })

  it("the service's signing key is created on first start with mode 0600", () => {
    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
  })

  it('tokens signed by the previous key stay valid after rotation; new tokens use the new key', async () => {
    const client = await registerClient(before.app)
    const oldToken = await tokenFor(before.app, client)
    const oldKid = decodeProtectedHeader(oldToken).kid
    const newKid = await rotateSigningKey(keyFile)
    expect(newKid).not.toBe(oldKid)
    // A restarted instance reads the rotated file.
    after = await buildTestApp({ SIGNING_KEY_FILE: keyFile }, store)
    const decide = async (token: string): Promise<number> =>
      (
        await after?.app.inject({
          method: 'POST',
          url: '/v1/decisions',
          headers: bearer(token),
          payload: { nhsNumber: '9434765919', purpose: 'planned-care' }
        })
      )?.statusCode ?? 0
    expect(await decide(oldToken)).toBe(200)
    const newToken = await tokenFor(after.app, client)
    expect(decodeProtectedHeader(newToken).kid).toBe(newKid)
    expect(await decide(newToken)).toBe(200)
    const jwks = (await after.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as {
      keys: Array<{ kid: string; d?: string }>
    }
    expect(jwks.keys.map(k => k.kid)).toEqual([newKid, oldKid])
    expect(jwks.keys.every(k => k.d === undefined)).toBe(true)
    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
  })

  it('during a rolling rotation, an instance not yet restarted accepts tokens signed with the new key', async () => {
    // `before` still runs with the keys it read at start; `after` was started on the rotated file.
    const client = await registerClient(before.app)
    const fromRestarted = await tokenFor((after as TestApp).app, client)
    const res = await before.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: bearer(fromRestarted),
      payload: { nhsNumber: '9434765919', purpose: 'planned-care' }
    })
    expect(res.statusCode).toBe(200)
  })
})
