import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerAuth } from '../../src/auth/bearer.js';
import { ErrorCode } from '../../src/protocol/errors.js';
import { HttpError } from '../../src/transport/http/handler.js';
import { TestAuthorizationServer, signingKey } from './authorization-server.js';
import { type McpUnderTest, challengeParams, sleep, startMcpServer } from './mcp-server.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('bearerAuth with JWT access tokens from a real authorization server', () => {
  let as: TestAuthorizationServer;
  let mcp: McpUnderTest;

  beforeAll(async () => {
    as = await TestAuthorizationServer.start();
    mcp = await startMcpServer((resource) => bearerAuth({ issuer: as.issuer, audience: resource }), {
      authorizationServers: [as.issuer],
      scopesSupported: ['mcp:read'],
    });
  });
  afterAll(async () => {
    await mcp?.close();
    await as?.close();
  });

  it('accepts a valid token and hands the principal to the tool as ctx.auth', async () => {
    const token = await as.token('svc', mcp.resource, 'mcp:read mcp:write');
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: 'k1' });
    const answer = await mcp.call('tools/call', { name: 'whoami', arguments: {} }, token);
    expect(answer.status).toBe(200);
    const principal = answer.body.result?.structuredContent as Record<string, unknown>;
    expect(principal.subject).toBe('svc');
    expect(principal.clientId).toBe('svc');
    expect(principal.scopes).toEqual(['mcp:read', 'mcp:write']);
    expect(principal.expiresAt).toBe(decodeJwt(token).exp);
    const write = await mcp.call('tools/call', { name: 'write_note', arguments: {} }, token);
    expect(write.body.result?.content).toEqual([{ type: 'text', text: 'written' }]);
  });

  it('answers a request without a token with 401 and a resource_metadata challenge that leads to the AS', async () => {
    const answer = await mcp.call('tools/list', {});
    expect(answer.status).toBe(401);
    expect(answer.body.error?.code).toBe(ErrorCode.Unauthorized);
    const challenge = challengeParams(answer.headers.get('www-authenticate'));
    expect(challenge).toEqual({
      resource_metadata: `${mcp.origin}/.well-known/oauth-protected-resource/mcp`,
    });
    expect(answer.headers.get('www-authenticate')).not.toContain('error=');

    // The discovery chain a client walks: challenge -> RFC 9728 metadata -> AS metadata -> token -> call.
    const prm = (await (await fetch(challenge.resource_metadata as string)).json()) as Record<
      string,
      unknown
    >;
    expect(prm.resource).toBe(mcp.resource);
    const [issuer] = prm.authorization_servers as string[];
    const asMetadata = (await (
      await fetch(`${issuer}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    expect(asMetadata.issuer).toBe(as.issuer);
    const token = await as.token('svc', prm.resource as string, 'mcp:read');
    expect((await mcp.call('tools/list', {}, token)).status).toBe(200);
  });

  it('refuses a token issued for another resource (audience)', async () => {
    const token = await as.token('svc', 'http://127.0.0.1:1/other-mcp');
    expect(decodeJwt(token).aud).toBe('http://127.0.0.1:1/other-mcp');
    const answer = await mcp.call('tools/list', {}, token);
    expect(answer.status).toBe(401);
    const challenge = challengeParams(answer.headers.get('www-authenticate'));
    expect(challenge.error).toBe('invalid_token');
    expect(challenge.error_description).toMatch(/audience/);
    expect(challenge.resource_metadata).toBe(mcp.auth.resourceMetadataUrl);
  });

  it('refuses a token whose payload was tampered with', async () => {
    const token = await as.token('svc', mcp.resource, 'mcp:read');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = `${header}.${b64({ ...claims, scope: 'mcp:read mcp:write mcp:admin' })}.${signature}`;
    const answer = await mcp.call('tools/call', { name: 'admin_only', arguments: {} }, forged);
    expect(answer.status).toBe(401);
    expect(challengeParams(answer.headers.get('www-authenticate')).error_description).toMatch(/signature/);
  });

  it('refuses alg "none" and HS256 tokens carrying otherwise valid claims', async () => {
    const real = await as.token('svc', mcp.resource, 'mcp:read');
    const claims = decodeJwt(real);
    const unsigned = `${b64({ alg: 'none', typ: 'at+jwt', kid: 'k1' })}.${b64(claims)}.`;
    const none = await mcp.call('tools/list', {}, unsigned);
    expect(none.status).toBe(401);
    expect(challengeParams(none.headers.get('www-authenticate')).error).toBe('invalid_token');

    // Key confusion: an HMAC keyed with the server's public key material.
    const jwks = (await (await fetch(`${as.issuer}/jwks`)).json()) as { keys: Array<{ x: string }> };
    const secret = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: 'k1' })
      .sign(secret);
    const hmac = await mcp.call('tools/list', {}, hs);
    expect(hmac.status).toBe(401);
    expect(challengeParams(hmac.headers.get('www-authenticate')).error_description).toMatch(/algorithm/);
  });

  it('refuses a token from another issuer even when signed with a key this resource trusts', async () => {
    // Same signing key, different issuer identifier: only the `iss` check can tell.
    const sharedKey = await signingKey('k1');
    const trusted = await TestAuthorizationServer.start({ keys: [sharedKey] });
    const rogue = await TestAuthorizationServer.start({ keys: [sharedKey] });
    try {
      const auth = bearerAuth({ issuer: trusted.issuer, audience: mcp.resource });
      const good = await trusted.token('svc', mcp.resource);
      await expect(auth({ headers: { authorization: `Bearer ${good}` } })).resolves.toMatchObject({
        clientId: 'svc',
      });
      const bad = await rogue.token('svc', mcp.resource);
      const refused = await auth({ headers: { authorization: `Bearer ${bad}` } }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(HttpError);
      expect((refused as HttpError).status).toBe(401);
      expect((refused as HttpError).message).toMatch(/different authorization server/);
    } finally {
      await trusted.close();
      await rogue.close();
    }
  });

  it('checks typ, exp, nbf and cnf on tokens signed with the key the AS publishes', async () => {
    const key = await signingKey('k1');
    const own = await TestAuthorizationServer.start({ keys: [key] });
    try {
      const auth = bearerAuth({ issuer: own.issuer, audience: mcp.resource, clockToleranceSec: 5 });
      const privateKey = await importJWK(key, 'ES256');
      const mint = async (
        header: Record<string, unknown>,
        claims: Record<string, unknown>,
        exp: number | null = 300,
      ) => {
        const jwt = new SignJWT({ client_id: 'svc', scope: 'mcp:read', ...claims })
          .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...header })
          .setIssuer(own.issuer)
          .setAudience(mcp.resource)
          .setSubject('svc')
          .setIssuedAt();
        if (exp !== null) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + exp);
        return jwt.sign(privateKey);
      };
      const outcome = (token: string) =>
        auth({ headers: { authorization: `Bearer ${token}` } }).then(
          () => 'accepted',
          (e: HttpError) => challengeParams(e.headers['www-authenticate'] as string).error_description,
        );
      expect(await outcome(await mint({ typ: 'at+jwt' }, {}))).toBe('accepted');
      expect(await outcome(await mint({ typ: 'application/at+jwt' }, {}))).toBe('accepted');
      expect(await outcome(await mint({ typ: 'JWT' }, {}))).toBe('accepted');
      expect(await outcome(await mint({}, {}))).toBe('accepted');
      expect(await outcome(await mint({ typ: 'logout+jwt' }, {}))).toMatch(/typ/);
      expect(await outcome(await mint({ typ: 'at+jwt' }, {}, null))).toMatch(/no expiry/);
      expect(await outcome(await mint({ typ: 'at+jwt' }, {}, -10))).toMatch(/expired/);
      expect(await outcome(await mint({ typ: 'at+jwt' }, {}, -3))).toBe('accepted');
      const later = Math.floor(Date.now() / 1000) + 60;
      expect(await outcome(await mint({ typ: 'at+jwt' }, { nbf: later }))).toMatch(/not valid yet/);
      expect(await outcome(await mint({ typ: 'at+jwt' }, { cnf: { jkt: 'abc' } }))).toMatch(
        /Sender-constrained/,
      );
    } finally {
      await own.close();
    }
  });

  it('answers 403 with -32041 when the token lacks a scope the tool declared', async () => {
    const token = await as.token('svc', mcp.resource, 'mcp:read');
    const answer = await mcp.call('tools/call', { name: 'write_note', arguments: {} }, token);
    expect(answer.status).toBe(403);
    expect(answer.body.error?.code).toBe(ErrorCode.Forbidden);
    expect(answer.body.error?.data).toEqual({ requiredScopes: ['mcp:write'] });
    // The public tool still works with the same token.
    const open = await mcp.call('tools/call', { name: 'test_simple_text', arguments: {} }, token);
    expect(open.status).toBe(200);
  });

  it('answers 403 insufficient_scope from authenticate when requiredScopes are missing', async () => {
    const auth = bearerAuth({ issuer: as.issuer, audience: mcp.resource, requiredScopes: ['mcp:write'] });
    const token = await as.token('svc', mcp.resource, 'mcp:read');
    const err = (await auth({
      header: (name) => (name === 'authorization' ? `Bearer ${token}` : undefined),
    }).catch((e: unknown) => e)) as HttpError;
    expect(err).toBeInstanceOf(HttpError);
    expect(err.status).toBe(403);
    expect(err.code).toBe(ErrorCode.Forbidden);
    expect(challengeParams(err.headers['www-authenticate'] as string)).toMatchObject({
      error: 'insufficient_scope',
      scope: 'mcp:write',
      resource_metadata: mcp.auth.resourceMetadataUrl,
    });
    const missing = (await auth({ headers: {} }).catch((e: unknown) => e)) as HttpError;
    expect(missing.status).toBe(401);
    expect(challengeParams(missing.headers['www-authenticate'] as string)).toEqual({
      scope: 'mcp:write',
      resource_metadata: mcp.auth.resourceMetadataUrl,
    });
    const full = await as.token('svc', mcp.resource, 'mcp:read mcp:write');
    await expect(auth({ headers: { authorization: `Bearer ${full}` } })).resolves.toMatchObject({
      subject: 'svc',
    });
  });

  it('refuses an expired token once past the clock tolerance, and accepts it within', async () => {
    const strict = bearerAuth({ issuer: as.issuer, audience: mcp.resource, clockToleranceSec: 0 });
    const lenient = bearerAuth({ issuer: as.issuer, audience: mcp.resource, clockToleranceSec: 30 });
    const token = await as.token('short', mcp.resource);
    const exp = decodeJwt(token).exp as number;
    const request = { headers: { authorization: `Bearer ${token}` } };
    await expect(strict(request)).resolves.toMatchObject({ clientId: 'short' });
    await sleep(Math.max(0, exp * 1000 - Date.now()) + 50);
    const err = (await strict(request).catch((e: unknown) => e)) as HttpError;
    expect(err.status).toBe(401);
    expect(challengeParams(err.headers['www-authenticate'] as string)).toMatchObject({
      error: 'invalid_token',
      error_description: 'The access token expired',
    });
    await expect(lenient(request)).resolves.toMatchObject({ clientId: 'short' });
  });

  it('refetches the JWKS for an unknown kid after the cooldown, no sooner, and refuses unknown keys', async () => {
    const rotating = await TestAuthorizationServer.start({ keys: [await signingKey('k1')] });
    try {
      const cooldownMs = 1500;
      const auth = bearerAuth({
        issuer: rotating.issuer,
        audience: mcp.resource,
        jwksCooldownMs: cooldownMs,
      });
      const request = (token: string) => auth({ headers: { authorization: `Bearer ${token}` } });

      await expect(request(await rotating.token('svc', mcp.resource))).resolves.toMatchObject({
        clientId: 'svc',
      });
      const fetchedAt = Date.now();
      expect(rotating.hitCount('/jwks')).toBe(1);

      await rotating.rotateKeys([await signingKey('k2')]);
      const rotated = await rotating.token('svc', mcp.resource);
      expect(decodeProtectedHeader(rotated).kid).toBe('k2');
      // Within the cooldown the cached set is used as is: refused, and the AS is not asked again.
      const early = (await request(rotated).catch((e: unknown) => e)) as HttpError;
      expect(Date.now() - fetchedAt).toBeLessThan(cooldownMs);
      expect(early.status).toBe(401);
      expect(rotating.hitCount('/jwks')).toBe(1);
      await sleep(cooldownMs - (Date.now() - fetchedAt) + 50);
      await expect(request(rotated)).resolves.toMatchObject({ clientId: 'svc' });
      expect(rotating.hitCount('/jwks')).toBe(2);

      // A key the AS never published: refused, and right after a refetch it costs no extra request.
      const attacker = await signingKey('evil');
      const forged = await new SignJWT({ scope: 'mcp:read mcp:write', client_id: 'svc' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'evil' })
        .setIssuer(rotating.issuer)
        .setAudience(mcp.resource)
        .setSubject('svc')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(await importJWK(attacker, 'ES256'));
      const err = (await request(forged).catch((e: unknown) => e)) as HttpError;
      expect(err.status).toBe(401);
      expect(challengeParams(err.headers['www-authenticate'] as string).error_description).toMatch(
        /unknown key/,
      );
      expect(rotating.hitCount('/jwks')).toBe(2);
    } finally {
      await rotating.close();
    }
  });
});
