// Memory scenarios: heap per idle legacy session, and heap after many requests (leak check).
// Servers run with --expose-gc; the debug route GCs before it reads process.memoryUsage().
import { openSessions, prepareScenario, startHttpServer, verifyScenario } from './http.js';
import { runLoad } from './wrk.js';

/**
 * Opens `sessions` idle legacy sessions (initialize + initialized) and divides the heap and RSS
 * growth by their number. A few stateless calls first, so code warm-up is not charged to sessions.
 */
export async function sessionMemory({ kind, sessions, serverCore }) {
  // mcpkit caps sessions at 10,000 by default; leave room for the warm-up session.
  const args = kind === 'mcpkit' ? ['--max-sessions', String(sessions + 1)] : [];
  const server = await startHttpServer(kind, { core: serverCore, args, nodeArgs: ['--expose-gc'] });
  try {
    // Warm the initialize path with one session, then measure from there.
    await openSessions(server.url, 1, 1);
    const before = (await server.debug()).memory;
    await openSessions(server.url, sessions);
    const after = (await server.debug()).memory;
    return {
      kind,
      sessions,
      heapBytesPerSession: (after.heapUsed - before.heapUsed) / sessions,
      rssBytesPerSession: (after.rss - before.rss) / sessions,
      heapUsedBefore: before.heapUsed,
      heapUsedAfter: after.heapUsed,
      rssAfter: after.rss,
    };
  } finally {
    await server.stop();
  }
}

/**
 * Drives `scenario` against a fresh server until the request count passes each checkpoint,
 * recording heapUsed after GC there. Growth = last checkpoint minus first.
 */
export async function heapOverRequests({
  kind,
  scenario,
  checkpoints,
  serverCore,
  loadCore,
  connections,
  sessions,
}) {
  const server = await startHttpServer(kind, { core: serverCore, nodeArgs: ['--expose-gc'] });
  try {
    const prepared = await prepareScenario(server.url, scenario, sessions);
    await verifyScenario(server.url, prepared);
    const points = [];
    // Unknown until the first chunk: a short first chunk calibrates it without overshooting far.
    let rate;
    let { count } = await server.debug();
    const started = performance.now();
    for (const target of checkpoints) {
      // At least one chunk per checkpoint, so every point is past the previous one even when a
      // chunk overshoots. Bounded: each chunk is a second or more of load.
      let chunks = 0;
      do {
        if (++chunks > 1000) throw new Error(`stalled below ${target} requests (at ${count})`);
        const seconds =
          rate === undefined ? 1 : Math.min(30, Math.max(1, Math.ceil(((target - count) / rate) * 1.05)));
        const r = await runLoad({ url: server.url, ...prepared, seconds, connections, core: loadCore });
        if (r.requests > 0) rate = r.rps;
        count = (await server.debug()).count;
      } while (count < target);
      const snap = await server.debug();
      count = snap.count;
      points.push({ requests: snap.count, heapUsed: snap.memory.heapUsed, rss: snap.memory.rss });
    }
    const first = points[0];
    const last = points[points.length - 1];
    return {
      kind,
      scenario,
      points,
      heapGrowthBytes: last.heapUsed - first.heapUsed,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await server.stop();
  }
}
