// deploy/prometheus and deploy/grafana: promtool accepts the config and the rules, the alert unit
// tests pass, the rules and every dashboard query use only metric names mcpkit (or prom-client) exports
// and parse as PromQL, the dashboard has the guide's panels, and a real Prometheus started from the
// rendered config scrapes loopback targets and loads the rules.
import { readFileSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type YamlValue, at, parseYaml } from './mini-yaml.js';
import { removeDir, run, tempDir } from './proc.js';
import {
  PROMETHEUS_ALERTS,
  PROMETHEUS_CONFIG,
  type PrometheusHandle,
  renderPrometheusConfig,
  startPrometheus,
  writePrometheusConfig,
} from './prometheus-harness.js';
import { ALLOWED_METRICS, isAllowedMetric, metricNames, substituteGrafanaVariables } from './promql.js';
import { DEPLOY_DIR, REPO_ROOT } from './render.js';

/** Metrics an alert may use beyond the dashboard's list: kube-state-metrics' readiness series. */
const ALERT_EXTRA_METRICS = new Set(['kube_pod_status_ready']);

interface Rule {
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const alertRules = (
  (at(parseYaml(readFileSync(PROMETHEUS_ALERTS, 'utf8')), 'groups') ?? []) as YamlValue[]
).flatMap((group) => (at(group, 'rules') ?? []) as unknown as Rule[]);

describe('promtool', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('mcpkit-promtool-');
  });
  afterAll(() => removeDir(dir));

  it('check rules accepts alerts.yml', async () => {
    const result = await run('promtool', ['check', 'rules', PROMETHEUS_ALERTS]);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain(`SUCCESS: ${alertRules.length} rules found`);
  });

  it('check config accepts the committed prometheus.yml and the loopback rendering', async () => {
    const committed = await run('promtool', ['check', 'config', PROMETHEUS_CONFIG]);
    expect(committed.code, `${committed.stdout}${committed.stderr}`).toBe(0);
    const rendered = writePrometheusConfig(dir, {
      targets: ['127.0.0.1:18080', '127.0.0.1:18081'],
      interval: '1s',
    });
    const result = await run('promtool', ['check', 'config', rendered]);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('1 rule files found');
  });

  it('test rules: the alert unit tests pass', async () => {
    const result = await run('promtool', [
      'test',
      'rules',
      join(REPO_ROOT, 'test/deploy/alerts.promtest.yml'),
    ]);
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });
});

describe('alert rules', () => {
  it('cover error rate, p99 latency, rate-limit rejections, instance down and readiness flapping', () => {
    const names = alertRules.map((r) => r.alert);
    for (const name of [
      'MCPErrorRatioHigh',
      'MCPErrorRateHigh',
      'MCPLatencyP99High',
      'MCPRateLimitRejectionsSpike',
      'MCPRateLimitRejectionRatioHigh',
      'MCPInstanceDown',
      'MCPReadinessFlapping',
    ]) {
      expect(names).toContain(name);
    }
    expect(alertRules.find((r) => r.alert === 'MCPErrorRatioHigh')?.expr).toMatch(
      /mcp_errors_total[\s\S]*\/[\s\S]*mcp_requests_total/,
    );
  });

  it('name only metrics mcpkit, prom-client or kube-state-metrics export, and carry severity and summary', () => {
    for (const rule of alertRules) {
      for (const name of metricNames(rule.expr)) {
        expect(isAllowedMetric(name) || ALERT_EXTRA_METRICS.has(name), `${rule.alert} uses ${name}`).toBe(
          true,
        );
      }
      expect(['critical', 'warning', 'info'], String(rule.alert)).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, String(rule.alert)).toBeTruthy();
    }
  });
});

describe('renderPrometheusConfig', () => {
  it('replaces only the mcpkit targets and the intervals', () => {
    const text = renderPrometheusConfig({ targets: ['127.0.0.1:1', '127.0.0.1:2'], interval: '2s' });
    const config = parseYaml(text);
    const jobs = (at(config, 'scrape_configs') ?? []) as YamlValue[];
    const mcpkit = jobs.find((j) => at(j, 'job_name') === 'mcpkit');
    expect(at(mcpkit, 'static_configs', 0, 'targets')).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    expect(at(mcpkit, 'metrics_path')).toBe('/metrics');
    expect(at(mcpkit, 'scrape_interval')).toBe('2s');
    expect(at(config, 'global', 'evaluation_interval')).toBe('2s');
    expect(at(config, 'rule_files')).toEqual(['alerts.yml']);
    const other = jobs.find((j) => at(j, 'job_name') === 'prometheus');
    expect(at(other, 'static_configs', 0, 'targets')).toEqual(['localhost:9090']);
    expect(() => renderPrometheusConfig({ targets: [] })).toThrow(/targets/);
  });
});

describe('a real Prometheus with the rendered config', () => {
  let target: Server;
  let prometheus: PrometheusHandle;
  let scrapes = 0;

  beforeAll(async () => {
    // Stands in for a replica's /metrics (the exposition format prom-client writes).
    target = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      scrapes++;
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(
        [
          '# HELP mcp_requests_total Requests.',
          '# TYPE mcp_requests_total counter',
          `mcp_requests_total{method="tools/call",status="ok"} ${scrapes * 10}`,
          '# HELP mcp_open_streams Open SSE streams.',
          '# TYPE mcp_open_streams gauge',
          'mcp_open_streams 3',
          '',
        ].join('\n'),
      );
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const port = (target.address() as AddressInfo).port;
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${port}`], interval: '1s' });
  });
  afterAll(async () => {
    await prometheus?.stop();
    await new Promise((r) => target?.close(r));
  });

  it('scrapes the target under job "mcpkit" and loads every alert rule', async () => {
    const up = await prometheus.waitFor('up{job="mcpkit"}', (s) => s.length === 1 && s[0]!.value === 1);
    expect(up[0]!.metric.instance).toMatch(/^127\.0\.0\.1:\d+$/);
    const streams = await prometheus.waitFor('mcp_open_streams{job="mcpkit"}', (s) => s.length === 1);
    expect(streams[0]!.value).toBe(3);
    expect(streams[0]!.metric.service).toBe('mcpkit');

    const response = await fetch(`${prometheus.url}/api/v1/rules`, { signal: AbortSignal.timeout(5_000) });
    const body = (await response.json()) as { data: { groups: { rules: { name: string }[] }[] } };
    const loaded = body.data.groups.flatMap((g) => g.rules.map((r) => r.name));
    expect(loaded.sort()).toEqual(alertRules.map((r) => r.alert).sort());
  });
});

const DASHBOARD = join(DEPLOY_DIR, 'grafana/mcpkit-dashboard.json');

interface Target {
  expr?: string;
  refId?: string;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const allPanels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const queryPanels = allPanels.filter((p) => p.type !== 'row');
const exprs = queryPanels.flatMap((p) =>
  (p.targets ?? []).map((t) => ({ panel: p, target: t, expr: t.expr ?? '' })),
);
const templatingQueries = dashboard.templating.list
  .filter((v) => v.type === 'query')
  .map((v) => (typeof v.query === 'string' ? v.query : (v.query?.query ?? '')));

describe('metric name extraction', () => {
  it('finds metric names and ignores functions, keywords, labels, durations and variables', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, method) (rate(mcp_request_duration_seconds_bucket{job="$job", method!="x"}[$__rate_interval]))) > 1e-3',
      ),
    ).toEqual(['mcp_request_duration_seconds_bucket']);
    expect(
      metricNames('sum(rate(a_total[5m] offset 1h)) / on (job) group_left sum(b) and c unless bool d'),
    ).toEqual(['a_total', 'b', 'c', 'd']);
    expect(metricNames('label_values(up{job="$job"}, instance)')).toEqual(['up']);
    expect(metricNames('label_values(job)')).toEqual([]);
    expect(isAllowedMetric('mcp_requests_total')).toBe(true);
    expect(isAllowedMetric('nodejs_heap_size_used_bytes')).toBe(true);
    expect(isAllowedMetric('mcp_request_count')).toBe(false);
  });
});

describe('grafana dashboard', () => {
  it('has an identity, unique panel ids and a layout inside the 24-column grid', () => {
    expect(dashboard.uid).toMatch(/^[a-z0-9-]+$/);
    expect(dashboard.title).toBe('mcpkit');
    const ids = allPanels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of allPanels) {
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
      expect(panel.gridPos.h, panel.title).toBeGreaterThan(0);
    }
    expect(queryPanels.length).toBeGreaterThanOrEqual(20);
  });

  it('queries the selected Prometheus data source with one expression per target', () => {
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    for (const panel of queryPanels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
      for (const target of panel.targets ?? []) expect(target.expr?.trim(), panel.title).toBeTruthy();
    }
  });

  it('every query names only metrics that mcpkit exports', () => {
    for (const { panel, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(isAllowedMetric(name), `${panel.title} uses ${name}`).toBe(true);
    }
    for (const query of templatingQueries) {
      for (const name of metricNames(query))
        expect(isAllowedMetric(name), `variable query uses ${name}`).toBe(true);
    }
  });

  it("covers the guide's panels: rates, p50/p90/p99, errors, connections, sessions, streams, tools, rejections, process", () => {
    const used = new Set(exprs.flatMap(({ expr }) => metricNames(expr)));
    for (const name of ALLOWED_METRICS) expect(used.has(name), name).toBe(true);
    for (const prefix of [
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag',
    ]) {
      expect(
        [...used].some((n) => n.startsWith(prefix)),
        prefix,
      ).toBe(true);
    }
    const quantiles = exprs
      .map(({ expr }) => /histogram_quantile\(\s*([0-9.]+)/.exec(expr)?.[1])
      .filter(Boolean);
    expect(new Set(quantiles)).toEqual(new Set(['0.5', '0.9', '0.99']));
    expect(exprs.some(({ expr }) => /sum by \(method\) \(rate\(mcp_requests_total/.test(expr))).toBe(true);
    expect(exprs.some(({ expr }) => /by \(outcome\) \(rate\(mcp_tool_invocations_total/.test(expr))).toBe(
      true,
    );
  });

  describe('PromQL validity (promtool)', () => {
    let dir: string;
    beforeAll(() => {
      dir = tempDir('mcpkit-grafana-');
    });
    afterAll(() => removeDir(dir));

    it('promtool parses every panel expression', async () => {
      // Each expression becomes a recording rule, the cheapest way to run Prometheus' own parser.
      const rules = exprs.map(
        ({ panel, target, expr }) =>
          `      - record: dashboard:panel_${panel.id}_${target.refId}\n        expr: ${JSON.stringify(substituteGrafanaVariables(expr))}`,
      );
      const file = join(dir, 'dashboard-rules.yml');
      writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules.join('\n')}\n`);
      const result = await run('promtool', ['check', 'rules', file]);
      expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain(`SUCCESS: ${exprs.length} rules found`);

      writeFileSync(
        file,
        'groups:\n  - name: broken\n    rules:\n      - record: x:y\n        expr: "sum(rate(up[5m])"\n',
      );
      expect((await run('promtool', ['check', 'rules', file])).code).not.toBe(0);
    });
  });
});
