import type { Counter } from 'prom-client';

/**
 * Hot-path recording without prom-client's per-call cost (label hashing, validation,
 * object allocation: about a microsecond per `inc`/`observe`). Requests bump plain numbers
 * in cells bound once per label set; prom-client sees the totals when it collects.
 */

type Labels = Record<string, string>;

/** One counter series: `inc()` is a field increment. */
export class CounterCell {
  pending = 0;
  constructor(readonly labels: Labels) {}
  inc(): void {
    this.pending++;
  }
}

/**
 * Cells of one prom-client Counter. Pass `flush` as the Counter's `collect` hook: pending
 * increments move into the Counter just before every render, JSON snapshot or push, so the
 * Counter stays a real prom-client Counter that other code may also `inc()`.
 */
export class CounterCells {
  private readonly cells: CounterCell[] = [];
  private counter: Counter<string> | undefined;

  bind(counter: Counter<string>): void {
    this.counter = counter;
  }

  cell(labels: Labels): CounterCell {
    const c = new CounterCell(labels);
    this.cells.push(c);
    return c;
  }

  readonly flush = (): void => {
    const counter = this.counter;
    if (counter === undefined) return;
    for (const c of this.cells) {
      if (c.pending === 0) continue;
      const n = c.pending;
      c.pending = 0;
      counter.inc(c.labels, n);
    }
  };
}

/** One histogram series: non-cumulative bucket counts, made cumulative only on export. */
export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: Float64Array,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    const n = bounds.length;
    let i = 0;
    while (i < n && value > (bounds[i] as number)) i++;
    (this.counts[i] as number)++;
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * A histogram that speaks prom-client's metric protocol (`name`, `help`, `type`,
 * `aggregator`, `get()`, `reset()`), so a prom-client Registry renders, snapshots and
 * aggregates it exactly like its own Histogram: same series, same label order.
 */
export class CellHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly cells: HistogramCell[] = [];
  private readonly bounds: Float64Array;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    buckets: readonly number[],
  ) {
    this.bounds = Float64Array.from(buckets);
  }

  cell(labels: Labels): HistogramCell {
    const c = new HistogramCell(labels, this.bounds);
    this.cells.push(c);
    return c;
  }

  async get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: ExportedValue[];
  }> {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.cells) {
      // Like prom-client: a series exists once it has been observed.
      if (c.count === 0) continue;
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += c.counts[i] as number;
        values.push({
          labels: { le: this.bounds[i] as number, ...c.labels },
          value: cumulative,
          metricName: bucket,
        });
      }
      values.push({ labels: { le: '+Inf', ...c.labels }, value: c.count, metricName: bucket });
      values.push({ labels: { ...c.labels }, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...c.labels }, value: c.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const c of this.cells) c.reset();
  }
}
