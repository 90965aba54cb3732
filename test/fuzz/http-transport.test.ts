import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEverythingServer } from '../../examples/everything/server.js';
import { StreamableHttpHandler } from '../../src/transport/http/handler.js';
import type { Logger } from '../../src/util/logger.js';
import { BUDGET, FUZZ_TIMEOUT_MS, counter, params, runs } from './budget.js';
import { type Captured, FakeIO, checkExchange, fail, reached } from './http-harness.js';

vi.setConfig({ testTimeout: FUZZ_TIMEOUT_MS });

/**
 * The Streamable HTTP handler in-process, driven through a fake HttpIO (no sockets, so tens of
 * thousands of exchanges fit in seconds): whatever the method, headers and body, handle() never
 * throws or hangs, answers exactly once with a real HTTP status, every body is JSON-RPC a peer
 * can read, ids are echoed, and the handler still serves a normal tools/call afterwards.
 */

// budget.ts keeps the registry of run counts; these properties scale with the same FUZZ_RUNS
// multiplier (read back from a registered key) and replay with the same FUZZ_SEED.
const scale = runs('jsonrpcStrings') / BUDGET.jsonrpcStrings;
const seed = params('jsonrpcStrings').seed;
const HTTP_BUDGET = { anything: 6_000, modern: 8_000, legacy: 6_000 } as const;
const runCount = (key: keyof typeof HTTP_BUDGET) => Math.max(1, Math.round(HTTP_BUDGET[key] * scale));
function scaled<T>(key: keyof typeof HTTP_BUDGET): fc.Parameters<T> {
  const numRuns = runCount(key);
  return seed === undefined ? { numRuns } : { numRuns, seed };
}

const PROTOCOL = '2026-07-28';
const META_VERSION = 'io.modelcontextprotocol/protocolVersion';
const META_CAPS = 'io.modelcontextprotocol/clientCapabilities';
const MAX_BODY = 4096;
// A hang is a failure, but a loaded 2-core machine can pause for a while: be generous.
const HANG_MS = 10_000;

// ------------------------------------------------------------------ the handler

const failures: string[] = [];
const logger: Logger = {
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (obj, msg) => {
    // Handler failures the server turned into 500s (or tool bugs it logged) are findings.
    if (msg === 'HTTP handler failed')
      failures.push(`${msg}: ${String((obj as { err?: Error }).err?.stack ?? '')}`);
  },
  child: () => logger,
};

const server = createEverythingServer({ logger });
const handler = new StreamableHttpHandler(server, {
  maxBodyBytes: MAX_BODY,
  maxSessions: 32,
  keepAliveMs: 0,
});
const openIos = new Set<FakeIO>();

async function exchange(
  method: string,
  headers: Record<string, string | undefined>,
  body: string,
  local = '127.0.0.1',
): Promise<FakeIO> {
  const io = new FakeIO(method, headers, body, local);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), HANG_MS);
  });
  const outcome = await Promise.race([handler.handle(io).then(() => 'done' as const), hang]);
  clearTimeout(timer);
  if (outcome === 'hang')
    fail(
      `handle() still running after ${HANG_MS} ms: ${method} ${JSON.stringify(headers)} ${body.slice(0, 200)}`,
    );
  // Streams the handler left open (standalone GET) are the client's to close.
  if (io.outputs.some((o) => o.stream && !o.stream.ended)) openIos.add(io);
  return io;
}

function closeStreams(): void {
  for (const io of openIos) io.hangUp();
  openIos.clear();
}

const modernHeaders = (method: string, name?: string): Record<string, string> => ({
  host: '127.0.0.1:3000',
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': PROTOCOL,
  'mcp-method': method,
  ...(name === undefined ? {} : { 'mcp-name': name }),
});

/** The control: a plain 2026-07-28 tools/call answered with the tool's real result. */
async function normalCall(id: number): Promise<void> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name: 'test_simple_text', arguments: {}, _meta: { [META_VERSION]: PROTOCOL, [META_CAPS]: {} } },
  });
  const io = await exchange('POST', modernHeaders('tools/call', 'test_simple_text'), body);
  expect(io.outputs).toHaveLength(1);
  const out = io.outputs[0] as Captured;
  expect(out.status, out.body).toBe(200);
  const reply = JSON.parse(out.body ?? '');
  expect(reply.id).toBe(id);
  expect(reply.result.content).toEqual([
    { type: 'text', text: 'This is a simple text response for testing.' },
  ]);
}

const sessions: Record<'2025-03-26' | '2025-11-25', string> = { '2025-03-26': '', '2025-11-25': '' };

/** A live legacy session of each era (a fuzzed DELETE may end one: then a fresh one is opened). */
async function ensureSessions(): Promise<void> {
  for (const version of ['2025-03-26', '2025-11-25'] as const) {
    if (sessions[version] !== '' && handler.sessions?.get(sessions[version])) continue;
    const base = {
      host: 'localhost',
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    };
    const init = await exchange(
      'POST',
      base,
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } },
      }),
    );
    const sid = init.outputs[0]?.headers['mcp-session-id'];
    if (sid === undefined) fail(`initialize failed: ${JSON.stringify(init.outputs)}`);
    await exchange(
      'POST',
      { ...base, 'mcp-session-id': sid },
      JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    );
    sessions[version] = sid;
  }
}

// ------------------------------------------------------------------ generators

// Fast, self-contained tools only: ones that sleep or wait on the client would just slow the run.
const TOOLS = [
  'test_simple_text',
  'test_image_content',
  'test_error_handling',
  'test_embedded_resource',
  'greet',
];
const METHODS = [
  'tools/call',
  'tools/list',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'ping',
  'initialize',
  'tasks/get',
  'tasks/list',
  'tasks/cancel',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'server/discover',
];

const junk = fc.oneof(fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 20 }));
const b64 = (s: string) => `=?base64?${Buffer.from(s, 'utf8').toString('base64')}?=`;

const version = fc.oneof(
  fc.constantFrom(
    PROTOCOL,
    '2025-11-25',
    '2025-06-18',
    '2025-03-26',
    '2024-11-05',
    '2026-07-29',
    ' 2026-07-28',
    '',
  ),
  junk,
);
const requestId = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.constantFrom<unknown>(null, true, 1.5, -0, 2 ** 53, 'x'.repeat(1025), [], {}),
);
const meta = fc.oneof(
  { weight: 4, arbitrary: version.map((v) => ({ [META_VERSION]: v })) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        [META_VERSION]: fc.constant(PROTOCOL),
        [META_CAPS]: fc.oneof(fc.constant({}), fc.jsonValue({ maxDepth: 2 })),
        progressToken: fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.constant(null)),
        'io.modelcontextprotocol/logLevel': fc.oneof(fc.constantFrom('debug', 'info', 'error'), junk),
      },
      { requiredKeys: [META_VERSION] },
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);
const name = fc.oneof(fc.constantFrom(...TOOLS, 'test://static-text', 'test://static-binary', 'nope'), junk);
const rpcParams = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        name,
        uri: name,
        arguments: fc.oneof(fc.constant({}), fc.record({ name: junk }), fc.jsonValue({ maxDepth: 2 })),
        taskId: junk,
        level: fc.constantFrom('debug', 'info', 'bogus'),
        requestId: requestId,
        _meta: meta,
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
);
const method = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...METHODS) },
  { weight: 1, arbitrary: junk },
);

/** A JSON-RPC message close to a real one: each part sometimes wrong. */
const nearMessage = fc
  .record(
    {
      jsonrpc: fc.oneof(
        { weight: 8, arbitrary: fc.constant('2.0') },
        { weight: 1, arbitrary: fc.constantFrom('1.0', 2, null) },
      ),
      id: requestId,
      method,
      params: rpcParams,
      result: fc.oneof(fc.constant({}), fc.jsonValue({ maxDepth: 2 })),
      error: fc.record({ code: fc.integer(), message: junk }),
    },
    { requiredKeys: ['jsonrpc'] },
  )
  .map((m) => {
    // Mostly requests and notifications; sometimes a response (clients send those in legacy sessions).
    const copy: Record<string, unknown> = { ...m };
    if ('method' in copy) {
      delete copy.result;
      delete copy.error;
    }
    return copy;
  });

/** Headers that mostly agree with the body (so the deep paths run), each one sometimes off. */
function headersFor(body: unknown, sessionIds: string[]) {
  const m = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<
    string,
    unknown
  >;
  const p = (typeof m.params === 'object' && m.params !== null ? m.params : {}) as Record<string, unknown>;
  const bodyMethod = typeof m.method === 'string' ? m.method : 'tools/call';
  const bodyName =
    typeof p.name === 'string' ? p.name : typeof p.uri === 'string' ? p.uri : 'test_simple_text';
  const maybe = <T>(good: T, bad: fc.Arbitrary<T>) =>
    fc.oneof(
      { weight: 6, arbitrary: fc.constant<T | undefined>(good) },
      { weight: 1, arbitrary: fc.constant(undefined) },
      { weight: 2, arbitrary: bad },
    );
  return fc.record({
    host: maybe(
      '127.0.0.1:3000',
      fc.constantFrom('localhost', '[::1]:80', 'LOCALHOST:1', 'evil.example', '', '127.0.0.1:', '[::1'),
    ),
    'content-type': maybe(
      'application/json',
      fc.oneof(
        fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', ''),
        junk,
      ),
    ),
    accept: maybe(
      'application/json, text/event-stream',
      fc.oneof(fc.constantFrom('*/*', 'text/event-stream', 'application/json', 'text/html', ''), junk),
    ),
    'mcp-protocol-version': maybe(PROTOCOL, version),
    'mcp-method': maybe(
      bodyMethod,
      fc.oneof(fc.constant(` ${bodyMethod} `), fc.constant(bodyMethod.toUpperCase()), junk),
    ),
    'mcp-name': maybe(
      bodyName,
      fc.oneof(
        fc.constant(b64(bodyName)),
        fc.constant(`=?base64?${bodyName}?=`),
        fc.constantFrom(
          '=?base64?',
          '=?base64??=',
          '=?base64?@@@@?=',
          '=?base64?YQ?=',
          'na\u00efve',
          'a\r\nb',
        ),
        junk.map(b64),
        junk,
      ),
    ),
    'mcp-session-id': fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 3, arbitrary: fc.constantFrom(...sessionIds) },
      { weight: 1, arbitrary: junk },
    ),
    origin: fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          'http://localhost:3000',
          'http://127.0.0.1',
          'https://evil.example',
          'null',
          'http://[::1]:8080',
        ),
      },
      { weight: 1, arbitrary: junk },
    ),
    'last-event-id': fc.oneof(
      { weight: 6, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: junk },
    ),
  });
}

/** Drops undefined values: an absent header is absent, not the string "undefined". */
const present = (h: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)) as Record<string, string>;

const anyBody = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.constantFrom(
    '',
    '{',
    '[]',
    '[{}]',
    'null',
    '{"jsonrpc":"2.0"}',
    '{"__proto__":{"polluted":1}}',
    'x'.repeat(MAX_BODY + 1),
  ),
);
const httpMethod = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('POST', 'GET', 'DELETE') },
  { weight: 1, arbitrary: fc.constantFrom('PUT', 'PATCH', 'OPTIONS', 'HEAD', 'post', '') },
  { weight: 1, arbitrary: junk },
);

async function runOne(
  method: string,
  headers: Record<string, string | undefined>,
  body: string,
  local: string,
): Promise<void> {
  const io = await exchange(method, present(headers), body, local);
  checkExchange(io, body);
  if (failures.length > 0) fail(failures.join('\n'));
}

// ------------------------------------------------------------------ properties

describe('Streamable HTTP handler fuzzing (in-process)', () => {
  beforeAll(async () => {
    await ensureSessions();
  });
  afterAll(async () => {
    closeStreams();
    await handler.close({ force: true });
  });

  it('answers arbitrary methods, headers and bodies exactly once with valid JSON-RPC', async () => {
    const ran = counter();
    for (const key of Object.keys(reached) as (keyof typeof reached)[]) reached[key] = 0;
    const headerValue = fc.oneof(junk, version, fc.constant(undefined));
    const headers = fc.record({
      host: fc.oneof(fc.constant('localhost'), headerValue),
      'content-type': fc.oneof(fc.constant('application/json'), headerValue),
      accept: headerValue,
      'mcp-protocol-version': headerValue,
      'mcp-method': headerValue,
      'mcp-name': fc.oneof(headerValue, junk.map(b64)),
      'mcp-session-id': fc.oneof(headerValue, fc.constant(sessions['2025-11-25'])),
      origin: headerValue,
    });
    await fc.assert(
      fc.asyncProperty(
        httpMethod,
        headers,
        anyBody,
        fc.constantFrom('127.0.0.1', '::1', '10.0.0.7', undefined as unknown as string),
        async (m, h, body, local) => {
          ran.tick();
          await runOne(m, h, body, local);
          closeStreams();
        },
      ),
      scaled('anything'),
    );
    expect(ran.count).toBe(scaled('anything').numRuns);
    await normalCall(424242);
  });

  it('answers near-valid 2026-07-28 requests with their id, a valid result or a valid error', async () => {
    const ran = counter();
    for (const key of Object.keys(reached) as (keyof typeof reached)[]) reached[key] = 0;
    const near = nearMessage.chain((msg) => {
      const m = msg as Record<string, unknown>;
      const p = m.params;
      // Usually a modern request: the protocol version in _meta.
      const withMeta = fc.boolean().map((modern) => {
        if (modern && typeof p === 'object' && p !== null && !Array.isArray(p) && !('_meta' in p))
          return { ...m, params: { ...p, _meta: { [META_VERSION]: PROTOCOL, [META_CAPS]: {} } } };
        return m;
      });
      return withMeta.chain((body) =>
        fc.tuple(fc.constant(body), headersFor(body, [sessions['2025-11-25']])),
      );
    });
    // Real requests with matching headers and random ids, extra params and _meta: the paths past validation.
    const real = fc
      .record({
        id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 })),
        call: fc.oneof(
          fc.record({
            method: fc.constant('tools/call'),
            name: fc.constantFrom(...TOOLS),
            arguments: fc.oneof(fc.constant({}), fc.record({ name: junk })),
          }),
          fc.record({
            method: fc.constant('resources/read'),
            uri: fc.constantFrom('test://static-text', 'test://static-binary', 'test://nope'),
          }),
          fc.record({
            method: fc.constantFrom(
              'tools/list',
              'resources/list',
              'prompts/list',
              'resources/templates/list',
              'ping',
              'tasks/list',
            ),
          }),
        ),
        extra: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }),
        meta: fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }),
        progressToken: fc.option(fc.oneof(fc.integer(), fc.string({ maxLength: 6 })), { nil: undefined }),
      })
      .map(({ id, call, extra, meta, progressToken }) => {
        const { method, ...named } = call;
        const _meta: Record<string, unknown> = { ...meta, [META_VERSION]: PROTOCOL, [META_CAPS]: {} };
        if (progressToken !== undefined) _meta.progressToken = progressToken;
        const body = { jsonrpc: '2.0', id, method, params: { ...extra, ...named, _meta } };
        const mirrored = 'name' in named ? named.name : 'uri' in named ? named.uri : undefined;
        return [body, modernHeaders(method, mirrored)] as [unknown, Record<string, string | undefined>];
      });
    const input = fc.oneof(near, real);
    await fc.assert(
      fc.asyncProperty(input, async ([body, headers]) => {
        ran.tick();
        await runOne('POST', headers, JSON.stringify(body), '127.0.0.1');
        closeStreams();
      }),
      scaled('modern'),
    );
    expect(ran.count).toBe(scaled('modern').numRuns);
    // About 40% of the runs are real requests: most of them must get past every check to a result.
    expect(reached.results).toBeGreaterThanOrEqual(Math.floor(runCount('modern') * 0.1));
    await normalCall(424243);
  });

  it('answers legacy session traffic, batches, GET and DELETE validly', async () => {
    const ran = counter();
    for (const key of Object.keys(reached) as (keyof typeof reached)[]) reached[key] = 0;
    const message = nearMessage.map((m) => {
      // Legacy: no _meta protocol version, so the session path runs.
      const p = m.params;
      if (typeof p === 'object' && p !== null && !Array.isArray(p)) {
        const { _meta: _drop, ...rest } = p as Record<string, unknown>;
        return { ...m, params: rest };
      }
      return m;
    });
    const body = fc.oneof(
      { weight: 4, arbitrary: message.map((m) => JSON.stringify(m)) },
      { weight: 2, arbitrary: fc.array(message, { maxLength: 4 }).map((b) => JSON.stringify(b)) },
      { weight: 1, arbitrary: anyBody },
    );
    const era = fc.constantFrom('2025-03-26' as const, '2025-11-25' as const);
    // Session ids are read when each run starts: a fuzzed DELETE may have replaced them.
    const input = fc
      .tuple(era, body)
      .chain(([e, text]) =>
        fc.tuple(
          fc.constant(e),
          fc.constant(text),
          headersFor(safeParse(text), ['current']),
          fc.oneof(
            { weight: 6, arbitrary: fc.constant('POST') },
            { weight: 1, arbitrary: fc.constantFrom('GET', 'DELETE') },
          ),
          fc.oneof(fc.constant('session'), version, fc.constant(undefined)),
          fc.boolean(),
        ),
      );
    await fc.assert(
      fc.asyncProperty(input, async ([e, text, headers, m, v, ownSession]) => {
        ran.tick();
        await ensureSessions();
        const sid =
          headers['mcp-session-id'] === 'current' || ownSession ? sessions[e] : headers['mcp-session-id'];
        const merged = { ...headers, 'mcp-session-id': sid, 'mcp-protocol-version': v === 'session' ? e : v };
        await runOne(m, merged, text, '127.0.0.1');
        closeStreams();
      }),
      scaled('legacy'),
    );
    expect(ran.count).toBe(scaled('legacy').numRuns);
    for (const kind of ['results', 'streams', 'batches', 'accepted'] as const)
      expect(reached[kind], kind).toBeGreaterThanOrEqual(Math.floor(runCount('legacy') * 0.005));
    await normalCall(424244);
  });

  it('spends at least 20,000 generated inputs per default run', () => {
    expect(Object.values(HTTP_BUDGET).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(20_000);
  });
});

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
