import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, meta, requireBuild, sleep } from './helpers.js';

/**
 * The built everything server on stdio (`node dist/examples/everything/main.js --stdio`), fed
 * garbage, an oversized line, UTF-8 split across reads and a deep pipeline. Every answer is
 * valid JSON-RPC, and the process survives to serve a normal request.
 */

interface StdioChild {
  child: ChildProcessWithoutNullStreams;
  /** Parsed stdout lines; anything that is not JSON lands here as { unparsed }. */
  messages: any[];
  stderr(): string;
  write(data: string | Buffer): Promise<void>;
  waitForMessages(count: number, timeoutMs?: number): Promise<any[]>;
}

function startStdio(): StdioChild {
  requireBuild();
  const child = spawn(process.execPath, ['dist/examples/everything/main.js', '--stdio'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', MCP_LOG_LEVEL: 'warn' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const messages: any[] = [];
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        messages.push(JSON.parse(line));
      } catch {
        messages.push({ unparsed: line });
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return {
    child,
    messages,
    stderr: () => stderr,
    write: (data) =>
      new Promise((resolve, reject) => {
        child.stdin.write(data, (err) => (err ? reject(err) : resolve()));
      }),
    async waitForMessages(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline)
          throw new Error(`${messages.length}/${count} messages; stderr:\n${stderr}`);
        if (child.exitCode !== null)
          throw new Error(`server exited with ${child.exitCode}; stderr:\n${stderr}`);
        await sleep(10);
      }
      return messages.slice(0, count);
    },
  };
}

/** Valid JSON-RPC 2.0 response: a result object or an error object, never both, with a usable id. */
function isResponse(m: any): boolean {
  if (m?.jsonrpc !== '2.0' || !('id' in m)) return false;
  if (!(m.id === null || typeof m.id === 'string' || Number.isSafeInteger(m.id))) return false;
  if ('result' in m === 'error' in m) return false;
  if ('error' in m) return Number.isInteger(m.error?.code) && typeof m.error?.message === 'string';
  return typeof m.result === 'object' && m.result !== null;
}

const request = (id: number | string, method: string, params: Record<string, unknown> = {}) =>
  `${JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta() } })}\n`;
const greet = (id: number | string, name: string) =>
  request(id, 'tools/call', { name: 'greet', arguments: { name } });

/** VmHWM / VmRSS of a process, in MiB (Linux /proc). */
function memoryOf(pid: number): { peak: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
  return { peak: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
}

let io: StdioChild;
beforeAll(async () => {
  io = startStdio();
  await io.write(request(0, 'server/discover'));
  await io.waitForMessages(1);
});
afterAll(() => {
  if (io?.child.exitCode === null) io.child.kill('SIGKILL');
});

/**
 * Sends `data` then a marker ping, and resolves with the `expected` answers besides the marker's
 * (answers may come in any order: handlers finish when they finish). Fails on any extra answer.
 */
async function exchange(
  data: string | Buffer | Array<string | Buffer>,
  expected: number,
  timeoutMs = 20_000,
): Promise<any[]> {
  const from = io.messages.length;
  const marker = `marker-${from}-${Date.now()}`;
  for (const part of Array.isArray(data) ? data : [data]) await io.write(part);
  await io.write(request(marker, 'server/discover'));
  const deadline = Date.now() + timeoutMs;
  const arrived = () => io.messages.slice(from);
  while (!(arrived().some((m) => m?.id === marker) && arrived().length >= expected + 1)) {
    if (Date.now() > deadline)
      throw new Error(
        `${arrived().length - 1}/${expected} answers; got ${JSON.stringify(arrived()).slice(0, 500)}`,
      );
    if (io.child.exitCode !== null)
      throw new Error(`server exited with ${io.child.exitCode}; stderr:\n${io.stderr()}`);
    await sleep(10);
  }
  // Anything extra would have arrived by now.
  await sleep(100);
  const got = arrived();
  expect(got.filter((m) => m?.id === marker)).toEqual([
    {
      jsonrpc: '2.0',
      id: marker,
      result: expect.objectContaining({ supportedVersions: expect.arrayContaining(['2026-07-28']) }),
    },
  ]);
  const answers = got.filter((m) => m?.id !== marker);
  expect(answers).toHaveLength(expected);
  return answers;
}

describe('stdio: hostile input', () => {
  it('answers each garbage line with one JSON-RPC error and keeps going', async () => {
    const garbage = [
      'hello',
      '{',
      '}',
      'null',
      '42',
      '"a string"',
      '[]',
      '[1, 2, 3]',
      '{"jsonrpc":"2.0"}',
      '{"jsonrpc":"1.0","id":1,"method":"ping"}',
      '{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}',
      '{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
      `{"jsonrpc":"2.0","id":"${'i'.repeat(10_000)}","method":"ping"}`,
      '{"jsonrpc":"2.0","id":1e400,"method":"ping"}',
      '{"jsonrpc":"2.0","id":2,"method":42}',
      '{"jsonrpc":"2.0","id":3,"method":"ping","params":[1]}',
      '\u0000\u0001\u0002\u001b[31m',
      `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
      `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
      '{"jsonrpc":"2.0","id":4,"method":"ping"}garbage',
    ];
    const lines = [
      ...garbage.map((g) => `${g}\n`),
      Buffer.from([0xff, 0xfe, 0x80, 0x0a]),
      '   \t  \r\n',
      '\n',
    ];
    // One error per non-blank line (the invalid-UTF-8 one included), nothing for the blank ones.
    const got = await exchange(lines, garbage.length + 1);
    for (const m of got) {
      expect(isResponse(m), JSON.stringify(m).slice(0, 200)).toBe(true);
      expect(m.error).toBeDefined();
      expect([-32700, -32600]).toContain(m.error.code);
    }
  });

  it('refuses a 20 MB line with one error, without holding it, and serves the next line', async () => {
    const before = memoryOf(io.child.pid as number);
    const huge = `{"jsonrpc":"2.0","id":"huge","method":"ping","params":{"pad":"${'x'.repeat(20 * 1024 * 1024)}"}}\n`;
    // In 1 MiB writes, as a client streaming it would.
    const parts: string[] = [];
    for (let i = 0; i < huge.length; i += 1024 * 1024) parts.push(huge.slice(i, i + 1024 * 1024));
    const got = await exchange(parts, 1, 30_000);
    expect(got).toEqual([
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Message larger than 16777216 bytes' } },
    ]);
    const after = memoryOf(io.child.pid as number);
    // The framer buffers at most its 16 MiB limit; the 20 MB never sits in memory whole (twice, as a string).
    expect(after.peak - before.peak).toBeLessThan(48);
    expect(io.messages.some((m) => m?.id === 'huge')).toBe(false);
  }, 60_000);

  it('reassembles UTF-8 characters split across reads, byte by byte', async () => {
    const name = 'é€😀 ok';
    const line = Buffer.from(greet('utf8', name));
    const start = line.indexOf(Buffer.from('é'));
    const parts: Buffer[] = [line.subarray(0, start)];
    for (let i = start; i < start + Buffer.byteLength('é€😀'); i++) parts.push(line.subarray(i, i + 1));
    parts.push(line.subarray(start + Buffer.byteLength('é€😀')));
    const from = io.messages.length;
    for (const part of parts) {
      await io.write(part);
      // Separate reads on the server side, not one coalesced chunk.
      await sleep(5);
    }
    const [answer] = await io.waitForMessages(from + 1).then((all) => all.slice(from));
    expect(answer).toEqual({
      jsonrpc: '2.0',
      id: 'utf8',
      result: { content: [{ type: 'text', text: `Hello, ${name}!` }], resultType: 'complete' },
    });
  });

  it('answers 10,000 pipelined requests, each exactly once, in one write', async () => {
    const COUNT = 10_000;
    const lines: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      if (i % 3 === 0) lines.push(request(i, 'server/discover'));
      else if (i % 3 === 1) lines.push(greet(i, `n${i}`));
      else lines.push(request(i, 'tools/list'));
    }
    const got = await exchange(lines.join(''), COUNT, 60_000);
    const byId = new Map<number, any>();
    for (const m of got) {
      expect(isResponse(m)).toBe(true);
      expect(byId.has(m.id)).toBe(false);
      byId.set(m.id, m);
    }
    let busy = 0;
    for (let i = 0; i < COUNT; i++) {
      const m = byId.get(i);
      expect(m, `answer to ${i}`).toBeDefined();
      // Over the in-flight cap the connection refuses with a proper error (backpressure), never drops.
      if (m.error) {
        expect(m.error).toEqual({ code: -32603, message: 'Server busy: too many requests in flight' });
        busy++;
        continue;
      }
      if (i % 3 === 1) expect(m.result.content[0].text).toBe(`Hello, n${i}!`);
      else if (i % 3 === 2) expect(Array.isArray(m.result.tools)).toBe(true);
      else expect(m.result.supportedVersions).toContain('2026-07-28');
    }
    expect(busy).toBeLessThan(COUNT / 2);
  }, 90_000);

  it('survived everything: still serves, nothing on stderr, and exits 0 when stdin closes', async () => {
    const got = await exchange(greet('last', 'still here'), 1);
    expect(got).toEqual([
      {
        jsonrpc: '2.0',
        id: 'last',
        result: { content: [{ type: 'text', text: 'Hello, still here!' }], resultType: 'complete' },
      },
    ]);
    expect(io.messages.filter((m) => 'unparsed' in m)).toEqual([]);
    expect(io.stderr()).not.toMatch(/uncaught|unhandled|FATAL|Error:/i);
    const exited = new Promise<number | null>((resolve) => io.child.once('exit', (code) => resolve(code)));
    io.child.stdin.end();
    expect(await exited).toBe(0);
  });
});
