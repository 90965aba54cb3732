export interface CheckResult {
  name: string;
  healthy: boolean;
  message: string | null;
}

export type HealthCheck = () =>
  | boolean
  | { healthy: boolean; message?: string | null }
  | Promise<boolean | { healthy: boolean; message?: string | null }>;

/**
 * Liveness (`/health`: the process answers) and readiness (`/ready`: every check passes and
 * the server is not draining). Checks run concurrently with a timeout so one hung dependency
 * cannot hang the probe.
 */
export class HealthChecks {
  private readonly checks = new Map<string, HealthCheck>();
  private readonly started = Date.now();
  draining = false;

  constructor(
    readonly version: string,
    private readonly timeoutMs = 2000,
  ) {}

  add(name: string, check: HealthCheck): this {
    this.checks.set(name, check);
    return this;
  }

  remove(name: string): void {
    this.checks.delete(name);
  }

  health(): { status: 'healthy'; version: string; uptime_secs: number } {
    return {
      status: 'healthy',
      version: this.version,
      uptime_secs: Math.floor((Date.now() - this.started) / 1000),
    };
  }

  async ready(): Promise<{ ready: boolean; checks: CheckResult[] }> {
    const results = await Promise.all(
      [...this.checks].map(async ([name, check]): Promise<CheckResult> => {
        try {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`timed out after ${this.timeoutMs} ms`)),
              this.timeoutMs,
            );
          });
          const outcome = await Promise.race([Promise.resolve(check()), timeout]).finally(() =>
            clearTimeout(timer),
          );
          if (typeof outcome === 'boolean') return { name, healthy: outcome, message: null };
          return { name, healthy: outcome.healthy, message: outcome.message ?? null };
        } catch (err) {
          return { name, healthy: false, message: err instanceof Error ? err.message : String(err) };
        }
      }),
    );
    if (this.draining)
      results.push({ name: 'shutdown', healthy: false, message: 'draining: not accepting new work' });
    return { ready: results.every((r) => r.healthy), checks: results };
  }
}
