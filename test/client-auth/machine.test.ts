import { exportPKCS8, generateKeyPair, jwtVerify } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { OAuthClient, OAuthClientError, type OAuthClientOptions } from '../../src/client/auth/index.js';
import { TestServer, type World, followRedirect, rpc, verifyProof, world } from './fixtures.js';

let w: World;
afterEach(() => w?.close());

function client(grant: OAuthClientOptions['grant'], extra: Partial<OAuthClientOptions> = {}): OAuthClient {
  return new OAuthClient({ serverUrl: w.resource, grant, now: () => w.clock.now, ...extra });
}

async function failure(promise: Promise<unknown>): Promise<OAuthClientError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OAuthClientError);
  return err as OAuthClientError;
}

describe('client credentials', () => {
  it('authenticates with client_secret_basic and asks for the resource', async () => {
    w = await world({ rs: { challengeScope: 'mcp:read' } });
    w.tas.clients.set('svc', { secret: 'pw', method: 'client_secret_basic' });
    const oauth = client({ type: 'client_credentials', clientId: 'svc', clientSecret: 'pw' });
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    const [token] = w.tokenRequests();
    expect(Object.fromEntries(token?.form ?? [])).toEqual({
      grant_type: 'client_credentials',
      resource: w.resource,
      scope: 'mcp:read',
    });
    expect(token?.headers.authorization).toBe(`Basic ${Buffer.from('svc:pw').toString('base64')}`);
    expect(w.authorizations()).toHaveLength(0);
  });

  it('gets a new token before the old one expires, without a 401', async () => {
    w = await world({ as: { ttl: 60 } });
    w.tas.clients.set('svc', { secret: 'pw', method: 'client_secret_basic' });
    const oauth = client({ type: 'client_credentials', clientId: 'svc', clientSecret: 'pw' });
    await oauth.fetch(w.resource, rpc('tools/list'));
    w.clock.now += 45_000;
    await oauth.fetch(w.resource, rpc('tools/list'));
    expect(w.tokenRequests('client_credentials')).toHaveLength(2);
    expect(w.rs.seen.filter((s) => s.method === 'POST' && !s.headers.authorization)).toHaveLength(1);
  });

  it('signs an RFC 7523 assertion for private_key_jwt', async () => {
    w = await world();
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const seen: string[] = [];
    w.as.on('POST', '/token', async (req) => {
      const assertion = req.form.get('client_assertion') as string;
      seen.push(assertion);
      const { payload, protectedHeader } = await jwtVerify(assertion, publicKey, {
        audience: w.as.origin,
        issuer: 'svc',
        subject: 'svc',
      });
      expect(protectedHeader.alg).toBe('ES256');
      expect(payload.exp).toBeGreaterThan(payload.iat as number);
      expect((payload.exp as number) - (payload.iat as number)).toBeLessThanOrEqual(300);
      expect(req.form.get('client_assertion_type')).toBe(
        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      );
      w.tas.tokens.set('cc-1', {
        clientId: 'svc',
        scope: '',
        resource: req.form.get('resource'),
        expiresAt: w.clock.now + 60_000,
      });
      return { status: 200, json: { access_token: 'cc-1', token_type: 'Bearer', expires_in: 60 } };
    });
    const oauth = client({
      type: 'client_credentials',
      clientId: 'svc',
      privateKey: await exportPKCS8(privateKey),
    });
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    w.clock.now += 50_000;
    await oauth.fetch(w.resource, rpc('tools/list'));
    expect(seen).toHaveLength(2);
    // A fresh assertion (new jti) per token request.
    expect(seen[0]).not.toBe(seen[1]);
  });

  it('refuses to present credentials bound to another issuer', async () => {
    w = await world();
    const err = await failure(
      client({
        type: 'client_credentials',
        clientId: 'svc',
        clientSecret: 'pw',
        issuer: 'https://other.example.com',
      }).fetch(w.resource, rpc('tools/list')),
    );
    expect(err.reason).toBe('registration_unavailable');
    expect(w.tokenRequests()).toHaveLength(0);
  });

  it('surfaces a refused grant without retrying it', async () => {
    w = await world();
    const err = await failure(
      client({ type: 'client_credentials', clientId: 'svc', clientSecret: 'wrong' }).fetch(
        w.resource,
        rpc('tools/list'),
      ),
    );
    expect([err.reason, err.oauthError, err.status]).toEqual(['token_request_failed', 'invalid_client', 401]);
    expect(w.tokenRequests()).toHaveLength(1);
  });
});

describe('JWT bearer and enterprise-managed grants', () => {
  it('presents a workload identity assertion, fetched fresh for each token request', async () => {
    w = await world();
    let n = 0;
    w.as.on('POST', '/token', (req) => {
      expect(req.form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
      expect(req.form.get('assertion')).toBe(`workload-jwt-${n}`);
      w.tas.tokens.set(`wif-${n}`, {
        clientId: 'wl',
        scope: '',
        resource: null,
        expiresAt: w.clock.now + 60_000,
      });
      return { status: 200, json: { access_token: `wif-${n}`, token_type: 'Bearer', expires_in: 60 } };
    });
    const oauth = client({ type: 'jwt_bearer', assertion: () => `workload-jwt-${++n}` });
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    expect(n).toBe(1);
  });

  it('exchanges the ID token for an ID-JAG at the IdP and presents it with client authentication', async () => {
    w = await world();
    const idp = await TestServer.start();
    try {
      idp.on('POST', '/token', () => ({
        status: 200,
        json: {
          access_token: 'the-id-jag',
          issued_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
          token_type: 'N_A',
        },
      }));
      w.tas.clients.set('xaa', { secret: 'xaa-secret', method: 'client_secret_basic' });
      w.as.on('POST', '/token', (req) => {
        expect(req.form.get('assertion')).toBe('the-id-jag');
        w.tas.tokens.set('ema-1', {
          clientId: 'xaa',
          scope: '',
          resource: null,
          expiresAt: w.clock.now + 60_000,
        });
        return { status: 200, json: { access_token: 'ema-1', token_type: 'Bearer' } };
      });
      const oauth = client({
        type: 'enterprise_managed',
        clientId: 'xaa',
        clientSecret: 'xaa-secret',
        idp: { tokenEndpoint: `${idp.origin}/token`, idToken: 'the-id-token', clientId: 'idp-client' },
      });
      expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
      expect(Object.fromEntries(idp.seen[0]?.form ?? [])).toEqual({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        requested_token_type: 'urn:ietf:params:oauth:token-type:id-jag',
        subject_token: 'the-id-token',
        subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
        audience: w.as.origin,
        resource: w.resource,
        client_id: 'idp-client',
      });
      const [grant] = w.tokenRequests();
      expect(grant?.form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
      expect(grant?.headers.authorization).toBe(`Basic ${Buffer.from('xaa:xaa-secret').toString('base64')}`);
    } finally {
      await idp.close();
    }
  });
});

describe('DPoP (RFC 9449)', () => {
  it('binds the token to a key and sends a fresh proof with every request', async () => {
    w = await world({ as: { dpop: true } });
    const oauth = client(
      {
        type: 'authorization_code',
        redirectUri: 'http://localhost:8976/cb',
        onRedirect: (r) => followRedirect(r.url),
      },
      { dpop: true },
    );
    for (let i = 0; i < 3; i++) expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    expect(oauth.tokens?.token_type).toBe('DPoP');
    const [token] = w.tokenRequests('authorization_code');
    const bound = await verifyProof(token?.headers.dpop as string, 'POST', `${w.as.origin}/token`);
    expect(bound).toMatchObject({ jkt: oauth.tokens?.dpop_jkt });
    const authed = w.rs.seen.filter((s) => s.headers.authorization !== undefined);
    expect(authed.map((s) => s.headers.authorization?.split(' ')[0])).toEqual(['DPoP', 'DPoP', 'DPoP']);
    const proofs = await Promise.all(
      authed.map((s) =>
        verifyProof(s.headers.dpop as string, 'POST', w.resource, oauth.tokens?.access_token),
      ),
    );
    expect(new Set(proofs.map((p) => ('jti' in p ? p.jti : p.error))).size).toBe(3);
  });

  it('retries with the nonce the resource server hands out', async () => {
    w = await world({ as: { dpop: true }, rs: { dpopNonce: 'n-42' } });
    const oauth = client(
      {
        type: 'authorization_code',
        redirectUri: 'http://localhost:8976/cb',
        onRedirect: (r) => followRedirect(r.url),
      },
      { dpop: true },
    );
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    expect((await oauth.fetch(w.resource, rpc('tools/list'))).status).toBe(200);
    const statuses = w.rs.seen.filter((s) => s.headers.dpop !== undefined).length;
    // First DPoP request is challenged for the nonce, its retry and the next request carry it.
    expect(statuses).toBe(3);
    expect(w.authorizations()).toHaveLength(1);
  });

  it('stays with Bearer tokens when the server does not offer DPoP or it is off', async () => {
    w = await world();
    const oauth = client(
      {
        type: 'authorization_code',
        redirectUri: 'http://localhost:8976/cb',
        onRedirect: (r) => followRedirect(r.url),
      },
      { dpop: true },
    );
    await oauth.fetch(w.resource, rpc('tools/list'));
    expect([oauth.tokens?.token_type, w.tokenRequests()[0]?.headers.dpop]).toEqual(['Bearer', undefined]);
    await w.close();
    w = await world({ as: { dpop: true } });
    const plain = client({
      type: 'authorization_code',
      redirectUri: 'http://localhost:8976/cb',
      onRedirect: (r) => followRedirect(r.url),
    });
    await plain.fetch(w.resource, rpc('tools/list'));
    expect(plain.tokens?.token_type).toBe('Bearer');
  });
});
