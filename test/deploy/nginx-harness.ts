// Runs the repo's nginx config (deploy/nginx/nginx.conf.template, adapted only in ports and file
// paths) in the foreground on loopback, in front of the given upstream ports.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, removeDir, run, selfSignedCert, spawnService, tempDir, withPortRetry } from './proc.js';
import {
  NGINX_BALANCING,
  NGINX_TEMPLATE,
  type TemplateValues,
  readTemplate,
  renderTemplate,
} from './render.js';

export interface StartNginxOptions {
  /** Loopback ports of the replicas (each becomes one `server 127.0.0.1:<port>` line). */
  readonly upstreams: readonly number[];
  /** Template path; defaults to deploy/nginx/nginx.conf.template. */
  readonly configTemplate?: string;
  /** Optional Mcp-Session-Id affinity instead of least_conn (mcpkit needs none; this is for comparison). */
  readonly sessionAffinity?: boolean;
  /** Extra placeholder values, overriding the harness's. */
  readonly values?: TemplateValues;
  readonly startTimeoutMs?: number;
}

export interface NginxHandle {
  /** Plain-HTTP port; the MCP endpoint is http://127.0.0.1:<port>/mcp. */
  readonly port: number;
  /** TLS port (HTTP/1.1 and h2) with a self-signed certificate for localhost / 127.0.0.1. */
  readonly tlsPort: number;
  readonly url: string;
  readonly tlsUrl: string;
  /** PEM of the self-signed certificate, to trust it in a TLS client. */
  readonly caPem: string;
  readonly dir: string;
  readonly configPath: string;
  /** JSON access log (one object per line, with upstream_addr). */
  readonly accessLogPath: string;
  readonly errorLogPath: string;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Values for rendering the template into `dir` with the given listen ports and upstreams. */
export function nginxHarnessValues(
  dir: string,
  ports: { readonly http: number; readonly https: number },
  upstreams: readonly number[],
  tls: { readonly certPath: string; readonly keyPath: string },
  sessionAffinity = false,
): TemplateValues {
  if (upstreams.length === 0) throw new Error('startNginx: upstreams must name at least one port');
  return {
    NGINX_PID_PATH: join(dir, 'nginx.pid'),
    NGINX_ERROR_LOG: join(dir, 'error.log'),
    NGINX_ACCESS_LOG: join(dir, 'access.log'),
    NGINX_TEMP_DIR: dir,
    NGINX_HTTP_LISTEN: `127.0.0.1:${ports.http}`,
    NGINX_HTTPS_LISTEN: `127.0.0.1:${ports.https}`,
    NGINX_SERVER_NAME: 'localhost',
    NGINX_TLS_CERT: tls.certPath,
    NGINX_TLS_KEY: tls.keyPath,
    NGINX_UPSTREAM_BALANCING: sessionAffinity ? NGINX_BALANCING.sessionAffinity : NGINX_BALANCING.leastConn,
    MCP_UPSTREAM_SERVERS: upstreams
      .map((p) => `server 127.0.0.1:${p} max_fails=3 fail_timeout=10s;`)
      .join('\n'),
  };
}

/** `nginx -t` on a rendered config; resolves with nginx's verdict text, rejects when the test fails. */
export async function testNginxConfig(dir: string, configPath: string): Promise<string> {
  const result = await run('nginx', ['-t', '-p', dir, '-c', configPath, '-e', join(dir, 'error.log')]);
  const text = `${result.stdout}${result.stderr}`;
  if (result.code !== 0) throw new Error(`nginx -t failed for ${configPath}:\n${text}`);
  return text;
}

export async function startNginx(options: StartNginxOptions): Promise<NginxHandle> {
  const template = readTemplate(options.configTemplate ?? NGINX_TEMPLATE);
  const dir = tempDir('mcpkit-nginx-');
  try {
    const cert = await selfSignedCert(dir);
    const configPath = join(dir, 'nginx.conf');
    const started = await withPortRetry(async () => {
      const ports = { http: await freePort(), https: await freePort() };
      const values = {
        ...nginxHarnessValues(dir, ports, options.upstreams, cert, options.sessionAffinity),
        ...options.values,
      };
      writeFileSync(configPath, renderTemplate(template, values));
      const service = await spawnService(
        'nginx',
        ['-p', dir, '-c', configPath, '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
        { ports: [ports.http, ports.https], timeoutMs: options.startTimeoutMs ?? 10_000 },
      );
      return { ports, service };
    });
    const stop = async () => {
      await started.service.stop();
      removeDir(dir);
    };
    return {
      port: started.ports.http,
      tlsPort: started.ports.https,
      url: `http://127.0.0.1:${started.ports.http}`,
      tlsUrl: `https://127.0.0.1:${started.ports.https}`,
      caPem: cert.certPem,
      dir,
      configPath,
      accessLogPath: join(dir, 'access.log'),
      errorLogPath: join(dir, 'error.log'),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    removeDir(dir);
    throw error;
  }
}
