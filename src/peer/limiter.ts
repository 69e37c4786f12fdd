/**
 * A bound on concurrent work: at most `concurrent` tasks run, at most `waiting` more queue, and
 * anything beyond is refused at once. The macOS peer lookup spawns `lsof` (tens of milliseconds,
 * a process each): without a bound, a burst of connections would start one per connection.
 * @module
 */

export class LimiterFull extends Error {
  override name = "LimiterFull";
}

export class Limiter {
  #running = 0;
  #queue: (() => void)[] = [];

  constructor(readonly concurrent: number, readonly waiting: number) {}

  /** Runs `task` when a slot is free; rejects with LimiterFull when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.concurrent) {
      if (this.#queue.length >= this.waiting) {
        throw new LimiterFull(`${this.#running} lookups running and ${this.waiting} waiting`);
      }
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }

  /** Tasks running now (for tests). */
  get running(): number {
    return this.#running;
  }
}
