// Who asked: the end user (SPEC §2 "Who asked").
import { describe, it, expect } from 'vitest'
import {
  checkEndUserPresent,
  isSdsUserId,
  RBAC_ROLE_PATTERN,
  SDS_USER_ID_PATTERN,
  SDS_USER_ID_SYSTEM
} from '../../src/domain/end-user.ts'

const USER = { id: '555021935103', name: 'Dr A Clinician', role: 'R8000', organisation: 'RA7' }

describe('SDS user IDs', () => {
  it.each([
    '555021935103',
    '000000000000',
    '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
    '3F2504E0-4F89-11D3-9A0C-0305E82C3301'
  ])('accepts %s (12-digit smartcard number or CIS2 UUID)', id => {
    expect(isSdsUserId(id)).toBe(true)
    expect(new RegExp(SDS_USER_ID_PATTERN).test(id)).toBe(true)
  })

  it.each([
    '55502193510',
    '5550219351033',
    'x555021935103',
    '555021935103x',
    '3f2504e0-4f89-11d3-9a0c-0305e82c330',
    '3f2504e0-4f89-11d3-9a0c-0305e82c33011',
    '3f2504e04f8911d39a0c0305e82c3301',
    'g f2504e0-4f89-11d3-9a0c-0305e82c3301',
    '',
    12,
    555021935103,
    null,
    undefined
  ])('refuses %j', id => {
    expect(isSdsUserId(id)).toBe(false)
  })

  it('names the FHIR identifier system for SDS user IDs', () => {
    expect(SDS_USER_ID_SYSTEM).toBe('https://fhir.nhs.uk/Id/sds-user-id')
  })
})

describe('RBAC role codes', () => {
  it.each(['R8000', 'S8000:G8000:R8000', 'S80001:G80001:R80001'])('accepts %s', role => {
    expect(new RegExp(RBAC_ROLE_PATTERN).test(role)).toBe(true)
  })

  it.each(['R800', 'r8000', 'R80000', 'S8000:G8000', 'X8000:G8000:R8000', ' R8000'])('refuses %s', role => {
    expect(new RegExp(RBAC_ROLE_PATTERN).test(role)).toBe(false)
  })
})

describe('checkEndUserPresent (the end user rule)', () => {
  it('is satisfied by any end user, whatever the request', () => {
    for (const pointOfCare of [true, false]) {
      for (const requireEndUser of [true, false]) {
        expect(checkEndUserPresent(USER, { pointOfCare, requireEndUser })).toBeNull()
      }
    }
  })

  it('needs nothing when there is no point of care and the client does not require it', () => {
    expect(checkEndUserPresent(undefined, { pointOfCare: false, requireEndUser: false })).toBeNull()
  })

  it('is a 400 at /endUser with pointOfCare, naming the person who asked', () => {
    for (const requireEndUser of [true, false]) {
      expect(checkEndUserPresent(undefined, { pointOfCare: true, requireEndUser })).toMatchObject({
        kind: 'invalid',
        errors: [
          {
            path: '/endUser',
            message: 'endUser is required with pointOfCare: name the person who asked the patient (SDS user ID)'
          }
        ]
      })
    }
  })

  it('is a 400 for a client registered with requireEndUser, at the path given', () => {
    expect(
      checkEndUserPresent(undefined, { pointOfCare: false, requireEndUser: true }, '/context/userId')
    ).toMatchObject({
      kind: 'invalid',
      errors: [
        {
          path: '/context/userId',
          message: 'endUser is required: this client is registered to name the end user on every request'
        }
      ]
    })
  })
})
