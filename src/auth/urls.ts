import { InvalidOptionError } from '../protocol/errors.js';

/** The RFC 9728 well-known suffix for protected resource metadata. */
export const PRM_WELL_KNOWN = '/.well-known/oauth-protected-resource';

export function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '[::1]' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

export interface UrlCheckOptions {
  /** Accept plain http on non-loopback hosts (private networks behind a TLS terminator). */
  allowInsecureHttp?: boolean;
  /** Reject a query component (issuer identifiers, RFC 8414 §2). */
  noQuery?: boolean;
}

/**
 * Parses an absolute http(s) URL without a fragment. http is accepted only for loopback hosts
 * unless `allowInsecureHttp`, because bearer tokens and key material must not cross a network in clear.
 */
export function checkHttpsUrl(option: string, value: unknown, options: UrlCheckOptions = {}): URL {
  if (typeof value !== 'string' || value.length === 0)
    throw new InvalidOptionError(option, 'must be a non-empty URL string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidOptionError(option, `${JSON.stringify(value)} is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new InvalidOptionError(option, `must use https (got ${url.protocol})`);
  }
  if (url.protocol === 'http:' && !isLoopbackHostname(url.hostname) && !options.allowInsecureHttp) {
    throw new InvalidOptionError(
      option,
      `must use https (plain http is only accepted for loopback hosts): ${value}`,
    );
  }
  if (url.hash !== '' || value.includes('#'))
    throw new InvalidOptionError(option, 'must not contain a fragment');
  if (options.noQuery && (url.search !== '' || value.includes('?'))) {
    throw new InvalidOptionError(option, 'must not contain a query component');
  }
  if (url.username !== '' || url.password !== '')
    throw new InvalidOptionError(option, 'must not contain credentials');
  return url;
}

/** The path (and query) the RFC 9728 well-known suffix is inserted before; empty for a root resource. */
export function resourcePathSuffix(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname;
  return path + url.search;
}

/**
 * RFC 9728 §3.1: the metadata URL of a resource is its origin, the well-known suffix, then
 * the resource's path: `https://h/mcp` -> `https://h/.well-known/oauth-protected-resource/mcp`.
 */
export function resourceMetadataUrlFor(resource: string): string {
  return new URL(resource).origin + PRM_WELL_KNOWN + resourcePathSuffix(resource);
}

/**
 * RFC 8414 §3.1 and OIDC Discovery, in the order the MCP specification requires: path insertion
 * first for issuers with a path, then OIDC path insertion, then OIDC path appending.
 */
export function authorizationServerMetadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  if (path === '') {
    return [
      `${url.origin}/.well-known/oauth-authorization-server`,
      `${url.origin}/.well-known/openid-configuration`,
    ];
  }
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${url.origin}/.well-known/openid-configuration${path}`,
    `${url.origin}${path}/.well-known/openid-configuration`,
  ];
}

/** RFC 6749 scope-token: printable ASCII without space, `"` and `\`. */
const SCOPE_TOKEN_RE = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export function checkScopeList(option: string, value: unknown): string[] {
  if (!Array.isArray(value)) throw new InvalidOptionError(option, 'must be an array of scope strings');
  for (const scope of value) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN_RE.test(scope)) {
      throw new InvalidOptionError(
        option,
        `${JSON.stringify(scope)} is not a valid scope (RFC 6749 scope-token)`,
      );
    }
  }
  return [...new Set(value as string[])];
}
