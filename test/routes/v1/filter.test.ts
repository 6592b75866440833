// The bulk filter (SPEC §5), through HTTP against a real store: correctness against an independent
// computation, every accepted line form, ndjson line numbers, audit counts and hash, errors before
// output, backpressure from a reader that pauses, and a client that disconnects.
import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, clientWithToken, expectProblem, nhsNumbers, useTestApp, type Auth } from '../../helpers/app.ts'
import { storeOf } from '../../helpers/store.ts'
import { STORE_UNAVAILABLE } from '../../../src/domain/problems.ts'

const HOUR = 3600_000

describe('POST /v1/filter', () => {
  const t = useTestApp()
  let auth: Auth
  let exemptAuth: Auth
  const cohort = nhsNumbers(600, 11)
  const ndoo = new Set(cohort.filter((_, i) => i % 5 === 0)) // planning-research deny
  const type1 = new Set(cohort.filter((_, i) => i % 7 === 0)) // gp-data-secondary-use deny
  const future = new Set(cohort.filter((_, i) => i % 11 === 1)) // planning-research deny from tomorrow
  const withdrawn = new Set(cohort.filter((_, i) => i % 5 === 0 && i % 3 === 0)) // opted out, then back in

  beforeAll(async () => {
    const admin = await clientWithToken(t.app)
    auth = admin.auth
    exemptAuth = (
      await clientWithToken(t.app, {
        scopes: ['consent:filter'],
        purposes: ['planning-research'],
        exemptions: [{ purpose: 'planning-research', basis: 'legal-requirement', reference: 'Court order 2026/17' }]
      })
    ).auth
    const lines: string[] = []
    let n = 0
    const add = (nhs: string, purpose: string, decision: string, effectiveFrom?: string): void => {
      lines.push(
        JSON.stringify({
          externalId: `x${n++}`,
          nhsNumber: nhs,
          purpose,
          decision,
          ...(effectiveFrom !== undefined ? { effectiveFrom } : {})
        })
      )
    }
    const past = new Date(Date.now() - 48 * HOUR).toISOString()
    for (const nhs of ndoo) add(nhs, 'planning-research', 'deny', past)
    for (const nhs of type1) add(nhs, 'gp-data-secondary-use', 'deny', past)
    for (const nhs of future) add(nhs, 'planning-research', 'deny', new Date(Date.now() + 24 * HOUR).toISOString())
    for (const nhs of withdrawn) add(nhs, 'planning-research', 'permit', new Date(Date.now() - HOUR).toISOString())
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/preferences/import',
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      payload: lines.join('\n')
    })
    expect(res.json()).toMatchObject({ rejectedCount: 0 })
  })

  // The rules, computed independently of the engine for this cohort.
  const optedOutNow = (nhs: string): boolean => ndoo.has(nhs) && !withdrawn.has(nhs)
  const expectedPermit = (nhs: string, purpose: 'planning-research' | 'gp-data-secondary-use'): boolean =>
    purpose === 'planning-research' ? !optedOutNow(nhs) : !optedOutNow(nhs) && !type1.has(nhs)

  const filter = async (
    query: string,
    body: string,
    headers: Record<string, string> = {},
    who: Auth = auth
  ): Promise<{ status: number; body: string; headers: Record<string, unknown> }> => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/v1/filter?${query}`,
      headers: { ...who, 'content-type': 'text/plain', ...headers },
      payload: body
    })
    return { status: res.statusCode, body: res.body, headers: res.headers }
  }

  it('keeps exactly the permitted numbers, in input order, for a purpose and its hierarchy', async () => {
    for (const purpose of ['planning-research', 'gp-data-secondary-use'] as const) {
      const res = await filter(`purpose=${purpose}`, cohort.join('\n') + '\n')
      expect(res.status).toBe(200)
      expect(res.headers['content-type']).toMatch(/^text\/plain/)
      expect(res.body).toBe(
        cohort
          .filter(n => expectedPermit(n, purpose))
          .map(n => n + '\n')
          .join('')
      )
    }
  })

  it('accepts every line form: spaced, hyphenated, trailing comma, CRLF, a csv header; answers 10 digits', async () => {
    const [a, b, c, d] = cohort.filter(n => expectedPermit(n, 'planning-research'))
    const spaced = `${b.slice(0, 3)} ${b.slice(3, 6)} ${b.slice(6)}`
    const hyphenated = `${c.slice(0, 3)}-${c.slice(3, 6)}-${c.slice(6)}`
    const body = `nhs_number\r\n${a},\r\n${spaced}\r\n${hyphenated},\r\n\r\n${d}`
    const res = await filter('purpose=planning-research', body, { 'content-type': 'text/csv' })
    expect(res.body).toBe(`${a}\n${b}\n${c}\n${d}\n`)
  })

  it('leaves invalid lines out of text/plain and counts them; duplicates are answered each time', async () => {
    const ok = cohort.find(n => expectedPermit(n, 'planning-research')) as string
    const res = await filter(
      'purpose=planning-research',
      `${ok}\nnot-a-number\n123\n${ok.slice(0, 9)}${(Number(ok[9]) + 1) % 10}\n${ok}\n`
    )
    expect(res.body).toBe(`${ok}\n${ok}\n`)
    const event = await auditEvent(String(res.headers['x-audit-id']))
    expect(event.details).toMatchObject({ read: 5, permitted: 2, denied: 0, invalid: 3, complete: true })
  })

  it('answers one ndjson object per input line with its line number, decision, basis or error', async () => {
    const denied = cohort.find(n => optedOutNow(n)) as string
    const permitted = cohort.find(n => expectedPermit(n, 'planning-research') && !ndoo.has(n)) as string
    const res = await filter('purpose=planning-research', `${permitted}\n\nbad\n${denied}\n`, {
      accept: 'application/x-ndjson'
    })
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/)
    const rows = res.body
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as Record<string, unknown>)
    expect(rows).toEqual([
      { line: 1, nhsNumber: permitted, decision: 'permit', basis: 'default' },
      { line: 3, error: expect.stringMatching(/digits/) },
      { line: 4, nhsNumber: denied, decision: 'deny', basis: 'patient-preference' }
    ])
  })

  it("applies the caller's exemptions exactly as the decision engine does, and counts them", async () => {
    const res = await filter('purpose=planning-research', cohort.join('\n'), {}, exemptAuth)
    expect(res.body.trim().split('\n')).toEqual(cohort)
    const event = await auditEvent(String(res.headers['x-audit-id']))
    expect(event.details).toMatchObject({
      read: cohort.length,
      permitted: cohort.length,
      exempted: cohort.filter(optedOutNow).length
    })
    // The exemption on planning-research does not lift a Type 1 opt-out: not registered for it anyway.
    const single = await t.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: auth,
      payload: { nhsNumber: cohort[0], purpose: 'planning-research' }
    })
    expect(single.json().decision).toBe(expectedPermit(cohort[0], 'planning-research') ? 'permit' : 'deny')
  })

  it('honours asOf: a future-dated opt-out applies when asked as at a later time', async () => {
    const pending = [...future].filter(n => expectedPermit(n, 'planning-research'))
    expect(pending.length).toBeGreaterThan(0)
    const now = await filter('purpose=planning-research', pending.join('\n'))
    expect(now.body.trim().split('\n')).toEqual(pending)
    const later = await filter(
      `purpose=planning-research&asOf=${encodeURIComponent(new Date(Date.now() + 48 * HOUR).toISOString())}`,
      pending.join('\n')
    )
    expect(later.body).toBe('')
  })

  it('records one audit event (caller, purpose, counts, SHA-256 of the body) named by X-Audit-Id', async () => {
    const body = cohort.slice(0, 50).join('\r\n') + '\r\n'
    const res = await filter('purpose=gp-data-secondary-use', body)
    const event = await auditEvent(String(res.headers['x-audit-id']))
    const permitted = cohort.slice(0, 50).filter(n => expectedPermit(n, 'gp-data-secondary-use')).length
    expect(event).toMatchObject({ type: 'filter', purpose: 'gp-data-secondary-use', outcome: 'complete' })
    expect(event.details).toEqual(
      expect.objectContaining({
        read: 50,
        permitted,
        denied: 50 - permitted,
        invalid: 0,
        exempted: 0,
        complete: true,
        sha256: createHash('sha256').update(body).digest('hex')
      })
    )
    expect(event.clientId).toBeTruthy()
  })

  it('refuses before any output: missing, unknown or disallowed purpose, wrong scope, wrong media types', async () => {
    expect((await filter('', '9434765919')).status).toBe(400)
    expect((await filter('purpose=nope', '9434765919')).status).toBe(400)
    const narrow = (await clientWithToken(t.app, { scopes: ['consent:filter'], purposes: ['planned-care'] })).auth
    expectProblem(await filter('purpose=planning-research', '9434765919', {}, narrow), 403)
    const checkOnly = (await clientWithToken(t.app, { scopes: ['consent:check'] })).auth
    expect((await filter('purpose=planning-research', '9434765919', {}, checkOnly)).status).toBe(403)
    expect((await filter('purpose=planning-research', '{"a":1}', { 'content-type': 'application/json' })).status).toBe(
      415
    )
    expect(
      (await filter('purpose=planning-research', '9434765919', { 'content-type': 'application/octet-stream' })).status
    ).toBe(415)
    expect((await filter('purpose=planning-research', '9434765919', { accept: 'application/pdf' })).status).toBe(406)
  })

  it('asOf: an impossible date or a zone-less date-time is a 400 naming querystring:/asOf', async () => {
    for (const [asOf, says] of [
      ['2021-02-30', /2021-02-30 is not a calendar date/],
      ['2021-13-01', /month 13/],
      ['2099-06-01T10:00', /zone/]
    ] as const) {
      const res = await filter(`purpose=planning-research&asOf=${encodeURIComponent(asOf)}`, '9434765919')
      expect(res.status, asOf).toBe(400)
      expect(res.headers['x-audit-id']).toBeUndefined()
      const errors = (JSON.parse(res.body) as { errors: Array<{ path: string; message: string }> }).errors
      expect(errors).toEqual([{ path: 'querystring:/asOf', message: expect.stringMatching(says) }])
    }
  })

  it('fails closed: on a stale view of the store the answer is 503 before any output, never a list', async () => {
    const broken = await buildTestApp({ STORE_STALE_AFTER_MS: '1000' })
    try {
      const caller = await clientWithToken(broken.app)
      await storeOf(broken.app).dropTable('changes')
      const deadline = Date.now() + 10_000
      let res
      do {
        await new Promise(resolve => setTimeout(resolve, 200))
        res = await broken.app.inject({
          method: 'POST',
          url: '/v1/filter?purpose=planning-research',
          headers: { ...caller.auth, 'content-type': 'text/plain' },
          payload: '9434765919\n'
        })
      } while (res.statusCode === 200 && Date.now() < deadline)
      expectProblem(res, 503, { detail: STORE_UNAVAILABLE })
      expect(res.headers['x-audit-id']).toBeUndefined()
      expect(res.body).not.toContain('9434765919')
    } finally {
      await broken.close()
    }
  })

  async function auditEvent (
    id: string
  ): Promise<{ type: string; purpose: string; outcome: string; clientId: string; details: Record<string, unknown> }> {
    const res = await t.app.inject({ method: 'GET', url: '/v1/audit?type=filter&limit=500', headers: auth })
    const found = (res.json().items as Array<{ id: string }>).find(e => e.id === id)
    expect(found, `audit event ${id}`).toBeDefined()
    return found as never
  }

  describe('over a real socket', () => {
    let port: number
    beforeAll(async () => {
      await t.app.listen({ port: 0, host: '127.0.0.1' })
      port = (t.app.server.address() as { port: number }).port
    })

    it('a reader that pauses slows the upload (backpressure), not filling memory; resuming completes it', async () => {
      const line = `${cohort.find(n => expectedPermit(n, 'planning-research')) as string}\n`
      // Far more than the socket buffers on both sides can hold (loopback buffers reach several MB).
      const totalLines = 3_000_000
      let written = 0
      let responseBytes = 0
      const finished = new Promise<{ written: number; stalledAt: number }>((resolve, reject) => {
        const req = httpRequest(
          {
            port,
            method: 'POST',
            path: '/v1/filter?purpose=planning-research',
            headers: { ...auth, 'content-type': 'text/plain' }
          },
          res => {
            res.pause() // the reader stops reading
            setTimeout(() => {
              const stalledAt = written
              res.on('data', (c: Buffer) => {
                responseBytes += c.length
              })
              res.on('end', () => resolve({ written, stalledAt }))
              res.resume()
            }, 1500)
          }
        )
        req.on('error', reject)
        const chunk = line.repeat(1000)
        const pump = (): void => {
          while (written < totalLines) {
            written += 1000
            if (!req.write(chunk)) {
              req.once('drain', pump)
              return
            }
          }
          req.end()
        }
        pump()
      })
      const { stalledAt } = await finished
      // While the response was not read, the upload could not run to the end.
      expect(stalledAt).toBeLessThan(totalLines)
      expect(responseBytes).toBe(line.length * totalLines)
    })

    it('a client that disconnects mid-stream stops the work; the audit event records it as incomplete', async () => {
      let auditId = ''
      await new Promise<void>(resolve => {
        const req = httpRequest(
          {
            port,
            method: 'POST',
            path: '/v1/filter?purpose=planning-research',
            headers: { ...auth, 'content-type': 'text/plain' }
          },
          res => {
            auditId = String(res.headers['x-audit-id'])
            res.once('data', () => {
              req.destroy()
              resolve()
            })
          }
        )
        req.on('error', () => {})
        req.write(cohort.join('\n') + '\n')
        // never ended: the client goes away while still uploading
      })
      const started = Date.now()
      let event: Record<string, unknown> | undefined
      while (Date.now() - started < 5000) {
        const res = await t.app.inject({ method: 'GET', url: '/v1/audit?type=filter&limit=500', headers: auth })
        event = (res.json().items as Array<{ id: string }>).find(e => e.id === auditId)
        if (event !== undefined) break
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      expect(event).toMatchObject({
        outcome: 'incomplete',
        details: expect.objectContaining({ complete: false, sha256: null })
      })
    })
  })
})
