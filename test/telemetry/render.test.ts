import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  METRIC_NAMES,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  createMetrics,
  prefersOpenMetrics,
} from '../../src/telemetry/index.js';
import { callContext, ok, sample } from './helpers.js';

// What Prometheus 2.x sends when scraping.
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

async function populated() {
  const m = createMetrics({ collectDefaultMetrics: false });
  await m.middleware(callContext({ method: 'tools/call', target: 'echo' }), ok({ content: [] }));
  m.rateLimitRejected('echo');
  m.connectionOpened('http');
  return m;
}

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

describe('content negotiation', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['*/*', false],
    ['text/plain;version=0.0.4', false],
    [PROMETHEUS_ACCEPT, true],
    ['application/openmetrics-text', true],
    ['application/openmetrics-text;q=0.2,text/plain;q=0.5', false],
    ['text/plain;q=0.5, application/openmetrics-text;version=1.0.0', true],
    ['application/openmetrics-text;q=0', false],
  ])('Accept %j -> OpenMetrics %s', (accept, expected) => {
    expect(prefersOpenMetrics(accept)).toBe(expected);
  });
});

describe('render', () => {
  it('renders Prometheus text 0.0.4 by default', async () => {
    const m = await populated();
    const { contentType, body } = await m.render();
    expect(contentType).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(body).toContain('# TYPE mcp_requests_total counter');
    expect(body).toContain('mcp_requests_total{method="tools/call",status="ok"} 1');
    expect(body).toContain('mcp_rate_limit_rejections_total{tool="echo"} 1');
    expect(body).toContain('mcp_active_connections{transport="http"} 1');
    expect(body).toContain('mcp_request_duration_seconds_bucket{le="+Inf",method="tools/call"} 1');
    expect(body).not.toContain('# EOF');
  });

  it('renders OpenMetrics when Accept asks for it, with counter families and # EOF', async () => {
    const m = await populated();
    const { contentType, body } = await m.render(PROMETHEUS_ACCEPT);
    expect(contentType).toBe(OPENMETRICS_CONTENT_TYPE);
    expect(body).toContain('# TYPE mcp_requests counter');
    expect(body).toContain('mcp_requests_total{method="tools/call",status="ok"} 1');
    expect(body).toContain('# TYPE mcp_rate_limit_rejections counter');
    expect(body).toContain('mcp_rate_limit_rejections_total{tool="echo"} 1');
    expect(body).not.toContain('_total_total');
    expect(body.endsWith('# EOF\n')).toBe(true);
  });

  it('leaves metric names intact after an OpenMetrics render (prom-client renames counters in place)', async () => {
    const m = await populated();
    await m.render(PROMETHEUS_ACCEPT);
    await m.render(PROMETHEUS_ACCEPT);
    const text = (await m.render()).body;
    expect(text).toContain('mcp_requests_total{method="tools/call",status="ok"} 1');
    expect(text).not.toMatch(/^mcp_requests\{/m);
    expect(await sample(m.registry, METRIC_NAMES.requests, { method: 'tools/call', status: 'ok' })).toBe(1);
    expect(m.registry.getSingleMetric(METRIC_NAMES.requests)?.get).toBeTypeOf('function');
    expect((await m.registry.getMetricsAsJSON()).map((x) => x.name)).toContain('mcp_requests_total');
  });

  it.skipIf(!hasPromtool)(
    'passes promtool check metrics (skipped when promtool is not on PATH)',
    async () => {
      const m = await populated();
      const { body } = await m.render();
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      expect(lint.stdout + lint.stderr).toBe('');
      expect(lint.status).toBe(0);
    },
  );
});
