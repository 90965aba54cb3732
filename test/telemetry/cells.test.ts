import fc from 'fast-check';
import { Counter, Histogram, type Metric, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CellHistogram, CounterCells } from '../../src/telemetry/cells.js';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];

describe('CellHistogram', () => {
  it('exports exactly what prom-client Histogram exports for the same observations', async () => {
    const observation = fc.record({
      method: fc.constantFrom('ping', 'tools/call', 'resources/read'),
      value: fc.oneof(fc.constantFrom(...BUCKETS, 0, 100), fc.double({ min: 0, max: 50, noNaN: true })),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(observation, { maxLength: 60 }), async (observations) => {
        const reference = new Registry();
        const ours = new Registry();
        const histogram = new Histogram({
          name: 'd_seconds',
          help: 'h',
          labelNames: ['method'],
          buckets: BUCKETS,
          registers: [reference],
        });
        const cells = new CellHistogram('d_seconds', 'h', ['method'], BUCKETS);
        ours.registerMetric(cells as unknown as Metric);
        const byMethod = new Map(
          ['ping', 'tools/call', 'resources/read'].map((method) => [method, cells.cell({ method })]),
        );
        for (const { method, value } of observations) {
          histogram.observe({ method }, value);
          byMethod.get(method)?.observe(value);
        }
        // Series order follows first use in prom-client and creation in ours: compare as sets.
        const lines = async (r: Registry) => (await r.metrics()).split('\n').sort();
        expect(await lines(ours)).toEqual(await lines(reference));
        const json = async (r: Registry) =>
          (await r.getMetricsAsJSON())[0]?.values
            .map((v) => {
              const { metricName } = v as { metricName?: string };
              return JSON.stringify({ metricName, labels: v.labels, value: v.value });
            })
            .sort();
        expect(await json(ours)).toEqual(await json(reference));
      }),
      { numRuns: 100 },
    );
  });

  it('counts a value equal to a bound in that bucket (le is inclusive) and resets', async () => {
    const h = new CellHistogram('x', 'h', [], [1, 2]);
    const cell = h.cell({});
    cell.observe(1);
    cell.observe(2);
    cell.observe(3);
    const buckets = (await h.get()).values.filter((v) => v.metricName === 'x_bucket').map((v) => v.value);
    expect(buckets).toEqual([1, 2, 3]);
    h.reset();
    expect((await h.get()).values).toEqual([]);
  });
});

describe('CounterCells', () => {
  it('folds pending increments into the prom-client Counter when it is collected', async () => {
    const registry = new Registry();
    const cells = new CounterCells();
    const counter = new Counter({
      name: 'c_total',
      help: 'h',
      labelNames: ['k'],
      registers: [registry],
      collect: cells.flush,
    });
    cells.bind(counter);
    const a = cells.cell({ k: 'a' });
    a.inc();
    a.inc();
    counter.inc({ k: 'a' }, 10); // other code may still use the Counter directly
    expect(await registry.metrics()).toContain('c_total{k="a"} 12');
    a.inc();
    expect(await registry.metrics()).toContain('c_total{k="a"} 13');
    expect(a.pending).toBe(0);
  });
});
