import { isLoopbackHostname } from '../../auth/urls.js';
import { OAuthClientError } from './errors.js';

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** How the OAuth client reaches authorization servers and metadata documents. */
export interface HttpContext {
  fetch: FetchLike;
  timeoutMs: number;
  allowInsecureHttp: boolean;
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  /** The parsed body when it was JSON, else undefined. */
  body: unknown;
}

/** Bodies of metadata and token responses are small; anything bigger is refused unread. */
const MAX_BODY_BYTES = 1 << 20;

/**
 * OAuth 2.1 §1.5: authorization server endpoints are https. Plain http is tolerated for loopback
 * hosts (development, tests) and, when the application opts in, anywhere.
 */
export function checkEndpoint(http: HttpContext, what: string, value: unknown): URL {
  if (typeof value !== 'string' || value === '') {
    throw new OAuthClientError(
      'discovery_failed',
      `${what} is missing from the authorization server metadata`,
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OAuthClientError('discovery_failed', `${what} ${JSON.stringify(value)} is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new OAuthClientError('insecure_endpoint', `${what} must be an https URL: ${value}`);
  }
  if (url.protocol === 'http:' && !isLoopbackHostname(url.hostname) && !http.allowInsecureHttp) {
    throw new OAuthClientError(
      'insecure_endpoint',
      `${what} must use https (http only for loopback hosts): ${value}`,
    );
  }
  return url;
}

async function readJson(response: Response): Promise<unknown> {
  const length = Number(response.headers.get('content-length') ?? '0');
  if (length > MAX_BODY_BYTES) {
    await response.body?.cancel();
    return undefined;
  }
  const text = await response.text();
  if (text.length > MAX_BODY_BYTES || text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export async function getJson(http: HttpContext, url: string): Promise<JsonResponse> {
  const response = await http.fetch(url, {
    method: 'GET',
    headers: { accept: 'application/json' },
    // Metadata may move; what it says is validated (issuer, resource) wherever it came from.
    redirect: 'follow',
    signal: AbortSignal.timeout(http.timeoutMs),
  });
  if (response.status !== 200) {
    await response.body?.cancel();
    return { status: response.status, headers: response.headers, body: undefined };
  }
  return { status: response.status, headers: response.headers, body: await readJson(response) };
}

export async function postForm(
  http: HttpContext,
  url: string,
  form: URLSearchParams,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  const response = await http.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: form.toString(),
    redirect: 'error',
    signal: AbortSignal.timeout(http.timeoutMs),
  });
  return { status: response.status, headers: response.headers, body: await readJson(response) };
}

export async function postJson(http: HttpContext, url: string, body: unknown): Promise<JsonResponse> {
  const response = await http.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
    redirect: 'error',
    signal: AbortSignal.timeout(http.timeoutMs),
  });
  return { status: response.status, headers: response.headers, body: await readJson(response) };
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
