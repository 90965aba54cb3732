import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS, bearerAuth } from '../../src/auth/bearer.js';
import { InvalidTokenError } from '../../src/auth/challenge.js';
import { discoverAuthorizationServer } from '../../src/auth/discovery.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { InsufficientScopeError } from '../../src/server/features.js';
import type { HttpError } from '../../src/transport/http/handler.js';
import type { AuthInfo } from '../../src/transport/types.js';
import type { Logger } from '../../src/util/logger.js';
import { TestAuthorizationServer } from './authorization-server.js';
import { type McpUnderTest, challengeParams, startMcpServer } from './mcp-server.js';

const RESOURCE = 'http://127.0.0.1:9/mcp';
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as HttpError,
  );

describe('authorization server discovery', () => {
  it('finds an issuer with a path by falling back to OIDC path appending', async () => {
    const as = await TestAuthorizationServer.start({ mountPath: '/tenant1' });
    try {
      expect(as.issuer).toMatch(/\/tenant1$/);
      const metadata = await discoverAuthorizationServer(as.issuer);
      expect(metadata.issuer).toBe(as.issuer);
      expect(metadata.jwks_uri).toBe(`${as.issuer}/jwks`);
      // Tried in the specified order: RFC 8414 insertion, OIDC insertion, then OIDC appending.
      expect(as.hitCount('404:/.well-known/oauth-authorization-server/tenant1')).toBe(1);
      expect(as.hitCount('404:/.well-known/openid-configuration/tenant1')).toBe(1);
      expect(as.hitCount('/.well-known/openid-configuration')).toBe(1);

      const auth = bearerAuth({ issuer: as.issuer, audience: RESOURCE });
      await expect(auth(bearer(await as.token('svc', RESOURCE)))).resolves.toMatchObject({ clientId: 'svc' });
      expect(as.hitCount('/jwks')).toBe(1);
    } finally {
      await as.close();
    }
  });

  it('never uses metadata whose issuer differs from the configured one', async () => {
    const requests: string[] = [];
    const impostor = createServer((req, res) => {
      requests.push(req.url ?? '');
      const { port } = impostor.address() as AddressInfo;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ issuer: 'https://honest.example', jwks_uri: `http://127.0.0.1:${port}/jwks` }),
      );
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    const { port } = impostor.address() as AddressInfo;
    try {
      await expect(discoverAuthorizationServer(`http://127.0.0.1:${port}`)).rejects.toThrow(/does not match/);
      const auth = bearerAuth({ issuer: `http://127.0.0.1:${port}`, audience: RESOURCE });
      const err = await refusal(auth(bearer('a.b.c')));
      expect(err?.status).toBe(503);
      expect(requests.filter((u) => u === '/jwks')).toEqual([]);
    } finally {
      impostor.closeAllConnections();
      await new Promise<void>((resolve) => impostor.close(() => resolve()));
    }
  });

  it('answers 503 while the authorization server is unreachable, without asking it on every request', async () => {
    let calls = 0;
    const auth = bearerAuth({
      issuer: 'http://127.0.0.1:9',
      audience: RESOURCE,
      fetch: async (input, init) => {
        calls++;
        return fetch(input, init);
      },
    });
    const first = await refusal(auth(bearer('a.b.c')));
    expect(first?.status).toBe(503);
    expect(first?.code).toBe(ErrorCode.InternalError);
    const tried = calls;
    expect(tried).toBe(2);
    expect((await refusal(auth(bearer('a.b.c'))))?.status).toBe(503);
    expect(calls).toBe(tried);
  });

  it('skips discovery when jwksUri is configured', async () => {
    const as = await TestAuthorizationServer.start();
    try {
      const auth = bearerAuth({ issuer: as.issuer, audience: RESOURCE, jwksUri: `${as.issuer}/jwks` });
      await expect(auth(bearer(await as.token('svc', RESOURCE)))).resolves.toMatchObject({ subject: 'svc' });
      expect([...as.hits.keys()].filter((k) => k.includes('.well-known'))).toEqual([]);
    } finally {
      await as.close();
    }
  });
});

describe('bearerAuth behaviours around the token checks', () => {
  let as: TestAuthorizationServer;
  let open: McpUnderTest;

  beforeAll(async () => {
    as = await TestAuthorizationServer.start();
    open = await startMcpServer((resource) =>
      bearerAuth({ issuer: as.issuer, audience: resource, optional: true }),
    );
  });
  afterAll(async () => {
    await open?.close();
    await as?.close();
  });

  it('optional: lets anonymous callers use public tools but not tools declaring scopes', async () => {
    const anon = await open.call('tools/call', { name: 'whoami', arguments: {} });
    expect(anon.status).toBe(200);
    expect(anon.body.result?.structuredContent).toMatchObject({ subject: null, scopes: [] });
    const scoped = await open.call('tools/call', { name: 'write_note', arguments: {} });
    // Anonymous: 401 with a challenge naming the scope (a token holder lacking it would get 403).
    expect(scoped.status).toBe(401);
    expect(scoped.body.error?.code).toBe(ErrorCode.Forbidden);
    // A token presented under optional auth is still checked.
    const bad = await open.call('tools/list', {}, 'garbage.token.value');
    expect(bad.status).toBe(401);
    const token = await as.token('svc', open.resource, 'mcp:write');
    expect((await open.call('tools/call', { name: 'write_note', arguments: {} }, token)).status).toBe(200);
  });

  it('errorChallenge: 403 insufficient_scope for a principal, 401 for an anonymous caller', () => {
    const auth = open.auth;
    const principal: AuthInfo = { subject: 'svc', scopes: ['mcp:read'] };
    const err = new InsufficientScopeError(['mcp:write']);
    expect(auth.errorChallenge(err, principal)).toEqual({
      status: 403,
      headers: {
        'www-authenticate': `Bearer error="insufficient_scope", error_description="Insufficient scope: requires mcp:write", scope="mcp:write", resource_metadata="${open.auth.resourceMetadataUrl}"`,
      },
    });
    expect(auth.errorChallenge(err, ANONYMOUS)).toEqual({
      status: 401,
      headers: {
        'www-authenticate': `Bearer scope="mcp:write", resource_metadata="${open.auth.resourceMetadataUrl}"`,
      },
    });
    expect(auth.errorChallenge(new Error('boom'), principal)).toBeUndefined();
  });

  it('custom verify: accepts its own tokens, defers others to JWT checks, and can refuse', async () => {
    const auth = bearerAuth({
      issuer: as.issuer,
      audience: RESOURCE,
      requiredScopes: ['mcp:read'],
      scopeHierarchy: { 'mcp:admin': ['mcp:write'], 'mcp:write': ['mcp:read'] },
      verify: (token) => {
        if (token === 'key-good')
          return { subject: 'robot', scopes: ['mcp:admin'], expiresAt: Date.now() / 1000 + 60 };
        if (token === 'key-old')
          return { subject: 'robot', scopes: ['mcp:read'], expiresAt: Date.now() / 1000 - 120 };
        if (token === 'key-revoked') throw new InvalidTokenError('This API key was revoked');
        return undefined;
      },
    });
    const good = await auth(bearer('key-good'));
    expect(good?.subject).toBe('robot');
    expect([...(good?.scopes ?? [])].sort()).toEqual(['mcp:admin', 'mcp:read', 'mcp:write']);
    expect((await refusal(auth(bearer('key-old'))))?.message).toMatch(/expired/);
    const revoked = await refusal(auth(bearer('key-revoked')));
    expect(challengeParams(revoked?.headers['www-authenticate'] as string).error_description).toBe(
      'This API key was revoked',
    );
    await expect(auth(bearer(await as.token('svc', RESOURCE, 'mcp:read')))).resolves.toMatchObject({
      clientId: 'svc',
    });
    expect((await refusal(auth(bearer('opaque-without-introspection'))))?.status).toBe(401);
  });

  it('logs the principal as client_id and never the token', async () => {
    const lines: Array<[string, object, string | undefined]> = [];
    const logger: Logger = {
      trace: (o, m) => lines.push(['trace', o, m]),
      debug: (o, m) => lines.push(['debug', o, m]),
      info: (o, m) => lines.push(['info', o, m]),
      warn: (o, m) => lines.push(['warn', o, m]),
      error: (o, m) => lines.push(['error', o, m]),
      child: () => logger,
    };
    const auth = bearerAuth({ issuer: as.issuer, audience: RESOURCE, logger });
    const token = await as.token('svc', RESOURCE, 'mcp:read');
    await auth(bearer(token));
    const [header, payload] = token.split('.') as [string, string];
    await refusal(auth(bearer(`${header}.${payload}.AAAA`)));
    await refusal(auth(bearer('opaque-secret-value')));
    expect(lines.find(([level]) => level === 'debug')?.[1]).toEqual({ client_id: 'svc', sub: 'svc' });
    expect(lines.filter(([level]) => level === 'info')).toHaveLength(2);
    const careless = bearerAuth({
      audience: RESOURCE,
      logger,
      verify: (t) => {
        throw new Error(`lookup failed for ${t}`);
      },
    });
    expect((await refusal(careless(bearer('sk-live-123'))))?.status).toBe(401);
    expect(lines.at(-2)).toEqual(['warn', { err: 'lookup failed for [token]' }, 'token verifier failed']);
    const logged = JSON.stringify(lines);
    expect(logged).not.toContain(payload);
    expect(logged).not.toContain('opaque-secret-value');
    expect(logged).not.toContain('sk-live-123');
  });

  it('parses the Authorization header per RFC 6750', async () => {
    const auth = bearerAuth({ issuer: as.issuer, audience: RESOURCE });
    const token = await as.token('svc', RESOURCE, 'mcp:read');
    await expect(auth({ headers: { authorization: `bearer  ${token}` } })).resolves.toMatchObject({
      clientId: 'svc',
    });
    const basic = await refusal(auth({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }));
    expect(basic?.status).toBe(401);
    expect(basic?.headers['www-authenticate']).not.toContain('error=');
    for (const malformed of ['Bearer', 'Bearer a b', 'Bearer tok"en']) {
      const err = await refusal(auth({ headers: { authorization: malformed } }));
      expect(err?.status).toBe(400);
      expect(challengeParams(err?.headers['www-authenticate'] as string).error).toBe('invalid_request');
    }
    const huge = await refusal(auth(bearer('a'.repeat(20_000))));
    expect(huge?.status).toBe(400);
  });
});
