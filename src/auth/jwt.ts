import { type JWTVerifyGetKey, createRemoteJWKSet, customFetch, jwtVerify } from 'jose';
import { InvalidOptionError } from '../protocol/errors.js';
import { AuthorizationServerUnavailableError, InvalidTokenError } from './challenge.js';
import type { FetchLike } from './discovery.js';

/** Asymmetric JWS algorithms a resource server may accept: `none` and HMAC never (anyone with the secret could mint tokens). */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];
export const DEFAULT_ALGORITHMS: readonly AsymmetricAlgorithm[] = ['RS256', 'PS256', 'ES256', 'EdDSA'];

export function checkAlgorithms(option: string, value: unknown): AsymmetricAlgorithm[] {
  if (!Array.isArray(value) || value.length === 0)
    throw new InvalidOptionError(option, 'must be a non-empty array');
  for (const alg of value) {
    if (!(ASYMMETRIC_ALGORITHMS as readonly unknown[]).includes(alg)) {
      throw new InvalidOptionError(
        option,
        `${JSON.stringify(alg)} is not accepted; use asymmetric algorithms only (${ASYMMETRIC_ALGORITHMS.join(', ')})`,
      );
    }
  }
  return value as AsymmetricAlgorithm[];
}

export interface JwtVerifierOptions {
  issuer: string;
  audience: string;
  algorithms: readonly AsymmetricAlgorithm[];
  clockToleranceSec: number;
  /** Resolves the JWKS URL (configured, or discovered from the issuer's metadata). */
  jwksUri: () => Promise<string>;
  /** Least time between two JWKS fetches triggered by an unknown `kid`. */
  cooldownMs: number;
  /** Keys older than this are refetched before use. */
  cacheMaxAgeMs: number;
  timeoutMs: number;
  fetch?: FetchLike | undefined;
}

/** RFC 9068 §4: `typ` is `at+jwt`; plain `JWT` and no `typ` are common in deployed servers and accepted too. */
function typeAccepted(typ: unknown): boolean {
  if (typ === undefined) return true;
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase().replace(/^application\//, '');
  return t === 'at+jwt' || t === 'jwt';
}

const CLAIM_PROBLEMS: Record<string, string> = {
  iss: 'The access token was issued by a different authorization server',
  aud: 'The access token was not issued for this resource (audience mismatch)',
  nbf: 'The access token is not valid yet',
  iat: 'The access token has an invalid issue time',
  exp: 'The access token has no expiry',
};

/** Turns a jose failure into 401 (the token is bad) or 503 (the keys could not be fetched). */
function classify(err: unknown): Error {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return new InvalidTokenError('The access token expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = String((err as { claim?: unknown }).claim);
      return new InvalidTokenError(
        CLAIM_PROBLEMS[claim] ?? `The access token has an invalid "${claim}" claim`,
      );
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new InvalidTokenError(
        'The access token is signed with an algorithm this resource does not accept',
      );
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new InvalidTokenError('The access token signature is invalid');
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return new InvalidTokenError('The access token is signed by an unknown key');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return new InvalidTokenError('The access token is malformed');
    default:
      return new AuthorizationServerUnavailableError(
        `Could not fetch the authorization server's signing keys: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
  }
}

/**
 * Verifies JWT access tokens (RFC 9068) against the issuer's JWKS. Key caching, refetch on an
 * unknown `kid` and its cooldown are jose's `createRemoteJWKSet`, configured, not re-implemented.
 */
export class JwtVerifier {
  private keys: JWTVerifyGetKey | undefined;

  constructor(private readonly options: JwtVerifierOptions) {}

  private async keySet(): Promise<JWTVerifyGetKey> {
    if (this.keys) return this.keys;
    const url = new URL(await this.options.jwksUri());
    const remoteOptions: Parameters<typeof createRemoteJWKSet>[1] = {
      cooldownDuration: this.options.cooldownMs,
      cacheMaxAge: this.options.cacheMaxAgeMs,
      timeoutDuration: this.options.timeoutMs,
    };
    if (this.options.fetch) (remoteOptions as Record<symbol, unknown>)[customFetch] = this.options.fetch;
    this.keys ??= createRemoteJWKSet(url, remoteOptions);
    return this.keys;
  }

  /** The verified claims; throws InvalidTokenError or AuthorizationServerUnavailableError. */
  async verify(token: string): Promise<Record<string, unknown>> {
    const keys = await this.keySet();
    let verified: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      verified = await jwtVerify(token, keys, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: [...this.options.algorithms],
        clockTolerance: this.options.clockToleranceSec,
        requiredClaims: ['exp'],
      });
    } catch (err) {
      throw classify(err);
    }
    if (!typeAccepted(verified.protectedHeader.typ)) {
      throw new InvalidTokenError('The token is not an access token (unexpected "typ" header)');
    }
    if (verified.payload.cnf !== undefined) {
      // DPoP / mTLS-bound tokens need a proof of possession this bearer resource server does not check.
      throw new InvalidTokenError('Sender-constrained access tokens are not accepted as bearer tokens');
    }
    return verified.payload as Record<string, unknown>;
  }
}

/** Compact JWS shape: three base64url segments (an empty signature still counts, so `alg: none` is rejected, not introspected). */
export function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}
