import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE22, ROOT, SUITES, runSuite } from './run-suite.js';

/**
 * Every `auth/*` client scenario of the official conformance suite (0.1.16 and 0.2.0-alpha.12),
 * one at a time, against test/conformance/auth-driver.ts (McpClient + StreamableHttpClientTransport
 * + OAuthClient). The driver is bundled from the sources first, so the run never depends on a
 * stale build. A scenario passes when the runner says so: no failed check, no warning.
 */
const CORE = [
  'auth/metadata-default',
  'auth/metadata-var1',
  'auth/metadata-var2',
  'auth/metadata-var3',
  'auth/basic-cimd',
  'auth/scope-from-www-authenticate',
  'auth/scope-from-scopes-supported',
  'auth/scope-omitted-when-undefined',
  'auth/scope-step-up',
  'auth/scope-retry-limit',
  'auth/token-endpoint-auth-basic',
  'auth/token-endpoint-auth-post',
  'auth/token-endpoint-auth-none',
  'auth/pre-registration',
];
const LEGACY = ['auth/2025-03-26-oauth-metadata-backcompat', 'auth/2025-03-26-oauth-endpoint-fallback'];
const DRAFT = ['auth/resource-mismatch', 'auth/offline-access-scope', 'auth/offline-access-not-supported'];
const V02_2026 = [
  'auth/authorization-server-migration',
  'auth/iss-supported',
  'auth/iss-not-advertised',
  'auth/iss-supported-missing',
  'auth/iss-wrong-issuer',
  'auth/iss-unexpected',
  'auth/iss-normalized',
  'auth/metadata-issuer-mismatch',
];
const SCENARIOS = {
  '0.1': [
    ...CORE,
    ...LEGACY,
    ...DRAFT,
    'auth/client-credentials-jwt',
    'auth/client-credentials-basic',
    'auth/cross-app-access-complete-flow',
  ],
  '0.2': [
    ...CORE,
    ...LEGACY,
    ...DRAFT,
    ...V02_2026,
    'auth/client-credentials-jwt',
    'auth/client-credentials-basic',
    'auth/enterprise-managed-authorization',
    'auth/dpop',
    'auth/dpop-nonce',
    'auth/wif-jwt-bearer',
  ],
} as const;

let dir: string;
let command: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcpkit-auth-driver-'));
  const outfile = join(dir, 'auth-driver.mjs');
  await build({
    entryPoints: [join(ROOT, 'test/conformance/auth-driver.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'error',
  });
  // The runner splits the command on spaces: the temporary path must not contain one.
  expect(outfile).not.toContain(' ');
  command = `${process.execPath} ${outfile}`;
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function listed(version: keyof typeof SUITES): string[] {
  const out = execFileSync(NODE22, [SUITES[version], 'list', '--client'], { cwd: ROOT, encoding: 'utf8' });
  return [...out.matchAll(/ (auth\/[a-z0-9-]+)/g)].map((m) => m[1] as string);
}

async function runScenario(
  version: keyof typeof SUITES,
  scenario: string,
  extra: string[] = [],
): Promise<void> {
  const result = await runSuite(
    version,
    ['client', '--command', command, '--scenario', scenario, ...extra],
    60_000,
  );
  const tail = result.output.slice(-5000);
  const summary = /Passed: (\d+)\/(\d+), (\d+) failed, (\d+) warnings/.exec(result.output);
  expect(summary, tail).not.toBeNull();
  const [, passed, total, failed, warnings] = summary as RegExpExecArray;
  expect({ failed: Number(failed), warnings: Number(warnings) }, tail).toEqual({ failed: 0, warnings: 0 });
  expect(Number(passed), tail).toBe(Number(total));
  expect(Number(total), tail).toBeGreaterThan(0);
  expect(result.output, tail).toContain('OVERALL: PASSED');
  expect(result.exitCode, tail).toBe(0);
}

describe.skipIf(!existsSync(NODE22))('official conformance suite: auth client scenarios', () => {
  for (const version of ['0.1', '0.2'] as const) {
    describe(version, () => {
      it('runs every auth scenario the suite lists', () => {
        expect(new Set(listed(version))).toEqual(new Set(SCENARIOS[version]));
      }, 30_000);

      for (const scenario of SCENARIOS[version]) {
        it(scenario, () => runScenario(version, scenario), 60_000);
      }
    });
  }
});
