/**
 * Telling whether the process that wrote a state file still runs. A pid alone is not enough:
 * pids are recycled, so each probe returns an identity (the start time where the OS gives one)
 * that is recorded with the pid and compared later.
 *
 * @module
 */

/** Looks up a process's identity. */
export interface ProcessProbe {
  /**
   * The start time (or, where unavailable, another stable identity) of `pid`;
   * `undefined` when no such process runs.
   * @throws {ProcessProbeError} when it cannot tell at all.
   */
  startTime(pid: number): Promise<string | undefined>;
}

/** None of the platform's ways to look at processes worked. */
export class ProcessProbeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProcessProbeError";
  }
}
