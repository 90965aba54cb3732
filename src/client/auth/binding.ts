import type { Logger } from '../../util/logger.js';
import {
  type AuthorizationServerMetadata,
  checkResource,
  fetchAuthorizationServerMetadata,
  fetchResourceMetadata,
  legacyDefaultMetadata,
} from './discovery.js';
import { OAuthClientError } from './errors.js';
import type { HttpContext } from './http.js';

/** Where tokens for the MCP server come from, as discovered from its metadata. */
export interface AuthorizationBinding {
  issuer: string;
  /** The protected resource metadata's `resource`, byte for byte (the canonical server URI for 2025-03-26 servers). */
  resource: string;
  metadata: AuthorizationServerMetadata;
  /** The `scopes_supported` of the protected resource metadata. */
  resourceScopes: string[] | undefined;
  /** 2025-03-26 server without any metadata: the default /authorize, /token, /register endpoints. */
  defaultEndpoints: boolean;
}

export interface BindingOptions {
  serverUrl: URL;
  now: () => number;
  logger: Logger;
  /** Issuers the application has credentials for, in preference order of `authorization_servers`. */
  hasCredentials: (issuer: string) => boolean;
  select: ((servers: readonly string[]) => string | undefined) | undefined;
}

const METADATA_TTL_MS = 5 * 60_000;

/** RFC 8707 canonical form: lower-case scheme and host, no trailing slash on an empty path, no fragment. */
export function canonicalResource(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}${url.search}`;
}

/**
 * Finds the authorization server for the MCP server: RFC 9728 metadata (the challenge's
 * `resource_metadata`, else the path-based then the root well-known URI), whose `resource` must
 * cover the server, then the chosen server's validated metadata. A server without resource
 * metadata is treated as 2025-03-26: its own origin is the authorization server. Server metadata
 * is cached for a few minutes; resource metadata is read again on every challenge, since a change
 * of authorization server shows there first.
 */
export class BindingResolver {
  private readonly cache = new Map<string, { metadata: AuthorizationServerMetadata; at: number }>();

  constructor(
    private readonly http: HttpContext,
    private readonly options: BindingOptions,
  ) {}

  async discover(resourceMetadataUrl?: string): Promise<AuthorizationBinding> {
    const serverUrl = this.options.serverUrl;
    const found = await fetchResourceMetadata(this.http, serverUrl, resourceMetadataUrl);
    if (found) {
      checkResource(found.metadata.resource, serverUrl);
      const issuer = this.pick(found.metadata.authorization_servers as string[]);
      const metadata = await this.serverMetadata(issuer, false);
      if (!metadata) {
        throw new OAuthClientError(
          'discovery_failed',
          `Authorization server ${issuer} publishes no RFC 8414 or OpenID metadata`,
        );
      }
      return {
        issuer,
        resource: found.metadata.resource,
        metadata,
        resourceScopes: found.metadata.scopes_supported,
        defaultEndpoints: false,
      };
    }
    const origin = serverUrl.origin;
    const metadata = await this.serverMetadata(origin, true);
    this.options.logger.debug(
      { issuer: origin, metadata: metadata !== undefined },
      'no protected resource metadata: 2025-03-26 discovery',
    );
    return {
      issuer: metadata?.issuer ?? origin,
      resource: canonicalResource(serverUrl),
      metadata: metadata ?? legacyDefaultMetadata(origin),
      resourceScopes: undefined,
      defaultEndpoints: metadata === undefined,
    };
  }

  private pick(servers: string[]): string {
    const chosen =
      this.options.select?.(servers) ?? servers.find((s) => this.options.hasCredentials(s)) ?? servers[0];
    if (chosen === undefined || !servers.includes(chosen)) {
      throw new OAuthClientError(
        'discovery_failed',
        `selectAuthorizationServer returned ${JSON.stringify(chosen)}, not one of ${servers.join(', ')}`,
      );
    }
    return chosen;
  }

  private async serverMetadata(
    issuer: string,
    legacyOrigin: boolean,
  ): Promise<AuthorizationServerMetadata | undefined> {
    const key = `${legacyOrigin ? 'legacy ' : ''}${issuer}`;
    const cached = this.cache.get(key);
    if (cached && this.options.now() - cached.at < METADATA_TTL_MS) return cached.metadata;
    const metadata = await fetchAuthorizationServerMetadata(this.http, issuer, { legacyOrigin });
    if (metadata) this.cache.set(key, { metadata, at: this.options.now() });
    return metadata;
  }
}
