// Renders the ${UPPER_CASE} placeholders of deploy/ templates (nginx, HAProxy). Kept deliberately dumb:
// plain text substitution, so what the tests validate is the template text itself.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEPLOY_DIR = join(REPO_ROOT, 'deploy');

export const NGINX_TEMPLATE = join(DEPLOY_DIR, 'nginx/nginx.conf.template');
export const NGINX_CONF = join(DEPLOY_DIR, 'nginx/nginx.conf');
export const HAPROXY_TEMPLATE = join(DEPLOY_DIR, 'haproxy/haproxy.cfg.template');
export const HAPROXY_CFG = join(DEPLOY_DIR, 'haproxy/haproxy.cfg');

/** Upstream balancing lines the nginx template accepts for NGINX_UPSTREAM_BALANCING. */
export const NGINX_BALANCING = {
  leastConn: 'least_conn;',
  sessionAffinity: 'hash $mcp_affinity_key consistent;',
} as const;

/** Balance algorithms the HAProxy template accepts for HAPROXY_BALANCE. */
export const HAPROXY_BALANCING = {
  leastConn: 'leastconn',
  sessionAffinity: 'hdr(Mcp-Session-Id)',
} as const;

const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)\}/g;

export type TemplateValues = Readonly<Record<string, string>>;

export interface RenderOptions {
  /** Replaces the template's leading comment block (which describes the template) with this text. */
  readonly header?: string;
}

function isComment(line: string): boolean {
  return line.trimStart().startsWith('#');
}

/**
 * Substitutes every ${NAME} outside comment lines. A multi-line value is indented like the line that
 * holds its placeholder, so server lists stay readable. Unknown placeholders are an error: a template
 * and its values must change together.
 */
export function renderTemplate(
  template: string,
  values: TemplateValues,
  options: RenderOptions = {},
): string {
  let lines = template.split('\n');
  if (options.header !== undefined) {
    let start = 0;
    while (start < lines.length && (isComment(lines[start] ?? '') || (lines[start] ?? '').trim() === ''))
      start++;
    lines = [...options.header.trimEnd().split('\n'), '', ...lines.slice(start)];
  }
  const missing = new Set<string>();
  const out = lines.map((line) => {
    if (isComment(line)) return line;
    const indent = /^\s*/.exec(line)?.[0] ?? '';
    return line.replace(PLACEHOLDER, (_match, name: string) => {
      const value = values[name];
      if (value === undefined) {
        missing.add(name);
        return _match;
      }
      return value.split('\n').join(`\n${indent}`);
    });
  });
  if (missing.size > 0) throw new Error(`template placeholders without a value: ${[...missing].join(', ')}`);
  return out.join('\n');
}

/** Placeholder names used outside comments, for checking value sets against a template. */
export function placeholdersOf(template: string): string[] {
  const names = new Set<string>();
  for (const line of template.split('\n')) {
    if (isComment(line)) continue;
    for (const match of line.matchAll(PLACEHOLDER)) names.add(match[1] ?? '');
  }
  return [...names].sort();
}

export function readTemplate(path: string): string {
  return readFileSync(path, 'utf8');
}

const COMPOSE_REPLICAS = ['mcp-1', 'mcp-2', 'mcp-3'] as const;

/** The header the committed, rendered files carry instead of the template's description. */
export function renderedHeader(templateName: string, what: string): string {
  return [
    `# ${what}, rendered from ${templateName} with the docker-compose values`,
    '# (three replicas mcp-1..mcp-3 on port 8080, certificates from the compose `certs` volume).',
    `# Do not edit by hand: change ${templateName} (or the compose values in test/deploy/render.ts) and`,
    '# re-render with `MCPKIT_RENDER_DEPLOY=1 npx vitest run test/deploy/templates.test.ts`;',
    '# test/deploy/templates.test.ts fails while this file differs from the rendering.',
  ].join('\n');
}

/** Values that turn nginx.conf.template into deploy/nginx/nginx.conf for docker-compose. */
export const NGINX_COMPOSE_VALUES: TemplateValues = {
  NGINX_PID_PATH: '/var/run/nginx.pid',
  NGINX_ERROR_LOG: 'stderr',
  NGINX_ACCESS_LOG: '/dev/stdout',
  NGINX_TEMP_DIR: '/var/cache/nginx',
  NGINX_HTTP_LISTEN: '80',
  NGINX_HTTPS_LISTEN: '443',
  NGINX_SERVER_NAME: 'localhost',
  NGINX_TLS_CERT: '/etc/nginx/certs/tls.crt',
  NGINX_TLS_KEY: '/etc/nginx/certs/tls.key',
  NGINX_UPSTREAM_BALANCING: NGINX_BALANCING.leastConn,
  MCP_UPSTREAM_SERVERS: COMPOSE_REPLICAS.map(
    (host) => `server ${host}:8080 max_fails=3 fail_timeout=10s;`,
  ).join('\n'),
};

/** Values that turn haproxy.cfg.template into deploy/haproxy/haproxy.cfg for docker-compose. */
export const HAPROXY_COMPOSE_VALUES: TemplateValues = {
  HAPROXY_HTTP_BIND: ':8080',
  HAPROXY_HTTPS_BIND: ':8443',
  HAPROXY_TLS_PEM: '/usr/local/etc/haproxy/certs/tls.pem',
  HAPROXY_STATS_BIND: ':8404',
  HAPROXY_BALANCE: HAPROXY_BALANCING.leastConn,
  MCP_BACKEND_SERVERS: COMPOSE_REPLICAS.map((host, i) => `server mcp${i + 1} ${host}:8080`).join('\n'),
};

export function renderComposeNginx(): string {
  return renderTemplate(readTemplate(NGINX_TEMPLATE), NGINX_COMPOSE_VALUES, {
    header: renderedHeader('nginx.conf.template', 'nginx in front of three mcpkit replicas'),
  });
}

export function renderComposeHaproxy(): string {
  return renderTemplate(readTemplate(HAPROXY_TEMPLATE), HAPROXY_COMPOSE_VALUES, {
    header: renderedHeader('haproxy.cfg.template', 'HAProxy in front of three mcpkit replicas'),
  });
}

/** Environment variables the server reads (the production guide's list); configs may set only these. */
export const SERVER_ENV: ReadonlySet<string> = new Set([
  'MCP_SERVER_HOST',
  'MCP_SERVER_PORT',
  'MCP_LOG_LEVEL',
  'MCP_LOG_FORMAT',
  'MCP_RATE_LIMIT_REQUESTS',
  'MCP_RATE_LIMIT_WINDOW_SECS',
  'MCP_RATE_LIMIT_BURST',
  'MCP_TLS_CERT_PATH',
  'MCP_TLS_KEY_PATH',
  'MCP_OAUTH_ISSUER',
  'MCP_OAUTH_AUDIENCE',
  'MCP_REDIS_URL',
  'MCP_METRICS_ENDPOINT',
]);
