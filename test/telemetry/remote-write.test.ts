import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { uncompress } from 'snappyjs';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/protocol/errors.js';
import {
  type RemoteWriteOptions,
  RemoteWriter,
  createMetrics,
  toTimeSeries,
} from '../../src/telemetry/index.js';
import { decodeWriteRequest } from './prompb.js';

interface Received {
  headers: IncomingMessage['headers'];
  series: ReturnType<typeof decodeWriteRequest>;
}

type Responder = (n: number, res: ServerResponse) => void;

/** A loopback HTTP receiver that decodes every push and answers as `respond` says. */
async function receiver(respond: Responder = (_n, res) => res.writeHead(204).end()) {
  const received: Received[] = [];
  const pending = new Set<ServerResponse>();
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      received.push({ headers: req.headers, series: decodeWriteRequest(uncompress(body)) });
      pending.add(res);
      res.on('close', () => pending.delete(res));
      respond(n++, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = async () => {
    for (const res of pending) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  cleanups.push(close);
  return { url: `http://127.0.0.1:${port}/api/v1/write`, received, close };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function metricsWithTraffic() {
  const m = createMetrics({ collectDefaultMetrics: false });
  m.sessionOpened();
  m.connectionOpened('http');
  return m;
}

/** Samples one snapshot of the registry yields. */
async function snapshotSize(registry: Pick<Registry, 'getMetricsAsJSON'>): Promise<number> {
  return toTimeSeries(await registry.getMetricsAsJSON(), 0).length;
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function writer(options: Partial<RemoteWriteOptions> & { url: string }): RemoteWriter {
  const w = new RemoteWriter({
    registry: metricsWithTraffic().registry,
    minBackoffMs: 5,
    maxBackoffMs: 20,
    stopTimeoutMs: 2000,
    ...options,
  });
  cleanups.push(() => void w.stop(0));
  return w;
}

describe('RemoteWriter', () => {
  it('POSTs snappy-compressed protobuf with the remote-write 1.0 headers', async () => {
    const rx = await receiver();
    const w = writer({ url: rx.url, labels: { job: 'push' }, headers: { Authorization: 'Bearer t' } });
    await w.collect();
    await w.flush();
    expect(rx.received).toHaveLength(1);
    const { headers, series } = rx.received[0] as Received;
    expect(headers['content-encoding']).toBe('snappy');
    expect(headers['content-type']).toBe('application/x-protobuf');
    expect(headers['x-prometheus-remote-write-version']).toBe('0.1.0');
    expect(headers.authorization).toBe('Bearer t');
    const sessions = series.find((s) => s.labels.some((l) => l.value === 'mcp_active_sessions'));
    expect(sessions?.labels).toEqual([
      { name: '__name__', value: 'mcp_active_sessions' },
      { name: 'job', value: 'push' },
    ]);
    expect(sessions?.samples[0]?.value).toBe(1);
    expect(w.stats).toMatchObject({ sent: series.length, failed: 0, dropped: 0, requests: 1, queued: 0 });
  });

  it('batches by maxSamplesPerSend', async () => {
    const rx = await receiver();
    const w = writer({ url: rx.url, maxSamplesPerSend: 2 });
    await w.collect();
    await w.flush();
    const total = w.stats.sent;
    expect(total).toBeGreaterThan(2);
    expect(rx.received.every((r) => r.series.length <= 2)).toBe(true);
    expect(rx.received).toHaveLength(Math.ceil(total / 2));
  });

  it('retries 5xx and 429 with backoff, then succeeds', async () => {
    const rx = await receiver((n, res) => {
      if (n === 0) res.writeHead(503).end('busy');
      else if (n === 1) res.writeHead(429, { 'Retry-After': '0' }).end();
      else res.writeHead(200).end();
    });
    const w = writer({ url: rx.url });
    await w.collect();
    await w.flush();
    expect(rx.received).toHaveLength(3);
    expect(w.stats).toMatchObject({ retries: 2, failed: 0, requests: 3 });
    expect(w.stats.sent).toBe(rx.received[2]?.series.length);
  });

  it('does not retry other 4xx and counts the batch as failed', async () => {
    const rx = await receiver((_n, res) => res.writeHead(400).end('out of order sample'));
    const w = writer({ url: rx.url });
    await w.collect();
    await w.flush();
    expect(rx.received).toHaveLength(1);
    expect(w.stats).toMatchObject({ sent: 0, retries: 0, requests: 1 });
    expect(w.stats.failed).toBe(rx.received[0]?.series.length);
    expect(w.stats.lastError).toContain('HTTP 400: out of order sample');
  });

  it('retries network errors up to maxRetries, then gives up', async () => {
    const rx = await receiver();
    await rx.close(); // nothing listens on that port any more
    const registry = metricsWithTraffic().registry;
    const w = writer({ url: rx.url, registry, maxRetries: 3 });
    await w.collect();
    await w.flush();
    expect(w.stats).toMatchObject({ sent: 0, retries: 3, requests: 0, failed: await snapshotSize(registry) });
    expect(w.stats.lastError).toMatch(/ECONNREFUSED|fetch failed/);
  });

  it('bounds the queue while the receiver stalls, dropping the oldest samples', async () => {
    const stalled: ServerResponse[] = [];
    let hold = true;
    const rx = await receiver((_n, res) => (hold ? stalled.push(res) : res.writeHead(204).end()));
    const registry = metricsWithTraffic().registry;
    const perSnapshot = await snapshotSize(registry);
    expect(perSnapshot).toBeGreaterThan(2);
    const w = writer({
      url: rx.url,
      registry,
      maxQueueSamples: 2,
      maxSamplesPerSend: 1,
      requestTimeoutMs: 5000,
    });
    for (let i = 0; i < 5; i++) await w.collect();
    await until(() => rx.received.length === 1);
    // One sample is in flight; the queue holds the newest 2; the rest was dropped.
    expect(w.stats.queued).toBe(2);
    expect(w.stats.dropped).toBe(5 * perSnapshot - 1 - 2);
    hold = false;
    for (const res of stalled.splice(0)) res.writeHead(204).end();
    await w.flush();
    expect(w.stats.sent).toBe(3);
    expect(w.stats).toMatchObject({ failed: 0, queued: 0 });
  });

  it('stop() takes a last snapshot and flushes everything', async () => {
    const rx = await receiver();
    const m = metricsWithTraffic();
    const w = new RemoteWriter({ url: rx.url, registry: m.registry, intervalMs: 60_000 }).start();
    m.sessionOpened();
    const stats = await w.stop();
    expect(rx.received).toHaveLength(1);
    const sessions = rx.received[0]?.series.find((s) =>
      s.labels.some((l) => l.value === 'mcp_active_sessions'),
    );
    expect(sessions?.samples[0]?.value).toBe(2);
    expect(stats).toMatchObject({ failed: 0, dropped: 0, queued: 0 });
    expect(stats.sent).toBeGreaterThan(0);
    await w.collect(); // a no-op once stopped
    expect(w.stats.queued).toBe(0);
    expect(() => w.start()).toThrow(/stopped/);
  });

  it('stop() gives up after its timeout, aborting the request in flight and counting drops', async () => {
    const rx = await receiver(() => {
      /* never answers */
    });
    const registry = metricsWithTraffic().registry;
    const w = writer({ url: rx.url, registry, maxSamplesPerSend: 3, requestTimeoutMs: 30_000 });
    await w.collect();
    await until(() => rx.received.length === 1);
    const started = Date.now();
    const stats = await w.stop(300);
    expect(Date.now() - started).toBeLessThan(2000);
    // The in-flight batch, the rest of the queue and the final snapshot taken by stop().
    expect(stats).toMatchObject({
      sent: 0,
      failed: 0,
      queued: 0,
      dropped: 2 * (await snapshotSize(registry)),
    });
  });

  it('pushes periodically once started, with strictly increasing timestamps', async () => {
    const rx = await receiver();
    const w = writer({ url: rx.url, intervalMs: 30 });
    w.start();
    const deadline = Date.now() + 3000;
    while (rx.received.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await w.stop();
    expect(rx.received.length).toBeGreaterThanOrEqual(3);
    const stamps = rx.received.map((r) => r.series[0]?.samples[0]?.timestampMs ?? 0);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1] as number);
  });

  it('never throws from collect() when the registry fails', async () => {
    const rx = await receiver();
    const broken = { getMetricsAsJSON: () => Promise.reject(new Error('collector blew up')) };
    const w = writer({ url: rx.url, registry: broken as unknown as Registry });
    await expect(w.collect()).resolves.toBeUndefined();
    expect(w.stats).toMatchObject({ collectErrors: 1, collections: 0, lastError: 'collector blew up' });
  });

  it.each([
    [{ url: 'ftp://example.com/write' }, 'url'],
    [{ url: 'not a url' }, 'url'],
    [{ registry: {} as Registry }, 'registry'],
    [{ intervalMs: 0 }, 'intervalMs'],
    [{ maxSamplesPerSend: 1.5 }, 'maxSamplesPerSend'],
    [{ maxRetries: -1 }, 'maxRetries'],
    [{ minBackoffMs: 100, maxBackoffMs: 10 }, 'maxBackoffMs'],
    [{ labels: { 'bad-name': 'x' } }, 'labels'],
    [{ labels: { __name__: 'x' } }, 'labels'],
    [{ labels: { job: 1 as unknown as string } }, 'labels'],
    [{ headers: { 'content-encoding': 'gzip' } }, 'headers'],
  ])('rejects %o naming the option', (options, option) => {
    const create = () =>
      new RemoteWriter({ url: 'http://127.0.0.1:9/write', registry: new Registry(), ...options });
    expect(create).toThrow(InvalidOptionError);
    expect(create).toThrow(option);
  });
});
