/** base64url without padding (RFC 7636 Appendix A). */
export function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** `bytes` random bytes, base64url encoded: 32 bytes give 43 characters of 256-bit entropy. */
export function randomToken(bytes = 32): string {
  return base64url(globalThis.crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function sha256Base64url(text: string): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return base64url(new Uint8Array(digest));
}

export interface PkcePair {
  verifier: string;
  challenge: string;
  method: 'S256';
}

const VERIFIER_RE = /^[A-Za-z0-9\-._~]{43,128}$/;

/**
 * A PKCE verifier (RFC 7636 §4.1: 43-128 unreserved characters, here 43 from 32 random bytes)
 * and its S256 challenge, BASE64URL(SHA256(ASCII(verifier))).
 */
export async function createPkce(verifier = randomToken(32)): Promise<PkcePair> {
  if (!VERIFIER_RE.test(verifier)) throw new RangeError('PKCE verifier must be 43-128 unreserved characters');
  return { verifier, challenge: await sha256Base64url(verifier), method: 'S256' };
}
