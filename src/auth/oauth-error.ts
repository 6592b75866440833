// RFC 6749 §5.2 token-endpoint errors: what token issuing refuses, in the protocol's own words.
export type OAuthErrorCode =
  'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope' | 'invalid_grant'

export class OAuthError extends Error {
  constructor (
    readonly error: OAuthErrorCode,
    readonly description: string
  ) {
    super(description)
    this.name = 'OAuthError'
  }

  get statusCode (): number {
    return this.error === 'invalid_client' ? 401 : 400
  }
}
