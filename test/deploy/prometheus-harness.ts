// Runs a real Prometheus with the repo's scrape config and alert rules (deploy/prometheus/), adapted
// only in its targets and intervals, so tests can scrape a running mcpkit and query the results.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, removeDir, spawnService, tempDir, withPortRetry } from './proc.js';
import { DEPLOY_DIR } from './render.js';

export const PROMETHEUS_CONFIG = join(DEPLOY_DIR, 'prometheus/prometheus.yml');
export const PROMETHEUS_ALERTS = join(DEPLOY_DIR, 'prometheus/alerts.yml');

export interface PrometheusRenderOptions {
  /** host:port of each mcpkit replica to scrape (job "mcpkit"). */
  readonly targets: readonly string[];
  /** Replaces every scrape_interval / evaluation_interval (e.g. '1s' for fast tests). */
  readonly interval?: string;
}

/**
 * deploy/prometheus/prometheus.yml with the mcpkit job's static targets replaced. Text substitution on
 * purpose: everything else (job name, metrics path, rule files) stays as committed.
 */
export function renderPrometheusConfig(options: PrometheusRenderOptions): string {
  if (options.targets.length === 0) throw new Error('renderPrometheusConfig: targets must not be empty');
  const lines = readFileSync(PROMETHEUS_CONFIG, 'utf8').split('\n');
  let inMcpkitJob = false;
  let replaced = false;
  const out = lines.map((line) => {
    const job = /^\s*- job_name:\s*(\S+)/.exec(line);
    if (job) inMcpkitJob = job[1] === 'mcpkit';
    if (inMcpkitJob && !replaced && /^\s*- targets:/.test(line)) {
      replaced = true;
      const indent = /^\s*/.exec(line)?.[0] ?? '';
      return `${indent}- targets: [${options.targets.map((t) => `'${t}'`).join(', ')}]`;
    }
    if (options.interval && /^\s*(scrape|evaluation)_interval:/.test(line)) {
      return line.replace(/:\s*\S+/, `: ${options.interval}`);
    }
    if (options.interval && /^\s*scrape_timeout:/.test(line))
      return line.replace(/:\s*\S+/, `: ${options.interval}`);
    return line;
  });
  if (!replaced) throw new Error('prometheus.yml has no static targets line in job mcpkit');
  return out.join('\n');
}

/** Writes the rendered config and a copy of alerts.yml (its rule_files entry is relative) into dir. */
export function writePrometheusConfig(dir: string, options: PrometheusRenderOptions): string {
  const configPath = join(dir, 'prometheus.yml');
  writeFileSync(configPath, renderPrometheusConfig(options));
  copyFileSync(PROMETHEUS_ALERTS, join(dir, 'alerts.yml'));
  return configPath;
}

export interface StartPrometheusOptions extends PrometheusRenderOptions {
  /** Extra flags, e.g. ['--web.enable-remote-write-receiver']. */
  readonly extraArgs?: readonly string[];
  readonly startTimeoutMs?: number;
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface PrometheusHandle {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Instant query through the HTTP API. */
  query(expr: string): Promise<PromSample[]>;
  /** Polls `expr` until `accept` returns true for its samples; rejects after timeoutMs. */
  waitFor(
    expr: string,
    accept: (samples: PromSample[]) => boolean,
    timeoutMs?: number,
  ): Promise<PromSample[]>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface QueryResponse {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusHandle> {
  const dir = tempDir('mcpkit-prometheus-');
  try {
    const configPath = writePrometheusConfig(dir, options);
    const started = await withPortRetry(async () => {
      const port = await freePort();
      const service = await spawnService(
        'prometheus',
        [
          `--config.file=${configPath}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          ...(options.extraArgs ?? []),
        ],
        { ports: [port], timeoutMs: options.startTimeoutMs ?? 15_000 },
      );
      return { port, service };
    });
    const url = `http://127.0.0.1:${started.port}`;
    // The port opens before the TSDB is loaded; queries answer 503 until /-/ready does not.
    const readyBy = Date.now() + (options.startTimeoutMs ?? 15_000);
    for (;;) {
      const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      if (Date.now() > readyBy) {
        await started.service.stop();
        throw new Error(`prometheus never became ready:\n${started.service.output()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const query = async (expr: string): Promise<PromSample[]> => {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`, {
        signal: AbortSignal.timeout(5_000),
      });
      const body = (await response.json()) as QueryResponse;
      if (body.status !== 'success' || !body.data) throw new Error(`query ${expr} failed: ${body.error}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    };
    const waitFor = async (expr: string, accept: (samples: PromSample[]) => boolean, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const samples = await query(expr);
        if (accept(samples)) return samples;
        if (Date.now() > deadline) throw new Error(`${expr} never matched; last: ${JSON.stringify(samples)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const stop = async () => {
      await started.service.stop();
      removeDir(dir);
    };
    return { port: started.port, url, dir, query, waitFor, stop, [Symbol.asyncDispose]: stop };
  } catch (error) {
    removeDir(dir);
    throw error;
  }
}
