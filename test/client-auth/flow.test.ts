import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AuthorizationRequest,
  MemoryOAuthStorage,
  OAuthClient,
  OAuthClientError,
  type OAuthClientOptions,
} from '../../src/client/auth/index.js';
import { type World, followRedirect, rpc, world } from './fixtures.js';

const REDIRECT = 'http://127.0.0.1:53682/callback';
let w: World;
afterEach(() => w?.close());

function client(extra: Partial<OAuthClientOptions> = {}, seen: AuthorizationRequest[] = []): OAuthClient {
  return new OAuthClient({
    serverUrl: w.resource,
    grant: {
      type: 'authorization_code',
      redirectUri: REDIRECT,
      onRedirect: (request) => {
        seen.push(request);
        return followRedirect(request.url);
      },
    },
    clientMetadata: { client_name: 'flow test' },
    now: () => w.clock.now,
    ...extra,
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

describe('authorization code flow', () => {
  it('discovers, registers, authorizes with PKCE, state and resource, and calls the server with the token', async () => {
    w = await world({ rs: { challengeScope: 'mcp:read' } });
    const requests: AuthorizationRequest[] = [];
    const oauth = client({}, requests);
    const response = await oauth.fetch(w.resource, rpc('tools/list'));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ result: { method: 'tools/list', scope: 'mcp:read' } });

    const [registration] = w.as.seen.filter((s) => s.path === '/register');
    expect(registration?.json).toEqual({
      client_name: 'flow test',
      application_type: 'native',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    });
    const [authorization] = w.authorizations();
    const q = authorization?.query as URLSearchParams;
    expect(Object.fromEntries(q)).toEqual({
      response_type: 'code',
      client_id: 'client-1',
      redirect_uri: REDIRECT,
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
      state: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
      scope: 'mcp:read',
      resource: w.resource,
    });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      issuer: w.as.origin,
      resource: w.resource,
      scopes: ['mcp:read'],
      state: q.get('state'),
    });
    const [token] = w.tokenRequests('authorization_code');
    const verifier = token?.form.get('code_verifier') as string;
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(q.get('code_challenge'));
    expect(token?.form.get('resource')).toBe(w.resource);
    expect(token?.form.get('client_id')).toBe('client-1');
    expect(token?.headers.authorization).toBeUndefined();
    expect(w.rs.seen.at(-1)?.headers.authorization).toBe(`Bearer ${oauth.tokens?.access_token}`);
    expect(oauth.tokens).toMatchObject({
      token_type: 'Bearer',
      scope: 'mcp:read',
      requested_scope: 'mcp:read',
      refresh_token: expect.any(String),
    });

    // Later requests reuse the token.
    expect((await oauth.fetch(w.resource, rpc('tools/call'))).status).toBe(200);
    expect(w.authorizations()).toHaveLength(1);
    expect(oauth.issuer).toBe(w.as.origin);
  });

  it('serializes concurrent challenges into one authorization', async () => {
    w = await world();
    const oauth = client();
    const statuses = await Promise.all(
      Array.from({ length: 5 }, () => oauth.fetch(w.resource, rpc('tools/list')).then((r) => r.status)),
    );
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect(w.authorizations()).toHaveLength(1);
  });

  it('sends tokens to the server origin only', async () => {
    w = await world();
    const oauth = client();
    await oauth.fetch(w.resource, rpc('tools/list'));
    w.as.on('GET', '/echo', (req) => ({
      status: 200,
      json: { authorization: req.headers.authorization ?? null },
    }));
    expect(await (await oauth.fetch(`${w.as.origin}/echo`)).json()).toEqual({ authorization: null });
  });

  it('refuses to authorize when the server does not advertise PKCE S256', async () => {
    w = await world({ as: { metadata: { code_challenge_methods_supported: ['plain'] } } });
    expect((await failure(client().fetch(w.resource, rpc('tools/list')))).reason).toBe('pkce_unsupported');
    expect(w.authorizations()).toHaveLength(0);
  });

  it('lets the application finish the authorization later', async () => {
    w = await world();
    let pendingUrl: URL | undefined;
    const oauth = new OAuthClient({
      serverUrl: w.resource,
      grant: {
        type: 'authorization_code',
        redirectUri: REDIRECT,
        onRedirect: (request) => {
          pendingUrl = request.url;
        },
      },
    });
    const err = await failure(oauth.fetch(w.resource, rpc('tools/list')));
    expect(err.reason).toBe('authorization_pending');
    expect(err.authorizationUrl).toBe(pendingUrl?.href);
    await oauth.completeAuthorization(await followRedirect(pendingUrl as URL));
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    expect(w.authorizations()).toHaveLength(1);
  });
});

describe('authorization response validation (state, redirect URI, RFC 9207 iss)', () => {
  /** A client whose user has not come back yet, and the callback the browser would bring. */
  async function pendingCallback(): Promise<{ oauth: OAuthClient; callback: string }> {
    let url: URL | undefined;
    const oauth = new OAuthClient({
      serverUrl: w.resource,
      grant: {
        type: 'authorization_code',
        redirectUri: REDIRECT,
        onRedirect: (r) => {
          url = r.url;
        },
      },
    });
    expect((await failure(oauth.fetch(w.resource, rpc('tools/list')))).reason).toBe('authorization_pending');
    return { oauth, callback: await followRedirect(url as URL) };
  }

  const cases: Array<{ name: string; advertised: boolean | undefined; iss: string; ok: boolean }> = [
    { name: 'advertised and equal', advertised: true, iss: 'issuer', ok: true },
    { name: 'advertised but absent', advertised: true, iss: 'none', ok: false },
    { name: 'not advertised and absent', advertised: undefined, iss: 'none', ok: true },
    {
      name: 'not advertised but present and wrong',
      advertised: undefined,
      iss: 'https://evil.example.com',
      ok: false,
    },
    { name: 'advertised false but present and equal', advertised: false, iss: 'issuer', ok: true },
    { name: 'advertised and equal only after normalization', advertised: true, iss: 'issuer/', ok: false },
  ];
  for (const c of cases) {
    it(`iss ${c.name}: ${c.ok ? 'accepted' : 'rejected before the token endpoint'}`, async () => {
      w = await world({
        as: {
          metadata: { authorization_response_iss_parameter_supported: c.advertised },
          issInRedirect: c.iss,
        },
      });
      const promise = client().fetch(w.resource, rpc('tools/list'));
      if (c.ok) {
        expect((await promise).status).toBe(200);
        expect(w.tokenRequests()).toHaveLength(1);
      } else {
        expect((await failure(promise)).reason).toBe('invalid_authorization_response');
        expect(w.authorizations()).toHaveLength(1);
        expect(w.tokenRequests()).toHaveLength(0);
      }
    });
  }

  it('does not act on an error response from the wrong issuer', async () => {
    w = await world();
    const { oauth, callback: raw } = await pendingCallback();
    const callback = new URL(raw);
    callback.searchParams.delete('code');
    callback.searchParams.set('error', 'access_denied');
    callback.searchParams.set('iss', 'https://evil.example.com');
    expect((await failure(oauth.completeAuthorization(callback))).reason).toBe(
      'invalid_authorization_response',
    );
  });

  it('reports a genuine error response', async () => {
    w = await world();
    const { oauth, callback: raw } = await pendingCallback();
    const callback = new URL(raw);
    callback.searchParams.delete('code');
    callback.searchParams.set('error', 'access_denied');
    callback.searchParams.set('error_description', 'user said no');
    const err = await failure(oauth.completeAuthorization(callback));
    expect([err.reason, err.oauthError, err.oauthErrorDescription]).toEqual([
      'authorization_denied',
      'access_denied',
      'user said no',
    ]);
  });

  it('rejects unknown or replayed state and a foreign redirect URI', async () => {
    w = await world();
    const { oauth, callback } = await pendingCallback();
    const forged = new URL(callback);
    forged.searchParams.set('state', 'forged');
    expect((await failure(oauth.completeAuthorization(forged))).reason).toBe(
      'invalid_authorization_response',
    );
    const moved = new URL(callback);
    moved.pathname = '/elsewhere';
    expect((await failure(oauth.completeAuthorization(moved))).reason).toBe('invalid_authorization_response');
    // The state was consumed by the failed attempt above: the genuine callback is now stale too.
    expect((await failure(oauth.completeAuthorization(callback))).reason).toBe(
      'invalid_authorization_response',
    );
    expect(w.tokenRequests()).toHaveLength(0);
  });
});

describe('token storage', () => {
  it('memory storage keys clients by issuer and tokens by issuer and resource, and hands out copies', () => {
    const storage = new MemoryOAuthStorage();
    storage.setClient('https://a', { client_id: 'x', token_endpoint_auth_method: 'none' });
    storage.setTokens('https://a', 'https://r1', { access_token: 't1', token_type: 'Bearer', issued_at: 1 });
    expect(storage.getClient('https://b')).toBeUndefined();
    expect(storage.getTokens('https://a', 'https://r2')).toBeUndefined();
    expect(storage.getTokens('https://b', 'https://r1')).toBeUndefined();
    const copy = storage.getTokens('https://a', 'https://r1');
    if (copy) copy.access_token = 'changed';
    expect(storage.getTokens('https://a', 'https://r1')?.access_token).toBe('t1');
    storage.deleteTokens('https://a', 'https://r1');
    storage.deleteClient('https://a');
    expect([storage.getTokens('https://a', 'https://r1'), storage.getClient('https://a')]).toEqual([
      undefined,
      undefined,
    ]);
  });

  it('a new client with the same storage reuses the registration and the tokens', async () => {
    w = await world();
    const storage = new MemoryOAuthStorage();
    await client({ storage }).fetch(w.resource, rpc('tools/list'));
    const second = client({ storage });
    expect((await second.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    expect(w.authorizations()).toHaveLength(1);
    expect(w.as.paths('POST').filter((p) => p === '/register')).toHaveLength(1);
    expect(storage.getTokens(w.as.origin, w.resource)?.access_token).toBe(second.tokens?.access_token);
  });

  it('signOut forgets the tokens', async () => {
    w = await world();
    const storage = new MemoryOAuthStorage();
    const oauth = client({ storage });
    await oauth.fetch(w.resource, rpc('tools/list'));
    await oauth.signOut();
    expect([oauth.tokens, storage.getTokens(w.as.origin, w.resource)]).toEqual([undefined, undefined]);
  });
});

describe('transport hooks', () => {
  it('authorization gives the header value and onAuthError recovers from a 401', async () => {
    w = await world();
    const oauth = client();
    expect(await oauth.authorization()).toBeUndefined();
    const first = await fetch(w.resource, rpc('tools/list'));
    await first.body?.cancel();
    expect(await oauth.onAuthError(first)).toBe(true);
    const header = await oauth.authorization();
    expect(header).toMatch(/^Bearer at-\d+$/);
    const second = await fetch(w.resource, {
      ...rpc('tools/list'),
      headers: { authorization: header as string },
    });
    expect(second.status).toBe(200);
    await second.body?.cancel();
    // A plain 403 (no insufficient_scope) is the server's answer, not an authorization problem.
    expect(await oauth.onAuthError(new Response(null, { status: 403 }))).toBe(false);
  });
});
