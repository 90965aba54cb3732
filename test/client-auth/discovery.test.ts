import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkResource, resourceMetadataCandidates } from '../../src/client/auth/discovery.js';
import { OAuthClient, OAuthClientError } from '../../src/client/auth/index.js';
import { TestServer } from './fixtures.js';

const grant = {
  type: 'authorization_code' as const,
  redirectUri: 'http://127.0.0.1:9/cb',
  onRedirect: () => undefined,
};
const PRM = '/.well-known/oauth-protected-resource';

let rs: TestServer;
let as: TestServer;
beforeEach(async () => {
  rs = await TestServer.start();
  as = await TestServer.start();
});
afterEach(async () => {
  await rs.close();
  await as.close();
});

function asMetadata(issuer: string, extra: Record<string, unknown> = {}) {
  return () => ({
    status: 200,
    json: {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      ...extra,
    },
  });
}

async function failure(promise: Promise<unknown>): Promise<OAuthClientError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OAuthClientError);
  return err as OAuthClientError;
}

describe('protected resource metadata discovery', () => {
  it('uses only the resource_metadata of the challenge when there is one', async () => {
    rs.on('GET', '/custom/prm.json', () => ({
      status: 200,
      json: { resource: `${rs.origin}/mcp`, authorization_servers: [as.origin] },
    }));
    as.on('GET', '/.well-known/oauth-authorization-server', asMetadata(as.origin));
    const binding = await new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover(
      `${rs.origin}/custom/prm.json`,
    );
    expect(rs.paths('GET')).toEqual(['/custom/prm.json']);
    expect(binding).toMatchObject({
      issuer: as.origin,
      resource: `${rs.origin}/mcp`,
      defaultEndpoints: false,
    });
  });

  it('a challenge pointing at a missing document is an error, not a reason to guess', async () => {
    const err = await failure(
      new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover(`${rs.origin}/nope.json`),
    );
    expect(err.reason).toBe('discovery_failed');
    expect(rs.paths('GET')).toEqual(['/nope.json']);
  });

  it('probes the path-based well-known URI before the root one', async () => {
    rs.on('GET', PRM, () => ({
      status: 200,
      json: { resource: rs.origin, authorization_servers: [as.origin], scopes_supported: ['a', 'b'] },
    }));
    as.on('GET', '/.well-known/oauth-authorization-server', asMetadata(as.origin));
    const binding = await new OAuthClient({ serverUrl: `${rs.origin}/api/mcp`, grant }).discover();
    expect(rs.paths('GET')).toEqual([`${PRM}/api/mcp`, PRM]);
    // The resource identifier is kept byte for byte (no trailing slash added to the origin).
    expect(binding.resource).toBe(rs.origin);
    expect(binding.resourceScopes).toEqual(['a', 'b']);
  });

  it('never asks the root when the path-based document exists', async () => {
    rs.on('GET', `${PRM}/mcp`, () => ({
      status: 200,
      json: { resource: `${rs.origin}/mcp`, authorization_servers: [as.origin] },
    }));
    as.on('GET', '/.well-known/oauth-authorization-server', asMetadata(as.origin));
    await new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover();
    expect(rs.paths('GET')).toEqual([`${PRM}/mcp`]);
  });

  it('lists the candidates in the specification order', () => {
    expect(resourceMetadataCandidates(new URL('https://h/a/mcp/'))).toEqual([
      `https://h${PRM}/a/mcp`,
      `https://h${PRM}`,
    ]);
    expect(resourceMetadataCandidates(new URL('https://h/a/mcp'), 'https://h/x')).toEqual(['https://h/x']);
    expect(resourceMetadataCandidates(new URL('https://h'))).toEqual([`https://h${PRM}`]);
  });

  it('refuses metadata for another resource', () => {
    const server = new URL('https://mcp.example.com/tenant/mcp');
    for (const ok of [
      'https://mcp.example.com/tenant/mcp',
      'https://mcp.example.com/tenant/mcp/',
      'https://mcp.example.com',
      'https://MCP.example.com:443/tenant',
    ]) {
      expect(() => checkResource(ok, server), ok).not.toThrow();
    }
    for (const bad of [
      'https://evil.example.com/tenant/mcp',
      'http://mcp.example.com/tenant/mcp',
      'https://mcp.example.com/tenant/mcp2',
      'https://mcp.example.com/other',
      'https://mcp.example.com:8443/tenant/mcp',
      'https://mcp.example.com/tenant/mcp#x',
      'not a url',
    ]) {
      expect(() => checkResource(bad, server), bad).toThrow(OAuthClientError);
    }
  });

  it('rejects a document whose resource does not match before contacting any authorization server', async () => {
    rs.on('GET', `${PRM}/mcp`, () => ({
      status: 200,
      json: { resource: 'https://evil.example.com/mcp', authorization_servers: [as.origin] },
    }));
    const err = await failure(new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover());
    expect(err.reason).toBe('resource_mismatch');
    expect(as.seen).toEqual([]);
  });

  it('requires authorization_servers', async () => {
    rs.on('GET', `${PRM}/mcp`, () => ({ status: 200, json: { resource: `${rs.origin}/mcp` } }));
    expect((await failure(new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover())).reason).toBe(
      'discovery_failed',
    );
  });
});

describe('authorization server metadata discovery', () => {
  const prmFor = (issuer: string) => () => ({
    status: 200,
    json: { resource: `${rs.origin}/mcp`, authorization_servers: [issuer] },
  });

  it('tries RFC 8414 insertion, OIDC insertion, then OIDC appending for an issuer with a path', async () => {
    const issuer = `${as.origin}/tenant1`;
    rs.on('GET', `${PRM}/mcp`, prmFor(issuer));
    as.on(
      'GET',
      '/tenant1/.well-known/openid-configuration',
      asMetadata(issuer, { code_challenge_methods_supported: ['S256'] }),
    );
    const binding = await new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover();
    expect(as.paths('GET')).toEqual([
      '/.well-known/oauth-authorization-server/tenant1',
      '/.well-known/openid-configuration/tenant1',
      '/tenant1/.well-known/openid-configuration',
    ]);
    expect(binding.issuer).toBe(issuer);
    expect(binding.metadata.token_endpoint).toBe(`${issuer}/token`);
  });

  it('tries RFC 8414 then OIDC for an issuer without a path, stopping at the first match', async () => {
    rs.on('GET', `${PRM}/mcp`, prmFor(as.origin));
    as.on('GET', '/.well-known/openid-configuration', asMetadata(as.origin));
    await new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover();
    expect(as.paths('GET')).toEqual([
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
    ]);
  });

  it('never uses a document whose issuer differs from the one it was fetched for', async () => {
    rs.on('GET', `${PRM}/mcp`, prmFor(as.origin));
    as.on('GET', '/.well-known/oauth-authorization-server', asMetadata('https://attacker.example.com'));
    const err = await failure(new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover());
    expect(err.reason).toBe('issuer_mismatch');
    // Not even a trailing slash is forgiven.
    as.on('GET', '/.well-known/oauth-authorization-server', asMetadata(`${as.origin}/`));
    expect((await failure(new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover())).reason).toBe(
      'issuer_mismatch',
    );
  });

  it('skips a mismatching document when a later well-known URL has the right one', async () => {
    rs.on('GET', `${PRM}/mcp`, prmFor(as.origin));
    as.on('GET', '/.well-known/oauth-authorization-server', asMetadata('https://attacker.example.com'));
    as.on('GET', '/.well-known/openid-configuration', asMetadata(as.origin));
    const binding = await new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover();
    expect(binding.metadata.authorization_endpoint).toBe(`${as.origin}/authorize`);
  });

  it('fails when the listed server publishes no metadata at all', async () => {
    rs.on('GET', `${PRM}/mcp`, prmFor(as.origin));
    expect((await failure(new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover())).reason).toBe(
      'discovery_failed',
    );
  });

  it('picks the server with pre-registered credentials among several', async () => {
    const other = 'https://other.example.com';
    rs.on('GET', `${PRM}/mcp`, () => ({
      status: 200,
      json: { resource: `${rs.origin}/mcp`, authorization_servers: [other, as.origin] },
    }));
    as.on('GET', '/.well-known/oauth-authorization-server', asMetadata(as.origin));
    const client = new OAuthClient({
      serverUrl: `${rs.origin}/mcp`,
      grant,
      clients: { [as.origin]: { client_id: 'pre' } },
    });
    expect((await client.discover()).issuer).toBe(as.origin);
  });
});

describe('2025-03-26 servers (no protected resource metadata)', () => {
  it('reads the metadata at the server origin', async () => {
    rs.on(
      'GET',
      '/.well-known/oauth-authorization-server',
      asMetadata(rs.origin, { code_challenge_methods_supported: ['S256'] }),
    );
    const binding = await new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover();
    expect(rs.paths('GET')).toEqual([`${PRM}/mcp`, PRM, '/.well-known/oauth-authorization-server']);
    expect(binding).toMatchObject({
      issuer: rs.origin,
      resource: `${rs.origin}/mcp`,
      defaultEndpoints: false,
    });
  });

  it('falls back to /authorize, /token and /register at the origin when there is no metadata', async () => {
    const binding = await new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover();
    expect(binding.defaultEndpoints).toBe(true);
    expect(binding.metadata).toMatchObject({
      issuer: rs.origin,
      authorization_endpoint: `${rs.origin}/authorize`,
      token_endpoint: `${rs.origin}/token`,
      registration_endpoint: `${rs.origin}/register`,
    });
  });

  it('treats an HTML catch-all page as no metadata', async () => {
    const html = () => ({
      status: 200,
      headers: { 'content-type': 'text/html' },
      text: '<!doctype html><p>app</p>',
    });
    rs.on('GET', `${PRM}/mcp`, html)
      .on('GET', PRM, html)
      .on('GET', '/.well-known/oauth-authorization-server', html);
    const binding = await new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover();
    expect(binding.defaultEndpoints).toBe(true);
  });

  it('accepts an issuer with a path on the same origin, never one elsewhere', async () => {
    rs.on('GET', '/.well-known/oauth-authorization-server', asMetadata(`${rs.origin}/oauth`));
    expect((await new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover()).issuer).toBe(
      `${rs.origin}/oauth`,
    );
    rs.on('GET', '/.well-known/oauth-authorization-server', asMetadata('https://attacker.example.com'));
    expect((await failure(new OAuthClient({ serverUrl: `${rs.origin}/mcp`, grant }).discover())).reason).toBe(
      'issuer_mismatch',
    );
  });
});
