import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { McpClient } from '../../src/client/client.js';
import { StreamableHttpClientTransport } from '../../src/transport/http/client.js';
import { createTlsFetch, spkiPin } from '../../src/transport/http/tls-fetch.js';
import { type Proc, startProcess } from './proc.js';

const procs: Proc[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
});
async function start(env: Record<string, string> = {}) {
  const proc = await startProcess(env);
  procs.push(proc);
  await proc.waitForLog((l) => l.msg === 'listening');
  return proc;
}

describe('runtime: real process', () => {
  it('serves /health and /ready and logs JSON lines with request fields', async () => {
    const proc = await start();
    const base = `http://127.0.0.1:${proc.port}`;
    const health = await (await fetch(`${base}/health`)).json();
    expect(health).toMatchObject({ status: 'healthy', version: '0.1.0' });
    expect(typeof health.uptime_secs).toBe('number');
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(200);
    const body = await ready.json();
    expect(body.ready).toBe(true);
    expect(body.checks).toEqual(
      expect.arrayContaining([{ name: 'ratelimit', healthy: true, message: expect.any(String) }]),
    );
    const client = new McpClient({ name: 'runtime-test', version: '2.0.0' });
    await client.connect(new StreamableHttpClientTransport(`${base}/mcp`));
    await client.callTool('test_simple_text');
    await client.close();
    const line = await proc.waitForLog((l) => l.msg === 'request' && l.target === 'test_simple_text');
    expect(line).toMatchObject({
      level: 'info',
      module: 'access',
      method: 'tools/call',
      outcome: 'ok',
      client_id: 'runtime-test/2.0.0',
      era: 'modern',
    });
    expect(typeof line.request_id).toBe('string');
    expect(typeof line.duration_ms).toBe('number');
    const audit = await proc.waitForLog((l) => l.event === 'tool_call');
    expect(audit).toMatchObject({ tool: 'test_simple_text', outcome: 'ok' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/mcp_requests_total\{method="tools\/call",status="ok"\} 1/);
  });

  it('accepts WebSocket upgrades on the same port and path', async () => {
    const { WebSocketClientTransport } = await import('../../src/transport/websocket/client.js');
    const proc = await start();
    for (const protocol of ['modern', 'legacy'] as const) {
      const client = new McpClient({ name: 'ws', version: '1' }, { protocol });
      await client.connect(new WebSocketClientTransport(`ws://127.0.0.1:${proc.port}/mcp`));
      expect((await client.callTool('test_simple_text')).content).toHaveLength(1);
      await client.close();
    }
    const metrics = await (await fetch(`http://127.0.0.1:${proc.port}/metrics`)).text();
    expect(metrics).toMatch(/mcp_active_connections\{transport="websocket"\} [01]/);
  });

  it('exits 78 naming the variable when configuration is bad', async () => {
    for (const [name, value] of [
      ['MCP_SERVER_PORT', 'eighty'],
      ['MCP_LOG_LEVEL', 'verbose'],
      ['MCP_RATE_LIMIT_BURST', '5'],
      ['MCP_TLS_CERT_PATH', '/nonexistent.pem'],
    ] as const) {
      const env: Record<string, string> = { [name]: value };
      if (name === 'MCP_TLS_CERT_PATH') env.MCP_TLS_KEY_PATH = '/nonexistent.key';
      const proc = await startProcess(env);
      procs.push(proc);
      expect(await proc.exited).toBe(78);
      expect(proc.stderr()).toContain(name);
    }
  });

  it('drains on SIGTERM: the in-flight call completes, a pipelined request gets 503, exit 0', async () => {
    const proc = await start();
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': {},
    };
    const call = (id: number, name: string, args: Record<string, unknown>) => {
      const body = JSON.stringify({
        jsonrpc: '2.0',
        id,
        method: 'tools/call',
        params: { _meta: meta, name, arguments: args },
      });
      return [
        'POST /mcp HTTP/1.1',
        `Host: 127.0.0.1:${proc.port}`,
        'Content-Type: application/json',
        'Accept: application/json',
        'MCP-Protocol-Version: 2026-07-28',
        'Mcp-Method: tools/call',
        `Mcp-Name: ${name}`,
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n');
    };
    const socket = connect(proc.port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => {
      received += d.toString();
    });
    await new Promise((r) => socket.once('connect', r));
    socket.write(call(1, 'slow_compute', { seconds: 2, label: 'drain' }));
    await new Promise((r) => setTimeout(r, 300));
    proc.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    const ready = await fetch(`http://127.0.0.1:${proc.port}/ready`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(['refused', 503]).toContain(ready);
    socket.write(call(2, 'test_simple_text', {}));
    expect(await proc.exited).toBe(0);
    expect(received).toContain('Computed drain after 2 s');
    expect(received).toMatch(/HTTP\/1\.1 503[\s\S]*Connection: close/i);
    const lines = proc.jsonLines().map((l) => l.msg);
    expect(lines).toEqual(expect.arrayContaining(['shutdown requested', 'draining', 'stopped']));
  });
});

describe('runtime: TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mcpkit-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const cert = readFileSync(join(dir, 'cert.pem'));
  const env = { MCP_TLS_CERT_PATH: join(dir, 'cert.pem'), MCP_TLS_KEY_PATH: join(dir, 'key.pem') };

  const get = (port: number, options: Record<string, unknown>) =>
    new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port, path: '/health', ca: cert, servername: 'localhost', ...options },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('serves HTTPS: TLS 1.2 accepted, TLS 1.1 refused', async () => {
    const proc = await start(env);
    expect(await get(proc.port, { maxVersion: 'TLSv1.2', minVersion: 'TLSv1.2' })).toBe(200);
    expect(await get(proc.port, { maxVersion: 'TLSv1.3' })).toBe(200);
    await expect(
      get(proc.port, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }),
    ).rejects.toThrow();
  });

  it('the client pins the server key: a matching pin connects, a wrong pin is refused', async () => {
    const proc = await start(env);
    const pin = spkiPin(cert);
    const good = new McpClient({ name: 'tls', version: '1' });
    await good.connect(
      new StreamableHttpClientTransport(`https://localhost:${proc.port}/mcp`, {
        fetch: await createTlsFetch({ ca: cert, pins: [pin] }),
      }),
    );
    expect((await good.callTool('test_simple_text')).content).toHaveLength(1);
    await good.close();
    const bad = new McpClient({ name: 'tls', version: '1' });
    const wrongPin = `sha256/${Buffer.alloc(32, 7).toString('base64')}`;
    await expect(
      bad.connect(
        new StreamableHttpClientTransport(`https://localhost:${proc.port}/mcp`, {
          fetch: await createTlsFetch({ ca: cert, pins: [wrongPin] }),
        }),
      ),
    ).rejects.toThrow();
  });
});
