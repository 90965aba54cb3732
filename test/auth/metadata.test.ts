import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerAuth } from '../../src/auth/bearer.js';
import {
  protectedResourceMetadata,
  protectedResourceMetadataFetchHandler,
  protectedResourceMetadataPaths,
} from '../../src/auth/metadata.js';
import { InvalidOptionError } from '../../src/protocol/errors.js';
import { TestAuthorizationServer } from './authorization-server.js';
import { type McpUnderTest, startMcpServer } from './mcp-server.js';

describe('RFC 9728 protected resource metadata served next to a real MCP endpoint', () => {
  let as: TestAuthorizationServer;
  let mcp: McpUnderTest;

  beforeAll(async () => {
    as = await TestAuthorizationServer.start();
    mcp = await startMcpServer((resource) => bearerAuth({ issuer: as.issuer, audience: resource }), {
      authorizationServers: [as.issuer],
      scopesSupported: ['mcp:read', 'mcp:write'],
    });
  });
  afterAll(async () => {
    await mcp?.close();
    await as?.close();
  });

  for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
    it(`serves the document at ${path} without a token`, async () => {
      const response = await fetch(`${mcp.origin}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.get('access-control-allow-origin')).toBe('*');
      expect(response.headers.get('cache-control')).toBe('public, max-age=3600');
      const text = await response.text();
      // Byte-exact: clients compare `resource` with the URL they used, without normalisation.
      expect(text).toContain(`"resource":"${mcp.resource}"`);
      expect(JSON.parse(text)).toEqual({
        resource: mcp.resource,
        authorization_servers: [as.issuer],
        bearer_methods_supported: ['header'],
        scopes_supported: ['mcp:read', 'mcp:write'],
      });
    });
  }

  it('answers CORS preflight, conditional GET and HEAD; refuses other methods; leaves other paths alone', async () => {
    const url = `${mcp.origin}/.well-known/oauth-protected-resource/mcp`;
    const preflight = await fetch(url, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('GET');
    const etag = (await fetch(url)).headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    const conditional = await fetch(url, { headers: { 'if-none-match': etag as string } });
    expect(conditional.status).toBe(304);
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    // Not ours: falls through to the MCP listener, which 404s unknown paths.
    expect((await fetch(`${mcp.origin}/.well-known/oauth-protected-resource/other`)).status).toBe(404);
  });
});

describe('protectedResourceMetadata', () => {
  const base = {
    resource: 'https://mcp.example.com/mcp',
    authorizationServers: ['https://auth.example.com'],
  };

  it('builds the document with the optional fields', () => {
    expect(
      protectedResourceMetadata({
        ...base,
        scopesSupported: ['files:read'],
        resourceName: 'Example MCP',
        resourceDocumentation: 'https://docs.example.com/mcp',
      }),
    ).toEqual({
      resource: 'https://mcp.example.com/mcp',
      authorization_servers: ['https://auth.example.com'],
      bearer_methods_supported: ['header'],
      scopes_supported: ['files:read'],
      resource_name: 'Example MCP',
      resource_documentation: 'https://docs.example.com/mcp',
    });
  });

  it.each([
    [{ ...base, resource: 'mcp.example.com' }, 'resource'],
    [{ ...base, resource: 'https://mcp.example.com/mcp#frag' }, 'resource'],
    [{ ...base, resource: 'http://mcp.example.com/mcp' }, 'resource'],
    [{ ...base, authorizationServers: [] }, 'authorizationServers'],
    [{ ...base, authorizationServers: ['https://auth.example.com/?tenant=1'] }, 'authorizationServers[0]'],
    [{ ...base, scopesSupported: ['mcp:read', 'offline_access'] }, 'scopesSupported'],
    [{ ...base, scopesSupported: ['two words'] }, 'scopesSupported'],
    [{ ...base, bearerMethodsSupported: ['query'] as unknown as 'header'[] }, 'bearerMethodsSupported'],
  ])('rejects %j naming %s', (options, option) => {
    const err = (() => {
      try {
        protectedResourceMetadata(options);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect((err as InvalidOptionError).option).toBe(option);
  });

  it('derives the well-known paths from the resource path', () => {
    expect(protectedResourceMetadataPaths('https://h.example/public/mcp')).toEqual([
      '/.well-known/oauth-protected-resource/public/mcp',
      '/.well-known/oauth-protected-resource',
    ]);
    expect(protectedResourceMetadataPaths('https://h.example')).toEqual([
      '/.well-known/oauth-protected-resource',
    ]);
    expect(protectedResourceMetadataPaths('https://h.example/mcp', false)).toEqual([
      '/.well-known/oauth-protected-resource/mcp',
    ]);
  });

  it('has a fetch-style handler', async () => {
    const handle = protectedResourceMetadataFetchHandler({ ...base, maxAgeSec: 60 });
    const response = handle(new Request('https://mcp.example.com/.well-known/oauth-protected-resource/mcp'));
    expect(response?.status).toBe(200);
    expect(response?.headers.get('cache-control')).toBe('public, max-age=60');
    expect(response?.headers.get('access-control-allow-origin')).toBe('*');
    expect(await response?.json()).toMatchObject({ resource: base.resource });
    expect(handle(new Request('https://mcp.example.com/mcp'))).toBeUndefined();
    expect(handle(new Request('https://mcp.example.com/.well-known/oauth-protected-resource'))?.status).toBe(
      200,
    );
  });
});
