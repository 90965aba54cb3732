import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError } from '../protocol/errors.js';
import { PRM_WELL_KNOWN, checkHttpsUrl, checkScopeList, resourcePathSuffix } from './urls.js';

export interface ProtectedResourceMetadataOptions {
  /** The resource's canonical URI, exactly as tokens carry it in `aud` (RFC 8707). */
  resource: string;
  /** Issuer identifiers of the authorization servers that issue tokens for it (at least one). */
  authorizationServers: readonly string[];
  /** Scopes needed for basic use; MCP says not to list `offline_access`. */
  scopesSupported?: readonly string[];
  /** Only `header`: MCP forbids tokens in the query string, and the body is not used. */
  bearerMethodsSupported?: readonly 'header'[];
  resourceName?: string;
  resourceDocumentation?: string;
  /** Accept plain-http URLs on non-loopback hosts. */
  allowInsecureHttp?: boolean;
}

export interface ProtectedResourceMetadataHandlerOptions extends ProtectedResourceMetadataOptions {
  /** `Cache-Control: max-age` of the served document, default 3600 s. */
  maxAgeSec?: number;
  /**
   * Also answer at the root `/.well-known/oauth-protected-resource` (the fallback clients
   * probe when a resource with a path has no metadata at its own URL), default true.
   */
  serveRoot?: boolean;
}

/** RFC 9728 §2 document. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  resource_name?: string;
  resource_documentation?: string;
}

/** Builds and checks the RFC 9728 protected resource metadata document. */
export function protectedResourceMetadata(
  options: ProtectedResourceMetadataOptions,
): ProtectedResourceMetadata {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object');
  const urlOptions = { allowInsecureHttp: options.allowInsecureHttp ?? false };
  checkHttpsUrl('resource', options.resource, urlOptions);
  const servers = options.authorizationServers;
  if (!Array.isArray(servers) || servers.length === 0) {
    throw new InvalidOptionError(
      'authorizationServers',
      'must list at least one authorization server issuer',
    );
  }
  servers.forEach((s, i) => checkHttpsUrl(`authorizationServers[${i}]`, s, { ...urlOptions, noQuery: true }));
  const methods = options.bearerMethodsSupported ?? ['header'];
  if (!Array.isArray(methods) || methods.length !== 1 || methods[0] !== 'header') {
    throw new InvalidOptionError(
      'bearerMethodsSupported',
      'must be ["header"] (MCP sends tokens in the Authorization header only)',
    );
  }
  const doc: ProtectedResourceMetadata = {
    resource: options.resource,
    authorization_servers: [...servers],
    bearer_methods_supported: ['header'],
  };
  if (options.scopesSupported !== undefined) {
    const scopes = checkScopeList('scopesSupported', options.scopesSupported);
    if (scopes.includes('offline_access')) {
      throw new InvalidOptionError(
        'scopesSupported',
        'must not include offline_access (refresh tokens are not a resource requirement)',
      );
    }
    doc.scopes_supported = scopes;
  }
  if (options.resourceName !== undefined) {
    if (typeof options.resourceName !== 'string' || options.resourceName === '') {
      throw new InvalidOptionError('resourceName', 'must be a non-empty string');
    }
    doc.resource_name = options.resourceName;
  }
  if (options.resourceDocumentation !== undefined) {
    checkHttpsUrl('resourceDocumentation', options.resourceDocumentation, urlOptions);
    doc.resource_documentation = options.resourceDocumentation;
  }
  return doc;
}

const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};

/** The paths the document is served at: RFC 9728 path insertion first, then the root form. */
export function protectedResourceMetadataPaths(resource: string, serveRoot = true): string[] {
  // A query in the resource stays in the metadata URL's query; routing matches the path.
  const suffix = pathOf(resourcePathSuffix(resource));
  const paths = [PRM_WELL_KNOWN + suffix];
  if (serveRoot && suffix !== '') paths.push(PRM_WELL_KNOWN);
  return paths;
}

interface Prepared {
  paths: Set<string>;
  body: string;
  headers: Record<string, string>;
  etag: string;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD, OPTIONS',
  'access-control-allow-headers': '*',
  'access-control-max-age': '86400',
};

function prepare(options: ProtectedResourceMetadataHandlerOptions): Prepared {
  const doc = protectedResourceMetadata(options);
  const maxAge = options.maxAgeSec ?? 3600;
  if (!Number.isInteger(maxAge) || maxAge < 0)
    throw new InvalidOptionError('maxAgeSec', 'must be a non-negative integer');
  const serveRoot = options.serveRoot ?? true;
  if (typeof serveRoot !== 'boolean') throw new InvalidOptionError('serveRoot', 'must be a boolean');
  const body = JSON.stringify(doc);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return {
    paths: new Set(protectedResourceMetadataPaths(options.resource, serveRoot)),
    body,
    etag,
    headers: {
      'content-type': 'application/json',
      'cache-control': `public, max-age=${maxAge}`,
      etag,
      'x-content-type-options': 'nosniff',
      'access-control-allow-origin': '*',
    },
  };
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body?: string;
}

function answer(p: Prepared, method: string, ifNoneMatch: string | null | undefined): Answer {
  if (method === 'OPTIONS') return { status: 204, headers: CORS };
  if (method !== 'GET' && method !== 'HEAD') {
    return { status: 405, headers: { allow: 'GET, HEAD, OPTIONS', 'access-control-allow-origin': '*' } };
  }
  if (ifNoneMatch?.split(',').some((t) => t.trim() === p.etag || t.trim() === '*')) {
    return {
      status: 304,
      headers: {
        etag: p.etag,
        'cache-control': p.headers['cache-control'] as string,
        'access-control-allow-origin': '*',
      },
    };
  }
  return method === 'HEAD'
    ? { status: 200, headers: p.headers }
    : { status: 200, headers: p.headers, body: p.body };
}

/**
 * A `node:http` handler serving the document at `/.well-known/oauth-protected-resource/<path>`
 * and the root form. Returns true when it answered, false to let the caller route the request:
 *
 * ```ts
 * const prm = protectedResourceMetadataHandler({ resource, authorizationServers: [issuer] });
 * http.createServer((req, res) => prm(req, res) || mcp(req, res));
 * ```
 */
export function protectedResourceMetadataHandler(
  options: ProtectedResourceMetadataHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const p = prepare(options);
  return (req, res) => {
    if (!p.paths.has(pathOf(req.url ?? '/'))) return false;
    const a = answer(p, req.method ?? 'GET', req.headers['if-none-match']);
    const headers: Record<string, string | number> = { ...a.headers };
    if (a.status === 200) headers['content-length'] = Buffer.byteLength(p.body);
    res.writeHead(a.status, headers);
    res.end(a.body);
    return true;
  };
}

/** Web-standard variant: a `Response` for a metadata request, undefined for any other path. */
export function protectedResourceMetadataFetchHandler(
  options: ProtectedResourceMetadataHandlerOptions,
): (request: Request) => Response | undefined {
  const p = prepare(options);
  return (request) => {
    if (!p.paths.has(new URL(request.url).pathname)) return undefined;
    const a = answer(p, request.method, request.headers.get('if-none-match'));
    return new Response(a.status === 204 || a.status === 304 ? null : (a.body ?? null), {
      status: a.status,
      headers: a.headers,
    });
  };
}
