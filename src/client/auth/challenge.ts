/** One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1). */
export interface AuthChallenge {
  /** Lower-cased auth scheme (`bearer`, `dpop`, ...). */
  scheme: string;
  /** Auth parameters by lower-cased name; the first occurrence of a name wins. */
  params: Record<string, string>;
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/**
 * Parses every challenge of a `WWW-Authenticate` value. Auth parameters and challenges share the
 * comma as separator, so a name not followed by `=` starts the next challenge. Malformed input
 * never throws: what cannot be read is skipped.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const out: AuthChallenge[] = [];
  const n = header.length;
  let i = 0;
  const skipWs = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < n && TCHAR.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  const readQuoted = () => {
    let value = '';
    i++; // opening quote
    while (i < n && header[i] !== '"') {
      if (header[i] === '\\' && i + 1 < n) i++;
      value += header[i];
      i++;
    }
    i++; // closing quote (or end)
    return value;
  };
  while (i < n) {
    while (i < n && (header[i] === ',' || header[i] === ' ' || header[i] === '\t')) i++;
    if (i >= n) break;
    const scheme = readToken();
    if (scheme === '') {
      i++;
      continue;
    }
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    skipWs();
    const t68 = TOKEN68.exec(header.slice(i));
    if (t68) {
      let j = i + t68[0].length;
      while (j < n && (header[j] === ' ' || header[j] === '\t')) j++;
      if (j >= n || header[j] === ',') {
        challenge.token68 = t68[0];
        i = j;
        continue;
      }
    }
    for (;;) {
      while (i < n && (header[i] === ',' || header[i] === ' ' || header[i] === '\t')) i++;
      const save = i;
      const name = readToken();
      skipWs();
      if (name === '' || header[i] !== '=') {
        i = save;
        break;
      }
      i++;
      skipWs();
      const value = header[i] === '"' ? readQuoted() : readToken();
      const key = name.toLowerCase();
      if (!(key in challenge.params)) challenge.params[key] = value;
      skipWs();
      if (i < n && header[i] !== ',') break;
    }
  }
  return out;
}

/** What the OAuth client needs from a 401/403 of a protected resource. */
export interface ResourceChallenge {
  scheme: string;
  error?: string;
  errorDescription?: string;
  /** `scope`, split on spaces; undefined when the challenge carries none. */
  scopes?: string[];
  resourceMetadata?: string;
}

/**
 * Reads the Bearer (RFC 6750) or DPoP (RFC 9449) challenge. When both are offered the one with an
 * error code wins, and `resource_metadata` is taken from whichever challenge carries it.
 */
export function resourceChallenge(header: string | null): ResourceChallenge | undefined {
  if (header === null || header.trim() === '') return undefined;
  const relevant = parseWwwAuthenticate(header).filter((c) => c.scheme === 'bearer' || c.scheme === 'dpop');
  if (relevant.length === 0) return undefined;
  const chosen = relevant.find((c) => c.params.error !== undefined) ?? (relevant[0] as AuthChallenge);
  const out: ResourceChallenge = { scheme: chosen.scheme };
  const { error, error_description: description, scope } = chosen.params;
  if (error) out.error = error;
  if (description) out.errorDescription = description;
  if (scope !== undefined) {
    const scopes = scope.split(' ').filter((s) => s !== '');
    if (scopes.length > 0) out.scopes = scopes;
  }
  const metadata =
    chosen.params.resource_metadata ??
    relevant.find((c) => c.params.resource_metadata)?.params.resource_metadata;
  if (metadata) out.resourceMetadata = metadata;
  return out;
}
