import { LocalError } from '../../protocol/errors.js';
import { channels } from './channels.js';
import type { PoolClock } from './options.js';

export interface HealthCheckRun {
  /** true only for a check that resolved `true` in time; never rejects. */
  readonly verdict: Promise<boolean>;
  readonly controller: AbortController;
}

/**
 * Runs one health check under a timeout. Aborting the returned controller (timeout, or the
 * connection being destroyed meanwhile) settles the verdict as false and clears the timer,
 * so a check that never answers cannot hold a timer or a caller.
 */
export function runHealthCheck<C>(
  check: (connection: C, signal: AbortSignal) => Promise<boolean>,
  connection: C,
  timeoutMs: number,
  clock: PoolClock,
  pool: { readonly name: string },
): HealthCheckRun {
  const controller = new AbortController();
  let onAbort: () => void = () => {};
  const aborted = new Promise<boolean>((resolve) => {
    onAbort = () => resolve(false);
    controller.signal.addEventListener('abort', onAbort, { once: true });
  });
  const timer =
    timeoutMs === Number.POSITIVE_INFINITY
      ? undefined
      : clock.setTimeout(() => {
          if (channels.timeout.hasSubscribers) {
            channels.timeout.publish({ pool, kind: 'health-check', timeoutMs });
          }
          controller.abort(
            new LocalError('TIMEOUT', `${pool.name}: health check took longer than ${timeoutMs} ms`),
          );
        }, timeoutMs);
  let running: Promise<boolean>;
  try {
    running = Promise.resolve(check(connection, controller.signal));
  } catch (err) {
    running = Promise.reject(err);
  }
  const answered = running.then(
    (ok) => ok === true,
    (error: unknown) => {
      if (channels.error.hasSubscribers) channels.error.publish({ pool, phase: 'health-check', error });
      return false;
    },
  );
  const verdict = Promise.race([answered, aborted]).then((ok) => {
    if (timer !== undefined) clock.clearTimeout(timer);
    controller.signal.removeEventListener('abort', onAbort);
    return ok;
  });
  return { verdict, controller };
}
