import { afterEach, describe, expect, it } from 'vitest';
import { MemoryOAuthStorage, OAuthClient, type OAuthClientOptions } from '../../src/client/auth/index.js';
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

const refreshes = () => w.tokenRequests('refresh_token').map((s) => s.form.get('refresh_token'));

describe('token refresh', () => {
  it('refreshes before expiry, stores the rotated refresh token and never uses the old one again', async () => {
    w = await world({ as: { ttl: 120 } });
    const storage = new MemoryOAuthStorage();
    const oauth = client({ storage });
    await oauth.fetch(w.resource, rpc('tools/list'));
    const first = oauth.tokens;
    expect(first?.refresh_token).toBeDefined();

    // 100 s into a 120 s token: inside the 30 s renewal window.
    w.clock.now += 100_000;
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    const second = oauth.tokens;
    expect(refreshes()).toEqual([first?.refresh_token]);
    expect(second?.access_token).not.toBe(first?.access_token);
    expect(second?.refresh_token).not.toBe(first?.refresh_token);
    expect(storage.getTokens(w.as.origin, w.resource)?.refresh_token).toBe(second?.refresh_token);
    const [refresh] = w.tokenRequests('refresh_token');
    expect(refresh?.form.get('resource')).toBe(w.resource);
    expect(refresh?.form.get('client_id')).toBe('client-1');
    expect(w.rs.seen.at(-1)?.headers.authorization).toBe(`Bearer ${second?.access_token}`);

    w.clock.now += 100_000;
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    expect(refreshes()).toEqual([first?.refresh_token, second?.refresh_token]);
    expect(w.authorizations()).toHaveLength(1);

    // The authorization server refuses the retired refresh token: rotation really happened.
    const replay = await fetch(`${w.as.origin}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: first?.refresh_token as string,
        client_id: 'client-1',
      }),
    });
    expect([replay.status, await replay.json()]).toEqual([400, { error: 'invalid_grant' }]);
  });

  it('keeps the refresh token when the server does not rotate it', async () => {
    w = await world({ as: { ttl: 120, rotate: false } });
    const oauth = client();
    await oauth.fetch(w.resource, rpc('tools/list'));
    const refreshToken = oauth.tokens?.refresh_token;
    for (let i = 0; i < 2; i++) {
      w.clock.now += 100_000;
      expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    }
    expect(refreshes()).toEqual([refreshToken, refreshToken]);
    expect(oauth.tokens?.refresh_token).toBe(refreshToken);
  });

  it('re-authorizes when the refresh token is refused', async () => {
    w = await world({ as: { ttl: 60 } });
    const oauth = client();
    await oauth.fetch(w.resource, rpc('tools/list'));
    w.tas.refreshTokens.clear();
    w.clock.now += 61_000;
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    expect(w.tokenRequests('refresh_token')).toHaveLength(1);
    expect(w.authorizations()).toHaveLength(2);
  });

  it('answers a 401 for a revoked access token by refreshing, without asking the user', async () => {
    w = await world();
    const oauth = client();
    await oauth.fetch(w.resource, rpc('tools/list'));
    w.tas.tokens.clear();
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    expect(w.tokenRequests('refresh_token')).toHaveLength(1);
    expect(w.authorizations()).toHaveLength(1);
  });

  it('does not refresh while the token is fresh', async () => {
    w = await world();
    const oauth = client();
    await oauth.fetch(w.resource, rpc('tools/list'));
    const tokens = oauth.tokens;
    expect(tokens?.expires_at).toBeDefined();
    w.clock.now += 3_500_000;
    await oauth.fetch(w.resource, rpc('tools/list'));
    expect(w.tokenRequests('refresh_token')).toHaveLength(0);
  });
});
