import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../src/protocol/errors.js';
import type { JsonRpcErrorResponse } from '../../src/protocol/jsonrpc.js';
import { LineFramer, frame } from '../../src/transport/stdio/framer.js';
import { BUDGET, FUZZ_TIMEOUT_MS, counter, params, runs } from './budget.js';

vi.setConfig({ testTimeout: FUZZ_TIMEOUT_MS });

/**
 * The stdio framer under arbitrary chunking: whatever way the pipe splits the bytes, every
 * message comes out once and in order, each garbage or oversize line yields one parse error,
 * and the bytes it holds for an unfinished line never exceed the line limit.
 */

// budget.ts keeps the registry of run counts; these properties scale with the same FUZZ_RUNS
// multiplier (read back from a registered key) and replay with the same FUZZ_SEED.
const scale = runs('jsonrpcStrings') / BUDGET.jsonrpcStrings;
const seed = params('jsonrpcStrings').seed;
const FRAMER_BUDGET = { sequences: 16_000, splitEverywhere: 1_500, bytewise: 2_500 } as const;
function scaled<T>(key: keyof typeof FRAMER_BUDGET): fc.Parameters<T> {
  const numRuns = Math.max(1, Math.round(FRAMER_BUDGET[key] * scale));
  return seed === undefined ? { numRuns } : { numRuns, seed };
}

const MAX = 256;

type Event = { kind: 'message'; value: unknown } | { kind: 'error'; error: JsonRpcErrorResponse };

class Recorder {
  readonly events: Event[] = [];
  message(value: unknown): void {
    this.events.push({ kind: 'message', value });
  }
  error(error: JsonRpcErrorResponse): void {
    this.events.push({ kind: 'error', error });
  }
}

/** Bytes the framer holds for an unfinished line (private state, read to prove the bound). */
function buffered(framer: LineFramer): number {
  const state = framer as unknown as { size: number; chunks: Buffer[] };
  const held = state.chunks.reduce((n, c) => n + c.length, 0);
  if (held !== state.size) throw new Error(`size ${state.size} disagrees with held chunks ${held}`);
  return state.size;
}

type Line =
  | {
      kind: 'message';
      value: { jsonrpc: '2.0'; id: number; method: string; params: Record<string, unknown> };
    }
  | { kind: 'garbage'; bytes: Buffer }
  | { kind: 'blank'; bytes: Buffer }
  | { kind: 'oversize'; bytes: Buffer };

// Full Unicode (astral planes too), so multi-byte sequences are everywhere in the stream.
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const message = fc.record({
  method: fc.oneof(fc.constantFrom('tools/call', 'ping', 'notifications/progress'), text),
  params: fc.record({ text, n: fc.integer(), emoji: fc.constantFrom('é', '€', '😀', '𝄞', 'ﬀ', '') }),
});
// A leading 0xff (or '#') is never JSON, whatever follows; bytes exclude the newline.
const noNewline = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a.filter((b) => b !== 10)));
const garbage = fc.oneof(
  noNewline.map((b) => Buffer.concat([Buffer.from([0xff]), b])),
  text.map((t) => Buffer.from(`#${t.replace(/\n/g, '')}`)),
  fc
    .constantFrom('{"jsonrpc":"2.0",', '[1,2', 'null null', '{"a":}', '\u00e9\u0000')
    .map((s) => Buffer.from(s)),
);
const blank = fc.constantFrom('', ' ', '\t', '  \t ').map((s) => Buffer.from(s));
const oversize = fc
  .integer({ min: MAX + 1, max: MAX * 3 })
  .map((n) => Buffer.from(`{"pad":"${'é'.repeat(n)}"}`));

const line: fc.Arbitrary<Line> = fc.oneof(
  {
    weight: 6,
    arbitrary: message.map((m) => ({
      kind: 'message' as const,
      value: { jsonrpc: '2.0' as const, id: 0, ...m },
    })),
  },
  { weight: 2, arbitrary: garbage.map((bytes) => ({ kind: 'garbage' as const, bytes })) },
  { weight: 1, arbitrary: blank.map((bytes) => ({ kind: 'blank' as const, bytes })) },
  { weight: 1, arbitrary: oversize.map((bytes) => ({ kind: 'oversize' as const, bytes })) },
);

/** Encodes lines (messages numbered in order) and the events the framer owes for them. */
function encode(
  lines: Line[],
  crlf: boolean[],
  terminateLast: boolean,
): { bytes: Buffer; expected: Array<'error' | number> } {
  const parts: Buffer[] = [];
  const expected: Array<'error' | number> = [];
  let next = 0;
  lines.forEach((l, i) => {
    const cr = crlf[i % crlf.length] ?? false;
    let body: Buffer;
    if (l.kind === 'message') {
      l.value.id = next;
      body = Buffer.from(frame(l.value).slice(0, -1));
      // Frame bytes plus the CR count against the limit; an over-long message is an oversize line.
      if (body.length + (cr ? 1 : 0) > MAX) expected.push('error');
      else expected.push(next);
      next++;
    } else {
      body = l.bytes;
      if (l.kind !== 'blank') expected.push('error');
    }
    parts.push(body);
    const last = i === lines.length - 1;
    if (!last || terminateLast) parts.push(Buffer.from(cr ? '\r\n' : '\n'));
    else if (cr) parts.push(Buffer.from('\r'));
  });
  return { bytes: Buffer.concat(parts), expected };
}

/** Splits `bytes` at the given cut points (any byte offset, mid-character included). */
function chunk(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  return out;
}

function feed(chunks: Buffer[]): { events: Event[]; maxHeld: number } {
  const sink = new Recorder();
  const framer = new LineFramer(sink, MAX);
  let maxHeld = 0;
  for (const c of chunks) {
    framer.push(c);
    maxHeld = Math.max(maxHeld, buffered(framer));
  }
  framer.end();
  if (buffered(framer) !== 0) fail('bytes left buffered after end()');
  return { events: sink.events, maxHeld };
}

function fail(message: string): never {
  throw new Error(message);
}

// Plain comparisons, not expect(): this runs hundreds of thousands of times per property.
function check(events: Event[], expected: Array<'error' | number>, lines: Line[]): void {
  const messages = lines.flatMap((l) => (l.kind === 'message' ? [l.value] : []));
  const got = events.map((e) => (e.kind === 'error' ? 'error' : (e.value as { id: number }).id));
  if (got.length !== expected.length || got.some((g, i) => g !== expected[i]))
    fail(`events ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
  for (const e of events) {
    if (e.kind === 'error') {
      if (e.error.jsonrpc !== '2.0' || e.error.id !== null || e.error.error.code !== ErrorCode.ParseError)
        fail(`not a parse error response: ${JSON.stringify(e.error)}`);
    } else {
      // Delivered intact: the decoded value is the message that was framed.
      const id = (e.value as { id: number }).id;
      if (JSON.stringify(e.value) !== JSON.stringify(messages[id]))
        fail(`message ${id} corrupted: ${JSON.stringify(e.value)}`);
    }
  }
}

describe('LineFramer fuzzing', () => {
  it('delivers every message once, in order, under any chunking, with one error per bad line', () => {
    const ran = counter();
    fc.assert(
      fc.property(
        fc.array(line, { minLength: 1, maxLength: 12 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 30 }),
        (lines, crlf, terminateLast, cuts) => {
          ran.tick();
          const { bytes, expected } = encode(lines, crlf, terminateLast);
          const { events, maxHeld } = feed(chunk(bytes, cuts));
          if (maxHeld > MAX) fail(`held ${maxHeld} bytes, limit ${MAX}`);
          check(events, expected, lines);
        },
      ),
      scaled('sequences'),
    );
    expect(ran.count).toBe(scaled('sequences').numRuns);
  });

  it('decodes a multi-byte message split at every byte position', () => {
    const ran = counter();
    fc.assert(
      fc.property(message, fc.boolean(), (m, cr) => {
        ran.tick();
        const value = { jsonrpc: '2.0' as const, id: 0, ...m };
        const lines: Line[] = [{ kind: 'message', value }];
        const { bytes, expected } = encode(lines, [cr], true);
        for (let at = 0; at <= bytes.length; at++) {
          const { events, maxHeld } = feed([bytes.subarray(0, at), bytes.subarray(at)]);
          if (maxHeld > MAX) fail(`held ${maxHeld} bytes, limit ${MAX}`);
          check(events, expected, lines);
        }
      }),
      scaled('splitEverywhere'),
    );
    expect(ran.count).toBe(scaled('splitEverywhere').numRuns);
  });

  it('keeps its buffer within the limit when fed one byte at a time, and recovers after an oversize line', () => {
    const ran = counter();
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 5 }), fc.boolean(), (lines, cr) => {
        ran.tick();
        // A valid message after the flood proves the framer resynchronised on the next newline.
        const all: Line[] = [
          ...lines,
          { kind: 'message', value: { jsonrpc: '2.0', id: 0, method: 'ping', params: {} } },
        ];
        const { bytes, expected } = encode(all, [cr], true);
        const bytewise: Buffer[] = [];
        for (let i = 0; i < bytes.length; i++) bytewise.push(bytes.subarray(i, i + 1));
        const { events, maxHeld } = feed(bytewise);
        if (maxHeld > MAX) fail(`held ${maxHeld} bytes, limit ${MAX}`);
        check(events, expected, all);
        if (events.at(-1)?.kind !== 'message') fail('the message after the bad lines was lost');
      }),
      scaled('bytewise'),
    );
    expect(ran.count).toBe(scaled('bytewise').numRuns);
  });

  it('spends at least 20,000 generated inputs per default run', () => {
    expect(Object.values(FRAMER_BUDGET).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(20_000);
  });
});
