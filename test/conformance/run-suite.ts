import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const NODE22 = `${ROOT}node_modules/node22/bin/node`;
export const SUITES = {
  '0.1': `${ROOT}node_modules/conformance-0.1/dist/index.js`,
  '0.2': `${ROOT}node_modules/conformance-0.2/dist/index.js`,
} as const;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface SuiteResult {
  passed: number;
  failed: number;
  warnings: number;
  failedScenarios: string[];
  output: string;
  exitCode: number | null;
}

/** Runs the conformance CLI with the Node 22 binary and parses its `Total:` line. */
export function runSuite(
  version: keyof typeof SUITES,
  args: string[],
  timeoutMs = 600_000,
  env: Record<string, string> = {},
): Promise<SuiteResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE22, [SUITES[version], ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour escapes.
      const clean = output.replace(/\x1b\[[0-9;]*m/g, '');
      const total = /Total: (\d+) passed, (\d+) failed(?:, (\d+) warnings)?/.exec(clean);
      const failedScenarios = [...clean.matchAll(/^✗ ([^:]+):/gm)].map((m) => m[1] as string);
      resolve({
        passed: Number(total?.[1] ?? 0),
        failed: total ? Number(total[2]) : -1,
        warnings: (clean.match(/\bWARNING\b/g) ?? []).length,
        failedScenarios,
        output: clean,
        exitCode,
      });
    });
  });
}
