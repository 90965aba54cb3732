import { LocalError } from '../../protocol/errors.js';
import type { PoolConnection } from './options.js';

// Node has had Symbol.asyncDispose since 20.4 (as Symbol.for('nodejs.asyncDispose')); older
// runtimes get the same registered symbol, so `await using` helpers and Node agree on it.
if (typeof Symbol.asyncDispose !== 'symbol') {
  Object.defineProperty(Symbol, 'asyncDispose', {
    value: Symbol.for('nodejs.asyncDispose'),
    configurable: false,
    enumerable: false,
    writable: false,
  });
}

/** A borrowed connection. Hand it back exactly once: `release()`, `destroy()` or scope exit. */
export interface PooledConnection<C extends PoolConnection> extends AsyncDisposable {
  /** The connection; reading it after release throws, because another caller may own it by then. */
  readonly connection: C;
  /** True once `release()`, `destroy()` or scope exit handed it back. */
  readonly released: boolean;
  /** Returns the connection to the pool (or closes it, if it died or used up `maxUses`). Idempotent. */
  release(): void;
  /** Closes the connection instead of returning it; resolves once it is closed. Idempotent. */
  destroy(reason?: unknown): Promise<void>;
  /** `release()`, or `destroy()` if the connection reports it is closed. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The pool side of a lease, kept off the public class. */
export interface LeaseOwner<E> {
  release(entry: E): void;
  destroy(entry: E, reason: unknown): Promise<void>;
  isDead(entry: E): boolean;
}

export class Lease<C extends PoolConnection, E extends { readonly connection: C }>
  implements PooledConnection<C>
{
  #entry: E;
  #owner: LeaseOwner<E>;
  #settled: Promise<void> | undefined;

  constructor(entry: E, owner: LeaseOwner<E>) {
    this.#entry = entry;
    this.#owner = owner;
  }

  get connection(): C {
    if (this.#settled)
      throw new LocalError('NOT_CONNECTED', 'This pooled connection was already returned to the pool');
    return this.#entry.connection;
  }

  get released(): boolean {
    return this.#settled !== undefined;
  }

  release(): void {
    if (this.#settled) return;
    this.#settled = Promise.resolve();
    this.#owner.release(this.#entry);
  }

  destroy(reason?: unknown): Promise<void> {
    if (this.#settled) return this.#settled;
    this.#settled = this.#owner.destroy(this.#entry, reason);
    return this.#settled;
  }

  [Symbol.asyncDispose](): Promise<void> {
    if (this.#settled) return this.#settled;
    if (this.#owner.isDead(this.#entry)) return this.destroy();
    this.release();
    return Promise.resolve();
  }
}
