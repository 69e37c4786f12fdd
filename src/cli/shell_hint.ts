/**
 * Which shell ktctl was started from, so the banner speaks its syntax: CMD and PowerShell differ
 * (kt-connect issue #133), and POSIX shells use `export`. On Windows the shell is the parent
 * process, whose image name `tasklist` gives, run and parsed as sysproxy does it.
 * @module
 */
import type { CommandRunner } from "../os/command_runner.ts";
import { parseTasklist } from "../os/tasklist.ts";

export type Shell = "cmd" | "powershell" | "posix" | "unknown-windows";

/** Classifies a Windows parent image name such as "powershell.exe" or "cmd.exe". */
export function shellFromImage(image: string | undefined): Shell {
  const name = (image ?? "").toLowerCase();
  if (name === "cmd.exe") return "cmd";
  if (name === "powershell.exe" || name === "pwsh.exe") return "powershell";
  return "unknown-windows";
}

/** Finds the shell ktctl was started from. */
export async function detectShell(
  runner: CommandRunner,
  os: typeof Deno.build.os = Deno.build.os,
  ppid: number = Deno.ppid,
): Promise<Shell> {
  if (os !== "windows") return "posix";
  try {
    const out = await runner.run("tasklist", ["/FI", `PID eq ${ppid}`, "/FO", "CSV", "/NH"]);
    return shellFromImage(out.code === 0 ? parseTasklist(out.stdout, ppid) : undefined);
  } catch {
    return "unknown-windows";
  }
}
