/**
 * One log line per burst: a hostile or broken peer can cause the same event thousands of times
 * a second (refused connections, a full connection table, accept failing with EMFILE), and a
 * line for each would cost more than the event and bury everything else. The first event writes
 * its line; later ones are counted, and the next line (at most one per `intervalMs`) says how
 * many it stands for.
 * @module
 */

export class LogLimit {
  #last = -Infinity;
  #suppressed = 0;

  constructor(readonly intervalMs: number, readonly now: () => number = () => performance.now()) {}

  /**
   * Records one event; returns the number of earlier events this line also stands for when a
   * line is due, undefined when this one is only counted.
   */
  hit(): number | undefined {
    const t = this.now();
    if (t - this.#last < this.intervalMs) {
      this.#suppressed++;
      return undefined;
    }
    this.#last = t;
    const earlier = this.#suppressed;
    this.#suppressed = 0;
    return earlier;
  }
}

/** " (and 12 more since the last line)" or "". */
export function moreSince(earlier: number): string {
  return earlier > 0 ? ` (and ${earlier} more since the last such line)` : "";
}
