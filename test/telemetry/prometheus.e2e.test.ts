import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidParamsError, RateLimitedError } from '../../src/protocol/errors.js';
import { type Result, compose } from '../../src/server/middleware.js';
import {
  type Metrics,
  OPENMETRICS_CONTENT_TYPE,
  RESOURCE_TEMPLATE_STATE_KEY,
  RemoteWriter,
  createMetrics,
} from '../../src/telemetry/index.js';
import { callContext } from './helpers.js';

const hasPrometheus = !spawnSync('prometheus', ['--version']).error;
const WAIT_MS = 20_000;

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Running {
  proc: ChildProcess;
  base: string;
  logs: () => string;
}

/** Starts Prometheus on a free loopback port; retries if another process grabbed the port first. */
async function startPrometheus(dir: string, scrapeTarget: string): Promise<Running> {
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: mcpkit',
      '    scrape_interval: 1s',
      '    scrape_timeout: 1s',
      '    metrics_path: /metrics',
      '    static_configs:',
      `      - targets: ['${scrapeTarget}']`,
      '',
    ].join('\n'),
  );
  let lastLogs = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    let output = '';
    const proc = spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, `data-${attempt}`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-remote-write-receiver',
        '--log.level=warn',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        if ((await fetch(`${base}/-/ready`)).ok) return { proc, base, logs: () => output };
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    lastLogs = output;
    await stop(proc);
  }
  throw new Error(`Prometheus did not become ready:\n${lastLogs}`);
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(base: string, promql: string): Promise<VectorSample[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data?: { result: VectorSample[] }; error?: string };
  if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
  return body.data?.result ?? [];
}

/** Polls an instant query until it returns exactly one sample, and returns its value. */
async function promValue(base: string, promql: string, expected?: number): Promise<number> {
  const deadline = Date.now() + WAIT_MS;
  let last: VectorSample[] = [];
  while (Date.now() < deadline) {
    last = await query(base, promql);
    if (last.length === 1) {
      const v = Number(last[0]?.value[1]);
      if (expected === undefined || v === expected) return v;
    }
    await sleep(250);
  }
  throw new Error(
    `no single sample${expected === undefined ? '' : ` = ${expected}`} for ${promql}: ${JSON.stringify(last)}`,
  );
}

async function driveTraffic(metrics: Metrics): Promise<void> {
  const server = compose([metrics.middleware], async (ctx) => {
    if (ctx.method === 'tools/call') {
      const mode = (ctx.params.arguments as { mode?: string } | undefined)?.mode;
      if (mode === 'bad') throw new InvalidParamsError('bad arguments');
      if (mode === 'limited') {
        throw new RateLimitedError({
          retryAfterMs: 1000,
          limit: 1,
          remaining: 0,
          resetMs: 1000,
          scope: 'tool:echo',
        });
      }
      return { content: [], isError: mode === 'tool-error' } as Result;
    }
    if (ctx.method === 'resources/read') ctx.state.set(RESOURCE_TEMPLATE_STATE_KEY, 'users://{id}');
    return {};
  });
  const call = (mode: string) =>
    server(
      callContext({ method: 'tools/call', target: 'echo', params: { name: 'echo', arguments: { mode } } }),
    ).catch(() => undefined);
  for (let i = 0; i < 5; i++) await call('ok');
  for (let i = 0; i < 2; i++) await call('tool-error');
  await call('bad');
  await call('limited');
  for (let i = 0; i < 3; i++) await server(callContext({ method: 'resources/read', target: `users://${i}` }));
  await server(callContext({ method: 'prompts/get', target: 'summarize' }));
  metrics.connectionOpened('http');
  metrics.sessionOpened();
}

const title = hasPrometheus
  ? 'against a real Prometheus'
  : 'against a real Prometheus (SKIPPED: `prometheus` binary not on PATH)';

describe.skipIf(!hasPrometheus)(title, () => {
  let dir: string;
  let prom: Running | undefined;
  let scrapeServer: Server;
  let metrics: Metrics;
  const accepts: string[] = [];
  const contentTypes: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpkit-prom-'));
    metrics = createMetrics();
    scrapeServer = createServer((req, res) => {
      if (req.url !== '/metrics') return void res.writeHead(404).end();
      accepts.push(req.headers.accept ?? '');
      metrics.render(req.headers.accept).then(
        ({ contentType, body }) => {
          contentTypes.push(contentType);
          res.writeHead(200, { 'Content-Type': contentType }).end(body);
        },
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve) => scrapeServer.listen(0, '127.0.0.1', resolve));
    const { port } = scrapeServer.address() as AddressInfo;
    await driveTraffic(metrics);
    prom = await startPrometheus(dir, `127.0.0.1:${port}`);
  });

  afterAll(async () => {
    if (prom) await stop(prom.proc);
    scrapeServer?.closeAllConnections();
    await new Promise<void>((resolve) => (scrapeServer ? scrapeServer.close(() => resolve()) : resolve()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('scrapes /metrics (negotiating OpenMetrics) and stores the series with their values', async () => {
    const base = (prom as Running).base;
    expect(await promValue(base, 'up{job="mcpkit"}', 1)).toBe(1);
    const sel = 'job="mcpkit"';
    expect(await promValue(base, `mcp_requests_total{${sel},method="tools/call",status="ok"}`, 7)).toBe(7);
    expect(await promValue(base, `mcp_requests_total{${sel},method="tools/call",status="error"}`, 2)).toBe(2);
    expect(await promValue(base, `mcp_errors_total{${sel},method="tools/call",code="-32602"}`, 1)).toBe(1);
    expect(
      await promValue(base, `mcp_tool_invocations_total{${sel},tool="echo",outcome="tool_error"}`, 2),
    ).toBe(2);
    expect(await promValue(base, `mcp_rate_limit_rejections_total{${sel},tool="echo"}`, 1)).toBe(1);
    expect(await promValue(base, `mcp_resource_reads_total{${sel},template="users://{id}"}`, 3)).toBe(3);
    expect(await promValue(base, `mcp_prompt_gets_total{${sel},prompt="summarize"}`, 1)).toBe(1);
    expect(await promValue(base, `mcp_active_connections{${sel},transport="http"}`, 1)).toBe(1);
    expect(await promValue(base, `mcp_request_duration_seconds_count{${sel},method="tools/call"}`, 9)).toBe(
      9,
    );
    const p99 = await promValue(
      base,
      `histogram_quantile(0.99, sum by (le) (mcp_request_duration_seconds_bucket{${sel},method="tools/call"}))`,
    );
    // Interpolated inside the bucket range (in-process handlers; exact buckets are unit-tested).
    expect(p99).toBeGreaterThan(0);
    expect(p99).toBeLessThanOrEqual(30);
    expect(await promValue(base, `process_cpu_seconds_total{${sel}}`)).toBeGreaterThan(0);

    expect(accepts.some((a) => a.startsWith('application/openmetrics-text'))).toBe(true);
    expect(contentTypes).toContain(OPENMETRICS_CONTENT_TYPE);
  });

  it('accepts a remote-write push and serves the pushed samples', async () => {
    const base = (prom as Running).base;
    const writer = new RemoteWriter({
      url: `${base}/api/v1/write`,
      registry: metrics.registry,
      labels: { job: 'mcpkit-push', instance: 'writer-1' },
      intervalMs: 60_000,
    });
    await writer.collect();
    await writer.flush();
    const stats = await writer.stop();
    expect(stats.lastError).toBeUndefined();
    expect(stats).toMatchObject({ failed: 0, dropped: 0, queued: 0 });
    expect(stats.sent).toBeGreaterThan(50);

    const sel = 'job="mcpkit-push",instance="writer-1"';
    expect(await promValue(base, `mcp_tool_invocations_total{${sel},tool="echo",outcome="ok"}`, 5)).toBe(5);
    expect(await promValue(base, `mcp_requests_total{${sel},method="resources/read",status="ok"}`, 3)).toBe(
      3,
    );
    expect(
      await promValue(base, `mcp_request_duration_seconds_bucket{${sel},method="tools/call",le="+Inf"}`, 9),
    ).toBe(9);
    expect(await promValue(base, `mcp_request_duration_seconds_count{${sel},method="tools/call"}`, 9)).toBe(
      9,
    );
    expect(await promValue(base, `mcp_active_sessions{${sel}}`, 1)).toBe(1);
    expect(await promValue(base, `nodejs_version_info{${sel}}`, 1)).toBe(1);
  });
});
