// The one client-assertion signer (src/auth/client-assertion-signer.ts), used by the CLI's `token`
// command, the benchmark and the tests: what it signs by default is what POST /oauth2/token accepts,
// and its overrides reach exactly the claim or header parameter they name.
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  DEFAULT_ASSERTION_LIFETIME_SECONDS,
  signClientAssertion
} from '../../src/auth/client-assertion-signer.ts'
import { clientWithToken, requestToken, tokenForm, TOKEN_URL, useTestApp, type TestCaller } from '../helpers/app.ts'

describe('signClientAssertion', () => {
  const t = useTestApp()
  let admin: TestCaller

  beforeAll(async () => {
    admin = await clientWithToken(t.app, { scopes: ['admin'] })
  })

  /** A client registered through the API with the public half of a fresh P-256 key, without kid or alg. */
  async function clientWithBareKey (): Promise<{ clientId: string; privateJwk: JWK }> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
    const publicJwk = await exportJWK(publicKey)
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers: admin.auth,
      payload: {
        name: 'Bare key client',
        scopes: ['consent:check'],
        purposes: ['planned-care'],
        jwks: { keys: [{ ...publicJwk, kid: await calculateJwkThumbprint(publicJwk) }] }
      }
    })
    expect(res.statusCode, res.body).toBe(201)
    return { clientId: res.json().clientId as string, privateJwk: await exportJWK(privateKey) }
  }

  it('signs what the token endpoint accepts, taking alg from the curve and kid from the thumbprint', async () => {
    const { clientId, privateJwk } = await clientWithBareKey()
    const assertion = await signClientAssertion({ clientId, key: privateJwk, audience: TOKEN_URL })
    expect(decodeProtectedHeader(assertion)).toEqual({
      alg: 'ES256',
      kid: await calculateJwkThumbprint(privateJwk),
      typ: 'JWT'
    })
    const claims = decodeJwt(assertion)
    expect(claims).toMatchObject({ iss: clientId, sub: clientId, aud: TOKEN_URL, jti: expect.any(String) })
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(DEFAULT_ASSERTION_LIFETIME_SECONDS)
    expect(Math.abs((claims.iat ?? 0) - Date.now() / 1000)).toBeLessThan(5)
    const res = await requestToken(t.app, tokenForm(assertion))
    expect(res.statusCode, res.body).toBe(200)
  })

  it('gives each assertion its own jti, so a second token request is not a replay', async () => {
    const { clientId, privateJwk } = await clientWithBareKey()
    for (let i = 0; i < 2; i++) {
      const assertion = await signClientAssertion({ clientId, key: privateJwk, audience: TOKEN_URL })
      expect((await requestToken(t.app, tokenForm(assertion))).statusCode).toBe(200)
    }
  })

  it('overrides or removes exactly the claims and header parameters it is given', async () => {
    const { clientId, privateJwk } = await clientWithBareKey()
    const assertion = await signClientAssertion({
      clientId,
      key: privateJwk,
      kid: 'chosen-kid',
      audience: [TOKEN_URL, 'https://other.example'],
      jti: 'chosen-jti',
      iat: 1_000,
      exp: 2_000,
      extraClaims: { sub: 'someone-else', iat: undefined, scope: 'x' },
      header: { typ: undefined, cty: 'demo' }
    })
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'ES256', kid: 'chosen-kid', cty: 'demo' })
    expect(decodeJwt(assertion)).toEqual({
      iss: clientId,
      sub: 'someone-else',
      aud: [TOKEN_URL, 'https://other.example'],
      exp: 2_000,
      jti: 'chosen-jti',
      scope: 'x'
    })
  })

  it('needs an alg when the key is not a JWK', async () => {
    const { privateKey } = await generateKeyPair('ES256')
    await expect(signClientAssertion({ clientId: 'c', key: privateKey, audience: TOKEN_URL })).rejects.toThrow(/alg/)
  })
})
