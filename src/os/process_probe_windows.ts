/**
 * Process identity on Windows from the kernel itself (kernel32 through FFI, see `win32.ts`):
 * EnumProcesses says whether the pid runs at all, GetProcessTimes gives its creation time, the
 * identity recorded in state files (`started:<FILETIME ticks>`). A pid recycled by any later
 * process, another deno.exe included, then has another creation time and reads as dead. No
 * tasklist or wmic: wmic is gone from current Windows 11 and Wine's tasklist is a stub.
 *
 * @module
 */
import { type ProcessProbe, ProcessProbeError } from "./process_probe.ts";

/** The two kernel32 questions, injectable so the decisions are tested off Windows. */
export interface WindowsProcesses {
  /** Every running pid. @throws when the list cannot be read. */
  pids(): Set<number>;
  /**
   * The process's creation time (FILETIME, 100 ns ticks since 1601), `exited` when only a
   * handle keeps it around, `inaccessible` when it cannot be opened (another user's, say).
   */
  creationTime(pid: number): bigint | "exited" | "inaccessible";
}

/** The identity prefix; identities of other schemes (older ktctl versions) are not compared. */
export const IDENTITY_PREFIX = "started:";

/** Windows: see the module doc. */
export class WindowsProcessProbe implements ProcessProbe {
  constructor(private readonly processes: WindowsProcesses) {}

  startTime(pid: number): Promise<string | undefined> {
    let running: Set<number>;
    try {
      running = this.processes.pids();
    } catch (error) {
      return Promise.reject(
        new ProcessProbeError(`cannot list processes: ${(error as Error).message}`),
      );
    }
    if (!running.has(pid)) return Promise.resolve(undefined);
    const created = this.processes.creationTime(pid);
    if (created === "exited") return Promise.resolve(undefined);
    if (created === "inaccessible") {
      return Promise.reject(
        new ProcessProbeError(`pid ${pid} runs but cannot be opened to read its start time`),
      );
    }
    return Promise.resolve(`${IDENTITY_PREFIX}${created}`);
  }
}
