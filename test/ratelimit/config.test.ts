import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/protocol/errors.js';
import { RateLimitConfig } from '../../src/ratelimit/index.js';

function optionError(fn: () => unknown): InvalidOptionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionError);
    return err as InvalidOptionError;
  }
  throw new Error('expected an InvalidOptionError');
}

describe('RateLimitConfig', () => {
  it('builds immutably with defaults token-bucket / reject', () => {
    const base = new RateLimitConfig(100, 60_000);
    const burst = base.withBurst(10);
    const waiting = burst.withAction('wait');
    expect(base).toMatchObject({
      requests: 100,
      windowMs: 60_000,
      burst: undefined,
      algorithm: 'token-bucket',
      action: 'reject',
    });
    expect(burst.burst).toBe(10);
    expect(burst.capacity).toBe(10);
    expect(base.capacity).toBe(100);
    expect(waiting.action).toBe('wait');
    expect(burst.action).toBe('reject');
    expect(Object.isFrozen(base)).toBe(true);
    expect(() => {
      (base as { requests: number }).requests = 5;
    }).toThrow(TypeError);
    const sliding = base.withAlgorithm('sliding-window').withAction('warn');
    expect(sliding).toMatchObject({ algorithm: 'sliding-window', action: 'warn', requests: 100 });
  });

  it('accepts the equivalent plain options object', () => {
    const a = new RateLimitConfig(100, 60_000).withBurst(10).withAction('wait');
    const b = new RateLimitConfig({ requests: 100, windowMs: 60_000, burst: 10, action: 'wait' });
    expect(b.toJSON()).toEqual(a.toJSON());
    expect(RateLimitConfig.from({ requests: 5, windowMs: 1000 })).toBeInstanceOf(RateLimitConfig);
    expect(RateLimitConfig.from(a)).toBe(a);
  });

  it('names the offending field', () => {
    expect(optionError(() => new RateLimitConfig(0, 1000)).option).toBe('requests');
    expect(optionError(() => new RateLimitConfig(1.5, 1000)).message).toBe(
      'Invalid option "requests": must be a positive integer, got 1.5',
    );
    expect(optionError(() => new RateLimitConfig(10, -1)).option).toBe('windowMs');
    expect(optionError(() => new RateLimitConfig(10, Number.NaN)).option).toBe('windowMs');
    expect(optionError(() => new RateLimitConfig(10, 1000).withBurst(0)).option).toBe('burst');
    const alg = optionError(() => new RateLimitConfig(10, 1000).withAlgorithm('leaky' as never));
    expect(alg.option).toBe('algorithm');
    expect(alg.message).toContain("'token-bucket', 'sliding-window', 'fixed-window'");
    expect(optionError(() => new RateLimitConfig(10, 1000).withAction('drop' as never)).option).toBe(
      'action',
    );
    expect(optionError(() => new RateLimitConfig({ requests: 1, window: 1000 } as never)).option).toBe(
      'window',
    );
    expect(optionError(() => new RateLimitConfig({ requests: 1 } as never)).option).toBe('windowMs');
  });

  it('rejects a burst on window algorithms instead of ignoring it', () => {
    const err = optionError(() => new RateLimitConfig(10, 1000).withBurst(5).withAlgorithm('fixed-window'));
    expect(err.option).toBe('burst');
    expect(err.message).toContain('token-bucket');
    expect(
      optionError(() => new RateLimitConfig(10, 1000).withAlgorithm('sliding-window').withBurst(5)).option,
    ).toBe('burst');
  });

  it('prefixes the path of a nested config in errors', () => {
    const err = optionError(() =>
      RateLimitConfig.from({ requests: -3, windowMs: 1000 }, 'tools.query_database'),
    );
    expect(err.option).toBe('tools.query_database.requests');
    expect(err.message).toBe(
      'Invalid option "tools.query_database.requests": must be a positive integer, got -3',
    );
  });
});

describe('RateLimitConfig.fromEnv', () => {
  it('returns undefined when MCP_RATE_LIMIT_REQUESTS is unset or empty', () => {
    expect(RateLimitConfig.fromEnv({})).toBeUndefined();
    expect(RateLimitConfig.fromEnv({ MCP_RATE_LIMIT_REQUESTS: '  ' })).toBeUndefined();
  });

  it('reads requests, window seconds (default 60) and burst', () => {
    expect(RateLimitConfig.fromEnv({ MCP_RATE_LIMIT_REQUESTS: '100' })?.toJSON()).toEqual({
      requests: 100,
      windowMs: 60_000,
      algorithm: 'token-bucket',
      action: 'reject',
    });
    const c = RateLimitConfig.fromEnv({
      MCP_RATE_LIMIT_REQUESTS: ' 20 ',
      MCP_RATE_LIMIT_WINDOW_SECS: '1.5',
      MCP_RATE_LIMIT_BURST: '5',
    });
    expect(c).toMatchObject({ requests: 20, windowMs: 1500, burst: 5 });
  });

  it('names the variable in errors', () => {
    const bad = (env: Record<string, string>) => optionError(() => RateLimitConfig.fromEnv(env));
    expect(bad({ MCP_RATE_LIMIT_REQUESTS: 'ten' }).message).toBe(
      'Invalid option "MCP_RATE_LIMIT_REQUESTS": must be a positive integer, got "ten"',
    );
    expect(bad({ MCP_RATE_LIMIT_REQUESTS: '0' }).option).toBe('MCP_RATE_LIMIT_REQUESTS');
    expect(bad({ MCP_RATE_LIMIT_REQUESTS: '10', MCP_RATE_LIMIT_WINDOW_SECS: '-1' }).option).toBe(
      'MCP_RATE_LIMIT_WINDOW_SECS',
    );
    expect(bad({ MCP_RATE_LIMIT_REQUESTS: '10', MCP_RATE_LIMIT_WINDOW_SECS: '0' }).option).toBe(
      'MCP_RATE_LIMIT_WINDOW_SECS',
    );
    expect(bad({ MCP_RATE_LIMIT_REQUESTS: '10', MCP_RATE_LIMIT_BURST: '2.5' }).option).toBe(
      'MCP_RATE_LIMIT_BURST',
    );
    const stray = bad({ MCP_RATE_LIMIT_BURST: '5' });
    expect(stray.option).toBe('MCP_RATE_LIMIT_REQUESTS');
    expect(stray.message).toContain('MCP_RATE_LIMIT_BURST');
  });
});
