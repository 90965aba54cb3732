import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type JWK, exportJWK, generateKeyPair } from 'jose';
import type Provider from 'oidc-provider';

/**
 * A real OAuth 2.1 authorization server (oidc-provider) in process, on a loopback port, with:
 * - `svc`: client credentials, JWT access tokens (ES256) for the requested `resource`, 300 s
 * - `short`: the same with 1 s tokens (expiry tests)
 * - `opaque`: client credentials, opaque access tokens (introspection tests)
 * - `mcp-rs`: the resource server's own credentials, the only client allowed to introspect
 */

export const CLIENTS = {
  svc: 'svc-secret',
  short: 'short-secret',
  opaque: 'opaque-secret',
  'mcp-rs': 'mcp-rs-secret',
} as const;
export type ClientId = keyof typeof CLIENTS;
export const RESOURCE_SCOPES = 'mcp:read mcp:write';

/** oidc-provider prints development notices on import and construction; the tests need none of them. */
async function quietly<T>(fn: () => Promise<T> | T): Promise<T> {
  const { warn, info } = console;
  console.warn = () => {};
  console.info = () => {};
  try {
    return await fn();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}

let ProviderClass: typeof Provider | undefined;

export async function signingKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, use: 'sig', alg: 'ES256' };
}

async function createProvider(issuer: string, keys: JWK[]): Promise<Provider> {
  ProviderClass ??= (await quietly(() => import('oidc-provider'))).default;
  const Ctor = ProviderClass;
  const client = (id: ClientId, grants: string[]) => ({
    client_id: id,
    client_secret: CLIENTS[id],
    grant_types: grants,
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  return quietly(
    () =>
      new Ctor(issuer, {
        jwks: { keys },
        clientDefaults: { id_token_signed_response_alg: 'ES256' },
        clients: [
          client('svc', ['client_credentials']),
          client('short', ['client_credentials']),
          client('opaque', ['client_credentials']),
          client('mcp-rs', []),
        ],
        ttl: {
          ClientCredentials: (_ctx: unknown, token: { resourceServer?: { accessTokenTTL?: number } }) =>
            token.resourceServer?.accessTokenTTL ?? 300,
        },
        features: {
          devInteractions: { enabled: false },
          clientCredentials: { enabled: true },
          revocation: {
            enabled: true,
            allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) =>
              client.clientId === token.clientId,
          },
          introspection: {
            enabled: true,
            allowedPolicy: async (_ctx: unknown, client: { clientId: string }) =>
              client.clientId === 'mcp-rs',
          },
          resourceIndicators: {
            enabled: true,
            defaultResource: () => undefined,
            useGrantedResource: () => true,
            getResourceServerInfo: (_ctx: unknown, resource: string, client: { clientId: string }) => ({
              scope: RESOURCE_SCOPES,
              audience: resource,
              accessTokenFormat: client.clientId === 'opaque' ? 'opaque' : 'jwt',
              accessTokenTTL: client.clientId === 'short' ? 1 : 300,
              jwt: { sign: { alg: 'ES256' } },
            }),
          },
        },
      }),
  );
}

export class TestAuthorizationServer {
  /** Requests seen, by path (without the mount prefix): lets tests count JWKS and introspection fetches. */
  readonly hits = new Map<string, number>();
  private provider!: Provider;

  private constructor(
    private readonly server: Server,
    readonly issuer: string,
    private readonly mountPath: string,
  ) {}

  /** `mountPath` ('/tenant1') gives an issuer with a path, served at `<mount>/.well-known/openid-configuration` only. */
  static async start(options: { keys?: JWK[]; mountPath?: string } = {}): Promise<TestAuthorizationServer> {
    const mountPath = options.mountPath ?? '';
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const as = new TestAuthorizationServer(server, `http://127.0.0.1:${port}${mountPath}`, mountPath);
    as.provider = await createProvider(as.issuer, options.keys ?? [await signingKey('k1')]);
    server.on('request', (req, res) => as.route(req, res));
    return as;
  }

  private route(req: IncomingMessage & { originalUrl?: string }, res: ServerResponse): void {
    const url = req.url ?? '/';
    const path = url.split('?')[0] as string;
    if (this.mountPath !== '') {
      if (path !== this.mountPath && !path.startsWith(`${this.mountPath}/`)) {
        this.count(`404:${path}`);
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
        return;
      }
      req.originalUrl = url;
      req.url = url.slice(this.mountPath.length) || '/';
    }
    this.count((req.url ?? '/').split('?')[0] as string);
    this.provider.callback()(req, res);
  }

  private count(key: string): void {
    this.hits.set(key, (this.hits.get(key) ?? 0) + 1);
  }

  hitCount(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  /** Key rotation: same issuer and port, a new signing key set. */
  async rotateKeys(keys: JWK[]): Promise<void> {
    this.provider = await createProvider(this.issuer, keys);
  }

  /** Client credentials grant for `resource`, returning the raw token response. */
  async token(clientId: ClientId, resource: string, scope = RESOURCE_SCOPES): Promise<string> {
    const response = await fetch(`${this.issuer}/token`, {
      method: 'POST',
      headers: { authorization: basic(clientId), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource }),
    });
    const body = (await response.json()) as {
      access_token?: string;
      error?: string;
      error_description?: string;
    };
    if (response.status !== 200 || !body.access_token) {
      throw new Error(`token request failed: ${response.status} ${body.error} ${body.error_description}`);
    }
    return body.access_token;
  }

  async revoke(clientId: ClientId, token: string): Promise<void> {
    const response = await fetch(`${this.issuer}/token/revocation`, {
      method: 'POST',
      headers: { authorization: basic(clientId), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
    if (response.status !== 200) throw new Error(`revocation failed: ${response.status}`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function basic(clientId: ClientId): string {
  return `Basic ${Buffer.from(`${clientId}:${CLIENTS[clientId]}`).toString('base64')}`;
}
