import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type Provider from 'oidc-provider';

/** The slice of oidc-provider's interaction API the headless user needs (it ships no types). */
interface InteractionApi {
  interactionDetails(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{
    prompt: {
      name: string;
      details: { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    };
    params: { client_id: string };
    session?: { accountId: string };
    grantId?: string;
  }>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options?: Record<string, unknown>,
  ): Promise<void>;
  Grant: {
    new (init: { accountId: string; clientId: string }): GrantApi;
    find(id: string): Promise<GrantApi | undefined>;
  };
}
interface GrantApi {
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}

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

export interface OidcOptions {
  /** Access token lifetime in seconds. */
  accessTokenTtl: number;
  /** Scopes the user agrees to at the consent prompt (default: whatever is asked). */
  consent?: (requested: string[]) => string[];
}

/**
 * oidc-provider as an MCP authorization server: open dynamic registration, authorization code
 * with PKCE, resource indicators issuing ES256 JWT access tokens for the requested MCP server,
 * refresh tokens (with offline_access) rotated on every use. Its login and consent pages are
 * replaced by a user who signs in as `alice` and agrees, so a test can drive the browser part.
 */
export class OidcServer {
  readonly consents: string[][] = [];

  private constructor(
    private readonly server: Server,
    readonly issuer: string,
    private readonly provider: Provider,
  ) {}

  static async start(options: OidcOptions): Promise<OidcServer> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const key = { ...(await exportJWK(privateKey)), kid: 'k1', use: 'sig', alg: 'ES256' };
    const Ctor = (await quietly(() => import('oidc-provider'))).default;
    const provider = await quietly(
      () =>
        new Ctor(issuer, {
          jwks: { keys: [key] },
          clientDefaults: { id_token_signed_response_alg: 'ES256' },
          scopes: ['openid', 'offline_access'],
          rotateRefreshToken: true,
          findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id }) }),
          ttl: {
            AccessToken: options.accessTokenTtl,
            AuthorizationCode: 60,
            ClientCredentials: 600,
            Grant: 3600,
            IdToken: 600,
            Interaction: 600,
            RefreshToken: 3600,
            Session: 3600,
          },
          interactions: {
            url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
          },
          features: {
            devInteractions: { enabled: false },
            registration: { enabled: true },
            resourceIndicators: {
              enabled: true,
              defaultResource: () => undefined,
              useGrantedResource: () => true,
              getResourceServerInfo: (_ctx: unknown, resource: string) => ({
                scope: 'mcp:read mcp:write',
                audience: resource,
                accessTokenTTL: options.accessTokenTtl,
                accessTokenFormat: 'jwt',
                jwt: { sign: { alg: 'ES256' } },
              }),
            },
          },
        }),
    );
    const oidc = new OidcServer(server, issuer, provider);
    const api = provider as unknown as InteractionApi;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (req.url?.startsWith('/interaction/')) {
        oidc.interact(api, req, res, options).catch((err: unknown) => {
          res.writeHead(500).end(String(err));
        });
        return;
      }
      provider.callback()(req, res);
    });
    return oidc;
  }

  /** The user: signs in as alice, then consents to what is asked (or to what `consent` allows). */
  private async interact(
    api: InteractionApi,
    req: IncomingMessage,
    res: ServerResponse,
    options: OidcOptions,
  ): Promise<void> {
    const details = await api.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      await api.interactionFinished(
        req,
        res,
        { login: { accountId: 'alice' } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const grant =
      (details.grantId ? await api.Grant.find(details.grantId) : undefined) ??
      new api.Grant({ accountId: details.session?.accountId ?? 'alice', clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      const agreed = options.consent ? options.consent(scopes) : scopes;
      this.consents.push(agreed);
      if (agreed.length > 0) grant.addResourceScope(resource, agreed.join(' '));
    }
    await api.interactionFinished(
      req,
      res,
      { consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: true },
    );
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A user agent without a screen: follows the authorization server's redirects (login, consent,
 * resume) carrying its cookies, and stops at the redirect URI, whose URL it returns.
 */
export async function headlessBrowser(url: URL, redirectUri: string): Promise<string> {
  const cookies = new Map<string, string>();
  let next = url.href;
  for (let hop = 0; hop < 10; hop++) {
    const response = await fetch(next, {
      redirect: 'manual',
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = (pair as string).indexOf('=');
      cookies.set((pair as string).slice(0, eq).trim(), (pair as string).slice(eq + 1));
    }
    const location = response.headers.get('location');
    const body = await response.text();
    if (location === null)
      throw new Error(`${next} answered ${response.status} without a redirect: ${body.slice(0, 300)}`);
    next = new URL(location, next).href;
    if (next.startsWith(redirectUri)) return next;
  }
  throw new Error('the authorization never came back to the redirect URI');
}
