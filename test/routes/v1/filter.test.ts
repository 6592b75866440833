// The bulk filter (SPEC §5), through HTTP against a real store: correctness against an independent
// computation, every accepted line form, ndjson line numbers, errors before output, rule 8's refusal
// of a past asOf, the run's audit events (start, a checkpoint before each slice, completion) and its
// state at GET /v1/filter/runs/{id}, backpressure from a reader that pauses, and a client that
// disconnects. The kill -9 half of "no number leaves before its audit record" is test/filter-crash.test.ts.
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
  // Patients with no recorded choice: permitted by default, decided without reading any record.
  const noChoice = cohort.filter(n => !ndoo.has(n) && !type1.has(n) && !future.has(n))

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
    const state = await run(String(res.headers['x-audit-id']))
    expect(state).toMatchObject({
      status: 'completed',
      counts: { read: 5, permitted: 2, denied: 0, invalid: 3, exempted: 0 },
      released: 2,
      lastLine: 5
    })
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
    // ndjson releases a result object a line, denied and invalid ones included.
    expect(await run(String(res.headers['x-audit-id']))).toMatchObject({ released: 3, lastLine: 4 })
  })

  it("applies the caller's exemptions exactly as the decision engine does, and counts them", async () => {
    const res = await filter('purpose=planning-research', cohort.join('\n'), {}, exemptAuth)
    expect(res.body.trim().split('\n')).toEqual(cohort)
    const state = await run(String(res.headers['x-audit-id']))
    expect(state.counts).toMatchObject({
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

  it('X-Audit-Id is the run: a start event, a checkpoint, a completion with the counts and the SHA-256', async () => {
    const body = cohort.slice(0, 50).join('\r\n') + '\r\n'
    const res = await filter('purpose=gp-data-secondary-use', body, { 'x-correlation-id': 'extract-2026-12-run-7' })
    const id = String(res.headers['x-audit-id'])
    const permitted = cohort.slice(0, 50).filter(n => expectedPermit(n, 'gp-data-secondary-use')).length
    const counts = { read: 50, permitted, denied: 50 - permitted, invalid: 0, exempted: 0 }
    const sha256 = createHash('sha256').update(body).digest('hex')
    const events = await runEvents(id)
    expect(events.map(e => e.details.phase)).toEqual(['started', 'checkpoint', 'completed'])
    expect(events[0]).toMatchObject({
      id,
      type: 'filter',
      purpose: 'gp-data-secondary-use',
      outcome: 'started',
      clientName: 'Test client',
      correlationId: 'extract-2026-12-run-7',
      details: { runId: id, asOf: null, accept: 'text/plain' }
    })
    for (const e of events) {
      expect(e).toMatchObject({ type: 'filter', clientId: events[0].clientId, requestId: res.headers['x-request-id'] })
      expect(e.correlationId).toBe('extract-2026-12-run-7')
      expect(e.details.runId).toBe(id)
    }
    // The one slice of this short answer: covered by its checkpoint, the hash of the whole body so far.
    expect(events[1].details).toEqual({
      runId: id,
      phase: 'checkpoint',
      checkpoint: 1,
      ...counts,
      released: permitted,
      lastLine: 50,
      inputBytes: body.length,
      inputSha256: sha256
    })
    expect(events[2]).toMatchObject({ outcome: 'completed' })
    expect(events[2].details).toEqual({
      runId: id,
      phase: 'completed',
      ...counts,
      released: permitted,
      lastLine: 50,
      inputBytes: body.length,
      inputSha256: sha256,
      checkpoints: 1
    })
    expect(await run(id)).toEqual({
      id,
      clientId: events[0].clientId,
      clientName: 'Test client',
      purpose: 'gp-data-secondary-use',
      accept: 'text/plain',
      asOf: null,
      startedAt: events[0].at,
      endedAt: events[2].at,
      status: 'completed',
      reason: null,
      counts,
      released: permitted,
      lastLine: 50,
      inputSha256: sha256,
      checkpoints: [{ id: events[1].id, at: events[1].at, released: permitted, lastLine: 50 }]
    })
  })

  it('slices of at most 100 000 lines, each released after a checkpoint with the running counts', async () => {
    const numbers = nhsNumbers(250_001, 4242) // nobody in this file's cohort: all permitted, in input order
    const body = numbers.join('\n') + '\n'
    const res = await filter('purpose=planning-research', body)
    expect(res.body).toBe(body)
    const id = String(res.headers['x-audit-id'])
    const events = await runEvents(id)
    const checkpoints = events.filter(e => e.details.phase === 'checkpoint').map(e => e.details)
    expect(events.map(e => e.details.phase)).toEqual(['started', ...checkpoints.map(() => 'checkpoint'), 'completed'])
    // 250 001 lines in slices of at most 100 000 need at least three checkpoints.
    expect(checkpoints.length).toBeGreaterThanOrEqual(3)
    let before = 0
    for (const [i, c] of checkpoints.entries()) {
      expect(c.checkpoint).toBe(i + 1)
      expect(c.released - before).toBeGreaterThan(0)
      expect(c.released - before).toBeLessThanOrEqual(100_000)
      // Every line so far was permitted: the counts run with the released lines and the last line.
      expect(c).toMatchObject({ read: c.released, permitted: c.released, denied: 0, invalid: 0, lastLine: c.released })
      expect(c.inputSha256).toBe(createHash('sha256').update(body.slice(0, c.inputBytes)).digest('hex'))
      before = c.released
    }
    expect(before).toBe(250_001)
    expect(events.at(-1)?.details).toMatchObject({
      released: 250_001,
      lastLine: 250_001,
      checkpoints: checkpoints.length
    })
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

  it('validates the query string: a missing purpose or an unknown parameter is a 400 naming it', async () => {
    const missing = expectProblem(await filter('', '9434765919'), 400, { path: 'querystring:/purpose' })
    expect(missing.errors).toEqual([{ path: 'querystring:/purpose', message: 'is required' }])
    const unknown = await filter('purpose=planning-research&as_of=2099-01-01', '9434765919')
    expect(expectProblem(unknown, 400).errors).toEqual([
      { path: 'querystring:/as_of', message: 'is not a known field' }
    ])
    expect(unknown.headers['x-audit-id']).toBeUndefined()
    expect(unknown.body).not.toContain('9434765919')
  })

  it('asOf: an impossible date or a zone-less date-time is a 400 naming querystring:/asOf', async () => {
    for (const [asOf, says] of [
      ['2021-02-30', /2021-02-30 is not a calendar date/],
      ['2021-13-01', /month 13/],
      ['2099-06-01T10:00', /date-time \(2025-03-14T09:30:00Z\)/]
    ] as const) {
      const res = await filter(`purpose=planning-research&asOf=${encodeURIComponent(asOf)}`, '9434765919')
      expect(res.status, asOf).toBe(400)
      expect(res.headers['x-audit-id']).toBeUndefined()
      const errors = (JSON.parse(res.body) as { errors: Array<{ path: string; message: string }> }).errors
      expect(errors).toEqual([{ path: 'querystring:/asOf', message: expect.stringMatching(says) }])
    }
  })

  it('refuses an asOf earlier than now (rule 8): a 400 naming querystring:/asOf, no run, no number out', async () => {
    // Opted out two days ago: as at three days ago this patient would have been released.
    const optedOut = cohort.find(n => optedOutNow(n)) as string
    const today = new Date().toISOString().slice(0, 10) // midnight UTC today: already past
    const before = (await runEvents()).length
    for (const asOf of [new Date(Date.now() - 72 * HOUR).toISOString(), '2000-01-01', today]) {
      const res = await filter(`purpose=planning-research&asOf=${encodeURIComponent(asOf)}`, `${optedOut}\n`)
      const problem = expectProblem(res, 400, { path: 'querystring:/asOf' })
      expect(problem.detail).toMatch(/asOf earlier than now is refused/)
      expect(problem.detail).toMatch(/only for POST \/v1\/decisions with the audit:read scope/)
      expect(problem.detail).toMatch(/last gate before identifiable data leaves/)
      expect(res.headers['x-audit-id']).toBeUndefined()
      expect(res.body).not.toContain(optedOut)
    }
    // Refused before the run started: no filter event was written.
    expect((await runEvents()).length).toBe(before)
  })

  it('allows a future asOf, and the start event records it as sent', async () => {
    const asOf = new Date(Date.now() + 48 * HOUR).toISOString()
    const ok = cohort.find(n => expectedPermit(n, 'planning-research') && !future.has(n)) as string
    const res = await filter(`purpose=planning-research&asOf=${encodeURIComponent(asOf)}`, `${ok}\n`)
    expect(res.status).toBe(200)
    expect(res.body).toBe(`${ok}\n`)
    expect(await run(String(res.headers['x-audit-id']))).toMatchObject({ asOf, status: 'completed', released: 1 })
  })

  describe('GET /v1/filter/runs/{id}', () => {
    it('needs audit:read: a filter client cannot read runs, its own included (403)', async () => {
      const filterOnly = await clientWithToken(t.app, { scopes: ['consent:filter'], purposes: ['planning-research'] })
      const res = await filter('purpose=planning-research', `${cohort[1]}\n`, {}, filterOnly.auth)
      expect(res.status).toBe(200)
      const id = String(res.headers['x-audit-id'])
      expectProblem(await t.app.inject({ method: 'GET', url: `/v1/filter/runs/${id}`, headers: filterOnly.auth }), 403)
      expect(await run(id)).toMatchObject({ id, clientId: filterOnly.id, status: 'completed' })
    })

    it('is a 404 for an id that is not the start of a run', async () => {
      const decision = await t.app.inject({
        method: 'POST',
        url: '/v1/decisions',
        headers: auth,
        payload: { nhsNumber: cohort[2], purpose: 'planning-research' }
      })
      const auditId = String(decision.json().auditId)
      for (const id of [auditId, '00000000-0000-4000-8000-000000000000']) {
        expectProblem(await t.app.inject({ method: 'GET', url: `/v1/filter/runs/${id}`, headers: auth }), 404)
      }
    })
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
      expect(res.body).not.toContain('9434765919')
      // Stale before the run started: no run. Stale just after its start event: the run, cut short with nothing out.
      const runId = res.headers['x-audit-id']
      if (runId !== undefined) {
        const state = await broken.app.inject({
          method: 'GET',
          url: `/v1/filter/runs/${String(runId)}`,
          headers: caller.auth
        })
        expect(state.json()).toMatchObject({
          status: 'incomplete',
          released: 0,
          reason: expect.stringMatching(/stale/)
        })
      }
    } finally {
      await broken.close()
    }
  })

  it('a store view gone stale mid-stream cuts the answer short; the run records why and what had left', async () => {
    const broken = await buildTestApp({ STORE_STALE_AFTER_MS: '1000' })
    try {
      const caller = await clientWithToken(broken.app)
      await broken.app.listen({ port: 0, host: '127.0.0.1' })
      const brokenPort = (broken.app.server.address() as { port: number }).port
      const [first, second] = [noChoice.slice(0, 50), noChoice.slice(50, 100)]
      let received = ''
      let firstSlice: (() => void) | null = null
      let auditId = ''
      const req = httpRequest({
        port: brokenPort,
        method: 'POST',
        path: '/v1/filter?purpose=planning-research',
        headers: { ...caller.auth, 'content-type': 'text/plain' }
      })
      const closed = new Promise<boolean>(resolve => {
        req.on('error', () => resolve(false))
        req.on('response', res => {
          auditId = String(res.headers['x-audit-id'])
          res.on('data', (c: Buffer) => {
            received += String(c)
            if (received.split('\n').length - 1 >= first.length) firstSlice?.()
          })
          res.on('error', () => resolve(false))
          res.on('end', () => resolve(true))
        })
      })
      req.write(first.join('\n') + '\n')
      await new Promise<void>(resolve => (firstSlice = resolve))
      // The store goes away; wait until the service knows it (readiness fails), then send more.
      await storeOf(broken.app).dropTable('changes')
      for (let tries = 0; tries < 200; tries++) {
        if ((await broken.app.inject({ method: 'GET', url: '/health/ready' })).statusCode === 503) break
        await new Promise(resolve => setTimeout(resolve, 50))
      }
      expect((await broken.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(503)
      req.end(second.join('\n') + '\n')
      expect(await closed, 'the answer must not end as if complete').toBe(false)
      expect(received).toBe(first.map(n => n + '\n').join(''))
      const state = await broken.app.inject({ method: 'GET', url: `/v1/filter/runs/${auditId}`, headers: caller.auth })
      expect(state.json()).toMatchObject({
        status: 'incomplete',
        reason: 'the consent store view went stale during the filter',
        released: first.length,
        lastLine: first.length,
        inputSha256: null
      })
    } finally {
      await broken.close()
    }
  })

  /** A run as GET /v1/filter/runs/{id} answers it (200 expected). */
  async function run (id: string): Promise<Record<string, any>> {
    const res = await t.app.inject({ method: 'GET', url: `/v1/filter/runs/${id}`, headers: auth })
    expect(res.statusCode, res.body).toBe(200)
    return res.json()
  }

  /** The filter events as the audit trail shows them, oldest first: of one run, or of every run. */
  async function runEvents (runId?: string): Promise<Array<Record<string, any>>> {
    const res = await t.app.inject({ method: 'GET', url: '/v1/audit?type=filter&limit=500', headers: auth })
    const items = res.json().items as Array<Record<string, any>>
    return items.filter(e => runId === undefined || e.details.runId === runId).sort((a, b) => a.chainSeq - b.chainSeq)
  }

  describe('over a real socket', () => {
    let port: number
    beforeAll(async () => {
      await t.app.listen({ port: 0, host: '127.0.0.1' })
      port = (t.app.server.address() as { port: number }).port
    })

    it('a reader that pauses slows the upload (backpressure), not filling memory; resuming completes it', async () => {
      // A patient with no choices: this test is about the flow of bytes, not the cost of deciding.
      const line = `${noChoice[0]}\n`
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

    it('the first byte follows the start event and a checkpoint; a paused body gets its answer', async () => {
      // Each part ends with a permitted number, so receiving it means its whole part was covered.
      const part1 = [...cohort.slice(0, 100), noChoice[0]]
      const part2 = [...cohort.slice(100, 200), noChoice[1]]
      const permitted1 = part1.filter(n => expectedPermit(n, 'planning-research'))
      const permitted2 = part2.filter(n => expectedPermit(n, 'planning-research'))
      let received = ''
      const lines = (): number => received.split('\n').length - 1
      let seen: (() => void) | null = null
      const until = async (n: number): Promise<void> => {
        while (lines() < n) await new Promise<void>(resolve => (seen = resolve))
      }
      let atFirstByte: Record<string, any> | undefined
      let auditId = ''
      const req = httpRequest({
        port,
        method: 'POST',
        path: '/v1/filter?purpose=planning-research',
        headers: { ...auth, 'content-type': 'text/plain' }
      })
      const ended = new Promise<void>((resolve, reject) => {
        req.on('error', reject)
        req.on('response', res => {
          auditId = String(res.headers['x-audit-id'])
          res.pause()
          // Headers come with the first bytes: the run is on record before anything is read.
          run(auditId).then(state => {
            atFirstByte = state
            res.on('data', (c: Buffer) => {
              received += String(c)
              seen?.()
            })
            res.on('end', resolve)
            res.resume()
          }, reject)
        })
      })
      // Only the first part: the body pauses, and what is pending is released, not held for more.
      req.write(part1.join('\n') + '\n')
      await until(permitted1.length)
      expect(received).toBe(permitted1.map(n => n + '\n').join(''))
      expect(atFirstByte).toMatchObject({ id: auditId, status: 'incomplete', endedAt: null })
      expect(atFirstByte?.checkpoints.length).toBeGreaterThanOrEqual(1)
      const mid = await run(auditId)
      expect(mid).toMatchObject({
        status: 'incomplete',
        counts: { read: 101, permitted: permitted1.length, denied: 101 - permitted1.length },
        released: permitted1.length,
        lastLine: 101
      })
      req.end(part2.join('\n') + '\n')
      await ended
      expect(received).toBe([...permitted1, ...permitted2].map(n => n + '\n').join(''))
      const done = await run(auditId)
      expect(done).toMatchObject({
        status: 'completed',
        counts: { read: 202, permitted: permitted1.length + permitted2.length },
        released: permitted1.length + permitted2.length,
        lastLine: 202
      })
      // The first part's slice had its own checkpoint, committed before the second part was sent.
      const covering = (done.checkpoints as Array<{ lastLine: number; released: number }>).filter(
        c => c.lastLine === 101
      )
      expect(covering).toEqual([expect.objectContaining({ released: permitted1.length })])
      expect(done.checkpoints.at(-1)).toMatchObject({ lastLine: 202, released: permitted1.length + permitted2.length })
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
      // The incomplete event is written once the server notices: wait for it, not for a time.
      let state = await run(auditId)
      for (let tries = 0; state.endedAt === null && tries < 100; tries++) {
        await new Promise(resolve => setTimeout(resolve, 50))
        state = await run(auditId)
      }
      expect(state).toMatchObject({
        status: 'incomplete',
        endedAt: expect.any(String),
        reason: expect.stringMatching(/the client went away/),
        inputSha256: null
      })
      // What had left is what its checkpoints covered: at least the first slice, at most the input.
      expect(state.released).toBeGreaterThan(0)
      expect(state.lastLine).toBeLessThanOrEqual(cohort.length)
      const events = await runEvents(auditId)
      expect(events.map(e => e.details.phase)).not.toContain('completed')
      expect(events.at(-1)).toMatchObject({ outcome: 'incomplete', details: { phase: 'incomplete' } })
    })
  })
})
