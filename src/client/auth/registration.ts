import type { AuthorizationServerMetadata } from './discovery.js';
import { OAuthClientError } from './errors.js';
import { type HttpContext, checkEndpoint, describeError, isJsonObject, postJson } from './http.js';
import type { OAuthStorage, StoredClient, TokenEndpointAuthMethod } from './storage.js';

/** Client credentials the application obtained out of band for one authorization server. */
export interface PreRegisteredClient {
  client_id: string;
  client_secret?: string;
  /** Default: client_secret_basic when there is a secret the server accepts that way, else none. */
  token_endpoint_auth_method?: TokenEndpointAuthMethod;
}

/** RFC 7591 / OIDC client metadata the application controls (`redirect_uris` and grants are filled in). */
export interface ClientMetadata {
  client_name?: string;
  client_uri?: string;
  logo_uri?: string;
  contacts?: string[];
  tos_uri?: string;
  policy_uri?: string;
  software_id?: string;
  software_version?: string;
  /** Native (desktop, CLI, localhost) or web; derived from the redirect URI when omitted. */
  application_type?: 'native' | 'web';
  [field: string]: unknown;
}

export interface RegistrationInput {
  http: HttpContext;
  storage: OAuthStorage;
  issuer: string;
  metadata: AuthorizationServerMetadata;
  redirectUri: string;
  clientMetadata: ClientMetadata;
  clientMetadataUrl: string | undefined;
  preRegistered: PreRegisteredClient | undefined;
  now: number;
}

export type ResolvedClient = StoredClient & {
  source: 'pre-registered' | 'metadata-document' | 'stored' | 'registered';
};

const SECRET_METHODS: TokenEndpointAuthMethod[] = ['client_secret_basic', 'client_secret_post'];

/** RFC 8414 §2: an absent list means client_secret_basic only. */
function supportedMethods(metadata: AuthorizationServerMetadata): string[] {
  const list = metadata.token_endpoint_auth_methods_supported;
  return Array.isArray(list) ? list : ['client_secret_basic'];
}

function methodForSecret(metadata: AuthorizationServerMetadata): TokenEndpointAuthMethod {
  const supported = supportedMethods(metadata);
  return SECRET_METHODS.find((m) => supported.includes(m)) ?? 'client_secret_basic';
}

/** Loopback and custom-scheme redirects belong to native apps (OIDC Registration §2). */
export function applicationTypeFor(redirectUri: string): 'native' | 'web' {
  const url = new URL(redirectUri);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'native';
  const host = url.hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host) ? 'native' : 'web';
}

/** The document an application hosts at its Client ID Metadata Document URL. */
export function clientMetadataDocument(options: {
  clientId: string;
  redirectUris: string[];
  metadata?: ClientMetadata;
}): Record<string, unknown> {
  return {
    client_name: options.metadata?.client_name ?? options.clientId,
    ...options.metadata,
    client_id: options.clientId,
    redirect_uris: options.redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
}

function usable(client: StoredClient, redirectUri: string, now: number): boolean {
  if (client.redirect_uris && !client.redirect_uris.includes(redirectUri)) return false;
  const expires = client.client_secret_expires_at;
  return expires === undefined || expires === 0 || expires * 1000 > now + 60_000;
}

/**
 * Picks the client identity for one authorization server in the order the MCP specification
 * gives: pre-registered credentials, then a Client ID Metadata Document when the server supports
 * them, then a registration made earlier with this same server, then Dynamic Client Registration.
 * Whatever is found is bound to the issuer; nothing from another server is ever considered.
 */
export async function resolveClient(input: RegistrationInput): Promise<ResolvedClient> {
  const { metadata, issuer } = input;
  if (input.preRegistered) {
    const pre = input.preRegistered;
    const method =
      pre.token_endpoint_auth_method ??
      (pre.client_secret === undefined ? 'none' : methodForSecret(metadata));
    const client: ResolvedClient = {
      client_id: pre.client_id,
      token_endpoint_auth_method: method,
      source: 'pre-registered',
    };
    if (pre.client_secret !== undefined) client.client_secret = pre.client_secret;
    return client;
  }
  if (input.clientMetadataUrl !== undefined && metadata.client_id_metadata_document_supported === true) {
    return {
      client_id: input.clientMetadataUrl,
      token_endpoint_auth_method: 'none',
      source: 'metadata-document',
    };
  }
  const stored = await input.storage.getClient(issuer);
  if (stored && usable(stored, input.redirectUri, input.now)) return { ...stored, source: 'stored' };
  if (metadata.registration_endpoint === undefined) {
    throw new OAuthClientError(
      'registration_unavailable',
      `No client id for ${issuer}: nothing pre-registered, no Client ID Metadata Document support and no registration endpoint`,
    );
  }
  const client = await register(input);
  await input.storage.setClient(issuer, client);
  return { ...client, source: 'registered' };
}

async function register(input: RegistrationInput): Promise<StoredClient> {
  const { metadata, http } = input;
  const endpoint = checkEndpoint(http, 'registration_endpoint', metadata.registration_endpoint).href;
  const supported = supportedMethods(metadata);
  let method: TokenEndpointAuthMethod;
  if (supported.includes('none')) method = 'none';
  else if (SECRET_METHODS.some((m) => supported.includes(m))) method = methodForSecret(metadata);
  else {
    throw new OAuthClientError(
      'registration_unavailable',
      `${input.issuer} supports none of the token endpoint authentication methods this client can register with (${supported.join(', ')})`,
    );
  }
  const grants = Array.isArray(metadata.grant_types_supported) ? metadata.grant_types_supported : undefined;
  const grantTypes = ['authorization_code', 'refresh_token'].filter(
    (g) => g === 'authorization_code' || !grants || grants.includes(g),
  );
  const body = {
    client_name: 'MCP client',
    ...input.clientMetadata,
    application_type: input.clientMetadata.application_type ?? applicationTypeFor(input.redirectUri),
    redirect_uris: [input.redirectUri],
    grant_types: grantTypes,
    response_types: ['code'],
    token_endpoint_auth_method: method,
  };
  let answer: Awaited<ReturnType<typeof postJson>>;
  try {
    answer = await postJson(http, endpoint, body);
  } catch (err) {
    throw new OAuthClientError(
      'registration_failed',
      `Client registration at ${endpoint} failed: ${describeError(err)}`,
      { cause: err },
    );
  }
  const doc = answer.body;
  if (
    (answer.status !== 201 && answer.status !== 200) ||
    !isJsonObject(doc) ||
    typeof doc.client_id !== 'string' ||
    doc.client_id === ''
  ) {
    const error = isJsonObject(doc) && typeof doc.error === 'string' ? doc.error : undefined;
    const description =
      isJsonObject(doc) && typeof doc.error_description === 'string' ? doc.error_description : undefined;
    throw new OAuthClientError(
      'registration_failed',
      `Client registration at ${endpoint} was refused (HTTP ${answer.status}${error ? `, ${error}` : ''}${description ? `: ${description}` : ''})`,
      { oauthError: error, oauthErrorDescription: description, status: answer.status },
    );
  }
  const secret =
    typeof doc.client_secret === 'string' && doc.client_secret !== '' ? doc.client_secret : undefined;
  const granted =
    typeof doc.token_endpoint_auth_method === 'string'
      ? (doc.token_endpoint_auth_method as TokenEndpointAuthMethod)
      : undefined;
  const effective: TokenEndpointAuthMethod =
    granted ?? (method === 'none' || secret === undefined ? 'none' : method);
  const client: StoredClient = {
    client_id: doc.client_id,
    token_endpoint_auth_method: effective,
    redirect_uris: Array.isArray(doc.redirect_uris) ? (doc.redirect_uris as string[]) : [input.redirectUri],
  };
  if (secret !== undefined) client.client_secret = secret;
  if (typeof doc.client_secret_expires_at === 'number')
    client.client_secret_expires_at = doc.client_secret_expires_at;
  if (typeof doc.registration_access_token === 'string')
    client.registration_access_token = doc.registration_access_token;
  if (typeof doc.registration_client_uri === 'string')
    client.registration_client_uri = doc.registration_client_uri;
  return client;
}
