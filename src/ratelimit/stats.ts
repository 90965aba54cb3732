/**
 * Counters of a rate limit middleware. At the top level each request counts once, at its final
 * decision: `requests = allowed + rejected`; `warned` (let through over a `warn` limit) and
 * `waited` (delayed at least once) are subsets. Per scope (one entry per configured limit; the
 * `'*'` entries aggregate every name they match) a request counts in `requests` of each limit
 * that applied, in `allowed` if it went through, in `rejected` only if this limit refused it
 * (a request refused by another limit is neither), in `warned` if it went through over this
 * limit. `storeErrors` counts requests answered by a store failure mode (or a throwing store).
 */
export interface RateLimitCounters {
  requests: number;
  allowed: number;
  rejected: number;
  waited: number;
  warned: number;
  storeErrors: number;
  /** rejected / requests, 0 before any request. */
  rejectionRate: number;
}

export interface RateLimitStats extends RateLimitCounters {
  /** Same as `requests`, named as in the guide. */
  totalRequests: number;
  /** Same as `rejected`. */
  totalRejected: number;
  /** Keyed by limit: `global`, `tool:<name>`, `tool:*`, `resource:<uri>`, `prompt:<name>`. */
  scopes: Record<string, RateLimitCounters>;
}

type Raw = Omit<RateLimitCounters, 'rejectionRate'>;

const zero = (): Raw => ({ requests: 0, allowed: 0, rejected: 0, waited: 0, warned: 0, storeErrors: 0 });

export class StatsCollector {
  private readonly total = zero();
  private readonly scopes = new Map<string, Raw>();

  constructor(scopeNames: readonly string[]) {
    for (const name of scopeNames) this.scopes.set(name, zero());
  }

  request(o: { admitted: boolean; warned: boolean; waited: boolean; storeError: boolean }): void {
    const t = this.total;
    t.requests++;
    if (o.admitted) t.allowed++;
    else t.rejected++;
    if (o.warned) t.warned++;
    if (o.waited) t.waited++;
    if (o.storeError) t.storeErrors++;
  }

  record(
    scope: string,
    o: { admitted: boolean; exceeded: boolean; blocking: boolean; waited: boolean; storeError: boolean },
  ): void {
    const s = this.scopes.get(scope);
    if (!s) return;
    s.requests++;
    if (o.admitted) {
      s.allowed++;
      if (o.exceeded) s.warned++;
    } else if (o.exceeded && o.blocking) {
      s.rejected++;
    }
    if (o.waited) s.waited++;
    if (o.storeError) s.storeErrors++;
  }

  /** A store that threw: the request fails before any decision, so count it as rejected. */
  storeFailure(scopes: readonly string[]): void {
    this.request({ admitted: false, warned: false, waited: false, storeError: true });
    for (const name of scopes) {
      this.record(name, { admitted: false, exceeded: true, blocking: true, waited: false, storeError: true });
    }
  }

  snapshot(): RateLimitStats {
    const scopes: Record<string, RateLimitCounters> = {};
    for (const [name, raw] of this.scopes) scopes[name] = withRate(raw);
    const total = withRate(this.total);
    return { ...total, totalRequests: total.requests, totalRejected: total.rejected, scopes };
  }
}

function withRate(raw: Raw): RateLimitCounters {
  return { ...raw, rejectionRate: raw.requests === 0 ? 0 : raw.rejected / raw.requests };
}
