import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { CallContext } from '../server/middleware.js';

/** Longer keys are hashed so a client-chosen name cannot make limiter state (or Redis keys) large. */
const MAX_KEY_LENGTH = 200;

/**
 * Who a request counts against, most trustworthy first:
 * 1. the authenticated subject (`sub:`), else the OAuth client id (`client-id:`): one budget
 *    per user, whatever connection or client app they use;
 * 2. the remote address (`ip:`), with IPv6 grouped by /64 because one host usually owns a
 *    whole /64 and could otherwise rotate through fresh addresses;
 * 3. the client's self-declared `clientInfo` (`client:<name>@<version>`): spoofable and shared
 *    by every user of the same app, so only a last resort (e.g. stdio, where there is one client);
 * 4. `anonymous`, one shared bucket.
 * Session ids are not used: a client can open sessions at will to get fresh budgets. Behind a
 * reverse proxy every request has the proxy's address; pass a `key` function that reads the
 * forwarded address your proxy sets (and only if you trust that proxy).
 */
export function defaultRateLimitKey(ctx: CallContext): string {
  const auth = ctx.auth;
  if (auth?.subject) return `sub:${auth.subject}`;
  if (auth?.clientId) return `client-id:${auth.clientId}`;
  if (ctx.remoteAddress) return `ip:${addressKey(ctx.remoteAddress)}`;
  if (ctx.clientInfo) return `client:${ctx.clientInfo.name}@${ctx.clientInfo.version}`;
  return 'anonymous';
}

/** IPv4-mapped IPv6 becomes the IPv4 address; other IPv6 addresses become their /64 prefix. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1] as string;
  const bare = address.split('%')[0] as string;
  if (!isIPv6(bare)) return address;
  const [head = '', tail] = bare.split('::');
  const h = head === '' ? [] : head.split(':');
  let groups = h;
  if (tail !== undefined) {
    const t = tail === '' ? [] : tail.split(':');
    // A trailing dotted IPv4 part stands for two groups.
    const tailGroups = t.length + (t.length > 0 && (t[t.length - 1] as string).includes('.') ? 1 : 0);
    groups = [...h, ...new Array<string>(8 - h.length - tailGroups).fill('0'), ...t];
  }
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export function boundKey(key: string): string {
  return key.length <= MAX_KEY_LENGTH
    ? key
    : `sha256:${createHash('sha256').update(key).digest('base64url')}`;
}
