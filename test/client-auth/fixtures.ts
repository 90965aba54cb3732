import { createHash } from 'node:crypto';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';

/** A request as the test servers saw it. */
export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  form: URLSearchParams;
  json: unknown;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
  /** A raw body instead of JSON (with its own content-type header). */
  text?: string;
}

type Handler = (req: Seen) => Reply | Promise<Reply>;

/** A loopback HTTP server whose routes the test programs, recording every request. */
export class TestServer {
  readonly seen: Seen[] = [];
  private readonly routes = new Map<string, Handler>();

  private constructor(
    private readonly server: Server,
    readonly origin: string,
  ) {}

  static async start(): Promise<TestServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const test = new TestServer(server, `http://127.0.0.1:${port}`);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        const url = new URL(req.url ?? '/', test.origin);
        const body = Buffer.concat(chunks).toString();
        const type = req.headers['content-type'] ?? '';
        let json: unknown;
        if (type.includes('json') && body !== '') json = JSON.parse(body);
        const seen: Seen = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          form: new URLSearchParams(type.includes('x-www-form-urlencoded') ? body : ''),
          json,
        };
        test.seen.push(seen);
        const handler = test.routes.get(`${seen.method} ${seen.path}`);
        const reply: Reply = handler ? await handler(seen) : { status: 404, json: { error: 'not_found' } };
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
        res.end(reply.text ?? (reply.json === undefined ? '' : JSON.stringify(reply.json)));
      });
    });
    return test;
  }

  on(method: string, path: string, handler: Handler): this {
    this.routes.set(`${method} ${path}`, handler);
    return this;
  }

  off(method: string, path: string): this {
    this.routes.delete(`${method} ${path}`);
    return this;
  }

  paths(method?: string): string[] {
    return this.seen.filter((s) => method === undefined || s.method === method).map((s) => s.path);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  resource: string | null;
  scope: string | null;
}

interface IssuedToken {
  clientId: string;
  scope: string;
  resource: string | null;
  expiresAt: number;
  /** Thumbprint of the DPoP key the token is bound to. */
  jkt?: string;
}

/** Verifies a DPoP proof (RFC 9449 §4.3) for one request; returns the key thumbprint or a reason. */
export async function verifyProof(
  proof: string | undefined,
  method: string,
  url: string,
  accessToken?: string,
): Promise<{ jkt: string; jti: string; nonce?: unknown } | { error: string }> {
  if (proof === undefined) return { error: 'no DPoP proof' };
  const header = decodeProtectedHeader(proof);
  if (header.typ !== 'dpop+jwt' || header.jwk === undefined || 'd' in header.jwk)
    return { error: 'bad proof header' };
  const { payload } = await jwtVerify(proof, await importJWK(header.jwk, header.alg), { typ: 'dpop+jwt' });
  if (payload.htm !== method || payload.htu !== url || typeof payload.jti !== 'string')
    return { error: 'htm/htu/jti' };
  if (
    accessToken !== undefined &&
    payload.ath !== createHash('sha256').update(accessToken).digest('base64url')
  )
    return { error: 'ath' };
  return { jkt: await calculateJwkThumbprint(header.jwk, 'sha256'), jti: payload.jti, nonce: payload.nonce };
}

export interface AsOptions {
  /** Where the metadata is served (default RFC 8414 at the root). */
  metadataPath?: string;
  /** Issuer with a path, e.g. '/tenant1' (the endpoints live under it). */
  issuerPath?: string;
  metadata?: Record<string, unknown>;
  /** What the authorization redirect says in `iss`: the issuer, the issuer plus '/', nothing, or a given value. */
  issInRedirect?: 'issuer' | 'issuer/' | 'none' | string;
  /** Access token lifetime in seconds (default 3600). */
  ttl?: number;
  /** Scopes actually granted: the requested ones (default) or a fixed set. */
  grant?: (requested: string) => string;
  /** Rotate refresh tokens (default true): each use returns a new one and retires the old. */
  rotate?: boolean;
  /** Prefix of every identifier it issues (clients, codes, tokens). */
  idPrefix?: string;
  /** Bind tokens to the DPoP key of the token request's proof (and advertise ES256). */
  dpop?: boolean;
}

/**
 * A small but real authorization server: codes bound to their PKCE challenge and redirect URI,
 * refresh tokens rotated on every use (a used one is refused afterwards), dynamic registration,
 * client credentials. Time comes from `clock` so tests can expire tokens.
 */
export class TestAuthorizationServer {
  readonly codes = new Map<string, IssuedCode>();
  readonly tokens = new Map<string, IssuedToken>();
  readonly refreshTokens = new Map<string, IssuedToken & { used: boolean }>();
  readonly clients = new Map<string, { secret?: string; method: string }>();
  issuer: string;
  private n = 0;

  constructor(
    readonly http: TestServer,
    readonly clock: { now: number },
    private readonly options: AsOptions = {},
  ) {
    this.issuer = `${http.origin}${options.issuerPath ?? ''}`;
    const base = this.issuer;
    const p = options.issuerPath ?? '';
    http.on('GET', options.metadataPath ?? `/.well-known/oauth-authorization-server${p}`, () => ({
      status: 200,
      json: {
        issuer: this.issuer,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        registration_endpoint: `${base}/register`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
        authorization_response_iss_parameter_supported: true,
        ...(options.dpop && { dpop_signing_alg_values_supported: ['ES256'] }),
        ...options.metadata,
      },
    }));
    http.on('GET', `${p}/authorize`, (req) => this.authorize(req));
    http.on('POST', `${p}/token`, (req) => this.token(req));
    http.on('POST', `${p}/register`, (req) => this.register(req));
  }

  private next(prefix: string): string {
    return `${this.options.idPrefix ?? ''}${prefix}-${++this.n}`;
  }

  private authorize(req: Seen): Reply {
    const q = req.query;
    const redirect = new URL(q.get('redirect_uri') as string);
    const code = this.next('code');
    this.codes.set(code, {
      clientId: q.get('client_id') as string,
      redirectUri: q.get('redirect_uri') as string,
      challenge: q.get('code_challenge') as string,
      resource: q.get('resource'),
      scope: q.get('scope'),
    });
    redirect.searchParams.set('code', code);
    const state = q.get('state');
    if (state !== null) redirect.searchParams.set('state', state);
    const iss = this.options.issInRedirect ?? 'issuer';
    if (iss === 'issuer') redirect.searchParams.set('iss', this.issuer);
    else if (iss === 'issuer/') redirect.searchParams.set('iss', `${this.issuer}/`);
    else if (iss !== 'none') redirect.searchParams.set('iss', iss);
    return { status: 302, headers: { location: redirect.href } };
  }

  private clientOf(req: Seen): string | undefined {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const formDecode = (v: string) => decodeURIComponent(v.replace(/\+/g, ' '));
      const [id, secret] = Buffer.from(auth.slice(6), 'base64').toString().split(':').map(formDecode);
      return this.clients.get(id as string)?.secret === secret ? id : undefined;
    }
    const id = req.form.get('client_id');
    if (id === null) return undefined;
    const registered = this.clients.get(id);
    if (registered?.secret !== undefined)
      return registered.secret === req.form.get('client_secret') ? id : undefined;
    return id;
  }

  private issue(
    clientId: string,
    scope: string,
    resource: string | null,
    withRefresh: boolean,
    jkt?: string,
  ): Reply {
    const ttl = this.options.ttl ?? 3600;
    const token: IssuedToken = { clientId, scope, resource, expiresAt: this.clock.now + ttl * 1000 };
    if (jkt !== undefined) token.jkt = jkt;
    const access = this.next('at');
    this.tokens.set(access, token);
    const json: Record<string, unknown> = {
      access_token: access,
      token_type: jkt ? 'DPoP' : 'Bearer',
      expires_in: ttl,
      scope,
    };
    if (withRefresh) {
      const refresh = this.next('rt');
      this.refreshTokens.set(refresh, { ...token, used: false });
      json.refresh_token = refresh;
    }
    return { status: 200, json };
  }

  private async token(req: Seen): Promise<Reply> {
    const f = req.form;
    const clientId = this.clientOf(req);
    const fail = (error: string, status = 400): Reply => ({ status, json: { error } });
    let jkt: string | undefined;
    if (this.options.dpop && req.headers.dpop !== undefined) {
      const checked = await verifyProof(req.headers.dpop as string, 'POST', `${this.issuer}/token`);
      if ('error' in checked) return fail('invalid_dpop_proof');
      jkt = checked.jkt;
    }
    switch (f.get('grant_type')) {
      case 'authorization_code': {
        const code = this.codes.get(f.get('code') ?? '');
        if (!code) return fail('invalid_grant');
        this.codes.delete(f.get('code') as string);
        if (clientId !== code.clientId) return fail('invalid_client', 401);
        if (f.get('redirect_uri') !== code.redirectUri) return fail('invalid_grant');
        if (s256(f.get('code_verifier') ?? '') !== code.challenge) return fail('invalid_grant');
        const scope = this.options.grant ? this.options.grant(code.scope ?? '') : (code.scope ?? '');
        return this.issue(code.clientId, scope, f.get('resource'), true, jkt);
      }
      case 'refresh_token': {
        const presented = f.get('refresh_token') ?? '';
        const old = this.refreshTokens.get(presented);
        if (!old || old.used || old.clientId !== clientId || old.jkt !== jkt) return fail('invalid_grant');
        if (this.options.rotate === false) {
          const reply = this.issue(old.clientId, old.scope, f.get('resource') ?? old.resource, false, jkt);
          return reply;
        }
        old.used = true;
        return this.issue(old.clientId, old.scope, f.get('resource') ?? old.resource, true, jkt);
      }
      case 'client_credentials':
        if (!clientId) return fail('invalid_client', 401);
        return this.issue(clientId, f.get('scope') ?? '', f.get('resource'), false, jkt);
      default:
        return fail('unsupported_grant_type');
    }
  }

  private register(req: Seen): Reply {
    const body = req.json as Record<string, unknown>;
    const id = this.next('client');
    const method = (body.token_endpoint_auth_method as string | undefined) ?? 'client_secret_basic';
    const secret = method === 'none' ? undefined : this.next('secret');
    this.clients.set(id, secret === undefined ? { method } : { secret, method });
    return {
      status: 201,
      json: {
        ...body,
        client_id: id,
        ...(secret !== undefined && { client_secret: secret }),
        token_endpoint_auth_method: method,
      },
    };
  }

  /** The resource server's view of a token: valid, unexpired, and its scopes. */
  check(token: string | undefined): IssuedToken | undefined {
    const t = token === undefined ? undefined : this.tokens.get(token);
    return t && t.expiresAt > this.clock.now ? t : undefined;
  }
}

export interface ResourceOptions {
  /** Scopes needed per JSON-RPC method (default: none). */
  scopes?: Record<string, string[]>;
  /** Scope put in the 401 challenge. */
  challengeScope?: string;
  prm?: Record<string, unknown> | false;
  /** Where the PRM is served (default path-based for /mcp). */
  prmPath?: string;
  /** Put resource_metadata into the 401 challenge (default true). */
  advertisePrm?: boolean;
  /** Require this DPoP nonce in proofs for DPoP-bound tokens. */
  dpopNonce?: string;
}

/** An MCP-like protected resource at `<origin>/mcp` that checks tokens with `as.check`. */
export function protectResource(
  rs: TestServer,
  as: () => TestAuthorizationServer,
  options: ResourceOptions = {},
): string {
  const resource = `${rs.origin}/mcp`;
  const prmPath = options.prmPath ?? '/.well-known/oauth-protected-resource/mcp';
  if (options.prm !== false) {
    rs.on('GET', prmPath, () => ({
      status: 200,
      json: { resource, authorization_servers: [as().issuer], ...options.prm },
    }));
  }
  const challenge = (extra: string) => {
    const parts = [extra];
    if (options.advertisePrm !== false && options.prm !== false)
      parts.push(`resource_metadata="${rs.origin}${prmPath}"`);
    return `Bearer ${parts.filter((p) => p !== '').join(', ')}`;
  };
  const jtis = new Set<string>();
  rs.on('POST', '/mcp', async (req) => {
    const auth = req.headers.authorization;
    const [scheme, raw] = auth?.split(' ') ?? [];
    let token = as().check(scheme === 'Bearer' || scheme === 'DPoP' ? raw : undefined);
    if (token?.jkt !== undefined) {
      // A DPoP-bound token needs the DPoP scheme and a fresh proof from the bound key.
      const checked =
        scheme === 'DPoP'
          ? await verifyProof(req.headers.dpop as string | undefined, 'POST', resource, raw)
          : { error: 'scheme' };
      if ('error' in checked || checked.jkt !== token.jkt || jtis.has(checked.jti)) token = undefined;
      else {
        jtis.add(checked.jti);
        if (options.dpopNonce !== undefined && checked.nonce !== options.dpopNonce) {
          return {
            status: 401,
            headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': options.dpopNonce },
            json: { error: 'use_dpop_nonce' },
          };
        }
      }
    }
    if (!token) {
      const scope = options.challengeScope ? `scope="${options.challengeScope}"` : '';
      return {
        status: 401,
        headers: { 'www-authenticate': challenge(auth ? `error="invalid_token", ${scope}` : scope) },
        json: { error: 'invalid_token' },
      };
    }
    const method = (req.json as { method?: string } | undefined)?.method ?? '';
    const needed = options.scopes?.[method] ?? [];
    const have = token.scope.split(' ');
    if (!needed.every((s) => have.includes(s))) {
      return {
        status: 403,
        headers: { 'www-authenticate': challenge(`error="insufficient_scope", scope="${needed.join(' ')}"`) },
        json: { error: 'insufficient_scope' },
      };
    }
    return {
      status: 200,
      json: { jsonrpc: '2.0', id: 1, result: { method, scope: token.scope, client: token.clientId } },
    };
  });
  return resource;
}

/** Follows the authorization redirect without a browser and returns the callback URL. */
export async function followRedirect(url: URL): Promise<string> {
  const response = await fetch(url, { redirect: 'manual' });
  await response.body?.cancel();
  const location = response.headers.get('location');
  if (location === null) throw new Error(`no redirect from ${url.href} (HTTP ${response.status})`);
  return location;
}

export function rpc(method: string): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method }),
  };
}

export interface World {
  clock: { now: number };
  rs: TestServer;
  as: TestServer;
  tas: TestAuthorizationServer;
  resource: string;
  authorizations(): Seen[];
  tokenRequests(grantType?: string): Seen[];
  close(): Promise<void>;
}

/** A protected resource and its authorization server on two loopback ports, sharing a clock. */
export async function world(options: { as?: AsOptions; rs?: ResourceOptions } = {}): Promise<World> {
  const clock = { now: Date.now() };
  const rs = await TestServer.start();
  const as = await TestServer.start();
  const tas = new TestAuthorizationServer(as, clock, options.as);
  const resource = protectResource(rs, () => tas, options.rs);
  return {
    clock,
    rs,
    as,
    tas,
    resource,
    authorizations: () => as.seen.filter((s) => s.path.endsWith('/authorize')),
    tokenRequests: (grantType) =>
      as.seen.filter(
        (s) =>
          s.path.endsWith('/token') && (grantType === undefined || s.form.get('grant_type') === grantType),
      ),
    close: async () => {
      await rs.close();
      await as.close();
    },
  };
}
