import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientPool } from '../../src/client/pool-client.js';
import { type Harness, startHttp } from '../http/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHttp({ keepAliveMs: 0 });
});
afterAll(async () => {
  await h.close();
});

describe('ConnectionPool against a real mcpkit HTTP server', () => {
  it('50 concurrent callers over max 10 never open an 11th session', async () => {
    const pool = createClientPool({ url: h.url, min: 2, max: 10, clientOptions: { protocol: 'legacy' } });
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        pool.use(async (client) => {
          peak = Math.max(peak, h.listener.handler.sessions?.size ?? 0);
          const r = await client.callTool('test_simple_text');
          peak = Math.max(peak, h.listener.handler.sessions?.size ?? 0);
          return `${i}:${(r.content[0] as { text: string }).text.length}`;
        }),
      ),
    );
    expect(results).toHaveLength(50);
    expect(peak).toBeLessThanOrEqual(10);
    expect(pool.stats.created).toBeLessThanOrEqual(10);
    expect(pool.stats.size).toBeLessThanOrEqual(10);
    await pool.close();
    // close() ends every session (DELETE), so the server is back to zero.
    await new Promise((r) => setTimeout(r, 100));
    expect(h.listener.handler.sessions?.size).toBe(0);
  });

  it('replaces a connection whose session the server killed', async () => {
    const pool = createClientPool({ url: h.url, min: 1, max: 1, clientOptions: { protocol: 'legacy' } });
    const first = await pool.acquire();
    const sessionId = (first.connection as unknown as { peer: { transport: { sessionId: string } } }).peer
      .transport.sessionId;
    first.release();
    // Kill the session server-side: the client's next request gets 404 and the transport ends.
    expect(h.listener.handler.sessions?.delete(sessionId)).toBe(true);
    await expect(pool.use((c) => c.callTool('test_simple_text'))).rejects.toThrow();
    const again = await pool.use((c) => c.callTool('test_simple_text'));
    expect(again.content).toHaveLength(1);
    expect(pool.stats.destroyed).toBeGreaterThanOrEqual(1);
    await pool.destroy();
  });

  it('leaves no sockets or timers behind', async () => {
    const before = process
      .getActiveResourcesInfo()
      .filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;
    const pool = createClientPool({ url: h.url, min: 3, max: 5, clientOptions: { protocol: 'legacy' } });
    await Promise.all(Array.from({ length: 20 }, () => pool.use((c) => c.callTool('test_simple_text'))));
    await pool.close();
    await new Promise((r) => setTimeout(r, 200));
    const after = process
      .getActiveResourcesInfo()
      .filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;
    expect(after).toBeLessThanOrEqual(before + 1);
  });
});
