import { LocalError } from '../../protocol/errors.js';

/** Why the OAuth client gave up; stable values callers can switch on. */
export type OAuthFailure =
  /** No usable protected resource metadata or authorization server metadata. */
  | 'discovery_failed'
  /** The protected resource metadata names a different resource than the server we talk to. */
  | 'resource_mismatch'
  /** Authorization server metadata whose `issuer` is not the issuer it was fetched for. */
  | 'issuer_mismatch'
  /** The authorization server does not advertise PKCE with S256. */
  | 'pkce_unsupported'
  /** No way to obtain a client id: nothing pre-registered, no CIMD support, no registration endpoint. */
  | 'registration_unavailable'
  | 'registration_failed'
  /** The authorization response failed validation (state, RFC 9207 `iss`, redirect URI, missing code). */
  | 'invalid_authorization_response'
  /** The authorization server answered the authorization request with an error. */
  | 'authorization_denied'
  /** The user still has to complete the authorization in the browser (see `completeAuthorization`). */
  | 'authorization_pending'
  | 'token_request_failed'
  /** The server keeps refusing the token for lack of scope; re-authorizing would not help. */
  | 'insufficient_scope'
  /** The server keeps answering 401 after the allowed number of authorizations. */
  | 'unauthorized'
  /** An endpoint would be reached over plain http on a non-loopback host. */
  | 'insecure_endpoint';

/**
 * A failure of the OAuth client. When the authorization server answered with an OAuth error
 * (`invalid_grant`, `access_denied`, ...), `oauthError` and `oauthErrorDescription` carry it.
 */
export class OAuthClientError extends LocalError {
  override name = 'OAuthClientError';
  readonly reason: OAuthFailure;
  readonly oauthError: string | undefined;
  readonly oauthErrorDescription: string | undefined;
  /** The HTTP status of the response that caused the failure, when there was one. */
  readonly status: number | undefined;
  /** For `authorization_pending`: the URL the user has to open. */
  readonly authorizationUrl: string | undefined;

  constructor(
    reason: OAuthFailure,
    message: string,
    details: {
      oauthError?: string | undefined;
      oauthErrorDescription?: string | undefined;
      status?: number | undefined;
      authorizationUrl?: string | undefined;
      cause?: unknown;
    } = {},
  ) {
    super('PROTOCOL', message, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = reason;
    this.oauthError = details.oauthError;
    this.oauthErrorDescription = details.oauthErrorDescription;
    this.status = details.status;
    this.authorizationUrl = details.authorizationUrl;
  }
}
