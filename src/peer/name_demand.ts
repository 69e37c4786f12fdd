/**
 * Whether anyone reads client program names now. Naming a connection's program (Linux: a scan
 * of `/proc/PID/fd`, program_linux.ts) was about a fifth of a millisecond of CPU per new
 * connection, a fifth of ktctl's whole per-connection cost on the direct path, for names that
 * only the live view, `ktctl status` and the `-d` log show. So the admission check asks this
 * before naming: names are wanted while the `-d` log is on, and for a while after the live view
 * or `ktctl status` last read the connections (the page refreshes every few seconds while open;
 * `status` is one read). Connections admitted outside that window stay unnamed (their address is
 * shown instead), which changes nothing about who is admitted: the verdict never depends on the
 * name.
 * @module
 */

/** How long after the last read names are still wanted: longer than any page's refresh. */
export const NAMES_WANTED_FOR_MS = 5 * 60_000;

export class NameDemand {
  #readAt = -Infinity;

  constructor(
    /** Whether names are wanted whatever is read (the `-d` log). */
    readonly always: () => boolean = () => false,
    readonly forMs: number = NAMES_WANTED_FOR_MS,
    readonly now: () => number = () => performance.now(),
  ) {}

  /** Someone read the connections (the live view's page or its data, `ktctl status`). */
  read(): void {
    this.#readAt = this.now();
  }

  /** Whether the next admitted connection's program should be named. */
  wanted = (): boolean => this.always() || this.now() - this.#readAt < this.forMs;
}
