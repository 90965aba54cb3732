import { InvalidOptionError } from '../protocol/errors.js';
import type { Logger } from '../util/logger.js';

/**
 * Secret redaction for logs and error payloads. `redact` returns a deep copy in which values
 * under secret-looking keys are replaced, and secret-looking substrings (bearer tokens, JWTs,
 * cloud keys, URL credentials, private key blocks) are replaced inside every string. Keys are
 * compared case- and punctuation-insensitively, so `Authorization`, `x-api-key`, `API_KEY`
 * and `apiKey` are all caught. Every built-in pattern runs in linear time: log lines are
 * attacker-influenced, and a backtracking pattern would turn logging into a DoS.
 */
export const REDACTED = '[REDACTED]';

export interface RedactOptions {
  /** Extra keys to redact: strings (compared like the built-ins) or regexes tested on the raw key. */
  keys?: readonly (string | RegExp)[];
  /** Extra patterns; every match inside any string is replaced. */
  patterns?: readonly RegExp[];
  /** Keys never redacted (compared like the built-ins), e.g. `['sessionId']`. */
  keep?: readonly string[];
  /** Use the built-in keys and patterns. Default true. */
  defaults?: boolean;
  /** Nesting below this depth becomes '[Truncated]'. Default 32. */
  maxDepth?: number;
  /** Default '[REDACTED]'. */
  replacement?: string;
}

const EXACT_KEYS = new Set([
  'auth',
  'pass',
  'pwd',
  'jwt',
  'dsn',
  'bearer',
  'connectionstring',
  'databaseurl',
  'clientsecret',
  'setcookie',
]);
/** Suffixes, so `accessToken`, `client_secret`, `dbPassword` match; `maxTokens` does not. */
const SECRET_SUFFIX =
  /(?:password|passwd|passphrase|secret|secrets|token|apikey|privatekey|secretkey|accesskey|signingkey|encryptionkey|credential|credentials|cookie|cookies|authorization|signature|sessionid)$/;

/** The built-in secret key names, for documentation and for tools that list them. */
export const DEFAULT_SECRET_KEYS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'password',
  'passphrase',
  'secret',
  'token',
  'api_key',
  'private_key',
  'access_key',
  'credentials',
  'signature',
  'session_id',
  ...EXACT_KEYS,
];

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

interface Rule {
  re: RegExp;
  replace: (replacement: string) => (match: string, ...groups: string[]) => string;
}

const whole = (replacement: string) => () => replacement;
const keepPrefix = (replacement: string) => (_: string, prefix: string) => `${prefix}${replacement}`;

/**
 * Each rule anchors on a fixed token behind a lookbehind that forbids the preceding character
 * to be part of the run, so no two attempts scan the same run: total work stays linear.
 */
const BUILTIN_RULES: readonly Rule[] = [
  // Authorization schemes. Basic must decode to user:password, so prose ("Basic usage") survives.
  {
    re: /(?<![\w-])(Bearer\s+)[A-Za-z0-9\-._~+/]{8,}=*/gi,
    replace: keepPrefix,
  },
  {
    re: /(?<![\w-])(Basic\s+)([A-Za-z0-9+/]{4,}={0,2})/gi,
    replace: (replacement) => (match: string, prefix: string, b64: string) =>
      Buffer.from(b64, 'base64').toString('latin1').includes(':') ? `${prefix}${replacement}` : match,
  },
  // JWS (three parts) and JWE (five): the header is base64url JSON, so it starts with "eyJ".
  { re: /(?<![\w-])eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*(?:\.[\w-]*\.[\w-]*)?/g, replace: whole },
  // AWS access key ids.
  {
    re: /(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}(?![A-Z0-9])/g,
    replace: whole,
  },
  // Vendor tokens with fixed prefixes: GitHub, Slack, Stripe, Google API keys.
  {
    re: /(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{22,}|xox[abposr]-[A-Za-z0-9-]{10,}|[sr]k_live_[A-Za-z0-9]{16,}|AIza[\w-]{35})/g,
    replace: whole,
  },
  // Credentials in URLs: scheme://user:password@host.
  { re: /(?<=:\/\/)[^\s/?#@]+@/g, replace: (replacement) => () => `${replacement}@` },
  // key=value in query strings, env dumps and config lines.
  {
    re: /(?<![\w-])([\w-]*?(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|signature|sessionid)\s*=\s*)[^\s&#"'<>;,]+/gi,
    replace: keepPrefix,
  },
  // "key": "value" inside JSON text that is logged as a string (raw bodies).
  {
    re: /("[^"\\]{0,64}?(?:password|passwd|secret|token|api_?key|apikey|authorization|cookie)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi,
    replace: (replacement) => (_: string, prefix: string) => `${prefix}"${replacement}"`,
  },
];

/** PEM private keys, scanned by hand: a lazy `[\s\S]*?` regex goes quadratic on many BEGINs. */
function redactPrivateKeys(s: string, replacement: string): string {
  const BEGIN = '-----BEGIN ';
  let idx = s.indexOf(BEGIN);
  if (idx < 0) return s;
  let out = '';
  let pos = 0;
  while (idx >= 0) {
    const labelEnd = s.indexOf('-----', idx + BEGIN.length);
    if (labelEnd < 0) break;
    const label = s.slice(idx + BEGIN.length, labelEnd);
    if (label.length > 64 || !label.endsWith('PRIVATE KEY')) {
      idx = s.indexOf(BEGIN, idx + BEGIN.length);
      continue;
    }
    const endMarker = `-----END ${label}-----`;
    const end = s.indexOf(endMarker, labelEnd + 5);
    const stop = end < 0 ? s.length : end + endMarker.length;
    out += s.slice(pos, idx) + replacement;
    pos = stop;
    idx = s.indexOf(BEGIN, stop);
  }
  return out + s.slice(pos);
}

export type Redactor = <T>(value: T) => T;

interface Compiled {
  isSecretKey: (key: string) => boolean;
  redactString: (s: string) => string;
  maxDepth: number;
  replacement: string;
}

function compile(options: RedactOptions | undefined): Compiled {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const {
    keys = [],
    patterns = [],
    keep = [],
    defaults = true,
    maxDepth = 32,
    replacement = REDACTED,
  } = options ?? {};
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' || k instanceof RegExp)) {
    throw new InvalidOptionError('keys', 'must be an array of strings and regular expressions');
  }
  if (!Array.isArray(patterns) || !patterns.every((p) => p instanceof RegExp)) {
    throw new InvalidOptionError('patterns', 'must be an array of regular expressions');
  }
  if (!Array.isArray(keep) || !keep.every((k) => typeof k === 'string')) {
    throw new InvalidOptionError('keep', 'must be an array of strings');
  }
  if (typeof defaults !== 'boolean') throw new InvalidOptionError('defaults', 'must be a boolean');
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 1)
    throw new InvalidOptionError('maxDepth', 'must be a positive integer');
  if (typeof replacement !== 'string') throw new InvalidOptionError('replacement', 'must be a string');

  const extraExact = new Set(keys.filter((k): k is string => typeof k === 'string').map(normalizeKey));
  // Copies without g/y: a stateful lastIndex would make `test` skip matches on alternate calls.
  const extraKeyRes = keys
    .filter((k): k is RegExp => k instanceof RegExp)
    .map((re) => new RegExp(re.source, re.flags.replace(/[gy]/g, '')));
  const kept = new Set(keep.map(normalizeKey));
  const isSecretKey = (key: string): boolean => {
    const norm = normalizeKey(key);
    if (kept.has(norm)) return false;
    if (defaults && (EXACT_KEYS.has(norm) || SECRET_SUFFIX.test(norm))) return true;
    return extraExact.has(norm) || extraKeyRes.some((re) => re.test(key));
  };
  const rules = [
    ...(defaults ? BUILTIN_RULES.map((r) => ({ re: r.re, fn: r.replace(replacement) })) : []),
    ...patterns.map((re) => ({
      re: new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`),
      fn: whole(replacement),
    })),
  ];
  const redactString = (s: string): string => {
    let out = defaults ? redactPrivateKeys(s, replacement) : s;
    for (const { re, fn } of rules) {
      re.lastIndex = 0;
      out = out.replace(re, fn as (match: string, ...rest: unknown[]) => string);
    }
    return out;
  };
  return { isSecretKey, redactString, maxDepth, replacement };
}

function define(target: object, key: string, value: unknown, enumerable = true): void {
  // defineProperty, not assignment: a '__proto__' key must stay data, not swap the prototype.
  Object.defineProperty(target, key, { value, enumerable, writable: true, configurable: true });
}

class Walk {
  private readonly active = new Set<object>();
  private readonly done = new Map<object, unknown>();
  constructor(private readonly c: Compiled) {}

  value(value: unknown, depth: number): unknown {
    if (typeof value === 'string') return this.c.redactString(value);
    if (typeof value !== 'object' || value === null) return value;
    if (this.done.has(value)) return this.done.get(value);
    if (this.active.has(value)) return '[Circular]';
    if (depth >= this.c.maxDepth) return '[Truncated]';
    this.active.add(value);
    let out: unknown;
    try {
      out = this.object(value, depth + 1);
    } catch {
      out = '[Unreadable]';
    } finally {
      this.active.delete(value);
    }
    // Shared (non-cyclic) references are copied once: a DAG cannot blow up into a huge tree.
    this.done.set(value, out);
    return out;
  }

  private entry(key: string, value: unknown, depth: number): unknown {
    if (this.c.isSecretKey(key) && value !== undefined && value !== null) return this.c.replacement;
    return this.value(value, depth);
  }

  private object(value: object, depth: number): unknown {
    if (Array.isArray(value)) {
      const out: unknown[] = new Array(value.length);
      for (let i = 0; i < value.length; i++) out[i] = this.value(value[i], depth);
      return out;
    }
    if (value instanceof Date) return new Date(value.getTime());
    if (value instanceof Error) return this.error(value, depth);
    if (value instanceof Map) {
      const out = new Map<unknown, unknown>();
      for (const [k, v] of value)
        out.set(k, typeof k === 'string' ? this.entry(k, v, depth) : this.value(v, depth));
      return out;
    }
    if (value instanceof Set) {
      const out = new Set<unknown>();
      for (const v of value) out.add(this.value(v, depth));
      return out;
    }
    if (value instanceof RegExp || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return value;
    if (value instanceof URL) return this.c.redactString(value.href);
    if (typeof Headers !== 'undefined' && value instanceof Headers) {
      const headers: Record<string, string> = {};
      value.forEach((v, k) => {
        headers[k] = v;
      });
      return this.plain(headers, depth);
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return this.value(toJSON.call(value, ''), depth);
    return this.plain(value, depth);
  }

  private plain(value: object, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      let v: unknown;
      try {
        v = this.entry(key, (value as Record<string, unknown>)[key], depth);
      } catch {
        v = '[Unreadable]';
      }
      define(out, key, v);
    }
    return out;
  }

  /** Keeps the prototype (instanceof, McpError#toJSON still work) and non-enumerable message/stack. */
  private error(err: Error, depth: number): Error {
    const out = Object.create(Object.getPrototypeOf(err)) as Error;
    for (const key of Object.getOwnPropertyNames(err)) {
      const desc = Object.getOwnPropertyDescriptor(err, key);
      if (desc === undefined) continue;
      // V8 exposes `stack` as an own accessor; other accessors are left alone.
      if (!('value' in desc) && key !== 'stack') continue;
      let v: unknown;
      try {
        v = this.entry(key, 'value' in desc ? desc.value : err.stack, depth);
      } catch {
        v = '[Unreadable]';
      }
      define(out, key, v, desc.enumerable);
    }
    return out;
  }
}

/** Compiles options once; the returned function redacts like `redact(value, options)`. */
export function createRedactor(options?: RedactOptions): Redactor {
  const compiled = compile(options);
  return <T>(value: T): T => new Walk(compiled).value(value, 0) as T;
}

const defaultRedactor = createRedactor();

/** A redacted deep copy of `value` (cycle-safe, depth-bounded). Strings are redacted too. */
export function redact<T>(value: T, options?: RedactOptions): T {
  return options === undefined ? defaultRedactor(value) : createRedactor(options)(value);
}

/** Wraps a logger so every object, message and child binding is redacted before it is written. */
export function withRedaction(logger: Logger, options?: RedactOptions): Logger {
  const r = createRedactor(options);
  const wrap = (inner: Logger): Logger => {
    const method =
      (name: 'trace' | 'debug' | 'info' | 'warn' | 'error') =>
      (obj: object, msg?: string): void => {
        if (msg === undefined) inner[name](r(obj));
        else inner[name](r(obj), r(msg));
      };
    return {
      trace: method('trace'),
      debug: method('debug'),
      info: method('info'),
      warn: method('warn'),
      error: method('error'),
      child: (bindings) => wrap(inner.child(r(bindings))),
    };
  };
  return wrap(logger);
}

const PINO_KEYS = [
  'authorization',
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apiKey',
  'api_key',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'idToken',
  'id_token',
  'clientSecret',
  'client_secret',
  'privateKey',
  'private_key',
  'credentials',
  'cookie',
];
const PINO_HEADERS = [
  'authorization',
  'cookie',
  '["set-cookie"]',
  '["proxy-authorization"]',
  '["x-api-key"]',
  '["mcp-session-id"]',
];

/**
 * Paths for pino's `redact` option (`pino({ redact: pinoRedactPaths })`): the common secret
 * keys at the top level and one level down, and the secret headers of `req`/`res` objects.
 * pino matches exact paths only (no recursive wildcard, no substring matching); wrap the
 * logger with `withRedaction` to also catch deep keys and secrets inside strings.
 */
export const pinoRedactPaths: string[] = [
  ...PINO_KEYS,
  ...PINO_KEYS.map((k) => `*.${k}`),
  ...['headers', 'req.headers', 'res.headers', 'request.headers', 'response.headers'].flatMap((base) =>
    PINO_HEADERS.map((h) => (h.startsWith('[') ? `${base}${h}` : `${base}.${h}`)),
  ),
];
