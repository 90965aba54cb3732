import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPkce, randomToken } from '../../src/client/auth/pkce.js';

describe('PKCE', () => {
  it('matches the RFC 7636 Appendix B example', async () => {
    const pair = await createPkce('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
    expect(pair).toEqual({
      verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
      challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      method: 'S256',
    });
  });

  it('makes fresh 43-character unreserved verifiers whose challenge is BASE64URL(SHA256(verifier))', async () => {
    const pairs = await Promise.all(Array.from({ length: 50 }, () => createPkce()));
    expect(new Set(pairs.map((p) => p.verifier)).size).toBe(50);
    for (const { verifier, challenge } of pairs) {
      expect(verifier).toMatch(/^[A-Za-z0-9\-._~]{43}$/);
      expect(challenge).toBe(createHash('sha256').update(verifier).digest('base64url'));
    }
  });

  it('refuses verifiers RFC 7636 does not allow', async () => {
    await expect(createPkce('short')).rejects.toThrow(RangeError);
    await expect(createPkce(`${'a'.repeat(43)}!`)).rejects.toThrow(RangeError);
    await expect(createPkce('a'.repeat(129))).rejects.toThrow(RangeError);
  });

  it('random tokens are base64url without padding', () => {
    expect(randomToken(24)).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(randomToken()).not.toBe(randomToken());
  });
});
