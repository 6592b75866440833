// Concurrent bulk streams per client (SECURITY.md T15): a client holds at most
// FILTER_STREAMS_PER_CLIENT bulk filter streams and IMPORTS_PER_CLIENT imports at once (2 each by
// default) on an instance; the next is a 429 problem+json with Retry-After, before its body is
// read or anything is audited. A slot comes back when its stream ends, fails or its client goes away.
// The open streams are real sockets that keep their bodies open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildTestApp,
  clientWithToken,
  expectProblem,
  nhsNumbers,
  type TestApp,
  type TestCaller
} from '../helpers/app.ts'
import { RawConnection, chunk, head } from './transport-raw.ts'

describe('per-client caps on concurrent bulk streams', () => {
  let t: TestApp
  let port: number
  const open: RawConnection[] = []

  beforeAll(async () => {
    // The defaults: 2 filter streams and 2 imports per client.
    t = await buildTestApp()
    await t.app.listen({ port: 0, host: '127.0.0.1' })
    port = (t.app.server.address() as { port: number }).port
  })
  afterAll(async () => {
    for (const c of open) c.destroy()
    await t?.close()
  })

  /** A filter stream whose body stays open, once its answer has begun (its slot is held by then). */
  async function openFilter (caller: TestCaller, nhs: string): Promise<{ c: RawConnection; auditId: string }> {
    const c = new RawConnection(port)
    open.push(c)
    c.write(
      head('POST /v1/filter?purpose=planning-research HTTP/1.1', {
        Authorization: caller.auth.authorization,
        'Content-Type': 'text/plain',
        Accept: 'application/x-ndjson',
        'Transfer-Encoding': 'chunked'
      }) + chunk(`${nhs}\n`)
    )
    const started = await c.until(() => (/"line":1,/.test(c.text()) ? c.text() : undefined), 'the first answer line')
    expect(started).toMatch(/^HTTP\/1\.1 200 /)
    return { c, auditId: /x-audit-id: (\S+)/i.exec(started)?.[1] ?? '' }
  }

  /** An import whose body stays open, once its start event is on record (its slot is held by then). */
  async function openImport (caller: TestCaller, nhs: string, externalId: string): Promise<RawConnection> {
    const before = await importStarts(caller)
    const c = new RawConnection(port)
    open.push(c)
    c.write(
      head('POST /v1/preferences/import HTTP/1.1', {
        Authorization: caller.auth.authorization,
        'Content-Type': 'application/x-ndjson',
        'Transfer-Encoding': 'chunked'
      }) + chunk(JSON.stringify({ externalId, nhsNumber: nhs, purpose: 'planned-care', decision: 'deny' }) + '\n')
    )
    while ((await importStarts(caller)) === before) await new Promise(resolve => setTimeout(resolve, 20))
    return c
  }

  const events = async (caller: TestCaller, type: string): Promise<Array<Record<string, any>>> => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/audit?type=${type}&limit=500`, headers: caller.auth })
    expect(res.statusCode, res.body).toBe(200)
    return (res.json().items as Array<Record<string, any>>).filter(e => e.clientId === caller.id)
  }
  const importStarts = async (caller: TestCaller): Promise<number> =>
    (await events(caller, 'import')).filter(e => e.outcome === 'started').length
  const filterStarts = async (caller: TestCaller): Promise<number> =>
    (await events(caller, 'filter')).filter(e => e.details.phase === 'started').length

  const filterOnce = async (caller: TestCaller, nhs: string): Promise<ReturnType<TestApp['app']['inject']>> =>
    await t.app.inject({
      method: 'POST',
      url: '/v1/filter?purpose=planning-research',
      headers: { ...caller.auth, 'content-type': 'text/plain' },
      payload: `${nhs}\n`
    })
  const importOnce = async (
    caller: TestCaller,
    nhs: string,
    externalId: string
  ): Promise<ReturnType<TestApp['app']['inject']>> =>
    await t.app.inject({
      method: 'POST',
      url: '/v1/preferences/import',
      headers: { ...caller.auth, 'content-type': 'application/x-ndjson' },
      payload: JSON.stringify({ externalId, nhsNumber: nhs, purpose: 'planned-care', decision: 'deny' }) + '\n'
    })

  /** A filter run once its end is on record: written as the run stops, after its slot was given back. */
  async function runEnded (caller: TestCaller, id: string): Promise<Record<string, any>> {
    for (;;) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/filter/runs/${id}`, headers: caller.auth })
      expect(res.statusCode, res.body).toBe(200)
      if (res.json().endedAt !== null) return res.json()
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  it('a third filter stream of one client: 429 with Retry-After, no run started; others unaffected', async () => {
    const caller = await clientWithToken(t.app)
    const other = await clientWithToken(t.app)
    const [a, b, c] = nhsNumbers(3, 81)
    const first = await openFilter(caller, a)
    await openFilter(caller, b)
    const runs = await filterStarts(caller)
    const refused = await filterOnce(caller, c)
    expectProblem(refused, 429, { detail: /already has 2 bulk filter streams open/ })
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    expect(await filterStarts(caller), 'a refused stream starts no run').toBe(runs)
    expect((await filterOnce(other, c)).statusCode).toBe(200)
    // A slot comes back when its client goes away mid-stream.
    first.c.destroy()
    expect(await runEnded(caller, first.auditId)).toMatchObject({ status: 'incomplete' })
    const next = await filterOnce(caller, c)
    expect(next.statusCode, next.body).toBe(200)
    // And when a stream ends: one after the other, each finds the slot the last one left.
    for (let i = 0; i < 3; i++) expect((await filterOnce(caller, c)).statusCode).toBe(200)
  })

  it('a third import of one client: 429 with Retry-After, nothing read or audited; an abort frees a slot', async () => {
    const caller = await clientWithToken(t.app)
    const [a, b, c, d] = nhsNumbers(4, 82)
    const first = await openImport(caller, a, 'cap-a')
    const second = await openImport(caller, b, 'cap-b')
    const before = await events(caller, 'import')
    const refused = await importOnce(caller, c, 'cap-c')
    expectProblem(refused, 429, { detail: /already has 2 imports open/ })
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    expect(await events(caller, 'import'), 'a refused import is not audited').toEqual(before)
    // Nothing of the refused body was read: its choice is not there.
    const choices = await t.app.inject({ method: 'GET', url: `/v1/patients/${c}/preferences`, headers: caller.auth })
    expect(choices.json().current).toEqual([])
    // The client goes away mid-body: once the import is recorded as failed, its slot is free.
    first.destroy()
    while (!(await events(caller, 'import')).some(e => e.outcome === 'failed')) {
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    const next = await importOnce(caller, c, 'cap-c')
    expect(next.statusCode, next.body).toBe(200)
    expect(next.json()).toMatchObject({ imported: 1 })
    // The other open import still completes, and its slot too comes back.
    second.write(
      chunk(JSON.stringify({ externalId: 'cap-d', nhsNumber: d, purpose: 'planned-care', decision: 'deny' }) + '\n') +
        '0\r\n\r\n'
    )
    const report = await second.answer('the second import report')
    expect(report.status, report.body).toBe(200)
    expect(JSON.parse(report.body)).toMatchObject({ imported: 2 })
    for (let i = 0; i < 3; i++) expect((await importOnce(caller, c, `cap-again-${i}`)).statusCode).toBe(200)
  })
})
