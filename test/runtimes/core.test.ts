import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpServer } from '../../src/server/server.js';
import { HttpError } from '../../src/transport/http/handler.js';
import { type Harness, startServer } from '../websocket/helpers.js';
import { RUNTIMES, firstJsonLine, skipMessage, spawnScript, stop } from './runtimes.js';

const TOKEN = 'runtime-probe-token';
let harness: Harness;

beforeAll(async () => {
  const server = new McpServer({ name: 'node-ws-host', version: '1.0.0' });
  server.tool('echo', { description: 'echo' }, (args) => JSON.stringify(args));
  server.tool('whoami', { description: 'auth subject' }, (_args, ctx) => ctx.auth?.subject ?? 'anonymous');
  server.tool('ask', { description: 'elicits' }, async (_args, ctx) => {
    const answer = await ctx.elicit({
      message: 'Name?',
      requestedSchema: { type: 'object', properties: { name: { type: 'string' } } },
    } as never);
    return `hello ${(answer.content as { name?: string } | undefined)?.name}`;
  });
  harness = await startServer(server, {
    authenticate: (request) => {
      if (request.header('authorization') !== `Bearer ${TOKEN}`)
        throw new HttpError(401, 'Unauthorized', { 'www-authenticate': 'Bearer' });
      return { subject: 'runtime-user', scopes: [] };
    },
  });
});
afterAll(async () => {
  await harness?.close();
});

for (const runtime of RUNTIMES) {
  if (!runtime.present) console.warn(skipMessage(runtime));

  describe.skipIf(!runtime.present)(`core under ${runtime.name}`, () => {
    let report: Record<string, any>;

    beforeAll(async () => {
      const probe = spawnScript(runtime, 'test/runtimes/probe.ts', {
        MCP_WS_URL: harness.wsUrl,
        MCP_WS_TOKEN: TOKEN,
      });
      try {
        report = await firstJsonLine(probe, 15_000);
      } finally {
        await stop(probe.child);
      }
    }, 20_000);

    it('loads every runtime-neutral entry point (no Node-only imports in the way)', () => {
      expect(report.fatal).toBeUndefined();
      expect(report.runtime).toBe(runtime.name);
      for (const [entry, outcome] of Object.entries(report.imports as Record<string, string>)) {
        expect(`${entry}: ${outcome}`).toMatch(/: ok \(\d+ exports\)$/);
      }
      expect(Object.keys(report.imports)).toHaveLength(8);
    });

    it.each(['modern', 'legacy'])('runs server and client over the memory transport (%s)', (era) => {
      expect(report.memory[era]).toEqual({
        era,
        echo: JSON.stringify({ said: runtime.name }),
        ask: `hello ${runtime.name}`,
        whoami: 'memory-user',
      });
    });

    it.each(['modern', 'legacy'])(
      'connects to a Node WebSocket endpoint with the global WebSocket and a bearer header (%s)',
      (era) => {
        expect(report.globalWebSocket).toBe('function');
        expect(report.websocket[era]).toEqual({
          era,
          echo: JSON.stringify({ said: runtime.name }),
          ask: `hello ${runtime.name}`,
          whoami: 'runtime-user',
          subprotocol: 'mcp',
        });
      },
    );

    it.each(['modern', 'legacy'])(
      'serves attachWebSocket on its node:http layer to its own WebSocket (%s)',
      (era) => {
        expect(report.attach[era]).toEqual({
          era,
          echo: JSON.stringify({ said: runtime.name }),
          ask: `hello ${runtime.name}`,
          whoami: `${runtime.name}-self`,
        });
      },
    );
  });
}
