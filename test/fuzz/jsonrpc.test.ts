import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { ErrorCode, McpError } from '../../src/protocol/errors.js';
import {
  DEFAULT_MAX_JSON_DEPTH,
  type JsonRpcErrorResponse,
  errorResponse,
  errorResponseFrom,
  parseJson,
  validateMessage,
} from '../../src/protocol/jsonrpc.js';
import { FUZZ_TIMEOUT_MS, counter, params } from './budget.js';
import { bestOf } from './timing.js';

vi.setConfig({ testTimeout: FUZZ_TIMEOUT_MS });

/**
 * The JSON-RPC front door (`parseJson` then `validateMessage`) under arbitrary input: it never
 * throws, and every input ends as either a message of a shape MCP allows or an error response
 * a peer can put on the wire as is.
 */

function fail(message: string): never {
  throw new Error(message);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isRequestId(id: unknown): boolean {
  return (
    (typeof id === 'string' && id.length <= 1024) || (typeof id === 'number' && Number.isSafeInteger(id))
  );
}

/** Depth as `exceedsJsonDepth` counts it: each array or object is one level. */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    max = Math.max(max, d + 1);
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/** A wire-ready error response: right envelope, integer code, valid id, JSON round-trip. */
function checkErrorResponse(e: unknown, code: number, expectedId?: unknown): void {
  if (!isPlainObject(e)) fail('error response is not an object');
  const r = e as unknown as JsonRpcErrorResponse;
  if (r.jsonrpc !== '2.0') fail('jsonrpc');
  if (!(r.id === null || isRequestId(r.id))) fail(`bad id ${String(r.id)}`);
  if (expectedId !== undefined && r.id !== expectedId) fail('error response lost the request id');
  if (!isPlainObject(r.error) || r.error.code !== code || typeof r.error.message !== 'string')
    fail('error object');
  const back = parseJson(JSON.stringify(r));
  if (!back.ok || !validateMessage(back.value).ok) fail('error response does not survive the wire');
}

/** The shapes JSON-RPC 2.0 and MCP allow. */
function shapeProblem(m: unknown): string | undefined {
  if (!isPlainObject(m) || m.jsonrpc !== '2.0') return 'envelope';
  if ('method' in m) {
    if (typeof m.method !== 'string' || m.method === '') return 'method';
    if (m.params !== undefined && !isPlainObject(m.params)) return 'params';
    if ('id' in m && !isRequestId(m.id)) return 'request id';
    return undefined;
  }
  if ('result' in m === 'error' in m) return 'kind';
  if ('result' in m) {
    if (!isPlainObject(m.result)) return 'result';
    if (!isRequestId(m.id)) return 'response id';
    return undefined;
  }
  const e = m.error;
  if (!isPlainObject(e) || !Number.isInteger(e.code) || typeof e.message !== 'string') return 'error';
  if (m.id !== undefined && m.id !== null && !isRequestId(m.id)) return 'error response id';
  return undefined;
}

function checkValidation(value: unknown): void {
  const v = validateMessage(value);
  if (v.ok) {
    const problem = shapeProblem(v.message);
    if (problem !== undefined) fail(`accepted a message with a bad ${problem}`);
    if (v.message !== value) fail('validateMessage must return the value it was given');
  } else {
    if (shapeProblem(value) === undefined) fail(`refused an allowed message: ${v.error.error.message}`);
    const id = isPlainObject(value) ? value.id : undefined;
    checkErrorResponse(v.error, ErrorCode.InvalidRequest, v.error.id === null ? undefined : id);
  }
}

function checkNoPollution(): void {
  const probe = {} as Record<string, unknown>;
  if (probe.polluted !== undefined || Object.hasOwn(Object.prototype, 'polluted'))
    fail('Object.prototype polluted');
}

/** Raw UTF-16 code units: lone surrogates included, as a byte-level transport can produce. */
const utf16 = fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 120 });
const jsonish = fc.string({
  unit: fc.constantFrom(...'{}[]":,\\ 0123456789-+.eEtrufalsn\t\n'.split('')),
  maxLength: 200,
});

describe('parseJson on arbitrary text', () => {
  it('never throws; ok exactly when JSON.parse succeeds within the depth bound', () => {
    const c = counter();
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), utf16, jsonish), (text) => {
        c.tick();
        const res = parseJson(text);
        let parsed: { value: unknown } | undefined;
        try {
          parsed = { value: JSON.parse(text) };
        } catch {
          parsed = undefined;
        }
        const expectOk = parsed !== undefined && depthOf(parsed.value) <= DEFAULT_MAX_JSON_DEPTH;
        if (res.ok !== expectOk) fail(`ok=${res.ok}, expected ${expectOk}`);
        if (res.ok) {
          if (JSON.stringify(res.value) !== JSON.stringify(parsed?.value))
            fail('value differs from JSON.parse');
          checkValidation(res.value);
        } else {
          checkErrorResponse(res.error, ErrorCode.ParseError);
          if (res.error.id !== null) fail('a parse error has no id');
        }
      }),
      params('jsonrpcStrings'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('jsonrpcStrings').numRuns!);
  });

  it('enforces the depth bound exactly, however the brackets are dressed up', () => {
    const level = fc.constantFrom(
      { open: '[', close: ']' },
      { open: '{"k":', close: '}' },
      { open: ' [ "x\\"[" , ', close: ' ] ' },
      { open: '{"a]}":1,"b":', close: '}' },
      { open: '[{"[":"{"},', close: ']' },
    );
    const c = counter();
    fc.assert(
      fc.property(
        fc.array(level, { maxLength: 140 }),
        fc.constantFrom('1', '"[[[["', '"\\\\"', '{}', '[]', 'null'),
        fc.constantFrom('', '', '', ']', '}', '[', 'x', ','),
        fc.nat(),
        (levels, inner, junk, cut) => {
          c.tick();
          let text = `${levels.map((l) => l.open).join('')}${inner}${levels
            .map((l) => l.close)
            .reverse()
            .join('')}${junk}`;
          const truncate = cut % 5 === 0 && text.length > 1;
          if (truncate) text = text.slice(0, cut % text.length);
          const res = parseJson(text);
          let valid = true;
          let value: unknown;
          try {
            value = JSON.parse(text);
          } catch {
            valid = false;
          }
          const expectOk = valid && depthOf(value) <= DEFAULT_MAX_JSON_DEPTH;
          if (res.ok !== expectOk) fail(`depth ${valid ? depthOf(value) : 'invalid'}: ok=${res.ok}`);
          if (!res.ok) checkErrorResponse(res.error, ErrorCode.ParseError);
        },
      ),
      params('jsonrpcNesting'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('jsonrpcNesting').numRuns!);
  });

  it('refuses pathological nesting quickly, without touching the stack', () => {
    for (const text of [
      '['.repeat(100_000),
      `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`,
      '[]'.repeat(500_000),
    ]) {
      const res = parseJson(text);
      expect(bestOf(3, () => parseJson(text), 100)).toBeLessThan(100);
      if (text.startsWith('[]')) expect(res.ok).toBe(false);
      else expect(res).toMatchObject({ ok: false, error: { error: { code: ErrorCode.ParseError } } });
    }
  });
});

const rawId = fc.oneof(
  fc.integer().map(String),
  fc.constantFrom(
    String(Number.MAX_SAFE_INTEGER),
    String(Number.MAX_SAFE_INTEGER + 1),
    String(-Number.MAX_SAFE_INTEGER),
    '9007199254740993',
    '123456789012345678901234567890',
    '1e400',
    '-1e400',
    '1.5',
    '-0',
    '1E2',
    '0.0',
  ),
  fc.string({ maxLength: 20 }).map((s) => JSON.stringify(s)),
  fc.integer({ min: 1020, max: 1030 }).map((n) => JSON.stringify('i'.repeat(n))),
  fc.constantFrom('null', 'true', '{}', '[]', '[1]', '{"a":1}'),
);
const rawObject = fc.oneof(
  fc.constantFrom(
    '{}',
    '[]',
    'null',
    '"x"',
    '1',
    '{"__proto__":{"polluted":1}}',
    '{"constructor":{"prototype":{"polluted":1}}}',
    '{"a":{"__proto__":{"polluted":1}}}',
  ),
  fc.json({ maxDepth: 3 }),
);
const member = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('"2.0"').map((v) => ['jsonrpc', v] as const) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('"1.0"', '2', '2.0', 'null', '"2.0 "').map((v) => ['jsonrpc', v] as const),
  },
  { weight: 4, arbitrary: rawId.map((v) => ['id', v] as const) },
  {
    weight: 4,
    arbitrary: fc
      .oneof(
        fc.string({ maxLength: 30 }).map((s) => JSON.stringify(s)),
        fc.constantFrom('""', '1', 'null', '"tools/call"', '"__proto__"'),
      )
      .map((v) => ['method', v] as const),
  },
  { weight: 3, arbitrary: rawObject.map((v) => ['params', v] as const) },
  { weight: 2, arbitrary: rawObject.map((v) => ['result', v] as const) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom(
          '{"code":"1","message":"x"}',
          '{"code":1}',
          'null',
          '{"code":1.5,"message":"m","data":{}}',
          '[]',
        ),
        fc
          .record({ code: fc.integer(), message: fc.string({ maxLength: 10 }) })
          .map((e) => JSON.stringify(e)),
      )
      .map((v) => ['error', v] as const),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'),
        fc.constantFrom(
          '{"polluted":1}',
          '{"jsonrpc":"2.0","method":"x","id":1}',
          'null',
          '"x"',
          '{"prototype":{"polluted":1}}',
        ),
      )
      .map(([k, v]) => [k, v] as const),
  },
);

describe('validateMessage on message-shaped input', () => {
  it('accepts only allowed shapes, answers the rest with a usable error, never pollutes', () => {
    const c = counter();
    fc.assert(
      fc.property(fc.array(member, { maxLength: 7 }), (members) => {
        c.tick();
        // Duplicate keys included: JSON.parse keeps the last, and so must everything after it.
        const text = `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
        const res = parseJson(text);
        if (!res.ok) fail(`generator produced invalid JSON: ${text}`);
        checkValidation(res.value);
        checkNoPollution();
      }),
      params('jsonrpcShaped'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('jsonrpcShaped').numRuns!);
  });

  it('holds for any JSON value', () => {
    const c = counter();
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        c.tick();
        const res = parseJson(JSON.stringify(v));
        if (!res.ok) fail('valid shallow JSON refused');
        checkValidation(res.value);
      }),
      params('jsonrpcJsonValues'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('jsonrpcJsonValues').numRuns!);
  });

  it('holds for any JavaScript value an in-process transport could hand it', () => {
    const key = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('__proto__', 'constructor', 'jsonrpc', 'id', 'method', 'params', 'result', 'error'),
    );
    const anything = fc.anything({
      key,
      maxDepth: 3,
      withNullPrototype: true,
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withSparseArray: true,
    });
    const messageLike = fc.record(
      {
        jsonrpc: fc.oneof(fc.constant('2.0'), anything),
        id: anything,
        method: anything,
        params: anything,
        result: anything,
        error: anything,
      },
      { requiredKeys: ['jsonrpc'] },
    );
    const c = counter();
    fc.assert(
      fc.property(fc.oneof(anything, messageLike), (value) => {
        c.tick();
        checkValidation(value);
      }),
      params('jsonrpcAnything'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('jsonrpcAnything').numRuns!);
  });

  it('keeps exact ids at the safe-integer and length edges', () => {
    const cases: [string, unknown][] = [
      [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER],
      [String(Number.MAX_SAFE_INTEGER + 1), null],
      ['1e400', null],
      ['1.5', null],
      [JSON.stringify('i'.repeat(1024)), 'i'.repeat(1024)],
      [JSON.stringify('i'.repeat(1025)), null],
    ];
    for (const [raw, expectedId] of cases) {
      const res = parseJson(`{"jsonrpc":"2.0","id":${raw},"method":"ping"}`);
      expect(res.ok).toBe(true);
      const v = validateMessage((res as { value: unknown }).value);
      if (expectedId === null)
        expect(v).toMatchObject({
          ok: false,
          error: { id: null, error: { code: ErrorCode.InvalidRequest } },
        });
      else expect(v).toMatchObject({ ok: true, message: { id: expectedId } });
    }
  });
});

describe('errorResponse', () => {
  it('always builds a wire-valid error response', () => {
    const id = fc.oneof(fc.constant(null), fc.string({ maxLength: 1024 }), fc.maxSafeInteger(), fc.integer());
    const c = counter();
    fc.assert(
      fc.property(
        id,
        fc.integer(),
        fc.string({ maxLength: 50 }),
        fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }),
        (i, code, message, data) => {
          c.tick();
          for (const r of [
            errorResponse(i, code, message, data),
            errorResponseFrom(i, new McpError(code, message, data)),
          ]) {
            checkErrorResponse(r, code, i ?? undefined);
            if ('data' in r.error !== (data !== undefined)) fail('data present iff given');
            if (r.error.message !== message) fail('message changed');
          }
        },
      ),
      params('jsonrpcErrorResponses'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('jsonrpcErrorResponses').numRuns!);
  });
});
