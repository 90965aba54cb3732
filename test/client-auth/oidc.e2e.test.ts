import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerAuth } from '../../src/auth/bearer.js';
import { MemoryOAuthStorage, OAuthClient } from '../../src/client/auth/index.js';
import { McpClient } from '../../src/client/client.js';
import { StreamableHttpClientTransport } from '../../src/transport/http/client.js';
import { type McpUnderTest, sleep, startMcpServer } from '../auth/mcp-server.js';
import { OidcServer, headlessBrowser } from './oidc-server.js';

const REDIRECT_URI = 'http://127.0.0.1:8765/callback';
const TTL_SECONDS = 2;

/**
 * The whole chain with real parts: oidc-provider as the authorization server, the everything
 * server behind bearerAuth as the MCP server, McpClient over StreamableHttpClientTransport with
 * OAuthClient. The user's part (login and consent) is played by a headless browser.
 */
describe('OAuthClient against oidc-provider and a protected mcpkit server', () => {
  let oidc: OidcServer;
  let mcp: McpUnderTest;

  beforeAll(async () => {
    oidc = await OidcServer.start({ accessTokenTtl: TTL_SECONDS });
    mcp = await startMcpServer((resource) => bearerAuth({ issuer: oidc.issuer, audience: resource }), {
      authorizationServers: [oidc.issuer],
      scopesSupported: ['mcp:read'],
    });
  }, 30_000);
  afterAll(async () => {
    await mcp?.close();
    await oidc?.close();
  });

  function connect(oauth: OAuthClient, protocol: 'modern' | 'legacy'): Promise<McpClient> {
    const client = new McpClient({ name: 'oauth-e2e', version: '1.0.0' }, { protocol });
    return client
      .connect(new StreamableHttpClientTransport(mcp.resource, { fetch: oauth.fetch }))
      .then(() => client);
  }

  it('authorizes with PKCE, calls protected tools, steps up, and refreshes with rotation', async () => {
    const storage = new MemoryOAuthStorage();
    let redirects = 0;
    const oauth = new OAuthClient({
      serverUrl: mcp.resource,
      grant: {
        type: 'authorization_code',
        redirectUri: REDIRECT_URI,
        onRedirect: (request) => {
          redirects++;
          return headlessBrowser(request.url, REDIRECT_URI);
        },
      },
      clientMetadata: { client_name: 'mcpkit e2e' },
      storage,
      // Let the token actually expire at the server, so the refresh follows a real 401.
      refreshSkewMs: 0,
    });
    const client = await connect(oauth, 'modern');
    try {
      const who = await client.callTool('whoami');
      expect(who.structuredContent).toMatchObject({ subject: 'alice', scopes: ['mcp:read'] });
      const first = oauth.tokens;
      expect(first?.refresh_token).toBeDefined();
      const claims = decodeJwt(first?.access_token as string);
      expect([claims.iss, claims.aud, claims.scope]).toEqual([oidc.issuer, mcp.resource, 'mcp:read']);
      expect(redirects).toBe(1);

      // write_note needs mcp:write: 403 insufficient_scope, step-up with the union of scopes.
      const written = await client.callTool('write_note');
      expect(written.content).toEqual([{ type: 'text', text: 'written' }]);
      expect(redirects).toBe(2);
      // The step-up asked for the union: what was granted before plus the challenged scope.
      expect(oidc.consents.at(-1)).toEqual(['mcp:read', 'mcp:write']);
      const second = oauth.tokens;
      expect(decodeJwt(second?.access_token as string).scope).toBe('mcp:read mcp:write');

      // The access token expires; the server refuses it and the client refreshes.
      await sleep(TTL_SECONDS * 1000 + 500);
      const again = await client.callTool('whoami');
      expect(again.structuredContent).toMatchObject({ subject: 'alice', scopes: ['mcp:read', 'mcp:write'] });
      const third = oauth.tokens;
      expect(redirects).toBe(2);
      expect(third?.access_token).not.toBe(second?.access_token);
      expect(third?.refresh_token).not.toBe(second?.refresh_token);
      expect(storage.getTokens(oidc.issuer, mcp.resource)?.refresh_token).toBe(third?.refresh_token);

      // The rotated-out refresh token is dead at the authorization server.
      const registered = storage.getClient(oidc.issuer);
      const replay = await fetch(`${oidc.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: second?.refresh_token as string,
          client_id: registered?.client_id as string,
        }),
      });
      expect(replay.status).toBe(400);
      expect(((await replay.json()) as { error: string }).error).toBe('invalid_grant');
    } finally {
      await client.close();
    }
  }, 30_000);

  it('works on the legacy (2025-11-25) wire through the transport hooks', async () => {
    const oauth = new OAuthClient({
      serverUrl: mcp.resource,
      grant: {
        type: 'authorization_code',
        redirectUri: REDIRECT_URI,
        onRedirect: (r) => headlessBrowser(r.url, REDIRECT_URI),
      },
    });
    const client = new McpClient({ name: 'oauth-e2e', version: '1.0.0' }, { protocol: 'legacy' });
    await client.connect(
      new StreamableHttpClientTransport(mcp.resource, {
        authorization: oauth.authorization,
        onAuthError: oauth.onAuthError,
        standaloneStream: false,
      }),
    );
    try {
      expect(client.protocolVersion).toBe('2025-11-25');
      const who = await client.callTool('whoami');
      expect(who.structuredContent).toMatchObject({ subject: 'alice' });
    } finally {
      await client.close();
    }
  }, 30_000);
});
