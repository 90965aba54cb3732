import { Agent, request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { type Proc, startProcess } from '../runtime/proc.js';
import { modernCall, requireBuild, sseMessages } from './helpers.js';

/**
 * SIGTERM while 16 keep-alive clients keep calling tools. "Accepted" means the client got
 * response headers: every accepted request must end with its correct result or a 503
 * (draining), never a reset or a truncated body. Requests refused before any headers (the
 * listener already closed) are counted apart: the client can retry those safely.
 */

const CLIENTS = 16;
const LOAD_BEFORE_SIGNAL_MS = 1_000;
const MAX_LOAD_MS = 8_000;

type Outcome = 'ok' | 'draining' | 'refused' | 'lost' | 'wrong';

interface Call {
  tool: 'test_simple_text' | 'test_tool_with_progress';
  token: number | undefined;
}

function expected(call: Call): string {
  if (call.tool === 'test_simple_text') return 'This is a simple text response for testing.';
  return String(call.token ?? 'no progress token');
}

/** One call; the outcome says how far it got. */
function callOnce(
  port: number,
  agent: Agent,
  call: Call,
  id: number,
): Promise<{ outcome: Outcome; detail?: string }> {
  const { body, headers } = modernCall(
    id,
    call.tool,
    {},
    call.token === undefined ? {} : { progressToken: call.token },
  );
  return new Promise((resolve) => {
    let settled = false;
    const done = (outcome: Outcome, detail?: string) => {
      if (settled) return;
      settled = true;
      resolve(detail === undefined ? { outcome } : { outcome, detail });
    };
    const req = request({ host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => done('lost', `after headers: ${err.message}`));
      res.on('aborted', () => done('lost', 'aborted after headers'));
      res.on('close', () => {
        if (!res.complete) done('lost', `closed after headers (status ${res.statusCode})`);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode === 503) return done('draining');
        if (res.statusCode !== 200) return done('wrong', `status ${res.statusCode}: ${text.slice(0, 200)}`);
        try {
          const isSse = String(res.headers['content-type']).startsWith('text/event-stream');
          const reply = isSse ? sseMessages(text).find((m) => m.id === id) : JSON.parse(text);
          const got = reply?.result?.content?.[0]?.text;
          done(
            got === expected(call) ? 'ok' : 'wrong',
            got === expected(call) ? undefined : text.slice(0, 200),
          );
        } catch (err) {
          done('wrong', `unparseable body: ${(err as Error).message}`);
        }
      });
    });
    req.setTimeout(15_000, () => req.destroy(new Error('timed out')));
    // An error before any response headers: the request was never accepted.
    req.on('error', (err) => done('refused', (err as NodeJS.ErrnoException).code ?? err.message));
    req.end(JSON.stringify(body));
  });
}

describe('SIGTERM under load', () => {
  let proc: Proc | undefined;
  afterAll(() => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  });

  it('loses no accepted request and exits 0', async () => {
    requireBuild();
    proc = await startProcess({ MCP_LOG_LEVEL: 'info' });
    await proc.waitForLog((l) => l.msg === 'listening', 15_000);
    const p = proc;
    let exited = false;
    const exitCode = p.exited.then((code) => {
      exited = true;
      return code;
    });

    const counts: Record<Outcome, number> = { ok: 0, draining: 0, refused: 0, lost: 0, wrong: 0 };
    const problems: string[] = [];
    let okAfterSignal = 0;
    let signalled = false;
    const started = Date.now();
    let nextId = 1;

    const client = async (n: number) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let i = 0; Date.now() - started < MAX_LOAD_MS; i++) {
          const call: Call =
            (n + i) % 3 === 0
              ? { tool: 'test_tool_with_progress', token: (n + i) % 2 === 0 ? n * 1000 + i : undefined }
              : { tool: 'test_simple_text', token: undefined };
          const r = await callOnce(p.port, agent, call, nextId++);
          counts[r.outcome]++;
          if (r.outcome === 'ok' && signalled) okAfterSignal++;
          if (r.outcome === 'lost' || r.outcome === 'wrong')
            problems.push(`${call.tool}: ${r.outcome} ${r.detail ?? ''}`);
          // After a refusal the server is gone (or going): stop, as a real client would fail over.
          if (r.outcome === 'refused' || exited) break;
        }
      } finally {
        agent.destroy();
      }
    };

    const load = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
    await new Promise((r) => setTimeout(r, LOAD_BEFORE_SIGNAL_MS));
    const okBeforeSignal = counts.ok;
    signalled = true;
    p.child.kill('SIGTERM');
    await load;
    const code = await exitCode;

    console.info(
      `SIGTERM under load: ${JSON.stringify(counts)}; ok before signal ${okBeforeSignal}, ok after signal ${okAfterSignal}`,
    );
    expect(okBeforeSignal).toBeGreaterThan(CLIENTS);
    expect(problems).toEqual([]);
    expect(counts.lost).toBe(0);
    expect(counts.wrong).toBe(0);
    expect(code).toBe(0);
    expect(p.jsonLines().some((l) => l.msg === 'stopped')).toBe(true);
  }, 60_000);
});
