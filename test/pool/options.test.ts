import { describe, expect, it } from 'vitest';
import { ConnectionPool, type ConnectionPoolOptions } from '../../src/client/pool.js';
import { InvalidOptionError } from '../../src/protocol/errors.js';
import type { FakeConnection } from './fake.js';

const factory = async (): Promise<FakeConnection> => {
  throw new Error('never called: construction must fail first');
};

function build(options: Record<string, unknown>): ConnectionPool<FakeConnection> {
  return new ConnectionPool({ factory, ...options } as ConnectionPoolOptions<FakeConnection>);
}

describe('ConnectionPool options', () => {
  const bad: Array<[string, Record<string, unknown>]> = [
    ['factory', { factory: 'http://localhost' }],
    ['max', { max: 0 }],
    ['max', { max: 2.5 }],
    ['max', { max: Number.POSITIVE_INFINITY }],
    ['min', { min: -1 }],
    ['min', { min: 11, max: 10 }],
    ['min', { min: '2' }],
    ['idleTimeoutMs', { idleTimeoutMs: 0 }],
    ['idleTimeoutMs', { idleTimeoutMs: Number.NaN }],
    ['idleTimeoutMs', { idleTimeoutMs: 2 ** 31 }],
    ['connectTimeoutMs', { connectTimeoutMs: -5 }],
    ['acquireTimeoutMs', { acquireTimeoutMs: 1.5 }],
    ['maxWaiting', { maxWaiting: -1 }],
    ['maxUses', { maxUses: 0 }],
    ['healthCheck', { healthCheck: true }],
    ['healthCheckIntervalMs', { healthCheckIntervalMs: -1 }],
    ['healthCheckTimeoutMs', { healthCheckTimeoutMs: 0 }],
    ['retryDelayMs', { retryDelayMs: Number.POSITIVE_INFINITY }],
    ['maxRetryDelayMs', { retryDelayMs: 500, maxRetryDelayMs: 100 }],
    ['name', { name: '' }],
    ['clock', { clock: { now: () => 0 } }],
    ['idleTimeout', { idleTimeout: 1000 }],
  ];

  for (const [option, options] of bad) {
    it(`rejects ${JSON.stringify(options, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))} naming "${option}"`, () => {
      let caught: unknown;
      try {
        build(options);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(InvalidOptionError);
      expect((caught as InvalidOptionError).option).toBe(option);
      expect((caught as Error).message).toContain(`"${option}"`);
    });
  }

  it('rejects a missing options object', () => {
    expect(() => new ConnectionPool(undefined as unknown as ConnectionPoolOptions<FakeConnection>)).toThrow(
      InvalidOptionError,
    );
  });

  it('accepts Infinity for durations, maxWaiting and maxUses, and min 0', async () => {
    const pool = build({
      min: 0,
      idleTimeoutMs: Number.POSITIVE_INFINITY,
      connectTimeoutMs: Number.POSITIVE_INFINITY,
      acquireTimeoutMs: Number.POSITIVE_INFINITY,
      maxWaiting: Number.POSITIVE_INFINITY,
      maxUses: Number.POSITIVE_INFINITY,
    });
    expect(pool.stats.size).toBe(0);
    await pool.destroy();
  });

  it('caps the default min (2) at max when max is 1', async () => {
    const pool = build({ max: 1, factory: async () => ({ close: async () => {} }) });
    await pool.destroy();
  });

  it('validates the per-call timeoutMs of acquire()', async () => {
    const pool = build({ min: 0 });
    await expect(pool.acquire({ timeoutMs: 0 })).rejects.toMatchObject({ option: 'timeoutMs' });
    await pool.destroy();
  });
});
