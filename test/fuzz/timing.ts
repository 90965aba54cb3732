/**
 * Best of up to `n` timings of `fn`, in milliseconds, stopping early once a run is under
 * `enough`. CI machines are shared: one run can lose its time slice or meet a GC pause, but a
 * backtracking regex is slow every time, so the minimum separates slow code from a busy machine.
 */
export function bestOf(n: number, fn: () => unknown, enough = 0): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n && best >= enough; i++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}
