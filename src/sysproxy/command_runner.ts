/**
 * Running the OS tools (reg, setx, wmic, tasklist, ps) behind one small interface, so every
 * registry and process decision can be unit-tested with a recording fake instead of a real
 * Windows machine.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";

const logger = getLogger(["ktctl", "sysproxy"]);

/** What a finished command produced. Exit codes, not message texts, drive decisions. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one executable with exact argv (no shell, so no quoting or `%VAR%` surprises). */
export interface CommandRunner {
  /** @throws {ExecutableNotFoundError} when `cmd` cannot be found on PATH. */
  run(cmd: string, args: string[]): Promise<CommandResult>;
}

/** The executable does not exist (e.g. reg.exe missing, or wmic removed from Windows 11). */
export class ExecutableNotFoundError extends Error {
  constructor(readonly executable: string) {
    super(`${executable} was not found on PATH`);
    this.name = "ExecutableNotFoundError";
  }
}

/**
 * Decodes tool output. Most Windows tools write the console code page to a pipe, but Wine's
 * wmic writes UTF-16LE with a byte-order mark, so a BOM or NUL-interleaved bytes select UTF-16.
 */
export function decodeOutput(bytes: Uint8Array): string {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) {
    return new TextDecoder("utf-16le").decode(bytes.subarray(2));
  }
  if (bytes.length >= 2 && bytes[0] !== 0 && bytes[1] === 0) {
    return new TextDecoder("utf-16le").decode(bytes);
  }
  return new TextDecoder().decode(bytes);
}

/** The real runner, over `Deno.Command` (stdin closed so a tool can never wait for a prompt). */
export class DenoCommandRunner implements CommandRunner {
  async run(cmd: string, args: string[]): Promise<CommandResult> {
    logger.debug("run {cmd} {args}", { cmd, args });
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command(cmd, {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      })
        .output();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) throw new ExecutableNotFoundError(cmd);
      throw error;
    }
    const result = {
      code: output.code,
      stdout: decodeOutput(output.stdout),
      stderr: decodeOutput(output.stderr),
    };
    logger.debug("{cmd} exited {code}", { cmd, code: result.code });
    return result;
  }
}
