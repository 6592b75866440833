import { describe, it, expect } from 'vitest'
import { isOdsCode, ODS_CODE_PATTERN } from '../../src/domain/clients.ts'

describe('ODS codes', () => {
  it.each(['B82005', 'RA7', 'RA701ABCDE'])('accepts %s', code => {
    expect(isOdsCode(code)).toBe(true)
  })

  it.each(['AB', 'RA701ABCDEF', 'RA-701', 'RA 701', '', 5, null])('refuses %j', code => {
    expect(isOdsCode(code)).toBe(false)
  })

  // src/plugins/errors.ts recognises this exact text to tell callers what an ODS code is.
  it('is the pattern the API schemas carry', () => {
    expect(ODS_CODE_PATTERN).toBe('^[A-Za-z0-9]{3,10}$')
  })
})
