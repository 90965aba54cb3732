import { McpkitError } from '../protocol/errors.js';

/** A bad setting found at start-up. The process exits with EX_CONFIG (78) rather than start half-configured. */
export class ConfigError extends McpkitError {
  override name = 'ConfigError';
  static readonly EXIT_CODE = 78;
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

export interface RuntimeConfig {
  host: string;
  port: number;
  logLevel: string;
  logFormat: 'json' | 'pretty';
  rateLimit: { requests: number; windowSecs: number; burst: number | undefined } | undefined;
  tls:
    | { certPath: string; keyPath: string; caPath: string | undefined; requestClientCert: boolean }
    | undefined;
  oauth: { issuer: string; audience: string } | undefined;
  redisUrl: string | undefined;
  metricsEndpoint: string | undefined;
  adminPort: number | undefined;
  maxBodyBytes: number;
  shutdownTimeoutMs: number;
  keepAliveTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  allowedHosts: string[] | 'any' | undefined;
  requestStateSecret: string | undefined;
  maxSessions: number | undefined;
  sessionIdleTimeoutSecs: number | undefined;
}

/** Every variable serve() reads, with its meaning: the README table is generated from the same list. */
export const ENV_VARIABLES = {
  MCP_SERVER_HOST: 'Interface to bind (default 0.0.0.0; 127.0.0.1 for local-only).',
  MCP_SERVER_PORT: 'TCP port for MCP, /health, /ready and /metrics (default 8080; 0 picks a free port).',
  MCP_ADMIN_PORT: 'Optional separate port for /health, /ready and /metrics.',
  MCP_LOG_LEVEL:
    'trace|debug|info|warn|error|fatal|silent, with per-module overrides: `info,mcpkit::transport=debug`.',
  MCP_LOG_FORMAT: '`json` (default) or `pretty`.',
  MCP_RATE_LIMIT_REQUESTS: 'Requests per window per client; enables the global rate limit.',
  MCP_RATE_LIMIT_WINDOW_SECS: 'Window length in seconds (default 60).',
  MCP_RATE_LIMIT_BURST: 'Token-bucket burst capacity (default = requests).',
  MCP_TLS_CERT_PATH: 'PEM certificate chain; with MCP_TLS_KEY_PATH enables HTTPS.',
  MCP_TLS_KEY_PATH: 'PEM private key.',
  MCP_TLS_CA_PATH: 'PEM CA bundle; when set, client certificates are requested and verified (mTLS).',
  MCP_OAUTH_ISSUER: 'OAuth 2.1 authorization server issuer; with MCP_OAUTH_AUDIENCE enables bearer auth.',
  MCP_OAUTH_AUDIENCE: "This server's canonical resource URI (RFC 8707 audience).",
  MCP_REDIS_URL: 'redis:// URL: shared rate limits, sessions, events and notifications across replicas.',
  MCP_METRICS_ENDPOINT:
    'Prometheus remote-write URL to push metrics to (optional; /metrics is always served).',
  MCP_MAX_BODY_BYTES: 'Largest accepted request body (default 4194304).',
  MCP_SHUTDOWN_TIMEOUT_SECS: 'Drain deadline on SIGTERM before forcing exit (default 30).',
  MCP_KEEPALIVE_TIMEOUT_SECS: 'HTTP keep-alive idle timeout (default 65, above common 60 s proxy timeouts).',
  MCP_HEADERS_TIMEOUT_SECS:
    'Time to receive request headers before 408 (default keep-alive + 1; slowloris protection).',
  MCP_REQUEST_TIMEOUT_SECS: 'Time to receive a whole request body before 408 (default 120).',
  MCP_ALLOWED_HOSTS: 'Comma-separated Host names accepted (DNS-rebinding protection), or `*`.',
  MCP_REQUEST_STATE_SECRET:
    'Shared secret (>= 32 bytes) signing input_required state; set it on every replica.',
  MCP_MAX_SESSIONS: 'Cap on legacy sessions (default 10000).',
  MCP_SESSION_IDLE_TIMEOUT_SECS: 'Idle legacy sessions are closed after this many seconds (default 600).',
} as const;

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw.trim()))
    throw new ConfigError(name, `must be an integer, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  if (value < min || value > max)
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** Validates a level spec such as `info,mcpkit::transport=debug`. */
export function parseLogLevel(
  spec: string,
  variable = 'MCP_LOG_LEVEL',
): { level: string; modules: Record<string, string> } {
  let level = 'info';
  const modules: Record<string, string> = {};
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (!LEVELS.has(part))
        throw new ConfigError(
          variable,
          `unknown level ${JSON.stringify(part)} (use ${[...LEVELS].join('|')})`,
        );
      level = part;
      continue;
    }
    const module = part
      .slice(0, eq)
      .trim()
      .replace(/^mcpkit::/, '');
    const moduleLevel = part.slice(eq + 1).trim();
    if (!/^[a-z][a-z0-9_-]*$/i.test(module))
      throw new ConfigError(variable, `bad module name ${JSON.stringify(module)}`);
    if (!LEVELS.has(moduleLevel))
      throw new ConfigError(variable, `unknown level ${JSON.stringify(moduleLevel)} for ${module}`);
    modules[module] = moduleLevel;
  }
  return { level, modules };
}

/** Reads and validates the environment over code defaults. Throws ConfigError naming the variable. */
export function loadConfig(env: Env = process.env, defaults: Partial<RuntimeConfig> = {}): RuntimeConfig {
  const host = env.MCP_SERVER_HOST ?? defaults.host ?? '0.0.0.0';
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(host))
    throw new ConfigError('MCP_SERVER_HOST', `not a host name or address: ${JSON.stringify(host)}`);
  const port = int(env, 'MCP_SERVER_PORT', 0, 65535) ?? defaults.port ?? 8080;
  const adminPort = int(env, 'MCP_ADMIN_PORT', 0, 65535) ?? defaults.adminPort;
  const logLevel = env.MCP_LOG_LEVEL ?? defaults.logLevel ?? 'info';
  parseLogLevel(logLevel);
  const logFormat = (env.MCP_LOG_FORMAT ?? defaults.logFormat ?? 'json') as RuntimeConfig['logFormat'];
  if (logFormat !== 'json' && logFormat !== 'pretty')
    throw new ConfigError('MCP_LOG_FORMAT', `must be json or pretty, got ${JSON.stringify(logFormat)}`);

  const requests = int(env, 'MCP_RATE_LIMIT_REQUESTS', 1, 1_000_000_000);
  const windowSecs = int(env, 'MCP_RATE_LIMIT_WINDOW_SECS', 1, 86_400 * 7);
  const burst = int(env, 'MCP_RATE_LIMIT_BURST', 1, 1_000_000_000);
  if (requests === undefined && (windowSecs !== undefined || burst !== undefined)) {
    throw new ConfigError(
      'MCP_RATE_LIMIT_REQUESTS',
      'is required when MCP_RATE_LIMIT_WINDOW_SECS or MCP_RATE_LIMIT_BURST is set',
    );
  }
  const rateLimit =
    requests !== undefined ? { requests, windowSecs: windowSecs ?? 60, burst } : defaults.rateLimit;

  const certPath = env.MCP_TLS_CERT_PATH;
  const keyPath = env.MCP_TLS_KEY_PATH;
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw new ConfigError(
      certPath === undefined ? 'MCP_TLS_CERT_PATH' : 'MCP_TLS_KEY_PATH',
      'TLS needs both MCP_TLS_CERT_PATH and MCP_TLS_KEY_PATH',
    );
  }
  const caPath = env.MCP_TLS_CA_PATH;
  const tls =
    certPath && keyPath
      ? { certPath, keyPath, caPath, requestClientCert: caPath !== undefined }
      : defaults.tls;

  const issuer = env.MCP_OAUTH_ISSUER;
  const audience = env.MCP_OAUTH_AUDIENCE;
  if ((issuer === undefined) !== (audience === undefined)) {
    throw new ConfigError(
      issuer === undefined ? 'MCP_OAUTH_ISSUER' : 'MCP_OAUTH_AUDIENCE',
      'OAuth needs both MCP_OAUTH_ISSUER and MCP_OAUTH_AUDIENCE',
    );
  }
  for (const [name, value] of [
    ['MCP_OAUTH_ISSUER', issuer],
    ['MCP_OAUTH_AUDIENCE', audience],
  ] as const) {
    if (value === undefined) continue;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new ConfigError(name, `not a URL: ${JSON.stringify(value)}`);
    }
    const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
      throw new ConfigError(name, 'must be https (http only on loopback)');
  }
  const oauth = issuer && audience ? { issuer, audience } : defaults.oauth;

  const redisUrl = env.MCP_REDIS_URL ?? defaults.redisUrl;
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl))
    throw new ConfigError('MCP_REDIS_URL', 'must start with redis:// or rediss://');
  const metricsEndpoint = env.MCP_METRICS_ENDPOINT ?? defaults.metricsEndpoint;
  if (metricsEndpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(metricsEndpoint))
    throw new ConfigError('MCP_METRICS_ENDPOINT', 'must be an http(s) URL');

  const maxBodyBytes =
    int(env, 'MCP_MAX_BODY_BYTES', 1024, 1024 * 1024 * 1024) ?? defaults.maxBodyBytes ?? 4 * 1024 * 1024;
  const shutdownSecs = int(env, 'MCP_SHUTDOWN_TIMEOUT_SECS', 0, 3600);
  const shutdownTimeoutMs =
    shutdownSecs !== undefined ? shutdownSecs * 1000 : (defaults.shutdownTimeoutMs ?? 30_000);
  const keepAliveSecs = int(env, 'MCP_KEEPALIVE_TIMEOUT_SECS', 1, 3600);
  const keepAliveTimeoutMs =
    keepAliveSecs !== undefined ? keepAliveSecs * 1000 : (defaults.keepAliveTimeoutMs ?? 65_000);
  const requestSecs = int(env, 'MCP_REQUEST_TIMEOUT_SECS', 1, 3600);
  const requestTimeoutMs =
    requestSecs !== undefined ? requestSecs * 1000 : (defaults.requestTimeoutMs ?? 120_000);
  const headersSecs = int(env, 'MCP_HEADERS_TIMEOUT_SECS', 1, 3600);
  // Node requires headersTimeout <= requestTimeout.
  const headersTimeoutMs = Math.min(
    requestTimeoutMs,
    headersSecs !== undefined ? headersSecs * 1000 : (defaults.headersTimeoutMs ?? keepAliveTimeoutMs + 1000),
  );
  const hostsRaw = env.MCP_ALLOWED_HOSTS;
  const allowedHosts =
    hostsRaw === undefined
      ? defaults.allowedHosts
      : hostsRaw.trim() === '*'
        ? 'any'
        : hostsRaw
            .split(',')
            .map((h) => h.trim())
            .filter(Boolean);
  const requestStateSecret = env.MCP_REQUEST_STATE_SECRET ?? defaults.requestStateSecret;
  if (requestStateSecret !== undefined && Buffer.byteLength(requestStateSecret) < 32)
    throw new ConfigError('MCP_REQUEST_STATE_SECRET', 'must be at least 32 bytes');
  const maxSessions = int(env, 'MCP_MAX_SESSIONS', 1, 10_000_000) ?? defaults.maxSessions;
  const sessionIdleTimeoutSecs =
    int(env, 'MCP_SESSION_IDLE_TIMEOUT_SECS', 1, 86_400 * 7) ?? defaults.sessionIdleTimeoutSecs;

  return {
    host,
    port,
    logLevel,
    logFormat,
    rateLimit,
    tls,
    oauth,
    redisUrl,
    metricsEndpoint,
    adminPort,
    maxBodyBytes,
    shutdownTimeoutMs,
    keepAliveTimeoutMs,
    headersTimeoutMs,
    requestTimeoutMs,
    allowedHosts,
    requestStateSecret,
    maxSessions,
    sessionIdleTimeoutSecs,
  };
}
