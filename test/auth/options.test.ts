import { describe, expect, it } from 'vitest';
import { type BearerAuthOptions, bearerAuth } from '../../src/auth/bearer.js';
import { bearerChallenge } from '../../src/auth/challenge.js';
import { authInfoFromClaims, expandScopes, scopesFromClaims } from '../../src/auth/claims.js';
import { authFromEnv } from '../../src/auth/env.js';
import { authorizationServerMetadataUrls, resourceMetadataUrlFor } from '../../src/auth/urls.js';
import { InvalidOptionError } from '../../src/protocol/errors.js';

const ISSUER = 'https://auth.example.com';
const AUDIENCE = 'https://mcp.example.com/mcp';

function optionError(fn: () => unknown): InvalidOptionError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidOptionError) return err;
    throw err;
  }
  throw new Error('expected an InvalidOptionError');
}

describe('bearerAuth options', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['no issuer nor verify', { issuer: undefined }, 'issuer'],
    ['an http issuer off loopback', { issuer: 'http://auth.example.com' }, 'issuer'],
    ['an issuer with a query', { issuer: 'https://auth.example.com/?t=1' }, 'issuer'],
    ['an audience with a fragment', { audience: 'https://mcp.example.com/mcp#x' }, 'audience'],
    ['a relative audience', { audience: '/mcp' }, 'audience'],
    ['HS256', { algorithms: ['HS256' as never] }, 'algorithms'],
    ['alg none', { algorithms: ['none' as never] }, 'algorithms'],
    ['no algorithms', { algorithms: [] }, 'algorithms'],
    ['a negative clock tolerance', { clockToleranceSec: -1 }, 'clockToleranceSec'],
    ['a scope with a space', { requiredScopes: ['a b'] }, 'requiredScopes'],
    ['optional with requiredScopes', { optional: true, requiredScopes: ['mcp:read'] }, 'requiredScopes'],
    ['a misspelt option', { audiance: AUDIENCE }, 'audiance'],
    ['a JWKS URL over http', { jwksUri: 'http://keys.example.com/jwks' }, 'jwksUri'],
    [
      'introspection without secret',
      { introspection: { clientId: 'rs' } as never },
      'introspection.clientSecret',
    ],
    [
      'a long negative cache',
      { introspection: { clientId: 'rs', clientSecret: 's', negativeCacheTtlMs: 60_000 } },
      'introspection.negativeCacheTtlMs',
    ],
    ['a non-function verify', { verify: 'yes' as never }, 'verify'],
    [
      'a cyclic-looking bad hierarchy',
      { scopeHierarchy: { admin: 'write' as never } },
      'scopeHierarchy.admin',
    ],
  ])('rejects %s, naming the option', (_label, overrides, option) => {
    const options = { issuer: ISSUER, audience: AUDIENCE, ...overrides } as BearerAuthOptions;
    if ('issuer' in overrides && overrides.issuer === undefined)
      delete (options as { issuer?: string }).issuer;
    expect(optionError(() => bearerAuth(options as unknown as BearerAuthOptions)).option).toBe(option);
  });

  it('accepts http on loopback, and elsewhere only with allowInsecureHttp', () => {
    expect(
      bearerAuth({ issuer: 'http://127.0.0.1:8080', audience: 'http://localhost:3000/mcp' }).audience,
    ).toBe('http://localhost:3000/mcp');
    const internal = bearerAuth({
      issuer: 'http://keycloak:8080/realms/x',
      audience: AUDIENCE,
      allowInsecureHttp: true,
    });
    expect(internal.resourceMetadataUrl).toBe(
      'https://mcp.example.com/.well-known/oauth-protected-resource/mcp',
    );
  });

  it('exposes the derived resource metadata URL unless one is given', () => {
    expect(bearerAuth({ issuer: ISSUER, audience: 'https://mcp.example.com' }).resourceMetadataUrl).toBe(
      'https://mcp.example.com/.well-known/oauth-protected-resource',
    );
    const custom = 'https://mcp.example.com/meta.json';
    expect(
      bearerAuth({ issuer: ISSUER, audience: AUDIENCE, resourceMetadataUrl: custom }).resourceMetadataUrl,
    ).toBe(custom);
  });
});

describe('authFromEnv', () => {
  it('returns nothing when neither variable is set, and both when both are', () => {
    expect(authFromEnv({})).toBeUndefined();
    expect(authFromEnv({ MCP_OAUTH_ISSUER: '', MCP_OAUTH_AUDIENCE: ' ' })).toBeUndefined();
    expect(authFromEnv({ MCP_OAUTH_ISSUER: ISSUER, MCP_OAUTH_AUDIENCE: AUDIENCE })).toEqual({
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    expect(
      authFromEnv({ MCP_OAUTH_ISSUER: 'http://localhost:9000', MCP_OAUTH_AUDIENCE: 'http://localhost/mcp' }),
    ).toEqual({
      issuer: 'http://localhost:9000',
      audience: 'http://localhost/mcp',
    });
  });

  it.each([
    [{ MCP_OAUTH_ISSUER: ISSUER }, 'MCP_OAUTH_AUDIENCE'],
    [{ MCP_OAUTH_AUDIENCE: AUDIENCE }, 'MCP_OAUTH_ISSUER'],
    [{ MCP_OAUTH_ISSUER: 'http://auth.example.com', MCP_OAUTH_AUDIENCE: AUDIENCE }, 'MCP_OAUTH_ISSUER'],
    [{ MCP_OAUTH_ISSUER: 'auth.example.com', MCP_OAUTH_AUDIENCE: AUDIENCE }, 'MCP_OAUTH_ISSUER'],
    [{ MCP_OAUTH_ISSUER: ISSUER, MCP_OAUTH_AUDIENCE: 'https://mcp.example.com/#a' }, 'MCP_OAUTH_AUDIENCE'],
  ])('rejects %j naming %s', (env, variable) => {
    const err = optionError(() => authFromEnv(env));
    expect(err.option).toBe(variable);
    expect(err.message).toContain(variable);
  });
});

describe('challenge and URL helpers', () => {
  it('formats RFC 6750 challenges and keeps quotes out of quoted strings', () => {
    expect(bearerChallenge({})).toBe('Bearer');
    expect(
      bearerChallenge({
        resourceMetadata: 'https://h/.well-known/oauth-protected-resource',
        scopes: ['a', 'b'],
      }),
    ).toBe('Bearer scope="a b", resource_metadata="https://h/.well-known/oauth-protected-resource"');
    expect(bearerChallenge({ error: 'invalid_token', errorDescription: 'bad "token"\\\n' })).toBe(
      'Bearer error="invalid_token", error_description="bad  token   "',
    );
  });

  it('orders AS metadata URLs as the MCP specification requires', () => {
    expect(authorizationServerMetadataUrls('https://auth.example.com')).toEqual([
      'https://auth.example.com/.well-known/oauth-authorization-server',
      'https://auth.example.com/.well-known/openid-configuration',
    ]);
    expect(authorizationServerMetadataUrls('https://auth.example.com/tenant1')).toEqual([
      'https://auth.example.com/.well-known/oauth-authorization-server/tenant1',
      'https://auth.example.com/.well-known/openid-configuration/tenant1',
      'https://auth.example.com/tenant1/.well-known/openid-configuration',
    ]);
    expect(resourceMetadataUrlFor('https://mcp.example.com/public/mcp')).toBe(
      'https://mcp.example.com/.well-known/oauth-protected-resource/public/mcp',
    );
  });

  it('maps claims to AuthInfo: scope or scp, client_id or azp, sub falling back to the client', () => {
    expect(scopesFromClaims({ scope: 'a  b a' })).toEqual(['a', 'b']);
    expect(scopesFromClaims({ scp: ['x', 'y', 3] })).toEqual(['x', 'y']);
    expect(scopesFromClaims({ scp: 'x y' })).toEqual(['x', 'y']);
    expect(scopesFromClaims({})).toEqual([]);
    expect(authInfoFromClaims({ sub: 'u1', azp: 'app', scp: ['r'], exp: 10 }, 't', undefined)).toEqual({
      subject: 'u1',
      clientId: 'app',
      scopes: ['r'],
      expiresAt: 10,
      token: 't',
      claims: { sub: 'u1', azp: 'app', scp: ['r'], exp: 10 },
    });
    expect(authInfoFromClaims({ client_id: 'svc' }, 't', undefined).subject).toBe('svc');
    expect(expandScopes(['admin'], { admin: ['write'], write: ['read'], read: ['admin'] }).sort()).toEqual([
      'admin',
      'read',
      'write',
    ]);
  });
});
