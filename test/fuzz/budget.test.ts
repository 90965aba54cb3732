import { describe, expect, it } from 'vitest';
import { BUDGET } from './budget.js';

describe('fuzz budget', () => {
  // Each property also asserts it really ran its share (see `counter()` in every fuzz file).
  it('spends at least 100,000 generated inputs per default run', () => {
    expect(Object.values(BUDGET).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(100_000);
  });
});
