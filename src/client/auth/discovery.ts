import { PRM_WELL_KNOWN, authorizationServerMetadataUrls } from '../../auth/urls.js';
import { OAuthClientError } from './errors.js';
import { type HttpContext, describeError, getJson, isJsonObject } from './http.js';

/** RFC 9728 protected resource metadata, as far as the client reads it. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers?: string[];
  scopes_supported?: string[];
  [field: string]: unknown;
}

/** RFC 8414 / OIDC Discovery metadata, as far as the client reads it. */
export interface AuthorizationServerMetadata {
  issuer: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  registration_endpoint?: string;
  scopes_supported?: string[];
  response_types_supported?: string[];
  grant_types_supported?: string[];
  code_challenge_methods_supported?: string[];
  token_endpoint_auth_methods_supported?: string[];
  client_id_metadata_document_supported?: boolean;
  authorization_response_iss_parameter_supported?: boolean;
  dpop_signing_alg_values_supported?: string[];
  [field: string]: unknown;
}

export interface FoundResourceMetadata {
  metadata: ProtectedResourceMetadata;
  url: string;
}

/**
 * The URLs to try for a resource's metadata, as MCP requires: the `resource_metadata` of the
 * challenge when there is one (and only it), else the path-based well-known URI, then the root one.
 */
export function resourceMetadataCandidates(serverUrl: URL, hint?: string): string[] {
  if (hint !== undefined) return [hint];
  const urls: string[] = [];
  const path = serverUrl.pathname === '/' ? '' : serverUrl.pathname.replace(/\/+$/, '');
  if (path !== '') urls.push(`${serverUrl.origin}${PRM_WELL_KNOWN}${path}`);
  urls.push(`${serverUrl.origin}${PRM_WELL_KNOWN}`);
  return [...new Set(urls)];
}

/**
 * Fetches the first usable protected resource metadata document, or returns undefined when none
 * exists (a 2025-03-26 server, which expects discovery from its own origin). A document that is
 * found but unusable is an error, never a reason to fall back to the legacy rules.
 */
export async function fetchResourceMetadata(
  http: HttpContext,
  serverUrl: URL,
  hint?: string,
): Promise<FoundResourceMetadata | undefined> {
  const problems: string[] = [];
  for (const url of resourceMetadataCandidates(serverUrl, hint)) {
    let answer: Awaited<ReturnType<typeof getJson>>;
    try {
      answer = await getJson(http, url);
    } catch (err) {
      problems.push(`${url}: ${describeError(err)}`);
      continue;
    }
    // Not JSON at all (an HTML catch-all page, say) counts as absent; JSON that is not metadata does not.
    if (answer.status !== 200 || answer.body === undefined) {
      problems.push(`${url}: ${answer.status === 200 ? 'not JSON' : `HTTP ${answer.status}`}`);
      continue;
    }
    const doc = answer.body;
    if (!isJsonObject(doc) || typeof doc.resource !== 'string') {
      throw new OAuthClientError(
        'discovery_failed',
        `Protected resource metadata at ${url} has no "resource"`,
      );
    }
    const servers = doc.authorization_servers;
    if (!Array.isArray(servers) || servers.length === 0 || !servers.every((s) => typeof s === 'string')) {
      throw new OAuthClientError(
        'discovery_failed',
        `Protected resource metadata at ${url} lists no authorization server`,
      );
    }
    const scopes = doc.scopes_supported;
    if (scopes !== undefined && !(Array.isArray(scopes) && scopes.every((s) => typeof s === 'string'))) {
      throw new OAuthClientError(
        'discovery_failed',
        `Protected resource metadata at ${url}: scopes_supported is not a string array`,
      );
    }
    return { metadata: doc as ProtectedResourceMetadata, url };
  }
  if (hint !== undefined) {
    // The server pointed at a document it does not serve: that is a broken server, not a legacy one.
    throw new OAuthClientError('discovery_failed', `No protected resource metadata (${problems.join('; ')})`);
  }
  return undefined;
}

/**
 * RFC 9728 §3.3 / RFC 8707: the metadata must describe the server the client is talking to. The
 * `resource` may name the server itself or an enclosing path on the same origin (a root document
 * for `https://h/mcp` says `https://h`), never another origin or a sibling path.
 */
export function checkResource(resource: string, serverUrl: URL): void {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    throw new OAuthClientError(
      'resource_mismatch',
      `Protected resource metadata resource ${JSON.stringify(resource)} is not a URL`,
    );
  }
  const base = url.pathname.replace(/\/+$/, '');
  const target = serverUrl.pathname.replace(/\/+$/, '');
  const sameOrigin = url.protocol === serverUrl.protocol && url.host === serverUrl.host;
  const pathCovers = base === '' || target === base || target.startsWith(`${base}/`);
  const queryOk = url.search === '' || url.search === serverUrl.search;
  if (!sameOrigin || !pathCovers || !queryOk || url.hash !== '' || resource.includes('#')) {
    throw new OAuthClientError(
      'resource_mismatch',
      `Protected resource metadata is for ${resource}, not for ${serverUrl.href}; refusing to authorize`,
    );
  }
}

/**
 * Fetches RFC 8414 / OIDC metadata from the well-known URLs in the MCP order and keeps only a
 * document whose `issuer` is exactly the issuer asked for (RFC 8414 §3.3, plain string equality).
 */
export async function fetchAuthorizationServerMetadata(
  http: HttpContext,
  issuer: string,
  options: { legacyOrigin?: boolean } = {},
): Promise<AuthorizationServerMetadata | undefined> {
  let urls: string[];
  try {
    urls = authorizationServerMetadataUrls(issuer);
  } catch {
    throw new OAuthClientError(
      'discovery_failed',
      `Authorization server ${JSON.stringify(issuer)} is not a URL`,
    );
  }
  const problems: string[] = [];
  let mismatch: string | undefined;
  for (const url of urls) {
    let answer: Awaited<ReturnType<typeof getJson>>;
    try {
      answer = await getJson(http, url);
    } catch (err) {
      problems.push(`${url}: ${describeError(err)}`);
      continue;
    }
    if (answer.status !== 200 || !isJsonObject(answer.body)) {
      problems.push(`${url}: ${answer.status === 200 ? 'not a JSON object' : `HTTP ${answer.status}`}`);
      continue;
    }
    if (answer.body.issuer !== issuer && !(options.legacyOrigin && sameOrigin(answer.body.issuer, issuer))) {
      mismatch = `${url} says issuer ${JSON.stringify(answer.body.issuer)}, expected ${JSON.stringify(issuer)}`;
      problems.push(mismatch);
      continue;
    }
    return answer.body as AuthorizationServerMetadata;
  }
  if (mismatch !== undefined) {
    throw new OAuthClientError('issuer_mismatch', `Refusing authorization server metadata: ${mismatch}`);
  }
  if (problems.length > 0 && problems.every((p) => !/HTTP 404$|HTTP 405$|HTTP 410$/.test(p))) {
    throw new OAuthClientError(
      'discovery_failed',
      `Authorization server metadata for ${issuer} unavailable (${problems.join('; ')})`,
    );
  }
  return undefined;
}

/**
 * A 2025-03-26 server has no resource metadata: the MCP server's origin is the only trust anchor
 * and the metadata is read from that origin's root. Servers of that era commonly name an issuer
 * with a path there (`https://h/oauth`), which RFC 8414 §3.3 would reject; such a document is
 * accepted when its issuer is on the same origin, never when it names another one.
 */
function sameOrigin(claimed: unknown, origin: string): boolean {
  if (typeof claimed !== 'string') return false;
  try {
    return (
      new URL(claimed).origin === new URL(origin).origin && !claimed.includes('#') && !claimed.includes('?')
    );
  } catch {
    return false;
  }
}

/** Default endpoints of a 2025-03-26 server without metadata: its origin plus /authorize, /token, /register. */
export function legacyDefaultMetadata(origin: string): AuthorizationServerMetadata {
  return {
    issuer: origin,
    authorization_endpoint: `${origin}/authorize`,
    token_endpoint: `${origin}/token`,
    registration_endpoint: `${origin}/register`,
    code_challenge_methods_supported: ['S256'],
  };
}
