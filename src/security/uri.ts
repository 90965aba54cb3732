import { realpathSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidOptionError } from '../protocol/errors.js';
import { PathSecurityError, type UriRejectReason, UriSecurityError } from './errors.js';
import {
  type SafePathOptions,
  hasControlCharacter,
  hasInvalidUnicode,
  isPathInside,
  resolveSafePath,
  resolveSafePathSync,
} from './path.js';

export interface ResourceUriOptions {
  /** Schemes to accept (case-insensitive, with or without ':'). Default: any but javascript, vbscript, data. */
  allowedSchemes?: readonly string[];
  /** Longest accepted URI in UTF-16 code units. Default 8192, the bound `UriTemplate.match` uses. */
  maxLength?: number;
  /** Accept `user:password@` in the authority. Default false: such URIs leak secrets into logs. */
  allowCredentials?: boolean;
}

interface UriSettings {
  allowedSchemes: ReadonlySet<string> | undefined;
  maxLength: number;
  allowCredentials: boolean;
}

export const DEFAULT_MAX_URI_LENGTH = 8192;
const DANGEROUS_SCHEMES = new Set(['javascript', 'vbscript', 'data']);
const SCHEME_OPTION = /^[A-Za-z][A-Za-z0-9+.-]*:?$/;
const WHITESPACE = /\s/;
const MALFORMED_PERCENT = /%(?![0-9A-Fa-f]{2})/;
const PERCENT_TRIPLET = /%([0-9A-Fa-f]{2})/g;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function reject(reason: UriRejectReason): never {
  throw new UriSecurityError(reason);
}

function readUriOptions(options: ResourceUriOptions | undefined): UriSettings {
  if (options === undefined)
    return { allowedSchemes: undefined, maxLength: DEFAULT_MAX_URI_LENGTH, allowCredentials: false };
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object');
  const { allowedSchemes, maxLength = DEFAULT_MAX_URI_LENGTH, allowCredentials = false } = options;
  if (!Number.isSafeInteger(maxLength) || maxLength < 1) {
    throw new InvalidOptionError('maxLength', 'must be a positive integer');
  }
  if (typeof allowCredentials !== 'boolean')
    throw new InvalidOptionError('allowCredentials', 'must be a boolean');
  let schemes: Set<string> | undefined;
  if (allowedSchemes !== undefined) {
    if (!Array.isArray(allowedSchemes) || allowedSchemes.length === 0) {
      throw new InvalidOptionError('allowedSchemes', 'must be a non-empty array of scheme names');
    }
    schemes = new Set();
    for (const s of allowedSchemes) {
      if (typeof s !== 'string' || !SCHEME_OPTION.test(s)) {
        throw new InvalidOptionError('allowedSchemes', `${JSON.stringify(s)} is not a URI scheme`);
      }
      schemes.add(s.toLowerCase().replace(/:$/, ''));
    }
  }
  return { allowedSchemes: schemes, maxLength, allowCredentials };
}

/**
 * Checks a client-supplied resource URI and returns it parsed. The raw text is screened before
 * the WHATWG parser sees it, because the parser silently strips tabs, newlines and surrounding
 * controls and turns '\' into '/' for special schemes: what gets logged or matched against a
 * template must be what gets served. Throws `UriSecurityError` (-32602) with a stable `reason`.
 */
export function validateResourceUri(uri: unknown, options?: ResourceUriOptions): URL {
  const settings = readUriOptions(options);
  if (typeof uri !== 'string') reject('NOT_A_STRING');
  if (uri.length === 0) reject('EMPTY');
  if (uri.length > settings.maxLength) reject('TOO_LONG');
  if (hasControlCharacter(uri)) reject('CONTROL_CHARACTER');
  if (WHITESPACE.test(uri)) reject('WHITESPACE');
  if (hasInvalidUnicode(uri)) reject('INVALID_UNICODE');
  if (uri.includes('\\')) reject('BACKSLASH');
  if (MALFORMED_PERCENT.test(uri)) reject('MALFORMED_PERCENT_ENCODING');
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    reject('INVALID_URI');
  }
  const scheme = url.protocol.slice(0, -1);
  // `C:/x` parses with scheme "c": a Windows drive path, never a resource URI.
  if (scheme.length < 2) reject('INVALID_URI');
  if (settings.allowedSchemes !== undefined) {
    if (!settings.allowedSchemes.has(scheme)) reject('SCHEME_NOT_ALLOWED');
  } else if (DANGEROUS_SCHEMES.has(scheme)) {
    reject('DANGEROUS_SCHEME');
  }
  if (!settings.allowCredentials && (url.username !== '' || url.password !== '')) reject('CREDENTIALS');
  return url;
}

/** RFC 3986 §6.2.2: hex digits upper case, unreserved characters never encoded. */
function normalizePercent(text: string): string {
  return text.replace(PERCENT_TRIPLET, (_, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
  });
}

/**
 * A canonical spelling of a valid resource URI, for use as a cache, subscription or ACL key:
 * scheme and host lower-cased, dot segments removed, default port dropped, percent-encoding
 * normalized. Idempotent. Throws like `validateResourceUri`.
 */
export function normalizeResourceUri(uri: string, options?: ResourceUriOptions): string {
  const url = new URL(normalizePercent(validateResourceUri(uri, options).href));
  // Non-special schemes keep the host's case; RFC 3986 says it is case-insensitive. Hex digits stay upper.
  const host = url.hostname.replace(/%[0-9A-F]{2}|[A-Z]+/g, (m) => (m.startsWith('%') ? m : m.toLowerCase()));
  if (host !== url.hostname) url.hostname = host;
  return url.href;
}

export interface FileUriOptions extends SafePathOptions {
  /** Longest accepted URI. Default 8192. (`maxLength` bounds the path below the root.) */
  maxUriLength?: number;
}

function strictDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    // Percent-escapes that are not UTF-8: the overlong '.' family.
    throw new PathSecurityError('SUSPICIOUS_ENCODING');
  }
}

function checkRoot(root: unknown): string {
  if (typeof root !== 'string' || root.length === 0 || !path.isAbsolute(root)) {
    throw new InvalidOptionError('root', 'must be an absolute path');
  }
  return path.resolve(root);
}

/** The '/'-separated path of `abs` below `root`, or undefined when it is not below it. */
function relativeBelow(root: string, abs: string): string | undefined {
  if (!isPathInside(root, abs)) return undefined;
  return path.relative(root, abs).split(path.sep).join('/');
}

function parseFileUri(uri: unknown, options: FileUriOptions | undefined): string {
  const max = options?.maxUriLength;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) {
    throw new InvalidOptionError('maxUriLength', 'must be a positive integer');
  }
  const uriOptions: ResourceUriOptions =
    options?.maxUriLength === undefined
      ? { allowedSchemes: ['file'] }
      : { allowedSchemes: ['file'], maxLength: options.maxUriLength };
  const url = validateResourceUri(uri, uriOptions);
  if (url.hostname !== '' && url.hostname !== 'localhost') reject('REMOTE_FILE_HOST');
  if (url.search !== '' || url.hash !== '') reject('INVALID_URI');
  for (const segment of url.pathname.split('/')) {
    const decoded = strictDecode(segment);
    if (decoded.includes('/') || decoded.includes('\\') || decoded.includes('\0'))
      reject('ENCODED_SEPARATOR');
  }
  try {
    return fileURLToPath(url);
  } catch {
    reject('INVALID_URI');
  }
}

function pathOptions(options: FileUriOptions | undefined): SafePathOptions | undefined {
  if (options === undefined) return undefined;
  const { maxUriLength: _ignored, ...rest } = options;
  return rest;
}

/**
 * Maps a `file:` resource URI to a real path that lies under `root`. The URI names an
 * absolute path (as MCP file resources do); it must fall below `root` (or below root's real
 * path), and the remainder then goes through every check of `resolveSafePath`.
 */
export async function fileUriToSafePath(
  uri: string,
  root: string,
  options?: FileUriOptions,
): Promise<string> {
  const abs = parseFileUri(uri, options);
  const rootAbs = checkRoot(root);
  let rel = relativeBelow(rootAbs, abs);
  if (rel === undefined) {
    const rootReal = await realpath(rootAbs).catch(() => {
      throw new InvalidOptionError('root', 'cannot be resolved');
    });
    rel = relativeBelow(rootReal, abs);
  }
  if (rel === undefined) throw new PathSecurityError('OUTSIDE_ROOT');
  return resolveSafePath(rootAbs, rel, pathOptions(options));
}

/** Synchronous `fileUriToSafePath`. */
export function fileUriToSafePathSync(uri: string, root: string, options?: FileUriOptions): string {
  const abs = parseFileUri(uri, options);
  const rootAbs = checkRoot(root);
  let rel = relativeBelow(rootAbs, abs);
  if (rel === undefined) {
    let rootReal: string;
    try {
      rootReal = realpathSync.native(rootAbs);
    } catch {
      throw new InvalidOptionError('root', 'cannot be resolved');
    }
    rel = relativeBelow(rootReal, abs);
  }
  if (rel === undefined) throw new PathSecurityError('OUTSIDE_ROOT');
  return resolveSafePathSync(rootAbs, rel, pathOptions(options));
}
