// fhir-kit-client (the npm FHIR client) against the service on a real socket, with no special-casing:
// read, search by GET and by POST (postSearch), paging by its nextPage, and a conditional read with
// If-None-Match. The README's fhir-kit-client snippet is this code.
import { createServer } from 'node:net'
import { Client, type PaginationParams } from 'fhir-kit-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  bearer,
  buildTestApp,
  patientSupply,
  recordChoice,
  registerClient,
  requestToken,
  signAssertion,
  tokenForm,
  type Json,
  type TestApp
} from '../helpers/app.ts'

/** A free port on the loopback interface (PUBLIC_URL must name the socket before the app is built). */
async function freePort (): Promise<number> {
  return await new Promise(resolve => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number'
const patient = patientSupply(10, 1371)
let t: TestApp
let base: string
let accessToken: string

beforeAll(async () => {
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  t = await buildTestApp({ PUBLIC_URL: base })
  await t.app.listen({ port, host: '127.0.0.1' })
  const client = await registerClient(t.app, { scopes: ['consent:read', 'audit:read', 'consent:write'] })
  const res = await requestToken(t.app, tokenForm(await signAssertion(client, { aud: `${base}/oauth2/token` })))
  expect(res.statusCode, res.body).toBe(200)
  accessToken = res.json().access_token
})

afterAll(async () => {
  await t?.close()
})

/** The status of a failed fhir-kit-client request, as the library reports it. */
async function statusOf (p: Promise<unknown>): Promise<number> {
  try {
    await p
    return 200
  } catch (err) {
    return (err as { response?: { status?: number } }).response?.status ?? -1
  }
}

describe('fhir-kit-client', () => {
  it('reads the CapabilityStatement, searches (GET and POST), pages and reads a Consent', async () => {
    const nhs = patient()
    for (const month of ['01', '02', '03']) {
      await recordChoice(t.app, bearer(accessToken), nhs, {
        purpose: 'planning-research',
        decision: 'deny',
        effectiveFrom: `2024-${month}-01`
      })
    }
    const fhir = new Client({ baseUrl: `${base}/fhir`, bearerToken: accessToken })
    const cs = (await fhir.capabilityStatement()) as Json
    expect(cs.fhirVersion).toBe('4.0.1')

    const searchParams = { 'patient.identifier': `${NHS_SYSTEM}|${nhs}`, _count: 2 }
    const viaGet = (await fhir.search({ resourceType: 'Consent', searchParams })) as Json
    const viaPost = (await fhir.search({
      resourceType: 'Consent',
      searchParams,
      options: { postSearch: true }
    })) as Json
    expect(viaGet.total).toBe(3)
    expect(viaPost.entry.map((e: Json) => e.resource.id)).toEqual(viaGet.entry.map((e: Json) => e.resource.id))
    // The POST search's links never name the patient; its next page is followed by the library as it is.
    expect(JSON.stringify(viaPost.link)).not.toContain(nhs)
    const second = (await fhir.nextPage({ bundle: viaPost as PaginationParams['bundle'] })) as Json
    expect(JSON.stringify(second.link)).not.toContain(nhs)
    const fromGet = (await fhir.nextPage({ bundle: viaGet as PaginationParams['bundle'] })) as Json
    expect(second.entry.map((e: Json) => e.resource.id)).toEqual(fromGet.entry.map((e: Json) => e.resource.id))
    expect(second.entry).toHaveLength(1)

    const id = String(viaGet.entry[0].resource.id)
    const consent = (await fhir.read({ resourceType: 'Consent', id })) as Json
    expect(consent).toMatchObject({ resourceType: 'Consent', id, patient: { identifier: { value: nhs } } })

    const events = (await fhir.search({
      resourceType: 'AuditEvent',
      searchParams: { 'patient.identifier': nhs },
      options: { postSearch: true }
    })) as Json
    expect(events.entry.length).toBeGreaterThanOrEqual(3)
    const counted = (await fhir.search({
      resourceType: 'AuditEvent',
      searchParams: { 'patient.identifier': nhs, _summary: 'count' }
    })) as Json
    expect(counted.total).toBe(events.entry.length)
  })

  it('a conditional read with If-None-Match: 304 for the version it has, the resource once it changes', async () => {
    const nhs = patient()
    const choice = await recordChoice(t.app, bearer(accessToken), nhs, {
      purpose: 'planned-care',
      decision: 'deny',
      effectiveFrom: '2024-01-01'
    })
    const fhir = new Client({ baseUrl: `${base}/fhir`, bearerToken: accessToken })
    const id = String(choice.id)
    const consent = (await fhir.read({ resourceType: 'Consent', id })) as Json
    const etag = `W/"${String(consent.meta.versionId)}"`
    const conditional = { headers: { 'If-None-Match': etag } }
    // fetch's Response.ok is false for 304, so the library reports it as a failed request with that status.
    expect(await statusOf(fhir.read({ resourceType: 'Consent', id, options: conditional }))).toBe(304)

    await recordChoice(t.app, bearer(accessToken), nhs, {
      purpose: 'planned-care',
      decision: 'permit',
      effectiveFrom: '2024-02-01'
    })
    const changed = (await fhir.read({ resourceType: 'Consent', id, options: conditional })) as Json
    expect(changed.status).toBe('inactive')
    expect(changed.meta.versionId).not.toBe(consent.meta.versionId)
  })
})
