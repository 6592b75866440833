// The domain's one error model, and the fixed vocabularies the API and the audit share.
import { describe, it, expect } from 'vitest'
import {
  conflict,
  forbidden,
  invalidField,
  invalidFields,
  notFound,
  Problem,
  STORE_UNAVAILABLE,
  tooManyRequests,
  unauthenticated,
  unavailable
} from '../../src/domain/problems.ts'
import { AUDIT_TYPES } from '../../src/domain/audit.ts'
import { ALERT_STATUSES } from '../../src/domain/alerts.ts'
import { CLIENT_STATUSES } from '../../src/domain/clients.ts'
import { isScope, SCOPES } from '../../src/domain/scopes.ts'

describe('Problem and its constructors', () => {
  it('a Problem is an Error named Problem whose message is its detail', () => {
    const p = new Problem('conflict', 'already exists')
    expect(p).toBeInstanceOf(Error)
    expect(p.name).toBe('Problem')
    expect(p.message).toBe('already exists')
    expect(p.detail).toBe('already exists')
  })

  it('invalidField names the field, with an optional finer code', () => {
    expect({ ...invalidField('/purpose', 'unknown purpose', 'code-invalid') }).toMatchObject({
      kind: 'invalid',
      detail: 'unknown purpose',
      errors: [{ path: '/purpose', message: 'unknown purpose' }],
      code: 'code-invalid'
    })
    expect(invalidField('/x', 'bad').retryAfterSeconds).toBeUndefined()
  })

  it('invalidFields lists every field in its detail', () => {
    const p = invalidFields([
      { path: '/a', message: 'is bad' },
      { path: '/b', message: 'is worse' }
    ])
    expect(p.kind).toBe('invalid')
    expect(p.detail).toBe('/a: is bad; /b: is worse')
    expect(p.errors).toHaveLength(2)
  })

  it('forbidden names the field only when given one', () => {
    expect(forbidden('not registered', '/purpose').errors).toEqual([{ path: '/purpose', message: 'not registered' }])
    expect(forbidden('no scope').errors).toBeUndefined()
    expect(forbidden('no scope').kind).toBe('forbidden')
  })

  it('the other kinds carry their detail, and the retry time when there is one', () => {
    expect([unauthenticated('a'), notFound('b'), conflict('c')].map(p => [p.kind, p.detail])).toEqual([
      ['unauthenticated', 'a'],
      ['not-found', 'b'],
      ['conflict', 'c']
    ])
    expect(tooManyRequests('slow down', 7)).toMatchObject({ kind: 'too-many-requests', retryAfterSeconds: 7 })
    expect(unavailable()).toMatchObject({ kind: 'unavailable', detail: STORE_UNAVAILABLE, retryAfterSeconds: 1 })
    expect(unavailable('draining').detail).toBe('draining')
    expect(STORE_UNAVAILABLE).toBe('The consent store is unavailable; nothing was decided or recorded. Retry shortly.')
  })
})

describe('vocabularies', () => {
  it('scopes are the SPEC §3 scopes', () => {
    expect([...SCOPES]).toEqual([
      'consent:check',
      'consent:filter',
      'consent:read',
      'consent:write',
      'audit:read',
      'audit:review',
      'admin'
    ])
    for (const scope of SCOPES) expect(isScope(scope)).toBe(true)
    for (const other of ['', 'consent', 'Admin', 'admin ', 'consent:*']) expect(isScope(other)).toBe(false)
  })

  it('audit event types include every SPEC §3 type and revision 2’s', () => {
    expect(AUDIT_TYPES).toEqual(
      expect.arrayContaining([
        'decision',
        'decision.replay',
        'filter',
        'preference.recorded',
        'preference.entered-in-error',
        'preference.read',
        'client.created',
        'client.updated',
        'purpose.created',
        'purpose.updated',
        'alert.reviewed',
        'token.issued',
        'import'
      ])
    )
  })

  it('alerts are open or reviewed; clients active or suspended', () => {
    expect([...ALERT_STATUSES]).toEqual(['open', 'reviewed'])
    expect([...CLIENT_STATUSES]).toEqual(['active', 'suspended'])
  })
})
