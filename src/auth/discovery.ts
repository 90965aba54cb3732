import { AuthorizationServerUnavailableError } from './challenge.js';
import { authorizationServerMetadataUrls } from './urls.js';

export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** The RFC 8414 / OIDC Discovery fields the resource server side uses; the rest is kept as is. */
export interface AuthorizationServerMetadata {
  issuer: string;
  jwks_uri?: string;
  introspection_endpoint?: string;
  [field: string]: unknown;
}

export interface DiscoveryOptions {
  fetch?: FetchLike;
  /** Per request, default 5000 ms. */
  timeoutMs?: number;
}

/**
 * Fetches the authorization server's metadata, trying the well-known URLs in the order the MCP
 * specification gives, and keeps only a document whose `issuer` is exactly the issuer asked for
 * (RFC 8414 §3.3): a mismatching document is never used, whoever served it.
 */
export async function discoverAuthorizationServer(
  issuer: string,
  options: DiscoveryOptions = {},
): Promise<AuthorizationServerMetadata> {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 5000;
  const problems: string[] = [];
  for (const url of authorizationServerMetadataUrls(issuer)) {
    let response: Response;
    try {
      response = await doFetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      problems.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      problems.push(`${url}: HTTP ${response.status}`);
      continue;
    }
    let doc: unknown;
    try {
      doc = await response.json();
    } catch {
      problems.push(`${url}: not JSON`);
      continue;
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      problems.push(`${url}: not a JSON object`);
      continue;
    }
    const metadata = doc as Record<string, unknown>;
    if (metadata.issuer !== issuer) {
      problems.push(
        `${url}: issuer ${JSON.stringify(metadata.issuer)} does not match ${JSON.stringify(issuer)}`,
      );
      continue;
    }
    const badField = ['jwks_uri', 'introspection_endpoint'].find(
      (field) => metadata[field] !== undefined && typeof metadata[field] !== 'string',
    );
    if (badField !== undefined) {
      problems.push(`${url}: ${badField} is not a string`);
      continue;
    }
    return metadata as AuthorizationServerMetadata;
  }
  throw new AuthorizationServerUnavailableError(
    `No usable authorization server metadata for ${issuer} (${problems.join('; ')})`,
  );
}
