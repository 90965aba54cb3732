import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HostileServer,
  fatalLines,
  isJsonRpcError,
  legacyHeaders,
  meta,
  modernCall,
  modernHeaders,
  openSession,
  send,
  startServer,
  unexpectedErrors,
} from './helpers.js';

/**
 * A client hammering a rate-limited server (MCP_RATE_LIMIT_*, the runtime's global limit) over
 * real sockets: the budget holds under concurrency, every refusal is HTTP 429 with Retry-After
 * and a JSON-RPC -32029 error carrying the request id, and exempt traffic still flows.
 */

const LIMIT = 20;
let s: HostileServer;
beforeAll(async () => {
  s = await startServer({ MCP_RATE_LIMIT_REQUESTS: String(LIMIT), MCP_RATE_LIMIT_WINDOW_SECS: '3600' });
});
afterAll(async () => {
  await s?.close();
});

describe('rate limiting under a flood', () => {
  it(`lets ${LIMIT} of 300 concurrent calls through and answers the rest 429 with Retry-After and -32029`, async () => {
    const replies = await Promise.all(
      Array.from({ length: 300 }, (_, i) => {
        const { body, headers } = modernCall(i, 'greet', { name: `c${i}` });
        return send(s.port, body, headers);
      }),
    );
    const ok = replies.filter((r) => r.status === 200);
    const limited = replies.filter((r) => r.status === 429);
    // A one-hour window refills one token every 3 minutes: nothing refills during the burst.
    expect(ok).toHaveLength(LIMIT);
    expect(limited).toHaveLength(300 - LIMIT);
    for (const r of ok) expect(r.json.result.content[0].text).toMatch(/^Hello, c\d+!$/);
    for (const r of limited) {
      expect(isJsonRpcError(r.json)).toBe(true);
      expect(r.json.error.code).toBe(-32029);
      expect(typeof r.json.id).toBe('number');
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(r.headers['ratelimit-remaining']).toBe('0');
    }
  });

  it('counts legacy sessions against the same budget, but not initialize (exempt by default)', async () => {
    const sid = await openSession(s.port);
    const call = await send(
      s.port,
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'greet', arguments: { name: 'x' } } },
      legacyHeaders(sid),
    );
    expect(call.status).toBe(429);
    expect(call.json).toMatchObject({ jsonrpc: '2.0', id: 7, error: { code: -32029 } });
  });

  it('still serves exempt methods and the health endpoints', async () => {
    const discover = await send(
      s.port,
      { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta() } },
      modernHeaders('server/discover'),
    );
    expect(discover.status).toBe(200);
    expect(discover.json.result.supportedVersions).toContain('2026-07-28');
    const health = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: s.port, path: '/health', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(health).toBe(200);
  });

  it('logged no handler failure and nothing reached the process level', () => {
    expect(s.alive()).toBe(true);
    expect(fatalLines(s)).toEqual([]);
    expect(unexpectedErrors(s)).toEqual([]);
  });
});
