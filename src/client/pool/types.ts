import { LocalError } from '../../protocol/errors.js';
import type { PoolConnection } from './options.js';

export interface AcquireOptions {
  /** Aborting gives up the wait (LocalError CANCELLED); it has no effect once a lease is handed out. */
  signal?: AbortSignal;
  /** Overrides `acquireTimeoutMs` for this call. */
  timeoutMs?: number;
}

export interface PoolStats {
  /** Slots in use against `max`: idle + busy + connecting + closing. */
  size: number;
  idle: number;
  /** Leased, or being health-checked on behalf of a caller. */
  busy: number;
  /** Callers waiting in `acquire()`. */
  pending: number;
  /** Factory calls in flight. */
  connecting: number;
  /** Connections whose `close()` has not settled yet. */
  closing: number;
  created: number;
  destroyed: number;
  /** Acquires that gave up after `acquireTimeoutMs`. */
  timeouts: number;
  acquired: number;
  /** Factory calls that failed or timed out. */
  connectFailures: number;
}

/** The pool's record of one connection. */
export interface Entry<C> {
  readonly connection: C;
  state: 'idle' | 'busy' | 'checking' | 'closing';
  uses: number;
  /** When it last proved alive: created, released or health-checked. Idle reaping counts from here. */
  lastActiveAt: number;
  leasedAt: number;
  dead: boolean;
  /** Aborts a running health check, so destroying the entry leaves no check timer behind. */
  check: AbortController | undefined;
  unwatch: () => void;
  closed: Promise<void> | undefined;
}

/** One factory call. */
export interface Attempt {
  readonly controller: AbortController;
  readonly startedAt: number;
  timer: unknown;
  /** Failed or abandoned: nobody counts on it any more, but it holds its slot until the factory settles. */
  failed: boolean;
}

/** Errors that mean the connection itself is broken, so `use()` destroys rather than returns it. */
export function isConnectionFailure(err: unknown): boolean {
  return err instanceof LocalError && (err.code === 'CONNECTION_CLOSED' || err.code === 'TRANSPORT');
}

/** Maintenance timers must not keep a process alive on their own. */
export function unref(handle: unknown): void {
  const h = handle as { unref?: () => void } | null | undefined;
  if (h && typeof h.unref === 'function') h.unref();
}

export function cancelledError(reason: unknown): LocalError {
  const detail =
    reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : '';
  return new LocalError('CANCELLED', `acquire() was cancelled${detail}`, { cause: reason });
}

export function connectError(name: string, err: unknown): LocalError {
  if (err instanceof LocalError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new LocalError('TRANSPORT', `${name}: could not open a connection: ${message}`, { cause: err });
}

export function newEntry<C>(connection: C, now: number): Entry<C> {
  return {
    connection,
    state: 'busy',
    uses: 0,
    lastActiveAt: now,
    leasedAt: now,
    dead: false,
    check: undefined,
    unwatch: () => {},
    closed: undefined,
  };
}

/** Whether the connection says it is dead, by flag or signal. */
export function reportsClosed(c: PoolConnection): boolean {
  return c.closed === true || c.closedSignal?.aborted === true;
}

/** Subscribes to the connection's death by whichever means it offers; returns the unsubscribe. */
export function watchClose(c: PoolConnection, onClose: () => void): () => void {
  const signal = c.closedSignal;
  if (signal) {
    signal.addEventListener('abort', onClose, { once: true });
    return () => signal.removeEventListener('abort', onClose);
  }
  if (typeof c.on === 'function') {
    c.on('close', onClose);
    return () => c.off?.('close', onClose);
  }
  if (typeof c.onClose === 'function') {
    const off = c.onClose(onClose);
    return typeof off === 'function' ? (off as () => void) : () => {};
  }
  return () => {};
}
