import { InvalidOptionError } from '../protocol/errors.js';
import { type LimitState, advance, describe, resetState, take } from './algorithms.js';
import {
  ALGORITHM_CODE,
  type LimitRequest,
  type RateLimitPolicy,
  type RateLimitResult,
  type RateLimitStore,
  type StoreHealth,
} from './store.js';

export interface MemoryRateLimitStoreOptions {
  /**
   * Most (key, scope) entries kept; the least recently used is dropped beyond it (default 10,000).
   * Dropping an entry forgets that client's usage, which only ever favours that client, and
   * bounds memory however many distinct clients show up.
   */
  maxKeys?: number;
  /** Clock in ms (default `Date.now`); inject one in tests. */
  now?: () => number;
}

/** A state record that is also a node of the recency list (head = least recently used). */
interface Entry extends LimitState {
  key: string;
  prev: Entry | undefined;
  next: Entry | undefined;
  /** The consume call that last used it, so an entry in use is never recycled mid-call. */
  call: number;
}

/**
 * Per-process limiter state, O(1) per check: a Map finds the entry, a doubly linked list
 * orders entries by last use, and at capacity the least recently used entry is recycled for
 * the new key (no allocation in steady state). A Map alone in insertion order is not enough:
 * V8 leaves deleted entries as holes that `keys().next()` has to skip, so evicting from its
 * front degrades to linear time.
 * Use {@link RedisRateLimitStore} when several processes must share one limit.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly name = 'ratelimit-memory';
  readonly maxKeys: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  private head: Entry | undefined;
  private tail: Entry | undefined;
  private calls = 0;

  constructor(options: MemoryRateLimitStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? 10_000;
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
      throw new InvalidOptionError('maxKeys', `must be a positive integer, got ${String(maxKeys)}`);
    }
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new InvalidOptionError('now', 'must be a function returning milliseconds');
    }
    this.maxKeys = maxKeys;
    this.now = options.now ?? Date.now;
  }

  /** Entries currently held (never above `maxKeys` between calls). */
  get size(): number {
    return this.entries.size;
  }

  consume(key: string, limits: readonly LimitRequest[]): RateLimitResult[] {
    const now = this.now();
    const call = ++this.calls;
    const n = limits.length;
    const states: LimitState[] = new Array(n);
    const results: RateLimitResult[] = new Array(n);
    let admitted = true;
    for (let i = 0; i < n; i++) {
      const { scope, policy, blocking } = limits[i] as LimitRequest;
      const s = this.touch(entryKey(key, scope, policy), policy, now, call);
      advance(policy, s, now);
      const r = describe(policy, s);
      states[i] = s;
      results[i] = r;
      if (!r.allowed && blocking !== false) admitted = false;
    }
    if (admitted) {
      for (let i = 0; i < n; i++) {
        if (!(results[i] as RateLimitResult).allowed) continue;
        const { policy } = limits[i] as LimitRequest;
        const s = states[i] as LimitState;
        take(policy, s);
        const after = describe(policy, s);
        after.allowed = true;
        after.retryAfterMs = 0;
        results[i] = after;
      }
    }
    // Only when one call uses more limits than maxKeys can the map have grown past it.
    while (this.entries.size > this.maxKeys && this.head) this.drop(this.head);
    return results;
  }

  /** Checks and consumes a single limit. */
  check(key: string, policy: RateLimitPolicy, scope = 'default'): RateLimitResult {
    return this.consume(key, [{ scope, policy }])[0] as RateLimitResult;
  }

  health(): StoreHealth {
    return {
      name: this.name,
      healthy: true,
      message: `in-memory, ${this.entries.size}/${this.maxKeys} keys`,
    };
  }

  /** Forgets every client's usage. */
  clear(): void {
    this.entries.clear();
    this.head = this.tail = undefined;
  }

  private touch(k: string, policy: RateLimitPolicy, now: number, call: number): LimitState {
    let e = this.entries.get(k);
    if (e !== undefined) {
      if (e !== this.tail) {
        this.unlink(e);
        this.append(e);
      }
    } else {
      const victim = this.head;
      if (this.entries.size >= this.maxKeys && victim !== undefined && victim.call !== call) {
        this.drop(victim);
        e = victim;
        e.key = k;
      } else {
        // One literal shape for every entry keeps property access monomorphic.
        e = { t: 0, a: 0, b: 0, c: 0, key: k, prev: undefined, next: undefined, call };
      }
      resetState(policy, e, now);
      this.entries.set(k, e);
      this.append(e);
    }
    e.call = call;
    return e;
  }

  private drop(e: Entry): void {
    this.entries.delete(e.key);
    this.unlink(e);
  }

  private unlink(e: Entry): void {
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = undefined;
  }

  private append(e: Entry): void {
    e.prev = this.tail;
    e.next = undefined;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
  }
}

/** Length-prefixing the scope keeps (scope, key) pairs unambiguous whatever characters they hold. */
function entryKey(key: string, scope: string, policy: RateLimitPolicy): string {
  return `${ALGORITHM_CODE[policy.algorithm]}${scope.length}:${scope}${key}`;
}
