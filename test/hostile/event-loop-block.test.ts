import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEverythingServer } from '../../examples/everything/server.js';
import { type ServeHandle, serve } from '../../src/runtime/serve.js';
import { modernCall } from './helpers.js';

/**
 * A tool that busy-waits 500 ms blocks the whole event loop: /health cannot answer meanwhile.
 * What matters is that nothing is lost: the health checks that queued up behind the block are
 * answered 200 once it ends, and the server goes on serving normal calls.
 */

const BLOCK_MS = 500;

interface Reply {
  status: number;
  text: string;
  at: number;
}

// Each request on its own connection: queued health checks must not share the blocked one.
const fresh = new Agent({ keepAlive: false });

function get(port: number, path: string, timeoutMs = 15_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent: fresh }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          text: Buffer.concat(chunks).toString('utf8'),
          at: Date.now(),
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function post(
  port: number,
  body: unknown,
  headers: Record<string, string>,
  timeoutMs = 15_000,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers, agent: fresh },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            at: Date.now(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('POST timed out')));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/**
 * Health probes from another process: the test's own event loop shares the blocked one, so
 * probes timed from here could not be sent while the tool spins. Fires GET /health every 50 ms
 * on fresh connections, prints "ready" after the first answer, then one JSON line of results.
 */
const PROBE = `
const http = require('node:http');
const port = Number(process.argv[1]);
const results = [];
let ready = false;
const one = () => new Promise((resolve) => {
  const sent = Date.now();
  const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false }, (res) => {
    res.resume();
    res.on('end', () => resolve({ status: res.statusCode, ms: Date.now() - sent }));
  });
  req.setTimeout(15000, () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ status: 0, ms: Date.now() - sent, error: e.message }));
});
(async () => {
  const pending = [];
  for (let i = 0; i < 40; i++) {
    const p = one().then((r) => { results.push(r); if (!ready) { ready = true; console.log('ready'); } });
    pending.push(p);
    if (i === 0) await p;
    await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.all(pending);
  console.log(JSON.stringify(results));
})();
`;

function startProbes(port: number): {
  ready: Promise<void>;
  results: Promise<{ status: number; ms: number; error?: string }[]>;
} {
  const child = spawn(process.execPath, ['-e', PROBE, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready')) onReady();
  });
  const results = new Promise<{ status: number; ms: number; error?: string }[]>((resolve, reject) => {
    child.once('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !last.startsWith('[')) reject(new Error(`probe process failed (${code}): ${out}`));
      else resolve(JSON.parse(last));
    });
  });
  return { ready, results };
}

describe('event loop blocked for 500 ms', () => {
  let handle: ServeHandle;
  let port: number;
  let blockEnded = 0;

  beforeAll(async () => {
    const server = createEverythingServer();
    server.tool('block_event_loop', { description: 'Busy-waits, holding the event loop' }, () => {
      const until = Date.now() + BLOCK_MS;
      while (Date.now() < until) {
        // Spinning on purpose: this is the blocking handler under test.
      }
      blockEnded = Date.now();
      return `blocked ${BLOCK_MS} ms`;
    });
    handle = await serve(server, {
      env: { MCP_SERVER_HOST: '127.0.0.1', MCP_SERVER_PORT: '0', MCP_LOG_LEVEL: 'silent' },
      signals: false,
    });
    port = handle.address.port;
  });

  afterAll(async () => {
    await handle?.close();
    fresh.destroy();
  });

  it('answers the /health checks queued during the block with 200 once it ends, and still serves calls', async () => {
    // Baseline: health answers before anything blocks.
    expect((await get(port, '/health')).status).toBe(200);

    const probes = startProbes(port);
    await probes.ready;
    const call = modernCall(1, 'block_event_loop');
    const blockReply = await post(port, call.body, call.headers);
    expect(blockReply.status).toBe(200);
    expect(JSON.parse(blockReply.text).result.content[0].text).toBe(`blocked ${BLOCK_MS} ms`);
    expect(blockEnded).toBeGreaterThan(0);

    const health = await probes.results;
    expect(health).toHaveLength(40);
    // Every probe answered 200: the ones that arrived during the block queued, none was dropped.
    expect(health.filter((r) => r.status !== 200)).toEqual([]);
    // Some probe really waited behind the block (loose: a loaded machine only makes it longer)...
    expect(Math.max(...health.map((r) => r.ms))).toBeGreaterThanOrEqual(BLOCK_MS / 2);
    // ...and was answered within a few seconds, not left hanging.
    expect(Math.max(...health.map((r) => r.ms))).toBeLessThan(BLOCK_MS + 5_000);

    // Normal traffic afterwards.
    const normal = modernCall(2, 'test_simple_text');
    const reply = await post(port, normal.body, normal.headers);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text).result.content).toEqual([
      { type: 'text', text: 'This is a simple text response for testing.' },
    ]);
    expect((await get(port, '/health')).status).toBe(200);
  }, 30_000);
});
