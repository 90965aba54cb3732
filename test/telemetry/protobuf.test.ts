import fc from 'fast-check';
import { Registry } from 'prom-client';
import { compress, uncompress } from 'snappyjs';
import { describe, expect, it } from 'vitest';
import {
  type TimeSeries,
  createMetrics,
  encodeWriteRequest,
  toTimeSeries,
} from '../../src/telemetry/index.js';
import { callContext, ok } from './helpers.js';
import { decodeWriteRequest } from './prompb.js';

describe('encodeWriteRequest', () => {
  it('encodes labels and samples that an independent decoder reads back', () => {
    const series: TimeSeries[] = [
      {
        labels: [
          { name: '__name__', value: 'mcp_requests_total' },
          { name: 'method', value: 'tools/call' },
          { name: 'status', value: 'ok' },
        ],
        samples: [{ value: 42, timestampMs: 1_760_000_000_123 }],
      },
      {
        labels: [
          { name: '__name__', value: 'g' },
          { name: 'tool', value: 'ünïcødé ✓' },
        ],
        samples: [
          { value: -0.5, timestampMs: 0 },
          { value: Number.POSITIVE_INFINITY, timestampMs: 2 ** 40 },
        ],
      },
    ];
    expect(decodeWriteRequest(encodeWriteRequest(series))).toEqual(series);
  });

  it('round-trips arbitrary series (property test)', () => {
    const label = fc.record({
      name: fc.string({ minLength: 1, maxLength: 20 }),
      value: fc.string({ maxLength: 300 }),
    });
    const sample = fc.record({
      value: fc.double({ noNaN: true }),
      timestampMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    });
    const ts = fc.record({
      labels: fc.array(label, { maxLength: 6 }),
      samples: fc.array(sample, { maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.array(ts, { maxLength: 8 }), (series) => {
        const decoded = decodeWriteRequest(encodeWriteRequest(series));
        expect(decoded).toEqual(series);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps NaN as NaN', () => {
    const out = decodeWriteRequest(
      encodeWriteRequest([
        { labels: [{ name: '__name__', value: 'x' }], samples: [{ value: Number.NaN, timestampMs: 1 }] },
      ]),
    );
    expect(out[0]?.samples[0]?.value).toBeNaN();
  });

  it('rejects timestamps that are not non-negative safe integers', () => {
    for (const timestampMs of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2]) {
      expect(() => encodeWriteRequest([{ labels: [], samples: [{ value: 1, timestampMs }] }])).toThrow(
        /timestamp/,
      );
    }
  });

  it('survives snappy block compression', () => {
    const series: TimeSeries[] = Array.from({ length: 200 }, (_, i) => ({
      labels: [
        { name: '__name__', value: 'mcp_request_duration_seconds_bucket' },
        { name: 'le', value: String(i) },
        { name: 'method', value: 'tools/call' },
      ],
      samples: [{ value: i, timestampMs: 1_700_000_000_000 + i }],
    }));
    const raw = encodeWriteRequest(series);
    const compressed = compress(raw);
    expect(compressed.length).toBeLessThan(raw.length / 2);
    expect(decodeWriteRequest(uncompress(compressed))).toEqual(series);
  });
});

describe('toTimeSeries', () => {
  it('turns a registry snapshot into sorted, named series, histograms as _bucket/_sum/_count', async () => {
    const m = createMetrics({ collectDefaultMetrics: false, buckets: [0.1, 1] });
    await m.middleware(callContext({ method: 'tools/call', target: 'echo' }), ok({ content: [] }));
    const series = toTimeSeries(await m.registry.getMetricsAsJSON(), 1234, {
      job: 'push',
      method: 'shadowed',
    });
    const byKey = new Map(
      series.map((s) => [s.labels.map((l) => `${l.name}=${l.value}`).join(','), s.samples]),
    );
    expect(byKey.get('__name__=mcp_requests_total,job=push,method=tools/call,status=ok')).toEqual([
      { value: 1, timestampMs: 1234 },
    ]);
    expect(
      byKey.get('__name__=mcp_request_duration_seconds_bucket,job=push,le=+Inf,method=tools/call')?.[0]
        ?.value,
    ).toBe(1);
    expect(
      byKey.get('__name__=mcp_request_duration_seconds_bucket,job=push,le=0.1,method=tools/call')?.[0]?.value,
    ).toBe(1);
    expect(byKey.has('__name__=mcp_request_duration_seconds_count,job=push,method=tools/call')).toBe(true);
    expect(byKey.has('__name__=mcp_request_duration_seconds_sum,job=push,method=tools/call')).toBe(true);
    for (const s of series) {
      const names = s.labels.map((l) => l.name);
      expect(names).toEqual([...names].sort());
      expect(new Set(names).size).toBe(names.length);
    }
  });

  it('includes registry default labels and drops empty label values', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ region: 'eu' });
    const m = createMetrics({ registry, collectDefaultMetrics: false });
    m.sessionOpened();
    const series = toTimeSeries(await m.registry.getMetricsAsJSON(), 1, { empty: '' });
    const sessions = series.find((s) => s.labels.some((l) => l.value === 'mcp_active_sessions'));
    expect(sessions?.labels).toEqual([
      { name: '__name__', value: 'mcp_active_sessions' },
      { name: 'region', value: 'eu' },
    ]);
  });
});
