import { channel } from 'node:diagnostics_channel';

/**
 * Pool events go out on `node:diagnostics_channel` rather than an EventEmitter: publishing
 * to a channel nobody subscribed to costs one boolean check (messages are only built when
 * `hasSubscribers`), there is no listener-leak warning to trip over with many pools, and
 * APM tooling already subscribes to channels this way (undici does the same). Channels are
 * process-wide, so every message carries the `pool` it came from; filter on it.
 * `node:diagnostics_channel` also exists in Bun and Deno.
 */
export const poolChannels = {
  /** `PoolCreateMessage`: a factory call resolved and the connection joined the pool. */
  create: 'mcpkit:pool:create',
  /** `PoolDestroyMessage`: a connection left the pool and is being closed. */
  destroy: 'mcpkit:pool:destroy',
  /** `PoolAcquireMessage`: a caller got a lease. */
  acquire: 'mcpkit:pool:acquire',
  /** `PoolReleaseMessage`: a lease was handed back (the connection may still be destroyed after). */
  release: 'mcpkit:pool:release',
  /** `PoolTimeoutMessage`: an acquire, connect or health check ran out of time. */
  timeout: 'mcpkit:pool:timeout',
  /** `PoolErrorMessage`: a factory, health check or close() failed. */
  error: 'mcpkit:pool:error',
} as const;

export type DestroyReason =
  | 'idle'
  | 'max-uses'
  | 'closed'
  | 'failed'
  | 'health-check'
  | 'released-after-close'
  | 'pool-close'
  | 'pool-destroy'
  | 'late-connect';

export interface PoolCreateMessage {
  pool: object;
  connection: unknown;
  connectMs: number;
}
export interface PoolDestroyMessage {
  pool: object;
  connection: unknown;
  reason: DestroyReason;
  error?: unknown;
}
export interface PoolAcquireMessage {
  pool: object;
  connection: unknown;
  waitedMs: number;
}
export interface PoolReleaseMessage {
  pool: object;
  connection: unknown;
  heldMs: number;
}
export interface PoolTimeoutMessage {
  pool: object;
  kind: 'acquire' | 'connect' | 'health-check';
  timeoutMs: number;
}
export interface PoolErrorMessage {
  pool: object;
  phase: 'connect' | 'health-check' | 'close';
  error: unknown;
}

export const channels = {
  create: channel(poolChannels.create),
  destroy: channel(poolChannels.destroy),
  acquire: channel(poolChannels.acquire),
  release: channel(poolChannels.release),
  timeout: channel(poolChannels.timeout),
  error: channel(poolChannels.error),
};
