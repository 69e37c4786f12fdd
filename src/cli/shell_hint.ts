/**
 * The command that sets `http_proxy` in the user's shell, in that shell's syntax: CMD and
 * PowerShell differ (kt-connect issue #133), and POSIX shells use `export`. On Windows the shell
 * is the parent process, identified by its image name through `tasklist`.
 * @module
 */

export type Shell = "cmd" | "powershell" | "posix" | "unknown-windows";

/** The lines to show for `shell`; an unknown Windows shell gets both forms. */
export function hintCommands(shell: Shell, proxyUrl: string): string[] {
  const cmd = `set http_proxy=${proxyUrl}`;
  const ps = `$env:http_proxy="${proxyUrl}"`;
  switch (shell) {
    case "cmd":
      return [cmd];
    case "powershell":
      return [ps];
    case "posix":
      return [`export http_proxy=${proxyUrl}`];
    case "unknown-windows":
      return [`${cmd}  (CMD)`, `${ps}  (PowerShell)`];
  }
}

/** Classifies a Windows parent image name such as "powershell.exe" or "cmd.exe". */
export function shellFromImage(image: string | undefined): Shell {
  const name = (image ?? "").toLowerCase();
  if (name === "cmd.exe") return "cmd";
  if (name === "powershell.exe" || name === "pwsh.exe") return "powershell";
  return "unknown-windows";
}

/** Parses `tasklist /FO CSV /NH` output: the first field of the first row is the image name. */
export function imageFromTasklist(csv: string): string | undefined {
  const m = csv.trim().match(/^"([^"]+)"/);
  return m?.[1];
}

/** Finds the shell ktctl was started from. */
export async function detectShell(): Promise<Shell> {
  if (Deno.build.os !== "windows") return "posix";
  try {
    const out = await new Deno.Command("tasklist", {
      args: ["/FI", `PID eq ${Deno.ppid}`, "/FO", "CSV", "/NH"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return shellFromImage(imageFromTasklist(new TextDecoder().decode(out.stdout)));
  } catch {
    return "unknown-windows";
  }
}
