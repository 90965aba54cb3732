import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Smoke check of the benchmark harness: `bench/run.js --quick` must run every quick row against
// real server processes and produce a table with numbers. No timing assertions: the figures
// depend on the machine; only their presence and sanity are checked.

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mcpkit-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Row {
  key: string;
  label: string;
  error?: string;
  rps?: number;
  requests?: number;
  p50Ms?: number;
  p99Ms?: number;
  cpuUsPerReq?: number;
  errors?: number;
  vsRps?: number;
}

function runQuick(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bench/run.js', '--quick', '--json', join(dir, 'quick.json')], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;

describe('bench --quick', () => {
  it('runs the quick rows and prints a table with numbers', { timeout: 180_000 }, async () => {
    expect(
      existsSync(join(root, 'dist/src/server/server.js')),
      'build first: npx tsc -p tsconfig.build.json',
    ).toBe(true);
    const { code, stdout, stderr } = await runQuick();
    expect(code, `bench failed:\n${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/^scenario\s+req\/s\s+p50 ms\s+p99 ms\s+CPU us\/req/m);
    expect(stdout).toMatch(/^mcpkit stateless 2026-07-28\s+\d+/m);

    const results = JSON.parse(readFileSync(join(dir, 'quick.json'), 'utf8')) as {
      http: Row[];
      stdio: Row[];
      sessions: { kind: string; sessions: number; heapBytesPerSession?: number; error?: string }[];
      heap: { points: { requests: number; heapUsed: number }[]; error?: string }[];
    };
    const rows = [...results.http, ...results.stdio];
    expect(results.http.map((r) => r.key)).toEqual(['bare', 'mcpkit-modern', 'mcpkit-legacy', 'sdk2-modern']);
    expect(results.stdio.map((r) => r.key)).toEqual(['stdio-echo-modern-32', 'stdio-mcpkit-modern-32']);
    for (const row of rows) {
      expect(row.error, row.label).toBeUndefined();
      expect(positive(row.rps) && positive(row.requests), `${row.label} measured requests`).toBe(true);
      expect(
        positive(row.p50Ms) && positive(row.p99Ms) && row.p99Ms! >= row.p50Ms!,
        `${row.label} latency`,
      ).toBe(true);
      expect(positive(row.cpuUsPerReq), `${row.label} CPU per request`).toBe(true);
      expect(row.errors, `${row.label} request errors`).toBe(0);
      expect(positive(row.vsRps), `${row.label} ratio`).toBe(true);
    }
    const bare = results.http.find((r) => r.key === 'bare');
    expect(bare?.vsRps).toBe(1);

    const sessions = results.sessions[0];
    expect(sessions?.error).toBeUndefined();
    expect(typeof sessions?.heapBytesPerSession).toBe('number');
    const heap = results.heap[0];
    expect(heap?.error).toBeUndefined();
    expect(heap?.points.length).toBe(2);
    // In quick mode one load burst can already pass both checkpoints.
    expect(heap!.points[1]!.requests).toBeGreaterThanOrEqual(heap!.points[0]!.requests);
  });
});
