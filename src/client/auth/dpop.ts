import type * as Jose from 'jose';
import { loadJose } from './jose.js';
import { randomToken, sha256Base64url } from './pkce.js';

/** Asymmetric algorithms this client can sign DPoP proofs with, in order of preference. */
export const DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'ES384', 'PS256', 'RS256'] as const;
export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];

/** RFC 9449 §4.2: htu is the target URI without query and fragment. */
export function dpopHtu(url: string | URL): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/**
 * One DPoP key pair and the nonces servers handed out (RFC 9449 §8, §9), per origin. Tokens the
 * authorization server binds to this key are only usable with proofs from this signer.
 */
export class DpopSigner {
  private readonly nonces = new Map<string, string>();

  private constructor(
    readonly algorithm: DpopAlgorithm,
    private readonly privateKey: CryptoKey,
    private readonly publicJwk: Jose.JWK,
    /** RFC 7638 SHA-256 thumbprint of the public key: what a bound token's `cnf.jkt` holds. */
    readonly thumbprint: string,
  ) {}

  static async create(algorithm: DpopAlgorithm, keyPair?: CryptoKeyPair): Promise<DpopSigner> {
    const jose = await loadJose();
    const pair = keyPair ?? ((await jose.generateKeyPair(algorithm, { extractable: true })) as CryptoKeyPair);
    const exported = await jose.exportJWK(pair.publicKey);
    const publicJwk: Jose.JWK = {};
    if (exported.kty !== undefined) publicJwk.kty = exported.kty;
    // Only the public members: a private member in the proof header would hand out the key.
    for (const member of ['crv', 'x', 'y', 'n', 'e'] as const) {
      if (exported[member] !== undefined) publicJwk[member] = exported[member];
    }
    return new DpopSigner(
      algorithm,
      pair.privateKey,
      publicJwk,
      await jose.calculateJwkThumbprint(publicJwk, 'sha256'),
    );
  }

  /** A fresh proof for one HTTP request; `accessToken` adds `ath` for requests to the resource server. */
  async proof(method: string, url: string | URL, accessToken?: string): Promise<string> {
    const jose = await loadJose();
    const payload: Record<string, unknown> = {
      jti: randomToken(16),
      htm: method.toUpperCase(),
      htu: dpopHtu(url),
      iat: Math.floor(Date.now() / 1000),
    };
    const nonce = this.nonces.get(new URL(url).origin);
    if (nonce !== undefined) payload.nonce = nonce;
    if (accessToken !== undefined) payload.ath = await sha256Base64url(accessToken);
    return new jose.SignJWT(payload)
      .setProtectedHeader({ typ: 'dpop+jwt', alg: this.algorithm, jwk: this.publicJwk })
      .sign(this.privateKey);
  }

  /** Keeps the newest `DPoP-Nonce` a server sent; returns true when it changed. */
  rememberNonce(url: string | URL, headers: Headers): boolean {
    const nonce = headers.get('dpop-nonce');
    if (nonce === null || nonce === '' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(nonce)) return false;
    const origin = new URL(url).origin;
    if (this.nonces.get(origin) === nonce) return false;
    this.nonces.set(origin, nonce);
    return true;
  }
}

/** The first algorithm both sides support; undefined when the server advertises none we have. */
export function chooseDpopAlgorithm(
  advertised: unknown,
  preferred: DpopAlgorithm | undefined,
): DpopAlgorithm | undefined {
  if (!Array.isArray(advertised)) return undefined;
  const candidates = preferred ? [preferred] : DPOP_ALGORITHMS;
  return candidates.find((alg) => advertised.includes(alg));
}
