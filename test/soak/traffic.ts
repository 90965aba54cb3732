import {
  type RawConnection,
  legacyHeaders,
  meta,
  modernCall,
  modernHeaders,
  openSession,
  rawConnect,
  rawRequest,
  send,
  sleep,
  sseMessages,
} from '../hostile/helpers.js';

/**
 * The soak's mixed traffic: each scenario is one realistic client interaction, in either era,
 * that checks its own answers and throws on anything unexpected. Scenarios open and close
 * sessions and streams, cancel work and provoke errors, so that anything they leave behind
 * (sessions, streams, listeners, buffers) accumulates over the run and shows in the heap.
 */

export type Scenario = (port: number, n: number) => Promise<void>;

function check(ok: boolean, what: string, detail: unknown): void {
  if (!ok)
    throw new Error(
      `${what}: ${typeof detail === 'string' ? detail.slice(0, 300) : JSON.stringify(detail)?.slice(0, 300)}`,
    );
}

async function closeRaw(c: RawConnection): Promise<void> {
  c.socket.destroy();
  await c.closed;
}

const modernTools: Scenario = async (port, n) => {
  const { body, headers } = modernCall(n, 'greet', { name: `soak-${n}` });
  const reply = await send(port, body, headers);
  check(reply.json?.result?.content?.[0]?.text === `Hello, soak-${n}!`, 'greet', reply.text);
  const list = await send(
    port,
    { jsonrpc: '2.0', id: n, method: 'tools/list', params: { _meta: meta() } },
    modernHeaders('tools/list'),
  );
  check(Array.isArray(list.json?.result?.tools), 'tools/list', list.text);
  const read = await send(
    port,
    { jsonrpc: '2.0', id: n, method: 'resources/read', params: { uri: 'test://static-text', _meta: meta() } },
    modernHeaders('resources/read', 'test://static-text'),
  );
  check(typeof read.json?.result?.contents?.[0]?.text === 'string', 'resources/read', read.text);
  const prompt = await send(
    port,
    { jsonrpc: '2.0', id: n, method: 'prompts/get', params: { name: 'test_simple_prompt', _meta: meta() } },
    modernHeaders('prompts/get', 'test_simple_prompt'),
  );
  check(Array.isArray(prompt.json?.result?.messages), 'prompts/get', prompt.text);
};

const modernProgress: Scenario = async (port, n) => {
  const { body, headers } = modernCall(n, 'test_tool_with_progress', {}, { progressToken: `t${n}` });
  const reply = await send(port, body, headers);
  check(
    String(reply.headers['content-type']).startsWith('text/event-stream'),
    'progress content-type',
    reply.headers,
  );
  const messages = sseMessages(reply.text);
  check(
    messages.filter((m) => m.method === 'notifications/progress').length === 3,
    'progress count',
    messages,
  );
  check(messages.at(-1)?.result?.content?.[0]?.text === `t${n}`, 'progress result', messages.at(-1));
};

const legacySession: Scenario = async (port, n) => {
  const sid = await openSession(port);
  const call = await send(
    port,
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'greet', arguments: { name: 'legacy' } } },
    legacyHeaders(sid),
  );
  check(call.json?.result?.content?.[0]?.text === 'Hello, legacy!', 'legacy greet', call.text);
  const progress = await send(
    port,
    {
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: { name: 'test_tool_with_progress', arguments: {}, _meta: { progressToken: 'lp' } },
    },
    legacyHeaders(sid),
  );
  check(
    sseMessages(progress.text).at(-1)?.result?.content?.[0]?.text === 'lp',
    'legacy progress',
    progress.text,
  );
  // Half end their session, half abandon it to the idle reaper.
  if (n % 2 === 0) {
    const del = await send(port, undefined, legacyHeaders(sid), { method: 'DELETE' });
    check(del.status === 200, 'DELETE', del.status);
  }
};

/** Waits for a tools/list_changed on `c`, triggering one (others' triggers count too). */
async function awaitToolChange(port: number, c: RawConnection, n: number): Promise<void> {
  const { body, headers } = modernCall(n, 'test_trigger_tool_change');
  const trigger = await send(port, body, headers);
  check(trigger.json?.result?.content?.[0]?.text === 'tools/list_changed sent', 'trigger', trigger.text);
  await c.waitFor((t) => t.includes('notifications/tools/list_changed'), 10_000);
}

const legacyStream: Scenario = async (port, n) => {
  const sid = await openSession(port);
  const c = await rawConnect(port);
  c.socket.write(rawRequest(port, 'GET', { ...legacyHeaders(sid), accept: 'text/event-stream' }));
  await c.waitFor((t) => t.includes('\r\n\r\n'), 10_000);
  check(/^HTTP\/1\.1 200/.test(c.received()), 'GET stream', c.received());
  await awaitToolChange(port, c, n);
  await closeRaw(c);
  const del = await send(port, undefined, legacyHeaders(sid), { method: 'DELETE' });
  check(del.status === 200, 'DELETE after stream', del.status);
};

const listenStream: Scenario = async (port, n) => {
  const c = await rawConnect(port);
  c.socket.write(
    rawRequest(
      port,
      'POST',
      modernHeaders('subscriptions/listen'),
      JSON.stringify({
        jsonrpc: '2.0',
        id: `listen-${n}`,
        method: 'subscriptions/listen',
        params: { notifications: { toolsListChanged: true }, _meta: meta() },
      }),
    ),
  );
  await c.waitFor((t) => t.includes('notifications/subscriptions/acknowledged'), 10_000);
  await awaitToolChange(port, c, n);
  await closeRaw(c);
};

const errors: Scenario = async (port, n) => {
  const parse = await send(port, '{"jsonrpc":', modernHeaders('ping'));
  check(parse.status === 400 && parse.json?.error?.code === -32700, 'parse error', parse.text);
  const deep = await send(port, `${'['.repeat(1000)}${']'.repeat(1000)}`, modernHeaders('ping'));
  check(deep.status === 400 && deep.json?.error?.code === -32700, 'deep nesting', deep.text);
  const unknown = await send(
    port,
    { jsonrpc: '2.0', id: n, method: 'tools/call', params: { name: 'nope', arguments: {}, _meta: meta() } },
    modernHeaders('tools/call', 'nope'),
  );
  check(unknown.json?.error?.code === -32602, 'unknown tool', unknown.text);
  const mismatch = await send(
    port,
    modernCall(n, 'greet', { name: 'x' }).body,
    modernHeaders('tools/call', 'other'),
  );
  check(mismatch.status === 400 && mismatch.json?.error?.code === -32020, 'header mismatch', mismatch.text);
  const thrown = await send(
    port,
    modernCall(n, 'fault_throw_sync').body,
    modernHeaders('tools/call', 'fault_throw_sync'),
  );
  check(thrown.json?.result?.isError === true, 'throwing tool', thrown.text);
  const tooBig = await send(
    port,
    modernCall(n, 'greet', { name: 'x'.repeat(70_000) }).body,
    modernHeaders('tools/call', 'greet'),
    { agent: false },
  );
  check(tooBig.status === 413, 'body limit', tooBig.status);
  const noSession = await send(
    port,
    { jsonrpc: '2.0', id: n, method: 'tools/list' },
    legacyHeaders('no-such-session'),
  );
  check(
    noSession.status === 404 && noSession.json?.error?.code === -32001,
    'unknown session',
    noSession.text,
  );
  const get = await send(port, undefined, { accept: 'text/event-stream' }, { method: 'GET' });
  check(get.status === 405, 'GET without session', get.status);
};

const cancellations: Scenario = async (port, n) => {
  // Legacy: explicit notifications/cancelled; the POST then ends without a response (202), or
  // today with the tool's "cancelled" error result (a finding pinned in test/hostile/faults.test.ts).
  const sid = await openSession(port);
  const pending = send(
    port,
    {
      jsonrpc: '2.0',
      id: 9,
      method: 'tools/call',
      params: { name: 'slow_compute', arguments: { seconds: 5 } },
    },
    legacyHeaders(sid),
    {
      agent: false,
    },
  );
  // A cancel that overtakes its request finds nothing to cancel (and is ignored, as the spec
  // says): repeat it until the request is gone.
  let settled = false;
  void pending.finally(() => {
    settled = true;
  });
  for (let tries = 0; !settled && tries < 25; tries++) {
    await sleep(100);
    const cancel = await send(
      port,
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 9 } },
      legacyHeaders(sid),
    );
    check(cancel.status === 202, 'cancel', cancel.status);
  }
  const ended = await pending;
  const silent = ended.status === 202 && ended.text === '';
  const knownFinding = ended.status === 200 && ended.json?.id === 9 && ended.json?.result?.isError === true;
  check(silent || knownFinding, 'cancelled POST', `${ended.status} ${ended.text}`);
  await send(port, undefined, legacyHeaders(sid), { method: 'DELETE' });
  // 2026: the client going away is the cancellation.
  const c = await rawConnect(port);
  const { body, headers } = modernCall(n, 'slow_compute', { seconds: 5 });
  c.socket.write(rawRequest(port, 'POST', headers, JSON.stringify(body)));
  await sleep(50);
  await closeRaw(c);
};

export const SCENARIOS: Record<string, Scenario> = {
  modernTools,
  modernProgress,
  legacySession,
  legacyStream,
  listenStream,
  errors,
  cancellations,
};
