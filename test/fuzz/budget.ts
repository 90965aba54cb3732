import type { Parameters } from 'fast-check';

/**
 * Run counts for the property tests. Every number below is a per-run base; `FUZZ_RUNS`
 * multiplies them all (`FUZZ_RUNS=20 vitest run test/fuzz` for the long run), `FUZZ_SEED`
 * replays a failing run. The bases add up to more than 100,000 generated inputs per
 * `npm test` (budget.test.ts holds that line).
 */
const multiplier = (() => {
  const raw = process.env.FUZZ_RUNS;
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0)
    throw new Error(`FUZZ_RUNS must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
})();

const seed = (() => {
  const raw = process.env.FUZZ_SEED;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`FUZZ_SEED must be an integer, got ${JSON.stringify(raw)}`);
  return n;
})();

/** Per-test timeout: the default 30 s, scaled with the run count so a long run does not time out. */
export const FUZZ_TIMEOUT_MS = Math.ceil(30_000 * Math.max(1, multiplier));

export const BUDGET = {
  jsonrpcStrings: 15_000,
  jsonrpcJsonValues: 10_000,
  jsonrpcShaped: 15_000,
  jsonrpcAnything: 8_000,
  jsonrpcNesting: 3_000,
  jsonrpcErrorResponses: 4_000,
  templateParse: 8_000,
  templateExpandMatch: 6_000,
  templateRoundTrip: 10_000,
  templateTiming: 150,
  cursorStrings: 6_000,
  cursorEncoded: 4_000,
  cursorRoundTrip: 4_000,
  cursorAnything: 2_000,
  safePathHostile: 4_000,
  safePathUnicode: 2_000,
  safePathAsync: 800,
  safePathLexical: 7_000,
  uriValidate: 4_000,
  sqlQuote: 4_000,
  sqlTag: 2_000,
  redact: 1_500,
} as const;

export type BudgetKey = keyof typeof BUDGET;

export function runs(key: BudgetKey): number {
  return Math.max(1, Math.round(BUDGET[key] * multiplier));
}

/** fast-check parameters for one property. */
export function params<T>(key: BudgetKey): Parameters<T> {
  return seed === undefined ? { numRuns: runs(key) } : { numRuns: runs(key), seed };
}

/**
 * Counts the inputs a property really ran, so a test can assert the budget was spent
 * (a filter or `fc.pre` that silently discards most inputs would otherwise go unnoticed).
 */
export function counter(): { tick: () => void; readonly count: number } {
  let count = 0;
  return {
    tick: () => {
      count++;
    },
    get count() {
      return count;
    },
  };
}
