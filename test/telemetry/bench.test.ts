import { describe, expect, it } from 'vitest';
import { type CallContext, type Result, compose } from '../../src/server/middleware.js';
import { METRIC_NAMES, createMetrics, tracing } from '../../src/telemetry/index.js';
import { callContext, sample } from './helpers.js';

/**
 * Micro-benchmark of the telemetry hot path. Not timed (CI machines vary): it prints ns/op
 * and checks only that every iteration was recorded. No OpenTelemetry SDK is registered in
 * this process, so the tracing rows measure the no-SDK path.
 */
const WARMUP = 20_000;
const ITERATIONS = 100_000;
const ROUNDS = 3;

async function nsPerOp(
  run: (ctx: CallContext) => Promise<Result>,
  ctx: CallContext,
  n: number,
): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await run(ctx);
  return Number(process.hrtime.bigint() - start) / n;
}

describe('telemetry micro-benchmark', () => {
  it('measures per-request overhead of metrics and no-SDK tracing', async () => {
    const result: Result = { content: [] };
    const handler = () => Promise.resolve(result);
    const metrics = createMetrics({ collectDefaultMetrics: false });
    const layers: Record<string, (ctx: CallContext) => Promise<Result>> = {
      // An empty layer: what any middleware costs (one closure and one call per request).
      'pass-through layer': compose([(_ctx, next) => next()], handler),
      metrics: compose([metrics.middleware], handler),
      'tracing (no SDK)': compose([tracing()], handler),
      'metrics + tracing (no SDK)': compose([metrics.middleware, tracing()], handler),
    };
    const contexts = {
      'tools/call': callContext({ method: 'tools/call', target: 'echo' }),
      ping: callContext({ method: 'ping' }),
    };

    // Rows are interleaved and the best of several rounds kept, to damp machine noise.
    const best = new Map<string, number>();
    for (const ctx of Object.values(contexts)) {
      for (const run of Object.values(layers)) await nsPerOp(run, ctx, WARMUP);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const [method, ctx] of Object.entries(contexts)) {
        for (const [name, run] of Object.entries(layers)) {
          const key = `${method} ${name}`;
          const ns = await nsPerOp(run, ctx, ITERATIONS);
          best.set(key, Math.min(best.get(key) ?? Number.POSITIVE_INFINITY, ns));
        }
      }
    }
    const rows: Record<string, Record<string, string>> = {};
    for (const method of Object.keys(contexts)) {
      const base = best.get(`${method} pass-through layer`) as number;
      for (const name of Object.keys(layers)) {
        const ns = best.get(`${method} ${name}`) as number;
        rows[`${method} ${name}`] = {
          'ns/op': ns.toFixed(0),
          'vs pass-through layer': name === 'pass-through layer' ? '-' : `+${(ns - base).toFixed(0)}`,
        };
      }
    }
    console.log(`telemetry hot path, best of ${ROUNDS} x ${ITERATIONS} sequential requests per row:`);
    console.table(rows);

    // Two rows per method ran through the metrics middleware.
    const perRow = WARMUP + ROUNDS * ITERATIONS;
    expect(
      await sample(metrics.registry, METRIC_NAMES.requests, { method: 'tools/call', status: 'ok' }),
    ).toBe(2 * perRow);
    expect(await sample(metrics.registry, METRIC_NAMES.requests, { method: 'ping', status: 'ok' })).toBe(
      2 * perRow,
    );
    expect(
      await sample(metrics.registry, METRIC_NAMES.toolInvocations, { tool: 'echo', outcome: 'ok' }),
    ).toBe(2 * perRow);
    expect(await sample(metrics.registry, `${METRIC_NAMES.requestDuration}_count`, { method: 'ping' })).toBe(
      2 * perRow,
    );
  });
});
