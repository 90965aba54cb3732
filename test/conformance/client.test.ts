import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE22, runSuite } from './run-suite.js';

/** The official suite's client scenarios (auth ones live in client-auth.test.ts), one at a time as the suite requires. */
const SCENARIOS = {
  '0.1': ['initialize', 'tools_call', 'elicitation-sep1034-client-defaults', 'sse-retry'],
  '0.2': [
    'initialize',
    'tools_call',
    'elicitation-sep1034-client-defaults',
    'sse-retry',
    'request-metadata',
    'sep-2322-client-request-state',
    'http-standard-headers',
    'http-custom-headers',
    'http-invalid-tool-headers',
    'json-schema-ref-no-deref',
    'json-schema-2020-12-preservation',
  ],
} as const;

describe.skipIf(!existsSync(NODE22))('official conformance suite (client)', () => {
  for (const version of ['0.1', '0.2'] as const) {
    for (const scenario of SCENARIOS[version]) {
      it(`${version} ${scenario}`, async () => {
        const result = await runSuite(
          version,
          ['client', '--command', 'node test/conformance/client-driver.mjs', '--scenario', scenario],
          60_000,
        );
        expect(result.output, result.output.slice(-3000)).toContain('OVERALL: PASSED');
        expect(result.exitCode).toBe(0);
      }, 70_000);
    }
  }
});
