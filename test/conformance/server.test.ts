import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE22, ROOT, freePort, runSuite } from './run-suite.js';

/**
 * The official MCP conformance suite (0.1.16 and 0.2.0-alpha.12) against the everything
 * server started as users start it (the built example). Every check must pass.
 */
let child: ChildProcess;
let url: string;

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}/mcp`;
  child = spawn(process.execPath, [`${ROOT}dist/examples/everything/main.js`], {
    cwd: ROOT,
    env: {
      ...process.env,
      MCP_SERVER_HOST: '127.0.0.1',
      MCP_SERVER_PORT: String(port),
      MCP_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/mcp`, { method: 'GET' }).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('everything server did not start');
}, 20_000);

afterAll(() => {
  child?.kill('SIGTERM');
});

describe.skipIf(!existsSync(NODE22))('official conformance suite (server)', () => {
  it('0.1.16 --suite all', async () => {
    const result = await runSuite('0.1', ['server', '--url', url, '--suite', 'all']);
    expect(result.failedScenarios, result.output.slice(-4000)).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.passed).toBeGreaterThanOrEqual(45);
  }, 600_000);

  it('0.2.0-alpha.12 --suite all (2025-11-25 stateful + 2026-07-28 stateless + tasks)', async () => {
    const result = await runSuite('0.2', ['server', '--url', url, '--suite', 'all']);
    expect(result.failedScenarios, result.output.slice(-4000)).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.passed).toBeGreaterThanOrEqual(232);
  }, 600_000);

  it('0.2.0-alpha.12 --suite all --spec-version 2026-07-28', async () => {
    const result = await runSuite('0.2', [
      'server',
      '--url',
      url,
      '--suite',
      'all',
      '--spec-version',
      '2026-07-28',
    ]);
    expect(result.failedScenarios, result.output.slice(-4000)).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.passed).toBeGreaterThanOrEqual(152);
  }, 600_000);
});
