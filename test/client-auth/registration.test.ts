import { afterEach, describe, expect, it } from 'vitest';
import {
  MemoryOAuthStorage,
  OAuthClient,
  OAuthClientError,
  type OAuthClientOptions,
  clientMetadataDocument,
} from '../../src/client/auth/index.js';
import {
  TestAuthorizationServer,
  TestServer,
  type World,
  followRedirect,
  protectResource,
  rpc,
  world,
} from './fixtures.js';

let w: World;
afterEach(() => w?.close());

const CIMD = 'https://app.example.com/oauth/client.json';

function client(
  extra: Partial<OAuthClientOptions> = {},
  redirectUri = 'http://localhost:8976/cb',
): OAuthClient {
  return new OAuthClient({
    serverUrl: w.resource,
    grant: { type: 'authorization_code', redirectUri, onRedirect: (r) => followRedirect(r.url) },
    now: () => w.clock.now,
    ...extra,
  });
}

const registrations = () => w.as.seen.filter((s) => s.path === '/register');

async function failure(promise: Promise<unknown>): Promise<OAuthClientError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OAuthClientError);
  return err as OAuthClientError;
}

describe('client registration', () => {
  it('uses the Client ID Metadata Document URL where the server supports it', async () => {
    w = await world({ as: { metadata: { client_id_metadata_document_supported: true } } });
    expect((await client({ clientMetadataUrl: CIMD }).fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    expect(registrations()).toHaveLength(0);
    expect(w.authorizations()[0]?.query.get('client_id')).toBe(CIMD);
    expect(w.tokenRequests()[0]?.form.get('client_id')).toBe(CIMD);
  });

  it('registers dynamically when the server does not support metadata documents', async () => {
    w = await world();
    await client({ clientMetadataUrl: CIMD }).fetch(w.resource, rpc('tools/list'));
    expect(registrations()).toHaveLength(1);
    expect(w.authorizations()[0]?.query.get('client_id')).toBe('client-1');
  });

  it('prefers pre-registered credentials, authenticating as the server asks', async () => {
    w = await world({
      as: {
        metadata: {
          client_id_metadata_document_supported: true,
          token_endpoint_auth_methods_supported: ['client_secret_post'],
        },
      },
    });
    w.tas.clients.set('pre', { secret: 's3cr:t', method: 'client_secret_post' });
    const oauth = client({
      clientMetadataUrl: CIMD,
      clients: { [w.as.origin]: { client_id: 'pre', client_secret: 's3cr:t' } },
    });
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    expect(registrations()).toHaveLength(0);
    const [token] = w.tokenRequests();
    expect([
      token?.form.get('client_id'),
      token?.form.get('client_secret'),
      token?.headers.authorization,
    ]).toEqual(['pre', 's3cr:t', undefined]);
  });

  it('uses client_secret_basic with form-encoded credentials by default', async () => {
    w = await world();
    w.tas.clients.set('pre client', { secret: 'a:b+c', method: 'client_secret_basic' });
    await client({ clients: () => ({ client_id: 'pre client', client_secret: 'a:b+c' }) }).fetch(
      w.resource,
      rpc('tools/list'),
    );
    const header = w.tokenRequests()[0]?.headers.authorization as string;
    expect(Buffer.from(header.slice(6), 'base64').toString()).toBe('pre+client:a%3Ab%2Bc');
    expect(w.tokenRequests()[0]?.form.get('client_secret')).toBeNull();
  });

  it('never presents credentials registered for another issuer', async () => {
    w = await world();
    await client({
      clients: { 'https://other.example.com': { client_id: 'elsewhere', client_secret: 'x' } },
    }).fetch(w.resource, rpc('tools/list'));
    expect(registrations()).toHaveLength(1);
    expect(
      JSON.stringify(
        w.as.seen.map((s) => [
          Object.fromEntries(s.query),
          Object.fromEntries(s.form),
          s.headers.authorization,
        ]),
      ),
    ).not.toContain('elsewhere');
  });

  it('registers a confidential client when the server only takes client secrets', async () => {
    w = await world({ as: { metadata: { token_endpoint_auth_methods_supported: ['client_secret_basic'] } } });
    await client().fetch(w.resource, rpc('tools/list'));
    expect((registrations()[0]?.json as Record<string, unknown>).token_endpoint_auth_method).toBe(
      'client_secret_basic',
    );
    expect(w.tokenRequests()[0]?.headers.authorization).toMatch(/^Basic /);
  });

  it('declares a web application for an https redirect URI, unless told otherwise', async () => {
    w = await world();
    await client({}, 'https://app.example.com/cb')
      .fetch(w.resource, rpc('tools/list'))
      .catch(() => {});
    expect((registrations()[0]?.json as Record<string, unknown>).application_type).toBe('web');
    await w.close();
    w = await world();
    await client({ clientMetadata: { application_type: 'native' } }, 'https://app.example.com/cb')
      .fetch(w.resource, rpc('tools/list'))
      .catch(() => {});
    expect((registrations()[0]?.json as Record<string, unknown>).application_type).toBe('native');
  });

  it('re-registers when the stored registration lacks the redirect URI', async () => {
    w = await world();
    const storage = new MemoryOAuthStorage();
    await client({ storage }).fetch(w.resource, rpc('tools/list'));
    await client({ storage }, 'http://localhost:9999/other').fetch(w.resource, rpc('tools/list'));
    expect(registrations()).toHaveLength(1);
    storage.deleteTokens(w.as.origin, w.resource);
    await client({ storage }, 'http://localhost:9999/other').fetch(w.resource, rpc('tools/list'));
    expect(registrations()).toHaveLength(2);
  });

  it('reports a refused registration and a server offering no way to get a client id', async () => {
    w = await world();
    w.as.on('POST', '/register', () => ({
      status: 400,
      json: { error: 'invalid_redirect_uri', error_description: 'nope' },
    }));
    const refused = await failure(client().fetch(w.resource, rpc('tools/list')));
    expect([refused.reason, refused.oauthError, refused.status]).toEqual([
      'registration_failed',
      'invalid_redirect_uri',
      400,
    ]);
    await w.close();
    w = await world({ as: { metadata: { registration_endpoint: undefined } } });
    expect((await failure(client().fetch(w.resource, rpc('tools/list')))).reason).toBe(
      'registration_unavailable',
    );
  });

  it('builds the metadata document an application hosts', () => {
    expect(
      clientMetadataDocument({
        clientId: CIMD,
        redirectUris: ['http://127.0.0.1:3000/cb'],
        metadata: { client_name: 'App' },
      }),
    ).toEqual({
      client_id: CIMD,
      client_name: 'App',
      redirect_uris: ['http://127.0.0.1:3000/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    });
  });
});

describe('authorization server migration', () => {
  it('re-registers with the new server and never shows it the old client id', async () => {
    w = await world();
    const as2 = await TestServer.start();
    try {
      const tas2 = new TestAuthorizationServer(as2, w.clock, { idPrefix: 'as2-' });
      let current = w.tas;
      protectResource(w.rs, () => current);
      const oauth = client({ storage: new MemoryOAuthStorage() });
      expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
      expect(oauth.issuer).toBe(w.as.origin);
      const firstClient = w.authorizations()[0]?.query.get('client_id') as string;

      current = tas2;
      expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
      expect(oauth.issuer).toBe(as2.origin);
      expect(as2.seen.filter((s) => s.path === '/register')).toHaveLength(1);
      const seenAtNewServer = JSON.stringify(
        as2.seen.map((s) => [
          Object.fromEntries(s.query),
          Object.fromEntries(s.form),
          s.headers.authorization ?? '',
          s.json ?? null,
        ]),
      );
      expect(firstClient).toBe('client-1');
      expect(seenAtNewServer).not.toContain(JSON.stringify(firstClient));
      // No refresh was attempted at the old server for the new one's sake, and nothing crossed over.
      expect(w.tokenRequests('refresh_token')).toHaveLength(0);
    } finally {
      await as2.close();
    }
  });
});
