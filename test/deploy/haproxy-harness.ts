// Runs the repo's HAProxy config (deploy/haproxy/haproxy.cfg.template, adapted only in ports and file
// paths) in the foreground on loopback, in front of the given upstream ports.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, removeDir, run, selfSignedCert, spawnService, tempDir, withPortRetry } from './proc.js';
import {
  HAPROXY_BALANCING,
  HAPROXY_TEMPLATE,
  type TemplateValues,
  readTemplate,
  renderTemplate,
} from './render.js';

export interface StartHaproxyOptions {
  /** Loopback ports of the replicas; each must answer GET /ready with 200 to receive traffic. */
  readonly upstreams: readonly number[];
  /** Template path; defaults to deploy/haproxy/haproxy.cfg.template. */
  readonly configTemplate?: string;
  /** Optional `balance hdr(Mcp-Session-Id)` instead of leastconn (mcpkit needs none). */
  readonly sessionAffinity?: boolean;
  /** Extra placeholder values, overriding the harness's. */
  readonly values?: TemplateValues;
  readonly startTimeoutMs?: number;
}

export interface HaproxyHandle {
  /** Plain-HTTP port; the MCP endpoint is http://127.0.0.1:<port>/mcp. */
  readonly port: number;
  /** TLS port (h2 and HTTP/1.1 by ALPN) with a self-signed certificate for localhost / 127.0.0.1. */
  readonly tlsPort: number;
  /** Stats page (/stats) and HAProxy's own Prometheus exporter (/metrics). */
  readonly statsPort: number;
  readonly url: string;
  readonly tlsUrl: string;
  readonly caPem: string;
  readonly dir: string;
  readonly configPath: string;
  /** HAProxy's log lines (it logs to stdout) and start-up messages so far. */
  output(): string;
  /** Health-check state per server of the mcp_servers backend, e.g. { mcp1: 'UP', mcp2: 'DOWN' }. */
  serverStates(): Promise<Record<string, string>>;
  /** Resolves once every server is in `state` (default UP); rejects after timeoutMs. */
  waitForServers(state?: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function haproxyHarnessValues(
  ports: { readonly http: number; readonly https: number; readonly stats: number },
  upstreams: readonly number[],
  pemPath: string,
  sessionAffinity = false,
): TemplateValues {
  if (upstreams.length === 0) throw new Error('startHaproxy: upstreams must name at least one port');
  return {
    HAPROXY_HTTP_BIND: `127.0.0.1:${ports.http}`,
    HAPROXY_HTTPS_BIND: `127.0.0.1:${ports.https}`,
    HAPROXY_TLS_PEM: pemPath,
    HAPROXY_STATS_BIND: `127.0.0.1:${ports.stats}`,
    HAPROXY_BALANCE: sessionAffinity ? HAPROXY_BALANCING.sessionAffinity : HAPROXY_BALANCING.leastConn,
    MCP_BACKEND_SERVERS: upstreams.map((p, i) => `server mcp${i + 1} 127.0.0.1:${p}`).join('\n'),
  };
}

/** Reads the stats CSV (column 17 is the check status) for the mcp_servers backend. */
export async function readServerStates(statsPort: number): Promise<Record<string, string>> {
  const response = await fetch(`http://127.0.0.1:${statsPort}/stats;csv`, {
    signal: AbortSignal.timeout(2_000),
  });
  const states: Record<string, string> = {};
  for (const line of (await response.text()).split('\n')) {
    const cells = line.split(',');
    const server = cells[1];
    if (cells[0] !== 'mcp_servers' || !server || server === 'BACKEND' || server === 'FRONTEND') continue;
    states[server] = cells[17] ?? '';
  }
  return states;
}

/** `haproxy -c` on a rendered config; rejects with HAProxy's messages when the check fails. */
export async function checkHaproxyConfig(configPath: string): Promise<string> {
  const result = await run('haproxy', ['-c', '-f', configPath]);
  const text = `${result.stdout}${result.stderr}`;
  if (result.code !== 0) throw new Error(`haproxy -c failed for ${configPath}:\n${text}`);
  return text;
}

export async function startHaproxy(options: StartHaproxyOptions): Promise<HaproxyHandle> {
  const template = readTemplate(options.configTemplate ?? HAPROXY_TEMPLATE);
  const dir = tempDir('mcpkit-haproxy-');
  try {
    const cert = await selfSignedCert(dir);
    const configPath = join(dir, 'haproxy.cfg');
    const started = await withPortRetry(async () => {
      const ports = { http: await freePort(), https: await freePort(), stats: await freePort() };
      const values = {
        ...haproxyHarnessValues(ports, options.upstreams, cert.pemPath, options.sessionAffinity),
        ...options.values,
      };
      writeFileSync(configPath, renderTemplate(template, values));
      // -db: stay in the foreground, no daemon; SIGTERM is HAProxy's immediate stop.
      const service = await spawnService('haproxy', ['-db', '-f', configPath], {
        ports: [ports.http, ports.https, ports.stats],
        timeoutMs: options.startTimeoutMs ?? 10_000,
      });
      return { ports, service };
    });
    const stop = async () => {
      await started.service.stop();
      removeDir(dir);
    };
    const serverStates = () => readServerStates(started.ports.stats);
    const waitForServers = async (state = 'UP', timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await serverStates();
        const values = Object.values(states);
        if (values.length === options.upstreams.length && values.every((s) => s === state)) return;
        if (Date.now() > deadline) throw new Error(`HAProxy servers not ${state}: ${JSON.stringify(states)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    return {
      port: started.ports.http,
      tlsPort: started.ports.https,
      statsPort: started.ports.stats,
      url: `http://127.0.0.1:${started.ports.http}`,
      tlsUrl: `https://127.0.0.1:${started.ports.https}`,
      caPem: cert.certPem,
      dir,
      configPath,
      output: started.service.output,
      serverStates,
      waitForServers,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    removeDir(dir);
    throw error;
  }
}
