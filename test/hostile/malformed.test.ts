import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HostileServer,
  LEGACY_PROTOCOL,
  LISTEN_DISCONNECT_LOGGED,
  type ServerStats,
  fatalLines,
  isJsonRpcError,
  legacyHeaders,
  meta,
  modernCall,
  modernHeaders,
  openSession,
  pipelined,
  rawConnect,
  rawRequest,
  send,
  startServer,
  stillServes,
  unexpectedErrors,
} from './helpers.js';

/**
 * Malformed and adversarial input that parses: invalid UTF-8 (body and headers), duplicate JSON
 * keys, out-of-range ids, and prototype-pollution keys everywhere a client controls an object.
 * Every answer is a spec-shaped JSON-RPC error with the right status (or a normal result), and
 * afterwards the server's own Object.prototype is untouched.
 */

let s: HostileServer;
let baseline: ServerStats;
beforeAll(async () => {
  s = await startServer();
  await stillServes(s.port);
  baseline = await s.stats();
});
afterAll(async () => {
  await s?.close();
});

const META = JSON.stringify(meta());

/** One hand-written request (any bytes) and its parsed answer. */
async function raw(headers: Record<string, string | Buffer>, body: Buffer | string) {
  const [reply] = await pipelined(s.port, [rawRequest(s.port, 'POST', headers, body)], 15_000);
  if (!reply) throw new Error('no response');
  let json: any;
  try {
    json = JSON.parse(reply.body);
  } catch {
    json = undefined;
  }
  return { ...reply, json };
}

const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

describe('invalid UTF-8', () => {
  // Lone continuation, 0xFF, an encoded surrogate (CESU-8) and a truncated 4-byte sequence.
  const BAD = [0xc3, 0x28, 0xff, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98];

  it('inside a JSON string: decoded with U+FFFD replacements and served', async () => {
    const body = bytes(
      `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"ok`,
      BAD,
      `"},"_meta":${META}}}`,
    );
    const reply = await raw(modernHeaders('tools/call', 'greet'), body);
    expect(reply.status).toBe(200);
    const expected = `Hello, ok${Buffer.from(BAD).toString('utf8')}!`;
    expect(expected).toContain('\ufffd');
    expect(reply.json).toMatchObject({ id: 1, result: { content: [{ type: 'text', text: expected }] } });
  });

  it.each([
    ['between tokens', bytes('{"jsonrpc":"2.0",', [0xff], '"id":1,"method":"ping"}')],
    ['as the whole body', Buffer.from(Array.from({ length: 256 }, (_, i) => 0x80 + (i % 128)))],
    ['as a truncated sequence at the end', bytes('{"jsonrpc":"2.0","id":1,"method":"ping"}', [0xe2, 0x82])],
  ])('%s: -32700 with 400', async (_name, body) => {
    const reply = await raw(modernHeaders('ping'), body);
    expect(reply.status).toBe(400);
    expect(isJsonRpcError(reply.json)).toBe(true);
    expect(reply.json).toMatchObject({ id: null, error: { code: -32700 } });
  });

  const greet = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"greet","arguments":{"name":"h"},"_meta":${META}}}`;
  it.each<[string, Record<string, string | Buffer>, string, number, number]>([
    [
      'Mcp-Session-Id',
      { ...legacyHeaders(), 'mcp-session-id': bytes([0xff, 0xfe, 0x41]) },
      '{"jsonrpc":"2.0","id":7,"method":"tools/list"}',
      404,
      -32001,
    ],
    [
      'MCP-Protocol-Version',
      { ...modernHeaders('tools/call', 'greet'), 'mcp-protocol-version': bytes('2026-07-28', [0xff]) },
      greet,
      400,
      -32020,
    ],
    [
      'Mcp-Name',
      { ...modernHeaders('tools/call', 'greet'), 'mcp-name': bytes('greet', [0xc3]) },
      greet,
      400,
      -32020,
    ],
    [
      'Mcp-Method',
      { ...modernHeaders('tools/call', 'greet'), 'mcp-method': bytes('tools/call', [0xc0, 0xaf]) },
      greet,
      400,
      -32020,
    ],
    ['Host', { ...modernHeaders('tools/call', 'greet'), host: bytes([0xff, 0xfe]) }, greet, 403, -32600],
  ])('in the %s header: spec error, no crash', async (_name, headers, body, status, code) => {
    const reply = await raw(headers, body);
    expect(reply.status).toBe(status);
    expect(isJsonRpcError(reply.json)).toBe(true);
    expect(reply.json.error.code).toBe(code);
  });

  it('in an Mcp-Param header (Base64 form decoding to invalid UTF-8): header mismatch', async () => {
    const { body, headers } = modernCall(8, 'test_x_mcp_header', { region: 'eu' });
    const reply = await send(s.port, body, { ...headers, 'mcp-param-region': '=?base64?/w==?=' });
    expect(reply.status).toBe(400);
    expect(reply.json).toMatchObject({ id: 8, error: { code: -32020 } });
  });

  it.each([
    ['a NUL byte', [0x61, 0x00, 0x62]],
    ['a control character', [0x74, 0x01]],
    ['a bare CR', [0x61, 0x0d, 0x62]],
  ])(
    'a header value with %s is refused by the runtime with 400 and the connection closed',
    async (_name, value) => {
      const c = await rawConnect(s.port);
      c.socket.write(
        rawRequest(s.port, 'POST', { ...modernHeaders('ping'), 'x-evil': Buffer.from(value) }, '{}'),
      );
      await c.closed;
      expect(c.received()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    },
  );
});

describe('oversized headers', () => {
  it('headers over 16 KiB are refused by the runtime with 431 and the connection closed', async () => {
    const c = await rawConnect(s.port);
    c.socket.write(
      rawRequest(s.port, 'POST', { ...modernHeaders('ping'), 'x-padding': 'p'.repeat(32 * 1024) }, '{}'),
    );
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    await stillServes(s.port);
  });
});

describe('duplicate JSON keys (the last one wins, and is what gets validated)', () => {
  it('duplicate id: answered with the id that was acted on', async () => {
    const reply = await send(
      s.port,
      `{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"greet","arguments":{"name":"d"},"_meta":${META}}}`,
      modernHeaders('tools/call', 'greet'),
    );
    expect(reply.json).toEqual({
      jsonrpc: '2.0',
      id: 2,
      result: { content: [{ type: 'text', text: 'Hello, d!' }], resultType: 'complete' },
    });
  });

  // A proxy that reads the first key and a server that acts on the last must not disagree silently.
  it.each([
    [
      'method',
      `{"jsonrpc":"2.0","id":3,"method":"tools/list","method":"tools/call","params":{"name":"greet","arguments":{"name":"d"},"_meta":${META}}}`,
      modernHeaders('tools/list'),
    ],
    [
      'params.name',
      `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"greet","name":"fault_throw_sync","arguments":{},"_meta":${META}}}`,
      modernHeaders('tools/call', 'greet'),
    ],
    [
      'a mirrored argument',
      `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"test_x_mcp_header","arguments":{"region":"eu","region":"us"},"_meta":${META}}}`,
      { ...modernHeaders('tools/call', 'test_x_mcp_header'), 'mcp-param-region': 'eu' },
    ],
    [
      'the protocol version in _meta',
      `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/protocolVersion":"2030-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}`,
      modernHeaders('tools/list'),
    ],
  ])(
    'duplicate %s: the header is checked against the value acted on (-32020, 400)',
    async (_name, body, headers) => {
      const reply = await send(s.port, body, headers);
      expect(reply.status).toBe(400);
      expect(reply.json).toMatchObject({ jsonrpc: '2.0', id: 3, error: { code: -32020 } });
    },
  );
});

describe('huge and odd ids', () => {
  const list = (id: string) =>
    `{"jsonrpc":"2.0","id":${id},"method":"tools/list","params":{"_meta":${META}}}`;

  it.each([
    ['a 10 KB string', JSON.stringify('x'.repeat(10 * 1024))],
    ['1e400 (Infinity)', '1e400'],
    ['2**53+1 (not a safe integer)', String(2 ** 53 + 1)],
    ['a fraction', '1.5'],
    ['true', 'true'],
    ['an array', '[1]'],
    ['an object', '{"a":1}'],
  ])('%s: Invalid Request with a null id and 400', async (_name, id) => {
    const reply = await send(s.port, list(id), modernHeaders('tools/list'));
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: 'Invalid Request: id must be a string or integer' },
    });
  });

  it.each([
    ['-0 (answered as 0)', '-0', 0],
    ['the empty string', '""', ''],
    ['a 1,024-character string (the limit)', JSON.stringify('y'.repeat(1024)), 'y'.repeat(1024)],
    ['-2**53+1', String(-(2 ** 53) + 1), -(2 ** 53) + 1],
  ])('%s: served and echoed', async (_name, id, echoed) => {
    const reply = await send(s.port, list(id), modernHeaders('tools/list'));
    expect(reply.status).toBe(200);
    expect(reply.json.id).toBe(echoed);
    expect(Array.isArray(reply.json.result.tools)).toBe(true);
  });

  it('a 10 KB id in a legacy session: 400 Invalid Request, and the session lives on', async () => {
    const sid = await openSession(s.port);
    const reply = await send(
      s.port,
      `{"jsonrpc":"2.0","id":"${'z'.repeat(10 * 1024)}","method":"tools/list"}`,
      legacyHeaders(sid),
    );
    expect(reply.status).toBe(400);
    expect(reply.json).toMatchObject({ id: null, error: { code: -32600 } });
    const ok = await send(s.port, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, legacyHeaders(sid));
    expect(ok.json).toMatchObject({ id: 2, result: { tools: expect.any(Array) } });
  });
});

describe('prototype pollution keys', () => {
  const POLLUTE =
    '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"prototype":{"polluted":true}}';
  const callWith = (name: string, args: string, metaText = META, extra = '') =>
    send(
      s.port,
      `{"jsonrpc":"2.0","id":"p","method":"tools/call","params":{"name":"${name}","arguments":${args},"_meta":${metaText}${extra}}}`,
      modernHeaders('tools/call', name),
    );

  it('in tool arguments: kept as plain own data, never as the arguments object prototype', async () => {
    const reply = await callWith('inspect_args', POLLUTE);
    expect(reply.json.result.structuredContent).toEqual({
      keys: ['__proto__', 'constructor', 'prototype'],
      ownProto: true,
      plainPrototype: true,
    });
  });

  it('in arguments validated by zod (stripped) and by JSON Schema with additionalProperties: false (refused)', async () => {
    const zod = await callWith('greet', `{"name":"z","__proto__":{"polluted":true,"name":"admin"}}`);
    expect(zod.json.result.content).toEqual([{ type: 'text', text: 'Hello, z!' }]);
    const ajv = await callWith(
      'json_schema_2020_12_tool',
      `{"name":"a","email":"e@x","__proto__":{"polluted":true}}`,
    );
    expect(ajv.json.result).toMatchObject({
      isError: true,
      content: [{ text: expect.stringContaining('additional properties') }],
    });
  });

  it('in _meta: an inherited-looking protocol version is not a protocol version', async () => {
    const reply = await send(
      s.port,
      `{"jsonrpc":"2.0","id":"m","method":"tools/list","params":{"_meta":{"__proto__":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}}`,
      modernHeaders('tools/list'),
    );
    expect(reply.status).toBe(400);
    expect(reply.json).toMatchObject({ id: 'm', error: { code: -32602 } });
  });

  it('in 2026 client capabilities: a capability under __proto__ is not declared', async () => {
    const caps = `{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"__proto__":{"sampling":{}}}}`;
    const reply = await callWith('test_missing_capability', '{}', caps);
    expect(reply.status).toBe(400);
    expect(reply.json).toMatchObject({ id: 'p', error: { code: -32021 } });
  });

  it('in legacy initialize capabilities and clientInfo: nothing is declared through __proto__', async () => {
    const init = await send(
      s.port,
      `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"${LEGACY_PROTOCOL}","capabilities":{"__proto__":{"sampling":{}}},"clientInfo":{"__proto__":{"name":"x","version":"1"}}}}`,
      legacyHeaders(),
    );
    expect(init.status).toBe(200);
    const sid = init.headers['mcp-session-id'] as string;
    await send(s.port, { jsonrpc: '2.0', method: 'notifications/initialized' }, legacyHeaders(sid));
    const reply = await send(
      s.port,
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'test_missing_capability', arguments: {} },
      },
      legacyHeaders(sid),
    );
    expect(reply.json).toMatchObject({ id: 2, error: { code: -32021 } });
  });

  it('in inputResponses (multi round-trip): an answer under __proto__ is not an answer', async () => {
    const answer = '{"action":"accept","content":{"name":"Mallory"}}';
    const sneaky = await callWith(
      'test_input_required_result_elicitation',
      '{}',
      JSON.stringify(meta({ elicitation: {} })),
      `,"inputResponses":{"__proto__":{"user_name":${answer}},"constructor":${answer}}`,
    );
    expect(sneaky.json.result).toMatchObject({
      resultType: 'input_required',
      inputRequests: { user_name: expect.any(Object) },
    });
    const honest = await callWith(
      'test_input_required_result_elicitation',
      '{}',
      JSON.stringify(meta({ elicitation: {} })),
      `,"inputResponses":{"user_name":${answer}}`,
    );
    expect(honest.json.result.content).toEqual([{ type: 'text', text: 'Hello, Mallory!' }]);
  });

  it('in a subscriptions/listen filter: nothing is subscribed through __proto__', async () => {
    const c = await rawConnect(s.port);
    c.socket.write(
      rawRequest(
        s.port,
        'POST',
        modernHeaders('subscriptions/listen'),
        `{"jsonrpc":"2.0","id":"l","method":"subscriptions/listen","params":{"notifications":{"__proto__":{"toolsListChanged":true}},"_meta":${META}}}`,
      ),
    );
    const text = await c.waitFor((t) => t.includes('acknowledged'));
    c.socket.destroy();
    const ack = JSON.parse(/data: (.*acknowledged.*)\n/.exec(text)?.[1] ?? 'null');
    expect(ack.params.notifications).toEqual({});
  });

  it('in header names: served normally', async () => {
    const { body, headers } = modernCall('h', 'greet', { name: 'hdr' });
    // fromEntries: an object literal would take `__proto__:` as the prototype, not as a header.
    const hostile = Object.fromEntries([
      ...Object.entries(headers),
      ['__proto__', '{"polluted":true}'],
      ['constructor', 'x'],
      ['prototype', 'y'],
    ]);
    expect(Object.keys(hostile)).toContain('__proto__');
    const reply = await raw(hostile, JSON.stringify(body));
    expect(reply.status).toBe(200);
    expect(reply.json.result.content[0].text).toBe('Hello, hdr!');
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype'])(
    'names a tool, prompt or resource %s: unknown, -32602',
    async (name) => {
      const tool = await send(
        s.port,
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {}, _meta: meta() } },
        modernHeaders('tools/call', name),
      );
      expect(tool.json).toMatchObject({ id: 1, error: { code: -32602, message: `Unknown tool: ${name}` } });
      const prompt = await send(
        s.port,
        { jsonrpc: '2.0', id: 2, method: 'prompts/get', params: { name, _meta: meta() } },
        modernHeaders('prompts/get', name),
      );
      expect(prompt.json).toMatchObject({ id: 2, error: { code: -32602 } });
      const resource = await send(
        s.port,
        { jsonrpc: '2.0', id: 3, method: 'resources/read', params: { uri: name, _meta: meta() } },
        modernHeaders('resources/read', name),
      );
      expect(resource.json).toMatchObject({ id: 3, error: { code: -32602 } });
    },
  );

  // Finding: validateMirroredHeaders (src/transport/http/headers.ts) looks the method up in the
  // plain object NAMED, so `NAMED['constructor']` is Object, `NAMED['toString']` a function and
  // `NAMED['__proto__']` Object.prototype. Such methods are then required to carry an Mcp-Name
  // header matching `params[<that value>]`: the client gets -32020 (400) instead of -32601
  // (404), and a custom method registered under one of these names cannot be called.
  // Fix: `const field = Object.hasOwn(NAMED, method) ? NAMED[method] : undefined` (or make NAMED
  // a Map / a null-prototype object). The client transport has the same table (client.ts).
  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'])(
    'a method named %s is answered Method not found (-32601, 404)',
    async (name) => {
      const reply = await send(
        s.port,
        { jsonrpc: '2.0', id: 4, method: name, params: { _meta: meta() } },
        modernHeaders(name),
      );
      expect(reply.json).toMatchObject({ id: 4, error: { code: -32601 } });
      expect(reply.status).toBe(404);
    },
  );

  it('left Object.prototype, Array.prototype and Function.prototype of the server untouched', async () => {
    const after = await s.stats();
    expect(after.pollution).toEqual(baseline.pollution);
    expect(after.pollution.polluted).toBe(false);
  });
});

describe('the server process', () => {
  it('still serves, logged no handler failure, and nothing reached the process level', async () => {
    await stillServes(s.port);
    expect(s.alive()).toBe(true);
    expect(fatalLines(s)).toEqual([]);
    expect(unexpectedErrors(s, LISTEN_DISCONNECT_LOGGED)).toEqual([]);
  });
});
