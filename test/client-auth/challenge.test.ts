import { describe, expect, it } from 'vitest';
import { parseWwwAuthenticate, resourceChallenge } from '../../src/client/auth/challenge.js';

describe('WWW-Authenticate parsing', () => {
  it('reads a Bearer challenge with quoted and token values', () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="mcp", error=invalid_token, error_description="The token, it \\"expired\\"", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp"',
    );
    expect(c).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'mcp',
        error: 'invalid_token',
        error_description: 'The token, it "expired"',
        resource_metadata: 'https://h/.well-known/oauth-protected-resource/mcp',
      },
    });
  });

  it('splits several challenges that share the comma with their parameters', () => {
    const challenges = parseWwwAuthenticate(
      'Basic realm="x", DPoP algs="ES256 RS256", error="use_dpop_nonce" , Bearer scope="a b"',
    );
    expect(challenges.map((c) => c.scheme)).toEqual(['basic', 'dpop', 'bearer']);
    expect(challenges[1]?.params).toEqual({ algs: 'ES256 RS256', error: 'use_dpop_nonce' });
    expect(challenges[2]?.params).toEqual({ scope: 'a b' });
  });

  it('reads token68 credentials and bare schemes', () => {
    expect(parseWwwAuthenticate('Negotiate abc+/==, Bearer')).toEqual([
      { scheme: 'negotiate', params: {}, token68: 'abc+/==' },
      { scheme: 'bearer', params: {} },
    ]);
  });

  it('treats scheme and parameter names case-insensitively and keeps the first duplicate', () => {
    const [c] = parseWwwAuthenticate('BEARER Scope="one", scope="two"');
    expect(c).toEqual({ scheme: 'bearer', params: { scope: 'one' } });
  });

  it('never throws on garbage', () => {
    for (const junk of [
      '',
      ',,,',
      '"',
      'Bearer =',
      'Bearer a="unterminated',
      '=,=',
      'Bearer ,,, scope="x"',
    ]) {
      expect(() => parseWwwAuthenticate(junk)).not.toThrow();
    }
    expect(parseWwwAuthenticate('Bearer ,,, scope="x"')[0]?.params).toEqual({ scope: 'x' });
  });
});

describe('resourceChallenge', () => {
  it('extracts what the client acts on', () => {
    expect(
      resourceChallenge(
        'Bearer error="insufficient_scope", scope="files:read  files:write", resource_metadata="https://h/prm"',
      ),
    ).toEqual({
      scheme: 'bearer',
      error: 'insufficient_scope',
      scopes: ['files:read', 'files:write'],
      resourceMetadata: 'https://h/prm',
    });
  });

  it('prefers the challenge carrying an error and takes resource_metadata from any', () => {
    expect(
      resourceChallenge('Bearer resource_metadata="https://h/prm", DPoP error="use_dpop_nonce"'),
    ).toEqual({
      scheme: 'dpop',
      error: 'use_dpop_nonce',
      resourceMetadata: 'https://h/prm',
    });
  });

  it('ignores other schemes, empty scope and a missing header', () => {
    expect(resourceChallenge(null)).toBeUndefined();
    expect(resourceChallenge('Basic realm="x"')).toBeUndefined();
    expect(resourceChallenge('Bearer scope=""')).toEqual({ scheme: 'bearer' });
  });
});
