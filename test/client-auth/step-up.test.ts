import { afterEach, describe, expect, it } from 'vitest';
import { OAuthClient, OAuthClientError, type OAuthClientOptions } from '../../src/client/auth/index.js';
import { type World, followRedirect, rpc, world } from './fixtures.js';

let w: World;
afterEach(() => w?.close());

function client(extra: Partial<OAuthClientOptions> = {}): OAuthClient {
  return new OAuthClient({
    serverUrl: w.resource,
    grant: {
      type: 'authorization_code',
      redirectUri: 'http://localhost:8976/cb',
      onRedirect: (r) => followRedirect(r.url),
    },
    now: () => w.clock.now,
    ...extra,
  });
}

const scopes = () => w.authorizations().map((s) => s.query.get('scope'));

async function failure(promise: Promise<unknown>): Promise<OAuthClientError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OAuthClientError);
  return err as OAuthClientError;
}

describe('scope selection and step-up', () => {
  it('uses the challenge scope, then re-authorizes with the union on insufficient_scope', async () => {
    w = await world({ rs: { challengeScope: 'mcp:read', scopes: { 'tools/call': ['mcp:write'] } } });
    const oauth = client();
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    const response = await oauth.fetch(w.resource, rpc('tools/call'));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ result: { scope: 'mcp:read mcp:write' } });
    expect(scopes()).toEqual(['mcp:read', 'mcp:read mcp:write']);
  });

  it('falls back to scopes_supported of the resource, and omits scope when there is none', async () => {
    w = await world({ rs: { prm: { scopes_supported: ['a', 'b'] } } });
    await client().fetch(w.resource, rpc('tools/list'));
    expect(scopes()).toEqual(['a b']);
    await w.close();
    w = await world();
    await client().fetch(w.resource, rpc('tools/list'));
    expect(scopes()).toEqual([null]);
  });

  it('adds offline_access only when the authorization server lists it', async () => {
    w = await world({
      rs: { challengeScope: 'mcp:read' },
      as: { metadata: { scopes_supported: ['mcp:read', 'offline_access'] } },
    });
    await client().fetch(w.resource, rpc('tools/list'));
    expect(Object.fromEntries(w.authorizations()[0]?.query ?? [])).toMatchObject({
      scope: 'mcp:read offline_access',
      prompt: 'consent',
    });
    await w.close();
    w = await world({
      rs: { challengeScope: 'mcp:read' },
      as: { metadata: { scopes_supported: ['mcp:read'] } },
    });
    await client().fetch(w.resource, rpc('tools/list'));
    expect(scopes()).toEqual(['mcp:read']);
    await w.close();
    w = await world({
      rs: { challengeScope: 'mcp:read' },
      as: { metadata: { scopes_supported: ['mcp:read', 'offline_access'] } },
    });
    await client({ offlineAccess: false }).fetch(w.resource, rpc('tools/list'));
    expect(scopes()).toEqual(['mcp:read']);
  });

  it('stops after maxAuthorizations when the user keeps declining the scope', async () => {
    w = await world({
      rs: { challengeScope: 'mcp:read', scopes: { 'tools/call': ['mcp:write'] } },
      as: { grant: () => 'mcp:read' },
    });
    const oauth = client();
    await oauth.fetch(w.resource, rpc('tools/list'));
    const err = await failure(oauth.fetch(w.resource, rpc('tools/call')));
    expect([err.reason, err.status]).toEqual(['insufficient_scope', 403]);
    expect(w.authorizations()).toHaveLength(1 + 3);
    await w.close();

    w = await world({
      rs: { challengeScope: 'mcp:read', scopes: { 'tools/call': ['mcp:write'] } },
      as: { grant: () => 'mcp:read' },
    });
    const strict = client({ maxAuthorizations: 1 });
    await strict.fetch(w.resource, rpc('tools/list'));
    await failure(strict.fetch(w.resource, rpc('tools/call')));
    expect(w.authorizations()).toHaveLength(1 + 1);
  });

  it('does not re-authorize for a scope the token already has', async () => {
    w = await world({ rs: { challengeScope: 'mcp:admin' } });
    // A server that refuses whatever the token carries.
    w.rs.on('POST', '/mcp', (req) =>
      req.headers.authorization
        ? {
            status: 403,
            headers: { 'www-authenticate': 'Bearer error="insufficient_scope", scope="mcp:admin"' },
          }
        : {
            status: 401,
            headers: {
              'www-authenticate': `Bearer scope="mcp:admin", resource_metadata="${w.rs.origin}/.well-known/oauth-protected-resource/mcp"`,
            },
          },
    );
    const err = await failure(client().fetch(w.resource, rpc('tools/list')));
    expect(err.reason).toBe('insufficient_scope');
    expect(w.authorizations()).toHaveLength(1);
  });

  it('gives up on a server that keeps answering 401', async () => {
    w = await world();
    w.rs.on('POST', '/mcp', () => ({
      status: 401,
      headers: {
        'www-authenticate': `Bearer resource_metadata="${w.rs.origin}/.well-known/oauth-protected-resource/mcp"`,
      },
    }));
    const err = await failure(client().fetch(w.resource, rpc('tools/list')));
    expect(err.reason).toBe('unauthorized');
    expect(w.authorizations().length).toBeLessThanOrEqual(3);
  });
});
