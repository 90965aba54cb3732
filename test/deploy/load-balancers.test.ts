// The repo's nginx and HAProxy configs, run for real in front of two upstreams: balancing, header
// pass-through, unbuffered SSE, WebSocket upgrade, TLS, optional affinity and replica failure.
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type HaproxyHandle, startHaproxy } from './haproxy-harness.js';
import { type NginxHandle, startNginx } from './nginx-harness.js';
import { type TestUpstream, startTestUpstream } from './upstream.js';

interface Balancer {
  readonly url: string;
  readonly port: number;
  readonly tlsPort: number;
  readonly caPem: string;
  stop(): Promise<void>;
}

interface BalancerKind {
  readonly name: string;
  start(upstreams: readonly number[], sessionAffinity?: boolean): Promise<Balancer>;
  /** Waits until the balancer has stopped sending traffic to the draining replica `drained`. */
  settle(balancer: Balancer, drained: TestUpstream): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const nginxKind: BalancerKind = {
  name: 'nginx',
  start: (upstreams, sessionAffinity = false) => startNginx({ upstreams, sessionAffinity }),
  // nginx has no active checks: each 503 counts towards max_fails and an idempotent request is retried
  // on the next replica, so GETs always succeed while the draining replica accumulates failures until
  // nginx stops choosing it.
  settle: async (balancer, drained) => {
    let untouched = 0;
    for (let i = 0; i < 40 && untouched < 5; i++) {
      const before = drained.seen.length;
      const response = await fetch(`${balancer.url}/ping`, { signal: AbortSignal.timeout(5_000) });
      expect(response.status).toBe(200);
      untouched = drained.seen.length === before ? untouched + 1 : 0;
    }
    expect(untouched).toBe(5);
  },
};

const haproxyKind: BalancerKind = {
  name: 'haproxy',
  start: async (upstreams, sessionAffinity = false) => {
    // Servers count as UP from the start ("UP 1/2" until their first check), so no wait is needed.
    const handle = await startHaproxy({ upstreams, sessionAffinity });
    expect(Object.values(await handle.serverStates()).every((s) => s.startsWith('UP'))).toBe(true);
    return handle;
  },
  // /ready answering 503 takes the replica out after `fall 2` checks.
  settle: async (balancer) => {
    const handle = balancer as HaproxyHandle;
    const deadline = Date.now() + 8_000;
    for (;;) {
      const states = Object.values(await handle.serverStates());
      if (states.includes('DOWN')) return;
      if (Date.now() > deadline) throw new Error(`no server went DOWN: ${JSON.stringify(states)}`);
      await sleep(100);
    }
  },
};

async function post(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    signal: AbortSignal.timeout(5_000),
  });
}

function servedBy(upstreams: readonly TestUpstream[]): Record<string, number> {
  return Object.fromEntries(upstreams.map((u) => [u.name, u.seen.filter((s) => s.path === '/mcp').length]));
}

interface Setup {
  a: TestUpstream;
  b: TestUpstream;
  lb: Balancer;
}

/** Two fresh upstreams and a balancer for one describe block, torn down after it. */
function useBalancer(kind: BalancerKind, sessionAffinity = false): Setup {
  const setup = {} as Setup;
  beforeAll(async () => {
    setup.a = await startTestUpstream('a');
    setup.b = await startTestUpstream('b');
    setup.lb = await kind.start([setup.a.port, setup.b.port], sessionAffinity);
  });
  afterAll(async () => {
    await setup.lb?.stop();
    await setup.a?.close();
    await setup.b?.close();
  });
  return setup;
}

function reset(...upstreams: TestUpstream[]): void {
  for (const u of upstreams) u.seen.length = 0;
}

describe.each([nginxKind, haproxyKind])('$name in front of two replicas', (kind) => {
  const setup = useBalancer(kind);

  it('spreads requests over both replicas', async () => {
    const { a, b, lb } = setup;
    reset(a, b);
    const replicas: string[] = [];
    for (let i = 0; i < 10; i++) {
      const response = await post(lb.url);
      expect(response.status).toBe(200);
      replicas.push(((await response.json()) as { replica: string }).replica);
    }
    const counts = servedBy([a, b]);
    expect(counts.a! + counts.b!).toBe(10);
    expect(counts.a).toBeGreaterThanOrEqual(3);
    expect(counts.b).toBeGreaterThanOrEqual(3);
    expect(new Set(replicas)).toEqual(new Set(['a', 'b']));
  });

  it('passes session, resumption and forwarding headers both ways', async () => {
    const { a, b, lb } = setup;
    reset(a, b);
    const response = await post(lb.url, {
      'mcp-session-id': 'session-123',
      'mcp-protocol-version': '2025-06-18',
      'last-event-id': 'a-7',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('mcp-session-id')).toBe('session-123');
    const request = [...a.seen, ...b.seen].find((s) => s.path === '/mcp');
    expect(request).toBeDefined();
    const headers = request!.headers;
    expect(headers['mcp-session-id']).toBe('session-123');
    expect(headers['mcp-protocol-version']).toBe('2025-06-18');
    expect(headers['last-event-id']).toBe('a-7');
    expect(String(headers['x-forwarded-for'])).toContain('127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(String(headers['x-request-id'] ?? '')).not.toBe('');

    const kept = await post(lb.url, { 'x-request-id': 'caller-chosen-id' });
    expect(kept.status).toBe(200);
    const last = [...a.seen, ...b.seen].filter((s) => s.path === '/mcp').at(-1);
    expect(last?.headers['x-request-id']).toBe('caller-chosen-id');
  });

  it('streams SSE events through unbuffered', async () => {
    const { a, b, lb } = setup;
    const response = await fetch(`${lb.url}/mcp`, {
      headers: { accept: 'text/event-stream' },
      signal: AbortSignal.timeout(5_000),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('content-encoding')).toBeNull();
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let firstEventAt = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (firstEventAt === 0 && text.includes('\n\n')) firstEventAt = Date.now();
    }
    const endedAt = Math.max(a.lastStreamEndedAt(), b.lastStreamEndedAt());
    expect(text).toMatch(/"n":1[\s\S]*"n":2/);
    expect(firstEventAt).toBeGreaterThan(0);
    // The first event arrived while the replica was still holding the stream open.
    expect(firstEventAt).toBeLessThan(endedAt);
  });

  it('upgrades WebSocket connections at /mcp', async () => {
    const { lb } = setup;
    const ws = new WebSocket(`ws://127.0.0.1:${lb.port}/mcp`);
    const reply = await new Promise<string>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error('no WebSocket reply')), 5_000);
      ws.once('open', () => ws.send('ping'));
      ws.once('message', (data) => {
        clearTimeout(timer);
        resolvePromise(data.toString());
      });
      ws.once('error', reject);
    });
    ws.close();
    expect(reply).toMatch(/^[ab]:ping$/);
  });

  it('terminates TLS 1.3 (and accepts 1.2) with h2 offered by ALPN', async () => {
    const { lb } = setup;
    const handshake = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
      new Promise<{ protocol: string | null; alpn: string | false | null }>((resolvePromise, reject) => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port: lb.tlsPort,
          servername: 'localhost',
          ca: lb.caPem,
          maxVersion,
          ALPNProtocols: ['h2', 'http/1.1'],
        });
        socket.setTimeout(5_000, () => reject(new Error('TLS handshake timed out')));
        socket.once('secureConnect', () => {
          resolvePromise({ protocol: socket.getProtocol(), alpn: socket.alpnProtocol });
          socket.end();
        });
        socket.once('error', reject);
      });
    expect(await handshake('TLSv1.3')).toEqual({ protocol: 'TLSv1.3', alpn: 'h2' });
    expect((await handshake('TLSv1.2')).protocol).toBe('TLSv1.2');
  });

  it('keeps /metrics of the replicas off the public front', async () => {
    const { lb } = setup;
    const response = await fetch(`${lb.url}/metrics`, { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(404);
  });
});

describe.each([nginxKind, haproxyKind])('$name with the optional Mcp-Session-Id affinity', (kind) => {
  const setup = useBalancer(kind, true);

  it('pins a session to one replica and still spreads requests without a session', async () => {
    const { a, b, lb } = setup;
    for (const session of ['s-1', 's-2', 's-3']) {
      const replicas = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const response = await post(lb.url, { 'mcp-session-id': session });
        replicas.add(((await response.json()) as { replica: string }).replica);
      }
      expect(replicas.size).toBe(1);
    }
    reset(a, b);
    for (let i = 0; i < 20; i++) expect((await post(lb.url)).status).toBe(200);
    const counts = servedBy([a, b]);
    expect(counts.a).toBeGreaterThan(0);
    expect(counts.b).toBeGreaterThan(0);
  });
});

describe.each([nginxKind, haproxyKind])('$name when a replica drains', (kind) => {
  const setup = useBalancer(kind);

  it('never replays a POST on another replica, and routes around the draining one', async () => {
    const { a, b, lb } = setup;
    a.setDraining(true);
    reset(a, b);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(lb.url)).status);
    const counts = servedBy([a, b]);
    // Each POST reached exactly one replica: the draining one's 503s went back to the client and were
    // not re-sent elsewhere (a tool call must never run twice because of the balancer).
    expect(counts.a! + counts.b!).toBe(6);
    expect(statuses.filter((s) => s === 503).length).toBe(counts.a);
    expect(statuses.filter((s) => s === 200).length).toBe(counts.b);

    await kind.settle(lb, a);
    reset(a, b);
    for (let i = 0; i < 6; i++) expect((await post(lb.url)).status).toBe(200);
    expect(servedBy([a, b])).toEqual({ a: 0, b: 6 });
  });
});

describe.each([nginxKind, haproxyKind])('$name when a replica dies', (kind) => {
  const setup = useBalancer(kind);

  it('retries on the other replica when one refuses connections', async () => {
    const { a, b, lb } = setup;
    await a.close();
    reset(b);
    for (let i = 0; i < 6; i++) expect((await post(lb.url)).status).toBe(200);
    expect(servedBy([b]).b).toBe(6);
  });
});
