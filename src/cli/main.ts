/**
 * The command line: `ktctl connect`, `ktctl forward`, `ktctl clean`, `ktctl status`, `ktctl
 * version`. The words are parsed against command_spec.ts (parse_args.ts), then each command runs
 * its Options → Validate → Run steps (run.ts, loaded only then: `--help`, `-v`, `version` and a
 * mistyped flag load nothing else). Errors meant for the user print one ERR line and exit 1;
 * anything else is a bug and shows its stack under --debug.
 * @module
 */
import { VERSION } from "../version.ts";
import type { LogRecord } from "@logtape/logtape";
import { parseArgs, type ParseResult } from "./parse_args.ts";
import { findCommand, PROGRAM } from "./command_spec.ts";
import { commandHelp, programHelp } from "./help.ts";
import { warmTlsRandom } from "../net/tls_warmup.ts";

/** The command line's words, parsed against ktctl's commands (see parse_args.ts). */
export function parseCommandLine(args: readonly string[]): ParseResult {
  return parseArgs(PROGRAM, args);
}

/** An error in ktctl's log style, for the parser's errors (before logging is set up). */
async function errorLine(message: string): Promise<string> {
  const { formatRecord } = await import("./logging.ts");
  return formatRecord({
    category: ["ktctl"],
    level: "error",
    message: [message],
    rawMessage: message,
    timestamp: Date.now(),
    properties: {},
  } as unknown as LogRecord);
}

/** Runs the CLI and exits with its status. */
export async function main(args: string[]): Promise<never> {
  const parsed = parseCommandLine(args);
  if (parsed.kind === "help") {
    const cmd = parsed.command === undefined ? undefined : findCommand(PROGRAM, parsed.command);
    const text = cmd ? commandHelp(PROGRAM, cmd) : programHelp(PROGRAM);
    // `ktctl` alone: the help, as a usage error (commander's way, kept).
    writeAll(parsed.usageError ? Deno.stderr : Deno.stdout, text);
    Deno.exit(parsed.usageError ? 1 : 0);
  }
  if (parsed.kind === "version") {
    console.log(VERSION);
    Deno.exit(0);
  }
  if (parsed.kind === "error") {
    // One style for every error, flags included: one ERR line, as the rest of ktctl logs.
    writeAll(Deno.stderr, await errorLine(`${parsed.message} (see --help)`));
    Deno.exit(1);
  }
  if (parsed.command === "version") {
    console.log(`ktctl ${VERSION} (deno ${Deno.version.deno}, ${Deno.build.target})`);
    Deno.exit(0);
  }
  // On another core while run.ts and the command's modules load (net/tls_warmup.ts says why).
  if (findCommand(PROGRAM, parsed.command)?.reachesCluster) warmTlsRandom();
  const { runParsed } = await import("./run.ts");
  Deno.exit(await runParsed(parsed.command, parsed.flags, parsed.operands));
}

function writeAll(to: { writeSync(p: Uint8Array): number }, text: string): void {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(to.writeSync(bytes));
}
