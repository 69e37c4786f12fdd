/**
 * Process identity on Linux (`/proc/<pid>/stat`) and macOS (`ps -o lstart=`).
 *
 * @module
 */
import { type CommandRunner, ExecutableNotFoundError } from "./command_runner.ts";
import { type ProcessProbe, ProcessProbeError } from "./process_probe.ts";

/**
 * Field 22 (starttime, clock ticks after boot) of a `/proc/<pid>/stat` line. The command name
 * (field 2) may contain spaces and parentheses, so fields are counted after its last `)`.
 * Zombies count as gone: their connect can no longer restore anything.
 */
export function parseProcStat(stat: string): string | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).trim().split(/\s+/);
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  const startTime = fields[19];
  if (startTime === undefined || !/^\d+$/.test(startTime)) {
    throw new ProcessProbeError(`unexpected /proc stat line: ${stat.slice(0, 80)}`);
  }
  return startTime;
}

/** Linux: reads `/proc/<pid>/stat`; `readStat` is injectable for tests. */
export class LinuxProcessProbe implements ProcessProbe {
  constructor(
    private readonly readStat: (path: string) => Promise<string> = (path) =>
      Deno.readTextFile(path),
  ) {}

  async startTime(pid: number): Promise<string | undefined> {
    try {
      return parseProcStat(await this.readStat(`/proc/${pid}/stat`));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }
}

/** macOS: `ps -o lstart= -p <pid>` prints the start time, or nothing with exit 1. */
export class DarwinProcessProbe implements ProcessProbe {
  constructor(private readonly runner: CommandRunner) {}

  async startTime(pid: number): Promise<string | undefined> {
    let result;
    try {
      result = await this.runner.run("ps", ["-o", "lstart=", "-p", String(pid)]);
    } catch (error) {
      if (error instanceof ExecutableNotFoundError) throw new ProcessProbeError(error.message);
      throw error;
    }
    const started = result.stdout.trim();
    return result.code === 0 && started !== "" ? started : undefined;
  }
}
