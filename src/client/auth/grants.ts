import type { AuthorizationServerMetadata } from './discovery.js';
import type { DpopSigner } from './dpop.js';
import { OAuthClientError } from './errors.js';
import { type HttpContext, checkEndpoint } from './http.js';
import type { ClientCredentialsGrant, EnterpriseManagedGrant, JwtBearerGrant } from './options.js';
import type { TokenEndpointAuthMethod, TokenSet } from './storage.js';
import { type ClientAuthentication, parseTokenResponse, tokenRequest } from './token.js';

export type MachineGrant = ClientCredentialsGrant | JwtBearerGrant | EnterpriseManagedGrant;

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
export const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

export interface GrantContext {
  http: HttpContext;
  issuer: string;
  metadata: AuthorizationServerMetadata;
  resource: string;
  scope: string | undefined;
  dpop: DpopSigner | undefined;
  now: () => number;
}

/** client_secret_basic unless the server only lists client_secret_post (RFC 8414 default: basic). */
export function secretMethod(metadata: AuthorizationServerMetadata): TokenEndpointAuthMethod {
  const list = metadata.token_endpoint_auth_methods_supported;
  if (Array.isArray(list) && !list.includes('client_secret_basic') && list.includes('client_secret_post'))
    return 'client_secret_post';
  return 'client_secret_basic';
}

function credentials(
  clientId: string | undefined,
  clientSecret: string | undefined,
  metadata: AuthorizationServerMetadata,
): ClientAuthentication | undefined {
  if (clientId === undefined) return undefined;
  if (clientSecret === undefined) return { clientId, method: 'none' };
  return { clientId, clientSecret, method: secretMethod(metadata) };
}

async function value(source: string | (() => Promise<string> | string), what: string): Promise<string> {
  const v = typeof source === 'function' ? await source() : source;
  if (typeof v !== 'string' || v === '')
    throw new OAuthClientError('token_request_failed', `${what} is empty`);
  return v;
}

/**
 * Gets a token without a user: client credentials, an RFC 7523 assertion, or the enterprise-managed
 * exchange. Failures are surfaced as they are; the caller never retries a refused grant with
 * another grant type.
 */
export async function machineToken(grant: MachineGrant, ctx: GrantContext): Promise<TokenSet> {
  if (grant.issuer !== undefined && grant.issuer !== ctx.issuer) {
    throw new OAuthClientError(
      'registration_unavailable',
      `The configured credentials belong to ${grant.issuer} but the server now uses ${ctx.issuer}; refusing to present them there`,
    );
  }
  const tokenUrl = checkEndpoint(ctx.http, 'token_endpoint', ctx.metadata.token_endpoint).href;
  const endpoint = (client: ClientAuthentication | undefined) => ({
    http: ctx.http,
    url: tokenUrl,
    issuer: ctx.issuer,
    client,
    dpop: ctx.dpop,
  });
  const common = { resource: ctx.resource, scope: ctx.scope };
  let body: Record<string, unknown>;
  switch (grant.type) {
    case 'client_credentials': {
      const method =
        grant.authMethod ?? (grant.privateKey !== undefined ? 'private_key_jwt' : secretMethod(ctx.metadata));
      const client: ClientAuthentication = { clientId: grant.clientId, method };
      if (grant.clientSecret !== undefined) client.clientSecret = grant.clientSecret;
      if (grant.privateKey !== undefined) client.privateKey = grant.privateKey;
      if (grant.algorithm !== undefined) client.algorithm = grant.algorithm;
      body = await tokenRequest(
        endpoint(client),
        { grant_type: 'client_credentials', ...common },
        'Client credentials grant',
      );
      break;
    }
    case 'jwt_bearer': {
      const assertion = await value(grant.assertion, 'The JWT bearer assertion');
      body = await tokenRequest(
        endpoint(credentials(grant.clientId, grant.clientSecret, ctx.metadata)),
        { grant_type: JWT_BEARER, assertion, ...common },
        'JWT bearer grant',
      );
      break;
    }
    case 'enterprise_managed': {
      const idjag = await identityAssertionGrant(grant, ctx);
      body = await tokenRequest(
        endpoint(credentials(grant.clientId, grant.clientSecret, ctx.metadata)),
        { grant_type: JWT_BEARER, assertion: idjag, ...common },
        'ID-JAG grant',
      );
      break;
    }
  }
  return parseTokenResponse(body, ctx.now(), ctx.scope);
}

/** RFC 8693 exchange at the enterprise IdP: ID token in, Identity Assertion JWT Authorization Grant out. */
async function identityAssertionGrant(grant: EnterpriseManagedGrant, ctx: GrantContext): Promise<string> {
  const idp = grant.idp;
  const url = checkEndpoint(ctx.http, 'idp.tokenEndpoint', idp.tokenEndpoint).href;
  const client: ClientAuthentication | undefined =
    idp.clientId === undefined
      ? undefined
      : idp.clientSecret === undefined
        ? { clientId: idp.clientId, method: 'none' }
        : { clientId: idp.clientId, clientSecret: idp.clientSecret, method: 'client_secret_basic' };
  const body = await tokenRequest(
    { http: ctx.http, url, issuer: new URL(url).origin, client, dpop: undefined },
    {
      grant_type: TOKEN_EXCHANGE,
      requested_token_type: ID_JAG,
      subject_token: await value(idp.idToken, 'The identity assertion'),
      subject_token_type: ID_TOKEN,
      audience: ctx.issuer,
      resource: ctx.resource,
      scope: ctx.scope,
    },
    'Token exchange at the identity provider',
  );
  if (
    body.issued_token_type !== ID_JAG ||
    typeof body.access_token !== 'string' ||
    body.access_token === ''
  ) {
    throw new OAuthClientError(
      'token_request_failed',
      `The identity provider did not issue an ID-JAG (issued_token_type ${JSON.stringify(body.issued_token_type)})`,
    );
  }
  return body.access_token;
}
