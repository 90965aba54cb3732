// The wire messages every scenario sends. Bodies are built as a prefix + id + suffix so the load
// generators can give each request a unique JSON-RPC id cheaply (sessions may run requests concurrently).

export const MODERN_VERSION = '2026-07-28';
export const LEGACY_VERSION = '2025-11-25';

const MODERN_META = {
  'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
  'io.modelcontextprotocol/clientCapabilities': {},
};

const ARGS = { a: 1, b: 2 };
export const EXPECTED_TEXT = '3';

/** `{prefix}{id}{suffix}` is the full JSON body of one request. */
function split(message) {
  const text = JSON.stringify({ jsonrpc: '2.0', id: 0, ...message });
  const marker = '"id":0';
  const at = text.indexOf(marker);
  return { prefix: `${text.slice(0, at)}"id":`, suffix: text.slice(at + marker.length) };
}

export const modernCall = split({
  method: 'tools/call',
  params: { name: 'add', arguments: ARGS, _meta: MODERN_META },
});
export const legacyCall = split({ method: 'tools/call', params: { name: 'add', arguments: ARGS } });

export const bodyOf = (template, id) => `${template.prefix}${id}${template.suffix}`;

export function initializeMessage(id) {
  return {
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: {
      protocolVersion: LEGACY_VERSION,
      capabilities: {},
      clientInfo: { name: 'bench', version: '1.0.0' },
    },
  };
}
export const initializedNotification = { jsonrpc: '2.0', method: 'notifications/initialized' };

const BASE_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export const modernHeaders = {
  ...BASE_HEADERS,
  'mcp-protocol-version': MODERN_VERSION,
  'mcp-method': 'tools/call',
  'mcp-name': 'add',
};
export const legacyHeaders = (sessionId) => ({
  ...BASE_HEADERS,
  'mcp-protocol-version': LEGACY_VERSION,
  ...(sessionId === undefined ? {} : { 'mcp-session-id': sessionId }),
});
export const initHeaders = BASE_HEADERS;

/** The text of a tools/call result in a JSON or single-event SSE response body, or undefined. */
export function resultText(body) {
  let json = body;
  if (!body.trimStart().startsWith('{')) {
    const data = body.split('\n').find((l) => l.startsWith('data:'));
    if (!data) return undefined;
    json = data.slice(5);
  }
  try {
    return JSON.parse(json)?.result?.content?.[0]?.text;
  } catch {
    return undefined;
  }
}
