/**
 * FIFO of callers waiting for a connection. Waiters that time out or abort are only
 * flagged and skipped later, so leaving the queue is O(1) whatever its length; `size`
 * counts live waiters only.
 */
export interface Waiter<T> {
  readonly enqueuedAt: number;
  done: boolean;
  resolve(value: T): void;
  reject(error: unknown): void;
  /** Clears the waiter's timer and abort listener. */
  cleanup(): void;
}

export class WaiterQueue<T> {
  private items: Array<Waiter<T> | undefined> = [];
  private head = 0;
  private live = 0;

  get size(): number {
    return this.live;
  }

  push(waiter: Waiter<T>): void {
    this.items.push(waiter);
    this.live++;
  }

  /** Removes and returns the oldest live waiter, already marked done and cleaned up. */
  shift(): Waiter<T> | undefined {
    while (this.head < this.items.length) {
      const waiter = this.items[this.head];
      this.items[this.head++] = undefined;
      if (waiter && !waiter.done) {
        this.take(waiter);
        this.compact();
        return waiter;
      }
    }
    this.compact();
    return undefined;
  }

  /** Takes a waiter out wherever it is (timeout, abort); false if it already left. */
  remove(waiter: Waiter<T>): boolean {
    if (waiter.done) return false;
    this.take(waiter);
    // Skipped entries pile up while nothing is dispensed (every connection hung); sweep them.
    const stale = this.items.length - this.head - this.live;
    if (stale > 1024 && stale > this.live) {
      this.items = this.items.slice(this.head).filter((w) => w !== undefined && !w.done);
      this.head = 0;
    }
    return true;
  }

  drain(): Array<Waiter<T>> {
    const out: Array<Waiter<T>> = [];
    for (let w = this.shift(); w; w = this.shift()) out.push(w);
    this.items = [];
    this.head = 0;
    return out;
  }

  private take(waiter: Waiter<T>): void {
    waiter.done = true;
    waiter.cleanup();
    this.live--;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
