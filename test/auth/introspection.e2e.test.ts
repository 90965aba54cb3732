import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerAuth } from '../../src/auth/bearer.js';
import type { HttpError } from '../../src/transport/http/handler.js';
import { CLIENTS, TestAuthorizationServer } from './authorization-server.js';
import { type McpUnderTest, challengeParams, sleep, startMcpServer } from './mcp-server.js';

const INTROSPECT = '/token/introspection';
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as HttpError,
  );

describe('bearerAuth with opaque tokens and RFC 7662 introspection', () => {
  let as: TestAuthorizationServer;
  let mcp: McpUnderTest;
  const rs = { clientId: 'mcp-rs', clientSecret: CLIENTS['mcp-rs'] };

  beforeAll(async () => {
    as = await TestAuthorizationServer.start();
    mcp = await startMcpServer((resource) =>
      bearerAuth({ issuer: as.issuer, audience: resource, introspection: { ...rs, cacheTtlMs: 60_000 } }),
    );
  });
  afterAll(async () => {
    await mcp?.close();
    await as?.close();
  });

  it('accepts an active opaque token through the HTTP server, introspecting it once', async () => {
    const token = await as.token('opaque', mcp.resource, 'mcp:read mcp:write');
    expect(token.split('.')).toHaveLength(1);
    const before = as.hitCount(INTROSPECT);
    const first = await mcp.call('tools/call', { name: 'whoami', arguments: {} }, token);
    expect(first.status).toBe(200);
    expect(first.body.result?.structuredContent).toMatchObject({
      subject: 'opaque',
      clientId: 'opaque',
      scopes: ['mcp:read', 'mcp:write'],
    });
    const second = await mcp.call('tools/call', { name: 'write_note', arguments: {} }, token);
    expect(second.status).toBe(200);
    expect(as.hitCount(INTROSPECT) - before).toBe(1);
  });

  it('coalesces concurrent introspections of the same token', async () => {
    const auth = bearerAuth({ issuer: as.issuer, audience: mcp.resource, introspection: rs });
    const token = await as.token('opaque', mcp.resource, 'mcp:read');
    const before = as.hitCount(INTROSPECT);
    const results = await Promise.all(Array.from({ length: 5 }, () => auth(bearer(token))));
    expect(results.every((r) => r?.clientId === 'opaque')).toBe(true);
    expect(as.hitCount(INTROSPECT) - before).toBe(1);
  });

  it('keeps a revoked token for at most cacheTtlMs, then refuses it as inactive', async () => {
    const auth = bearerAuth({
      issuer: as.issuer,
      audience: mcp.resource,
      introspection: { ...rs, cacheTtlMs: 300 },
    });
    const token = await as.token('opaque', mcp.resource, 'mcp:read');
    await expect(auth(bearer(token))).resolves.toMatchObject({ clientId: 'opaque' });
    await as.revoke('opaque', token);
    await expect(auth(bearer(token))).resolves.toMatchObject({ clientId: 'opaque' });
    await sleep(350);
    const err = await refusal(auth(bearer(token)));
    expect(err?.status).toBe(401);
    expect(challengeParams(err?.headers['www-authenticate'] as string)).toMatchObject({
      error: 'invalid_token',
      error_description: 'The access token is not active',
    });
  });

  it('caches an inactive answer only briefly', async () => {
    const auth = bearerAuth({
      issuer: as.issuer,
      audience: mcp.resource,
      introspection: { ...rs, negativeCacheTtlMs: 200 },
    });
    const before = as.hitCount(INTROSPECT);
    expect((await refusal(auth(bearer('not-a-real-token'))))?.status).toBe(401);
    expect((await refusal(auth(bearer('not-a-real-token'))))?.status).toBe(401);
    expect(as.hitCount(INTROSPECT) - before).toBe(1);
    await sleep(250);
    expect((await refusal(auth(bearer('not-a-real-token'))))?.status).toBe(401);
    expect(as.hitCount(INTROSPECT) - before).toBe(2);
  });

  it('refuses an active token issued for another resource', async () => {
    const token = await as.token('opaque', 'http://127.0.0.1:1/elsewhere');
    const answer = await mcp.call('tools/list', {}, token);
    expect(answer.status).toBe(401);
    expect(challengeParams(answer.headers.get('www-authenticate')).error_description).toMatch(/audience/);
  });

  it('answers 503, not 401, when the introspection endpoint refuses the resource server credentials', async () => {
    const auth = bearerAuth({
      issuer: as.issuer,
      audience: mcp.resource,
      introspection: { clientId: 'mcp-rs', clientSecret: 'wrong' },
    });
    const token = await as.token('opaque', mcp.resource);
    const err = await refusal(auth(bearer(token)));
    expect(err?.status).toBe(503);
    expect(err?.headers['retry-after']).toBe('5');
  });

  it('still verifies JWT-shaped tokens locally when introspection is configured', async () => {
    const jwt = await as.token('svc', mcp.resource, 'mcp:read');
    const before = as.hitCount(INTROSPECT);
    const answer = await mcp.call('tools/list', {}, jwt);
    expect(answer.status).toBe(200);
    expect(as.hitCount(INTROSPECT)).toBe(before);
  });
});
