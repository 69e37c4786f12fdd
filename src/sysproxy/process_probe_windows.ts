/**
 * Process identity on Windows without PowerShell, so it works on real Windows and under Wine:
 * `tasklist` says whether the pid runs and its image name (present on every Windows; Wine's
 * may ignore /FO and /NH and print `name,pid`), then `wmic` adds the creation date where it
 * exists (it is deprecated and missing from recent Windows 11). The identity is
 * `created:<CreationDate>` when wmic answers, else `image:<name>`: weaker, since a recycled
 * pid running the same program looks alive, but that errs on the side of touching nothing.
 *
 * Wine 8's tasklist is a stub that exits 0 and prints nothing, and its wmic has no `where`; a
 * real tasklist always prints a row or an INFO line, so silence is no answer, and the last
 * resort is wmic's whole process table (`wmic process get Name,ProcessId`), in which a missing
 * pid is a process that does not run.
 *
 * @module
 */
import {
  type CommandResult,
  type CommandRunner,
  ExecutableNotFoundError,
} from "./command_runner.ts";
import { type ProcessProbe, ProcessProbeError } from "./process_probe.ts";

/** Splits one CSV line (`"a","b"` from Windows, bare `a,b` from Wine's old tasklist). */
function csvFields(line: string): string[] {
  const trimmed = line.trim();
  if (!trimmed.startsWith('"')) return trimmed.split(",").map((field) => field.trim());
  return [...trimmed.matchAll(/"((?:[^"]|"")*)"/g)].map((match) => match[1].replaceAll('""', '"'));
}

/**
 * The image name of `pid` in `tasklist /FI "PID eq <pid>" /FO CSV /NH` output, or `undefined`
 * when no row has that pid (Windows then prints an INFO line, whose text is not relied on).
 */
export function parseTasklist(stdout: string, pid: number): string | undefined {
  for (const line of stdout.split(/\r?\n/)) {
    const [image, rowPid] = csvFields(line);
    if (image && rowPid === String(pid)) return image;
  }
  return undefined;
}

/**
 * The CreationDate in `wmic process where ProcessId=<pid> get CreationDate /value` output
 * (`CreationDate=20240501093000.123456+120`, lines ending `\r\r\n`). Anything but exactly one
 * non-empty value means wmic did not answer the question (e.g. an old Wine wmic listing every
 * process), so the caller falls back.
 */
export function parseWmicCreationDate(stdout: string): string | undefined {
  const values = stdout.split(/\r*\n/)
    .map((line) => /^\s*CreationDate=(.*?)\s*$/i.exec(line)?.[1])
    .filter((value) => value !== undefined);
  return values.length === 1 && values[0] !== "" ? values[0] : undefined;
}

/**
 * pid -> image name from `wmic process get Name,ProcessId` (a fixed-width table under a header
 * naming the columns, in either order; Wine writes UTF-16, lines may end `\r\r\n`), or
 * `undefined` when the output is not such a table.
 */
export function parseWmicProcessTable(stdout: string): Map<number, string> | undefined {
  const lines = stdout.split(/\r*\n/).filter((line) => line.trim() !== "");
  const header = lines.shift();
  if (header === undefined) return undefined;
  const starts = [...header.matchAll(/\S+/g)].map((match) => match.index);
  const names = header.trim().split(/\s+/).map((name) => name.toLowerCase());
  const nameColumn = names.indexOf("name");
  const pidColumn = names.indexOf("processid");
  if (nameColumn < 0 || pidColumn < 0) return undefined;
  const field = (line: string, column: number) =>
    line.slice(starts[column], starts[column + 1] ?? line.length).trim();
  const table = new Map<number, string>();
  for (const line of lines) {
    const pid = field(line, pidColumn);
    if (!/^\d+$/.test(pid)) return undefined;
    table.set(Number(pid), field(line, nameColumn));
  }
  return table;
}

/** Windows: tasklist for liveness, wmic for the start time when it exists. */
export class WindowsProcessProbe implements ProcessProbe {
  constructor(private readonly runner: CommandRunner) {}

  async startTime(pid: number): Promise<string | undefined> {
    const listed = await this.tryRun("tasklist", ["/FI", `PID eq ${pid}`, "/FO", "CSV", "/NH"]);
    // Silence is no answer (Wine's stub tasklist): a real one prints a row or an INFO line.
    if (listed?.code === 0 && (listed.stdout + listed.stderr).trim() !== "") {
      const image = parseTasklist(listed.stdout, pid);
      if (image === undefined) return undefined;
      const created = await this.creationDate(pid);
      return created !== undefined ? `created:${created}` : `image:${image}`;
    }
    // Without tasklist, wmic's query can still prove that a process runs, but not that it does
    // not; its whole process table can.
    const created = await this.creationDate(pid);
    if (created !== undefined) return `created:${created}`;
    const table = await this.processTable();
    if (table !== undefined) {
      const image = table.get(pid);
      return image === undefined ? undefined : `image:${image}`;
    }
    throw new ProcessProbeError(`cannot tell whether pid ${pid} runs: tasklist and wmic failed`);
  }

  private async processTable(): Promise<Map<number, string> | undefined> {
    const result = await this.tryRun("wmic", ["process", "get", "Name,ProcessId"]);
    return result?.code === 0 ? parseWmicProcessTable(result.stdout) : undefined;
  }

  private async creationDate(pid: number): Promise<string | undefined> {
    const args = ["process", "where", `ProcessId=${pid}`, "get", "CreationDate", "/value"];
    const result = await this.tryRun("wmic", args);
    return result?.code === 0 ? parseWmicCreationDate(result.stdout) : undefined;
  }

  private async tryRun(cmd: string, args: string[]): Promise<CommandResult | undefined> {
    try {
      return await this.runner.run(cmd, args);
    } catch (error) {
      if (error instanceof ExecutableNotFoundError) return undefined;
      throw error;
    }
  }
}
