import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  InvalidOptionError,
  InvalidParamsError,
  McpError,
  MethodNotFoundError,
  RateLimitedError,
} from '../../src/protocol/errors.js';
import {
  DEFAULT_DURATION_BUCKETS,
  METRIC_NAMES,
  RESOURCE_TEMPLATE_STATE_KEY,
  createMetrics,
} from '../../src/telemetry/index.js';
import type { Logger } from '../../src/util/logger.js';
import { callContext, fail, labelSets, ok, sample } from './helpers.js';

const rateLimited = () =>
  new RateLimitedError({ retryAfterMs: 1000, limit: 10, remaining: 0, resetMs: 1000, scope: 'tool:echo' });

afterEach(() => {
  vi.restoreAllMocks();
});

describe('createMetrics middleware', () => {
  it('counts requests by method and status and rethrows errors untouched', async () => {
    const m = createMetrics({ collectDefaultMetrics: false });
    await m.middleware(callContext({ method: 'tools/list' }), ok({ tools: [] }));
    await m.middleware(callContext({ method: 'tools/list' }), ok({ tools: [] }));
    const err = new MethodNotFoundError('tools/list');
    await expect(m.middleware(callContext({ method: 'tools/list' }), fail(err))).rejects.toBe(err);

    const r = m.registry;
    expect(await sample(r, METRIC_NAMES.requests, { method: 'tools/list', status: 'ok' })).toBe(2);
    expect(await sample(r, METRIC_NAMES.requests, { method: 'tools/list', status: 'error' })).toBe(1);
    expect(await sample(r, METRIC_NAMES.errors, { method: 'tools/list', code: '-32601' })).toBe(1);
  });

  it('returns the handler result object itself', async () => {
    const m = createMetrics({ collectDefaultMetrics: false });
    const result = { content: [] };
    expect(await m.middleware(callContext({ method: 'tools/call', target: 'echo' }), ok(result))).toBe(
      result,
    );
  });

  it('observes durations in seconds into the configured buckets', async () => {
    const m = createMetrics({ collectDefaultMetrics: false });
    const now = vi.spyOn(performance, 'now');
    now.mockReturnValueOnce(1000).mockReturnValueOnce(1250); // 250 ms
    await m.middleware(callContext({ method: 'ping' }), ok());
    now.mockReturnValueOnce(5000).mockReturnValueOnce(5003); // 3 ms, on an error
    await expect(m.middleware(callContext({ method: 'ping' }), fail(new Error('x')))).rejects.toThrow('x');

    const r = m.registry;
    const name = METRIC_NAMES.requestDuration;
    expect(await sample(r, `${name}_count`, { method: 'ping' })).toBe(2);
    expect(await sample(r, `${name}_sum`, { method: 'ping' })).toBeCloseTo(0.253, 9);
    expect(await sample(r, `${name}_bucket`, { method: 'ping', le: '0.0025' })).toBe(0);
    expect(await sample(r, `${name}_bucket`, { method: 'ping', le: '0.005' })).toBe(1);
    expect(await sample(r, `${name}_bucket`, { method: 'ping', le: '0.1' })).toBe(1);
    expect(await sample(r, `${name}_bucket`, { method: 'ping', le: '0.25' })).toBe(2);
    expect(await sample(r, `${name}_bucket`, { method: 'ping', le: '+Inf' })).toBe(2);
  });

  it('uses 1 ms .. 30 s buckets by default and accepts custom ones', async () => {
    expect(DEFAULT_DURATION_BUCKETS[0]).toBe(0.001);
    expect(DEFAULT_DURATION_BUCKETS.at(-1)).toBe(30);
    const m = createMetrics({ collectDefaultMetrics: false, buckets: [0.5, 2] });
    await m.middleware(callContext({ method: 'ping' }), ok());
    const les = (await labelSets(m.registry, METRIC_NAMES.requestDuration)).flatMap((l) =>
      l.le ? [l.le] : [],
    );
    expect(les).toEqual(['0.5', '2', '+Inf']);
  });

  it('labels errors with the JSON-RPC code the client sees (non-McpError -> InternalError)', async () => {
    const m = createMetrics({ collectDefaultMetrics: false });
    await expect(
      m.middleware(
        callContext({ method: 'tools/call', target: 'echo' }),
        fail(new InvalidParamsError('bad')),
      ),
    ).rejects.toThrow();
    await expect(
      m.middleware(callContext({ method: 'tools/call', target: 'echo' }), fail(new TypeError('boom'))),
    ).rejects.toThrow();
    await expect(
      m.middleware(callContext({ method: 'tools/call', target: 'echo' }), fail(new McpError(-1, 'custom'))),
    ).rejects.toThrow();
    const codes = (await labelSets(m.registry, METRIC_NAMES.errors)).map((l) => l.code).sort();
    expect(codes).toEqual(['-1', '-32602', '-32603']);
  });

  it('records tool outcomes: ok, tool_error (isError), protocol_error (thrown)', async () => {
    const m = createMetrics({ collectDefaultMetrics: false });
    const call = (handler: () => Promise<Record<string, unknown>>) =>
      m.middleware(callContext({ method: 'tools/call', target: 'echo' }), handler);
    await call(ok({ content: [] }));
    await call(ok({ content: [], isError: false }));
    await call(ok({ content: [], isError: true }));
    await expect(call(fail(new InvalidParamsError('bad')))).rejects.toThrow();

    const r = m.registry;
    const name = METRIC_NAMES.toolInvocations;
    expect(await sample(r, name, { tool: 'echo', outcome: 'ok' })).toBe(2);
    expect(await sample(r, name, { tool: 'echo', outcome: 'tool_error' })).toBe(1);
    expect(await sample(r, name, { tool: 'echo', outcome: 'protocol_error' })).toBe(1);
    // A tool error is a successful JSON-RPC exchange.
    expect(await sample(r, METRIC_NAMES.requests, { method: 'tools/call', status: 'ok' })).toBe(3);
    expect(await sample(r, METRIC_NAMES.requests, { method: 'tools/call', status: 'error' })).toBe(1);
  });

  it('counts resource reads by template, never by raw URI', async () => {
    const m = createMetrics({ collectDefaultMetrics: false });
    for (const id of ['1', '2', '3']) {
      const ctx = callContext({ method: 'resources/read', target: `users://${id}/profile` });
      ctx.state.set(RESOURCE_TEMPLATE_STATE_KEY, 'users://{id}/profile');
      await m.middleware(ctx, ok({ contents: [] }));
    }
    await m.middleware(
      callContext({ method: 'resources/read', target: 'config://app' }),
      ok({ contents: [] }),
    );
    await expect(
      m.middleware(
        callContext({ method: 'resources/read', target: 'nope://x' }),
        fail(new McpError(-32002, 'not found')),
      ),
    ).rejects.toThrow();

    const r = m.registry;
    const name = METRIC_NAMES.resourceReads;
    expect(await sample(r, name, { template: 'users://{id}/profile' })).toBe(3);
    expect(await sample(r, name, { template: 'static' })).toBe(1);
    expect(await sample(r, name, { template: 'unmatched' })).toBe(1);
    const body = (await m.render()).body;
    expect(body).not.toContain('users://1/profile');
    expect(body).not.toContain('nope://x');
  });

  it('counts prompt gets by prompt', async () => {
    const m = createMetrics({ collectDefaultMetrics: false });
    await m.middleware(callContext({ method: 'prompts/get', target: 'summarize' }), ok({ messages: [] }));
    await m.middleware(callContext({ method: 'prompts/get', target: 'summarize' }), ok({ messages: [] }));
    expect(await sample(m.registry, METRIC_NAMES.promptGets, { prompt: 'summarize' })).toBe(2);
  });

  it('counts RateLimited errors as rejections by tool, or global, unless disabled', async () => {
    const m = createMetrics({ collectDefaultMetrics: false });
    await expect(
      m.middleware(callContext({ method: 'tools/call', target: 'echo' }), fail(rateLimited())),
    ).rejects.toThrow();
    await expect(
      m.middleware(callContext({ method: 'resources/list' }), fail(rateLimited())),
    ).rejects.toThrow();
    m.rateLimitRejected('echo');
    m.rateLimitRejected();
    const name = METRIC_NAMES.rateLimitRejections;
    expect(await sample(m.registry, name, { tool: 'echo' })).toBe(2);
    expect(await sample(m.registry, name, { tool: 'global' })).toBe(2);
    expect(await sample(m.registry, METRIC_NAMES.errors, { method: 'tools/call', code: '-32029' })).toBe(1);

    const off = createMetrics({ collectDefaultMetrics: false, countRateLimitErrors: false });
    await expect(
      off.middleware(callContext({ method: 'tools/call', target: 'echo' }), fail(rateLimited())),
    ).rejects.toThrow();
    expect(await labelSets(off.registry, name)).toEqual([]);
  });
});

describe('label bounding', () => {
  it('maps unknown methods to other, keeps standard and extra methods', async () => {
    const m = createMetrics({ collectDefaultMetrics: false, extraMethods: ['acme/sync'] });
    for (let i = 0; i < 50; i++) await m.middleware(callContext({ method: `evil/${i}` }), ok());
    await m.middleware(callContext({ method: 'acme/sync' }), ok());
    await m.middleware(callContext({ method: 'completion/complete' }), ok());
    const methods = (await labelSets(m.registry, METRIC_NAMES.requests)).map((l) => l.method).sort();
    expect(methods).toEqual(['acme/sync', 'completion/complete', 'other']);
    expect(await sample(m.registry, METRIC_NAMES.requests, { method: 'other', status: 'ok' })).toBe(50);
  });

  it('limits tool labels to registered tools, picking up tools registered later', async () => {
    const registered = new Set(['echo']);
    const m = createMetrics({ collectDefaultMetrics: false, knownTools: () => registered });
    const call = (tool: string) =>
      m.middleware(callContext({ method: 'tools/call', target: tool }), ok({ content: [] }));
    await call('echo');
    await call('made-up-1');
    await call('made-up-2');
    registered.add('late');
    await call('late');
    const tools = (await labelSets(m.registry, METRIC_NAMES.toolInvocations)).map((l) => l.tool).sort();
    expect(tools).toEqual(['echo', 'late', 'other']);
    expect(await sample(m.registry, METRIC_NAMES.toolInvocations, { tool: 'other', outcome: 'ok' })).toBe(2);
  });

  it('accepts the server registry Map as knownTools', async () => {
    const serverTools = new Map<string, unknown>([['echo', {}]]);
    const m = createMetrics({ collectDefaultMetrics: false, knownTools: () => serverTools });
    await m.middleware(callContext({ method: 'tools/call', target: 'echo' }), ok({ content: [] }));
    await m.middleware(callContext({ method: 'tools/call', target: 'nope' }), ok({ content: [] }));
    const tools = (await labelSets(m.registry, METRIC_NAMES.toolInvocations)).map((l) => l.tool).sort();
    expect(tools).toEqual(['echo', 'other']);
  });

  it('caps distinct values per label at maxLabelValues, folding the rest into other', async () => {
    const m = createMetrics({ collectDefaultMetrics: false, maxLabelValues: 3 });
    for (let i = 0; i < 10; i++) {
      await m.middleware(callContext({ method: 'tools/call', target: `t${i}` }), ok({ content: [] }));
      await m.middleware(callContext({ method: 'prompts/get', target: `p${i}` }), ok({ messages: [] }));
    }
    const tools = (await labelSets(m.registry, METRIC_NAMES.toolInvocations)).map((l) => l.tool).sort();
    expect(tools).toEqual(['other', 't0', 't1', 't2']);
    expect(await sample(m.registry, METRIC_NAMES.toolInvocations, { tool: 'other', outcome: 'ok' })).toBe(7);
    const prompts = (await labelSets(m.registry, METRIC_NAMES.promptGets)).map((l) => l.prompt).sort();
    expect(prompts).toEqual(['other', 'p0', 'p1', 'p2']);
  });

  it('treats a missing tool name as other', async () => {
    const m = createMetrics({ collectDefaultMetrics: false });
    await expect(
      m.middleware(callContext({ method: 'tools/call' }), fail(new InvalidParamsError('no name'))),
    ).rejects.toThrow();
    expect(
      await sample(m.registry, METRIC_NAMES.toolInvocations, { tool: 'other', outcome: 'protocol_error' }),
    ).toBe(1);
  });
});

describe('gauges', () => {
  it('tracks connections by transport, sessions and streams, never below zero', async () => {
    const m = createMetrics({ collectDefaultMetrics: false });
    m.connectionOpened('http');
    m.connectionOpened('http');
    m.connectionOpened('websocket');
    m.connectionClosed('http');
    m.connectionClosed('stdio'); // never opened: ignored
    m.connectionOpened('carrier-pigeon');
    m.sessionOpened();
    m.sessionOpened();
    m.sessionClosed();
    m.streamOpened();
    m.streamClosed();
    m.streamClosed();
    const r = m.registry;
    expect(await sample(r, METRIC_NAMES.activeConnections, { transport: 'http' })).toBe(1);
    expect(await sample(r, METRIC_NAMES.activeConnections, { transport: 'websocket' })).toBe(1);
    expect(await sample(r, METRIC_NAMES.activeConnections, { transport: 'stdio' })).toBeUndefined();
    expect(await sample(r, METRIC_NAMES.activeConnections, { transport: 'other' })).toBe(1);
    expect(await sample(r, METRIC_NAMES.activeSessions)).toBe(1);
    expect(await sample(r, METRIC_NAMES.openStreams)).toBe(0);
  });
});

describe('options', () => {
  it('registers into the given registry with a prefix, and Node process metrics by default', async () => {
    const registry = new Registry();
    const m = createMetrics({ registry, prefix: 'app_' });
    expect(m.registry).toBe(registry);
    await m.middleware(callContext({ method: 'ping' }), ok());
    expect(await sample(registry, 'app_mcp_requests_total', { method: 'ping', status: 'ok' })).toBe(1);
    expect(registry.getSingleMetric('app_process_cpu_seconds_total')).toBeDefined();
    expect(
      createMetrics({ collectDefaultMetrics: false }).registry.getSingleMetric('process_cpu_seconds_total'),
    ).toBeUndefined();
  });

  it('does not register into prom-client global registry', async () => {
    const { register } = await import('prom-client');
    createMetrics({ collectDefaultMetrics: false });
    expect(register.getSingleMetric(METRIC_NAMES.requests)).toBeUndefined();
  });

  it.each([
    [{ prefix: '9bad' }, 'prefix'],
    [{ buckets: [1, 0.5] }, 'buckets'],
    [{ buckets: [] }, 'buckets'],
    [{ buckets: [0, 1] }, 'buckets'],
    [{ maxLabelValues: 0 }, 'maxLabelValues'],
    [{ knownTools: new Set(['a']) as unknown as () => Set<string> }, 'knownTools'],
    [{ extraMethods: [''] }, 'extraMethods'],
    [{ registry: {} as Registry }, 'registry'],
  ])('rejects %o naming the option', (options, option) => {
    const call = () => createMetrics({ collectDefaultMetrics: false, ...options });
    expect(call).toThrow(InvalidOptionError);
    expect(call).toThrow(option);
  });

  it('rejects an OpenMetrics registry and a registry that already holds the metrics', () => {
    const om = new Registry();
    om.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    expect(() => createMetrics({ registry: om })).toThrow(/registry/);
    const shared = new Registry();
    createMetrics({ registry: shared, collectDefaultMetrics: false });
    expect(() => createMetrics({ registry: shared, collectDefaultMetrics: false })).toThrow(
      InvalidOptionError,
    );
    expect(() =>
      createMetrics({ registry: shared, collectDefaultMetrics: false, prefix: 'b_' }),
    ).not.toThrow();
  });

  it('never fails a request when recording fails, and warns once', async () => {
    const warn = vi.fn();
    const logger = { warn } as unknown as Logger;
    const m = createMetrics({
      collectDefaultMetrics: false,
      knownTools: () => {
        throw new Error('registry exploded');
      },
    });
    const result = { content: [] };
    for (let i = 0; i < 3; i++) {
      expect(
        await m.middleware(callContext({ method: 'tools/call', target: `x${i}`, logger }), ok(result)),
      ).toBe(result);
    }
    const err = new InvalidParamsError('bad');
    await expect(
      m.middleware(callContext({ method: 'tools/call', target: 'y', logger }), fail(err)),
    ).rejects.toBe(err);
    expect(warn).toHaveBeenCalledTimes(1);
  });
});
