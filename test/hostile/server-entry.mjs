/**
 * Test-only server process for the hostile and soak suites: the built everything server under
 * serve() (the production runtime), plus fault-injection tools and a debug hook on the IPC
 * channel that reports memory after forced GC, handler state and prototype pollution.
 *
 * Run with `node --expose-gc test/hostile/server-entry.mjs` and an IPC channel; it imports the
 * build (dist/), so `npm run build` first (npm test does it in pretest).
 *
 * Environment: the MCP_* variables serve() reads, plus HOSTILE_HTTP (JSON of extra Streamable
 * HTTP options, e.g. {"maxStreamBufferBytes":65536}).
 */
import { createEverythingServer } from '../../dist/examples/everything/server.js';
import { createRuntimeLogger } from '../../dist/src/runtime/logging.js';
import { serve } from '../../dist/src/runtime/serve.js';
import { StreamableHttpHandler } from '../../dist/src/transport/http/handler.js';
import { SessionManager } from '../../dist/src/transport/http/sessions.js';

if (typeof globalThis.gc !== 'function' || typeof process.send !== 'function') {
  process.stderr.write('server-entry: run with --expose-gc and an IPC channel\n');
  process.exit(2);
}

// Anything reaching the process level is a finding: mark it on stderr, where the tests look.
process.on('uncaughtExceptionMonitor', (err, origin) => {
  process.stderr.write(`HOSTILE-FATAL ${origin}: ${err?.stack ?? String(err)}\n`);
});
process.on('warning', (warning) => {
  process.stderr.write(`HOSTILE-WARNING ${warning.name}: ${warning.message}\n`);
});

// serve() does not expose its handler; the first request tells us which one it is.
let handler;
const handle = StreamableHttpHandler.prototype.handle;
StreamableHttpHandler.prototype.handle = function (io) {
  handler ??= this;
  return handle.call(this, io);
};

const counters = {
  reapCalls: 0,
  reapScanned: 0,
  reaped: 0,
  hangStarted: 0,
  hangAborted: 0,
  rejectedAfterCancel: 0,
  streamAborted: 0,
  lateWrites: 0,
  floodSent: 0,
};

// How much reaping costs: each reap() walks every session, so count the walks and their length.
const reap = SessionManager.prototype.reap;
SessionManager.prototype.reap = function (now) {
  counters.reapCalls++;
  counters.reapScanned += this.size;
  const reaped = reap.call(this, now);
  counters.reaped += reaped;
  return reaped;
};

const SECRET = 'hostile-secret-token-5f3a9c';
// The server's own failures ("HTTP handler failed", "request failed") go to the same log as the
// runtime's, so the tests see them.
const logger = createRuntimeLogger({ level: process.env.MCP_LOG_LEVEL ?? 'warn' });
const server = createEverythingServer({ logger: logger.module('server') });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const aborted = (signal) =>
  new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

// Errors the way drivers and HTTP clients write them, credentials included.
server.tool('fault_throw_sync', { description: 'Throws synchronously' }, () => {
  throw new Error(`connect ECONNREFUSED postgres://app:${SECRET}@db.internal:5432/app`);
});
server.tool('fault_reject', { description: 'Returns a rejected promise' }, () =>
  Promise.reject(new Error(`upstream refused Authorization: Bearer ${SECRET}`)),
);
server.resource(
  'test://fault-resource',
  { name: 'fault-resource', description: 'Its read handler throws' },
  () => {
    throw new Error(`cannot open s3://bucket/key?X-Amz-Signature=${SECRET}`);
  },
);
server.tool(
  'fault_block',
  {
    description: 'Blocks the event loop',
    inputSchema: { type: 'object', properties: { ms: { type: 'integer' } }, required: ['ms'] },
  },
  (args) => {
    const until = Date.now() + Number(args.ms);
    while (Date.now() < until) {
      // Busy: a CPU-bound handler, or a synchronous library call.
    }
    return `blocked ${args.ms} ms`;
  },
);
server.tool(
  'fault_hang',
  { description: 'Never settles; counts the cancellations it sees' },
  (_args, ctx) => {
    counters.hangStarted++;
    ctx.signal.addEventListener('abort', () => counters.hangAborted++, { once: true });
    return new Promise(() => {});
  },
);
server.tool(
  'fault_reject_after_cancel',
  { description: 'Waits for cancellation, then rejects' },
  async (_args, ctx) => {
    await aborted(ctx.signal);
    await sleep(20);
    counters.rejectedAfterCancel++;
    throw new Error('rejected after the client cancelled');
  },
);
server.tool(
  'fault_stream_then_wait',
  { description: 'Streams progress, waits for the client to go, then writes again' },
  async (_args, ctx) => {
    await ctx.progress(1, 2, 'started');
    await aborted(ctx.signal);
    counters.streamAborted++;
    await sleep(20);
    // Writing to a stream whose client is gone must be harmless.
    await ctx.progress(2, 2, 'after disconnect');
    counters.lateWrites++;
    return 'finished after disconnect';
  },
);
server.tool(
  'flood_progress',
  {
    description: 'Sends count progress notifications of bytes each',
    inputSchema: {
      type: 'object',
      properties: { count: { type: 'integer' }, bytes: { type: 'integer' } },
      required: ['count', 'bytes'],
    },
  },
  async (args, ctx) => {
    const filler = 'x'.repeat(Number(args.bytes));
    for (let i = 0; i < Number(args.count); i++) {
      await ctx.progress(i, Number(args.count), filler);
      counters.floodSent++;
      // Let the event loop see the socket (drain, close) as a real workload would.
      if (i % 16 === 15) await new Promise((resolve) => setImmediate(resolve));
    }
    return `sent ${args.count}`;
  },
);
server.tool(
  'flood_list_changed',
  {
    description: 'Announces count tools list changes',
    inputSchema: { type: 'object', properties: { count: { type: 'integer' } }, required: ['count'] },
  },
  async (args) => {
    for (let i = 0; i < Number(args.count); i++) {
      server.notifyListChanged('tools');
      if (i % 256 === 255) await new Promise((resolve) => setImmediate(resolve));
    }
    return `announced ${args.count}`;
  },
);
server.tool('inspect_args', { description: 'Reports how the arguments object arrived' }, (args) => ({
  structuredContent: {
    keys: Object.keys(args),
    ownProto: Object.hasOwn(args, '__proto__'),
    plainPrototype: Object.getPrototypeOf(args) === Object.prototype,
  },
}));

const http = JSON.parse(process.env.HOSTILE_HTTP ?? '{}');
const running = await serve(server, { env: process.env, signals: false, http, logger });

const pollution = () => {
  const probe = {};
  return {
    polluted: probe.polluted !== undefined || Object.prototype.polluted !== undefined,
    objectKeys: Object.getOwnPropertyNames(Object.prototype).length,
    arrayKeys: Object.getOwnPropertyNames(Array.prototype).length,
    functionKeys: Object.getOwnPropertyNames(Function.prototype).length,
  };
};

async function stats() {
  globalThis.gc();
  await new Promise((resolve) => setImmediate(resolve));
  globalThis.gc();
  const connections = await new Promise((resolve) =>
    running.http.getConnections((err, n) => resolve(err ? -1 : n)),
  );
  return {
    memory: process.memoryUsage(),
    // High-water mark: what a burst cost, even if GC gave it back before we looked.
    maxRss: process.resourceUsage().maxRSS * 1024,
    sessions: handler?.sessions?.size ?? 0,
    streams: handler?.openStreams.size ?? 0,
    liveRequests: handler?.stats.liveRequests ?? 0,
    busListeners: server.bus.size,
    // MemoryEventStore streams kept for Last-Event-ID resumption (legacy sessions).
    eventStreams: handler?.sessions?.eventStore?.size ?? 0,
    connections,
    counters: { ...counters },
    pollution: pollution(),
  };
}

process.on('message', (message) => {
  if (message?.type === 'stats') {
    stats().then((value) => process.send({ type: 'stats', id: message.id, value }));
  } else if (message?.type === 'close') {
    running.close().then(() => process.exit(0));
  }
});
// The test process went away (crashed, timed out): do not outlive it.
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', url: running.url, port: running.address.port, secret: SECRET });
