/**
 * Running an OS tool (today only macOS's `ps`) behind one small interface, so the decisions
 * made from its output are unit-tested with a recording fake.
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

/** The executable does not exist. */
export class ExecutableNotFoundError extends Error {
  constructor(readonly executable: string) {
    super(`${executable} was not found on PATH`);
    this.name = "ExecutableNotFoundError";
  }
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
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
    logger.debug("{cmd} exited {code}", { cmd, code: result.code });
    return result;
  }
}
