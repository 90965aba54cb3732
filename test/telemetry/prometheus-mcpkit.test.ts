// End to end: the production runtime (serve + the everything example) scraped by a real Prometheus
// running the repo's deploy/prometheus/prometheus.yml, with traffic from the real client in both eras.
// The values Prometheus stores must equal exactly what the client sent.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEverythingServer } from '../../examples/everything/server.js';
import { McpClient } from '../../src/client/client.js';
import { ErrorCode, McpError } from '../../src/protocol/errors.js';
import { type ServeHandle, serve } from '../../src/runtime/serve.js';
import { StreamableHttpClientTransport } from '../../src/transport/http/client.js';
import { type PromSample, type PrometheusHandle, startPrometheus } from '../deploy/prometheus-harness.js';

const hasPrometheus = !spawnSync('prometheus', ['--version']).error;
if (!hasPrometheus) console.warn('prometheus-mcpkit.test.ts: skipped, no `prometheus` binary on PATH');

const ERAS = ['modern', 'legacy'] as const;
const SIMPLE_CALLS = 20;
const ERROR_CALLS = 3;
const UNKNOWN_CALLS = 2;
const WAIT_MS = 30_000;

/** One sample whose value is exactly `expected`; anything else keeps polling until the deadline. */
const exactly =
  (expected: number) =>
  (samples: PromSample[]): boolean =>
    samples.length === 1 && samples[0]!.value === expected;

describe.skipIf(!hasPrometheus)('a real Prometheus scraping a real mcpkit server', () => {
  let handle: ServeHandle;
  let prometheus: PrometheusHandle;
  let unknownCodes: number[] = [];

  beforeAll(async () => {
    handle = await serve(createEverythingServer(), {
      env: { MCP_SERVER_HOST: '127.0.0.1', MCP_SERVER_PORT: '0', MCP_LOG_LEVEL: 'silent' },
      signals: false,
    });
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${handle.address.port}`], interval: '1s' });

    const codes: number[] = [];
    for (const protocol of ERAS) {
      const client = new McpClient({ name: 'prom-e2e', version: '1.0.0' }, { protocol });
      await client.connect(new StreamableHttpClientTransport(handle.url));
      try {
        expect(client.era).toBe(protocol);
        for (let i = 0; i < SIMPLE_CALLS; i++) {
          const result = await client.callTool('test_simple_text');
          expect(result.isError).not.toBe(true);
        }
        for (let i = 0; i < ERROR_CALLS; i++) {
          expect((await client.callTool('test_error_handling')).isError).toBe(true);
        }
        for (let i = 0; i < UNKNOWN_CALLS; i++) {
          const err = await client.callTool('no_such_tool').then(
            () => undefined,
            (e: unknown) => e,
          );
          codes.push(err instanceof McpError ? err.code : Number.NaN);
        }
      } finally {
        await client.close();
      }
    }
    unknownCodes = codes;
  }, 40_000);

  afterAll(async () => {
    await prometheus?.stop();
    await handle?.close();
  });

  it('the client saw -32602 for every unknown tool', () => {
    expect(unknownCodes).toEqual(new Array(UNKNOWN_CALLS * ERAS.length).fill(ErrorCode.InvalidParams));
  });

  it('stores exactly the traffic sent, under job "mcpkit"', async () => {
    const eras = ERAS.length;
    const okCalls = (SIMPLE_CALLS + ERROR_CALLS) * eras; // a tool error is still a successful JSON-RPC answer
    const errorCalls = UNKNOWN_CALLS * eras;
    const sel = (labels: string) => `{job="mcpkit"${labels}}`;

    const up = await prometheus.waitFor(`up${sel('')}`, exactly(1), WAIT_MS);
    expect(up[0]!.metric.instance).toBe(`127.0.0.1:${handle.address.port}`);

    const checks: [string, number][] = [
      [`mcp_requests_total${sel(',method="tools/call",status="ok"')}`, okCalls],
      [`mcp_requests_total${sel(',method="tools/call",status="error"')}`, errorCalls],
      [`mcp_tool_invocations_total${sel(',tool="test_simple_text",outcome="ok"')}`, SIMPLE_CALLS * eras],
      [
        `mcp_tool_invocations_total${sel(',tool="test_error_handling",outcome="tool_error"')}`,
        ERROR_CALLS * eras,
      ],
      [`mcp_tool_invocations_total${sel(',tool="other",outcome="protocol_error"')}`, errorCalls],
      [`mcp_errors_total${sel(',method="tools/call",code="-32602"')}`, errorCalls],
      [`mcp_request_duration_seconds_count${sel(',method="tools/call"')}`, okCalls + errorCalls],
    ];
    for (const [expr, expected] of checks) {
      const samples = await prometheus.waitFor(expr, exactly(expected), WAIT_MS);
      expect(samples[0]!.value, expr).toBe(expected);
    }
    // The duration histogram's +Inf bucket agrees with its count, and no tools/call error had another code.
    const inf = await prometheus.query(
      `mcp_request_duration_seconds_bucket${sel(',method="tools/call",le="+Inf"')}`,
    );
    expect(inf.map((s) => s.value)).toEqual([okCalls + errorCalls]);
    const codes = await prometheus.query(`mcp_errors_total${sel(',method="tools/call"')}`);
    expect(codes.map((s) => s.metric.code)).toEqual(['-32602']);
  }, 40_000);
});
