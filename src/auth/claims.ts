import { InvalidOptionError } from '../protocol/errors.js';
import type { AuthInfo } from '../transport/types.js';
import { checkScopeList } from './urls.js';

/** `scope` (RFC 9068 / RFC 7662: space-separated) or `scp` (array, or a string in some servers). */
export function scopesFromClaims(claims: Readonly<Record<string, unknown>>): string[] {
  const raw = claims.scope ?? claims.scp;
  let list: unknown[] = [];
  if (typeof raw === 'string') list = raw.split(' ');
  else if (Array.isArray(raw)) list = raw;
  const out = new Set<string>();
  for (const s of list) if (typeof s === 'string' && s !== '') out.add(s);
  return [...out];
}

/**
 * Scope hierarchy (`{ 'mcp:admin': ['mcp:read', 'mcp:write'] }`), expanded transitively once per
 * token so the per-feature `scopes` check, a plain membership test, honours broader scopes.
 */
export type ScopeHierarchy = Readonly<Record<string, readonly string[]>>;

export function checkScopeHierarchy(option: string, value: unknown): ScopeHierarchy {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(option, 'must be an object mapping a scope to the scopes it implies');
  }
  const out: Record<string, readonly string[]> = {};
  for (const [scope, implied] of Object.entries(value)) {
    checkScopeList(option, [scope]);
    out[scope] = checkScopeList(`${option}.${scope}`, implied);
  }
  return out;
}

export function expandScopes(scopes: readonly string[], hierarchy: ScopeHierarchy | undefined): string[] {
  if (!hierarchy) return [...scopes];
  const seen = new Set(scopes);
  const queue = [...scopes];
  while (queue.length > 0) {
    const implied = hierarchy[queue.pop() as string];
    if (!implied) continue;
    for (const s of implied) {
      if (seen.has(s)) continue;
      seen.add(s);
      queue.push(s);
    }
  }
  return [...seen];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Maps validated token claims to the principal handlers see as `ctx.auth`. Without `sub`
 * (client credentials tokens from some servers), the client is the subject, as RFC 9068 §2.2
 * recommends, so per-principal state such as task ownership still separates callers.
 */
export function authInfoFromClaims(
  claims: Readonly<Record<string, unknown>>,
  token: string,
  hierarchy: ScopeHierarchy | undefined,
): AuthInfo {
  const clientId = str(claims.client_id) ?? str(claims.azp);
  const subject = str(claims.sub) ?? clientId;
  const info: AuthInfo = { scopes: expandScopes(scopesFromClaims(claims), hierarchy), token, claims };
  if (subject !== undefined) info.subject = subject;
  if (clientId !== undefined) info.clientId = clientId;
  if (typeof claims.exp === 'number' && Number.isFinite(claims.exp)) info.expiresAt = claims.exp;
  return info;
}

export function missingScopes(granted: readonly string[], required: readonly string[]): string[] {
  return required.filter((s) => !granted.includes(s));
}
