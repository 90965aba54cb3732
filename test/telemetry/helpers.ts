import type { Registry } from 'prom-client';
import type { CallContext, Result } from '../../src/server/middleware.js';
import { silentLogger } from '../../src/util/logger.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A CallContext as the server would build it; tests override what they exercise. */
export function callContext(overrides: Partial<Mutable<CallContext>> & { method: string }): CallContext {
  return {
    requestId: 1,
    params: {},
    target: undefined,
    era: 'modern',
    protocolVersion: '2026-07-28',
    clientInfo: undefined,
    auth: undefined,
    remoteAddress: undefined,
    sessionId: undefined,
    transport: 'http',
    headers: undefined,
    signal: new AbortController().signal,
    logger: silentLogger,
    state: new Map(),
    ...overrides,
  };
}

export const ok =
  (result: Result = {}) =>
  (): Promise<Result> =>
    Promise.resolve(result);

export const fail = (err: unknown) => (): Promise<Result> => Promise.reject(err);

/** The value of one series (exact label match) in a registry, or undefined when absent. */
export async function sample(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const v of metric.values) {
      const seriesName = (v as { metricName?: string }).metricName ?? metric.name;
      if (seriesName !== name) continue;
      const actual = Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)]));
      const keys = new Set([...Object.keys(actual), ...Object.keys(labels)]);
      if ([...keys].every((k) => actual[k] === labels[k])) return v.value;
    }
  }
  return undefined;
}

/** Every label set of a metric, as plain objects. */
export async function labelSets(registry: Registry, name: string): Promise<Record<string, string>[]> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).map((v) =>
    Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)])),
  );
}
