/**
 * Runs a parsed command (the Validate and Run steps), with logging set up and a user's error as
 * one ERR line. Its own module, loaded only once the words are parsed: `--help`, `-v`, `version`
 * and a mistyped flag never load the logger, the Windows proxy code or anything behind them.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { UserError } from "../errors.ts";
import { setupLogging } from "./logging.ts";
import type { FlagValues } from "./parse_args.ts";
import { type ConnectFlags, validateConnectFlags } from "./connect_options.ts";
import { runClean } from "./clean.ts";
import type { ForwardFlags } from "./forward.ts";
import { commandEnvironment, SignalRelay, spawnCommand } from "./run_command.ts";
import { clientHost } from "../net/client_address.ts";
import { AlreadyRunningError, ClaimError, SetupError } from "../sysproxy/mod.ts";

const log = getLogger(["ktctl"]);

/** Runs a parsed command; resolves to the exit code. */
export function runParsed(command: string, flags: FlagValues, operands: string[]): Promise<number> {
  switch (command) {
    case "connect":
      return operands.length > 0
        ? connectCommandMain(flags as unknown as ConnectFlags, operands)
        : connectMain(flags as unknown as ConnectFlags);
    case "forward":
      return forwardMain(operands[0], operands.slice(1), flags as unknown as ForwardFlags);
    case "clean":
      return withLogging(flags.debug === true, () => runClean({ dryRun: flags.dryRun === true }));
    case "status":
      return withLogging(false, async () => {
        const { runStatus } = await import("./status.ts");
        return await runStatus({ json: flags.json === true });
      });
  }
  throw new Error(`no runner for the command ${command}`);
}

async function withLogging(
  debug: boolean | undefined,
  body: () => Promise<number>,
  allToStderr = false,
): Promise<number> {
  await setupLogging(debug === true, allToStderr);
  try {
    return await body();
  } catch (e) {
    if (
      e instanceof UserError || e instanceof AlreadyRunningError || e instanceof ClaimError ||
      e instanceof SetupError
    ) {
      // One line: a message that spans lines (a YAML parser's code excerpt) keeps its first.
      log.error(firstLine(e.message));
      // What was rolled back, or that the state file was kept for `ktctl clean`.
      if (e instanceof ClaimError || e instanceof SetupError) {
        for (const line of e.lines) log.warn(line);
      }
      return e instanceof UserError ? e.exitCode : 1;
    }
    log.error("Unexpected failure: {error}", {
      error: debug ? (e as Error)?.stack ?? String(e) : String(e),
    });
    return 1;
  }
}

function connectMain(flags: ConnectFlags): Promise<number> {
  return withLogging(flags.debug, async () => {
    const options = validateConnectFlags(flags);
    // Listen for Ctrl+C before starting: the first one stops the start-up at any moment.
    const changed = { value: false };
    const stop = new AbortController();
    const stopRequested = waitForStopSignal(changed).then(() => stop.abort());
    // Loaded here, not at the top: the connect path (the Kubernetes client, the cluster view, the
    // fronts) is its own chunk of the bundle, which `version`, `clean` and `--help` never load.
    const { startConnect, StartAborted } = await import("./connect.ts");
    let session;
    try {
      session = await startConnect(options, undefined, { signal: stop.signal, changed });
    } catch (e) {
      if (!(e instanceof StartAborted)) throw e;
      log.info("Stopped before the proxy was ready");
      return 130;
    }
    await stopRequested;
    log.info("Stopping");
    await session.stop();
    log.info("Stopped");
    return 0;
  });
}

/**
 * `connect -- COMMAND`: the proxy (and any --forward) up first, then the command; when it ends,
 * every tunnel is closed and its exit code is ktctl's. ktctl's own lines go to stderr.
 */
function connectCommandMain(flags: ConnectFlags, command: string[]): Promise<number> {
  return withLogging(flags.debug, async () => {
    // Listening from the start: a Ctrl+C during start-up cancels the command.
    const relay = new SignalRelay();
    try {
      const opts = validateConnectFlags(flags, command);
      const { startConnect } = await import("./connect.ts");
      const session = await startConnect(opts);
      try {
        if (relay.stoppedEarly) {
          log.info("Stopped before {command} started", { command: command[0] });
          return 130;
        }
        const env = commandEnvironment(clientHost(opts.address), session.server.addr.port);
        let child: Deno.ChildProcess;
        try {
          child = spawnCommand(command, env);
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) {
            throw new UserError(`${command[0]}: command not found`, 127);
          }
          if (e instanceof Deno.errors.PermissionDenied) {
            throw new UserError(`${command[0]}: permission denied`, 126);
          }
          throw e;
        }
        relay.attach(child);
        const status = await child.status;
        log.debug("{command} exited with {code}", { command: command[0], code: status.code });
        return status.code;
      } finally {
        await session.stop();
      }
    } finally {
      relay.close();
    }
  }, true);
}

function forwardMain(target: string, ports: string[], flags: ForwardFlags): Promise<number> {
  return withLogging(flags.debug, async () => {
    const stopRequested = waitForStopSignal({ value: false });
    const { startForward, validateForward } = await import("./forward.ts");
    const session = await startForward(validateForward(target, ports, flags));
    await stopRequested;
    log.info("Stopping");
    await session.stop();
    log.info("Stopped");
    return 0;
  });
}

/**
 * Resolves on the first Ctrl+C (or Ctrl+Break, SIGTERM, SIGHUP); a second one exits at once,
 * naming `ktctl clean` only when a setting outside ktctl was changed.
 */
function waitForStopSignal(changed: { value: boolean }): Promise<void> {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM", "SIGHUP"];
  return new Promise((resolve) => {
    let count = 0;
    const handler = () => {
      if (++count > 1) {
        if (changed.value) {
          log.warn("Stopping at once: the proxy settings ktctl set may need `ktctl clean`");
        } else log.warn("Stopping at once");
        Deno.exit(130);
      }
      resolve();
    };
    for (const s of signals) Deno.addSignalListener(s, handler);
  });
}

function firstLine(text: string): string {
  return text.split("\n")[0].trim();
}
