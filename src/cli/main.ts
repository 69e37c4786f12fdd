/**
 * The command line: `ktctl connect`, `ktctl forward`, `ktctl clean`, `ktctl version`. Flags keep kt-connect's
 * camelCase spellings, which its users know. Errors meant for the user print one ERR line and
 * exit 1; anything else is a bug and shows its stack under --debug.
 * @module
 */
import { Command, Option } from "commander";
import { getLogger } from "@logtape/logtape";
import { UserError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { formatRecord, setupLogging } from "./logging.ts";
import type { LogRecord } from "@logtape/logtape";
import { addGlobalFlags } from "./global_flags.ts";
import { type ConnectFlags, validateConnectFlags } from "./connect_options.ts";
import { runClean } from "./clean.ts";
import { DEFAULT_MAX_CONNECTIONS } from "../front/listener.ts";
import type { ForwardFlags } from "./forward.ts";
import { commandEnvironment, SignalRelay, spawnCommand } from "./run_command.ts";
import { clientHost } from "../net/client_address.ts";
import { AlreadyRunningError, ClaimError, SetupError } from "../sysproxy/mod.ts";

const log = getLogger(["ktctl"]);

export function buildProgram(run: (code: Promise<number>) => void): Command {
  const program = new Command("ktctl")
    .description(
      "Reach a Kubernetes cluster's pods and services from this machine through a local proxy",
    )
    .version(VERSION, "-v, --version", "print the version")
    .configureOutput({
      // One style for every error, flags included: one ERR line, as the rest of ktctl logs.
      outputError: (text, write) =>
        write(errorLine(`${text.replace(/^error: /, "").trim()} (see --help)`)),
    })
    .allowExcessArguments(false)
    .addHelpText("after", EXAMPLES.main);

  addGlobalFlags(
    program.command("connect")
      .description(
        "start a local proxy into the cluster: SOCKS4/4a, SOCKS5 and HTTP on one port (Ctrl+C stops it)",
      )
      .addOption(
        new Option(
          "--method <method>",
          "what to print and set up: socks (SOCKS4a; the Windows system proxy), socks5, or " +
            "http (http_proxy/https_proxy and a PAC file); every mode serves all three",
        )
          .choices(["socks", "socks5", "http"]).default("socks"),
      )
      .option("--proxyPort <port>", "local port to listen on", "2223")
      .option("--proxyAddr <address>", "local address to listen on", "127.0.0.1")
      .option(
        "--setupGlobalProxy",
        "on Windows, while connected: set the user's http_proxy (and https_proxy in http mode) " +
          "and the system proxy (socks mode: socks=; http mode: the PAC URL); restored on exit " +
          "or by `ktctl clean`. Elsewhere it changes nothing: set the variables the banner prints",
      )
      .option("--clusterDomain <domain>", "the cluster's DNS domain", "cluster.local")
      .option(
        "--dialDirect <policy>",
        "destinations outside the cluster: all, none, or address ranges (127.0.0.0/8,::1/128)",
        "all",
      )
      .option(
        "--clusterCIDR <ranges>",
        "the cluster's pod and service ranges (default: guessed from the IPs seen)",
      )
      .addOption(
        new Option(
          "--portForward <mode>",
          "multiplexed (one connection per pod, Kubernetes 1.30+; else as websocket) or " +
            "websocket (one WebSocket per proxied connection)",
        ).choices(["multiplexed", "websocket"]).default("multiplexed"),
      )
      .option(
        "--allowOtherUsers",
        "also serve programs of other users on this machine (default: only your own)",
      )
      .option(
        "--allowFrom <ranges>",
        "the only addresses besides 127.0.0.1 and ::1 that may connect (192.168.1.0/24,10.0.0.5); " +
          "required when --proxyAddr is not a loopback address",
      )
      .option(
        "--maxConnections <count>",
        "the most connections open at once; more are closed as they come",
        String(DEFAULT_MAX_CONNECTIONS),
      )
      .option(
        "--upstreamProxy <url>",
        "the proxy for destinations outside the cluster: http://[user:pass@]host:port, " +
          "socks5://host:port, pac+http(s)://host/x.pac, or none (default: the system " +
          "settings on Windows, else http_proxy/https_proxy/all_proxy/no_proxy)",
      )
      .option(
        "--allowLocalTargets",
        "let ExternalName services point at this machine (loopback, link-local, ktctl's address)",
      )
      .addHelpText("after", EXAMPLES.connect)
      // forward and `-- COMMAND` (issue 20)
      .option(
        "--forward <TARGET:[LOCAL:]REMOTE>",
        "also forward a local port to a service, pod or deployment port (repeatable), " +
          "e.g. svc/db.demo:5432 or deployment/redis:16379:6379",
        (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
      )
      .argument(
        "[command...]",
        "after --: run COMMAND [ARGS...] with its proxy variables pointed at ktctl, then stop " +
          "and exit with its exit code",
      )
      .usage("[options] [-- COMMAND [ARGS...]]"),
  ).action((command: string[], flags: ConnectFlags, cmd: Command) => {
    // commander keeps the words it parsed (untyped): operands without `--` are a typo.
    const raw = (cmd.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? [];
    if (command.length > 0 && !raw.includes("--")) {
      cmd.error(
        `error: unexpected argument "${command[0]}": put -- before a command to run ` +
          `(ktctl connect [options] -- COMMAND [ARGS...])`,
      );
    }
    run(command.length > 0 ? connectCommandMain(flags, command) : connectMain(flags));
  });

  addGlobalFlags(
    program.command("forward")
      .description(
        "forward local ports to a service's, pod's or deployment's ports; each connection goes " +
          "to a ready pod, so the forward survives pod restarts (Ctrl+C stops it)",
      )
      .argument("<target>", "svc, svc.ns, service/svc, pod/name or deployment/name")
      .argument(
        "<ports...>",
        "[LOCAL:]REMOTE: REMOTE a port number or name; LOCAL defaults to the same number, " +
          ":REMOTE picks a free one",
      )
      .option(
        "--address <address>",
        "local loopback address to listen on (any 127.x.y.z or ::1)",
        "127.0.0.1",
      )
      .option("--clusterDomain <domain>", "the cluster's DNS domain", "cluster.local")
      .addOption(
        new Option(
          "--portForward <mode>",
          "multiplexed (one connection per pod, Kubernetes 1.30+; else as websocket) or " +
            "websocket (one WebSocket per connection)",
        ).choices(["multiplexed", "websocket"]).default("multiplexed"),
      )
      .option(
        "--allowOtherUsers",
        "also serve programs of other users on this machine (default: only your own)",
      ),
  ).action((target: string, ports: string[], flags: ForwardFlags) =>
    run(forwardMain(target, ports, flags))
  );

  program.command("clean")
    .description("put back the proxy settings a crashed connect left behind")
    .option("--dryRun", "only print what would be done")
    .option("-d, --debug", "log more detail")
    .addHelpText("after", EXAMPLES.clean)
    .action((flags: { dryRun?: boolean; debug?: boolean }) =>
      run(withLogging(flags.debug, () => runClean(flags)))
    );

  program.command("status")
    .description(
      "list the ktctl processes running for this user: address, mode, context, uptime, " +
        "connections and failures in the last minute (exit 1 when none runs)",
    )
    .option("--json", "print the list as JSON (docs/status-api.md)")
    .addHelpText("after", EXAMPLES.status)
    .action((flags: { json?: boolean }) =>
      run(withLogging(false, async () => {
        const { runStatus } = await import("./status.ts");
        return await runStatus({ json: flags.json === true });
      }))
    );

  program.command("version").description("print the version").action(() => {
    console.log(`ktctl ${VERSION} (deno ${Deno.version.deno}, ${Deno.build.target})`);
    run(Promise.resolve(0));
  });
  return program;
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

/** An error in ktctl's log style, for the lines commander writes itself. */
function errorLine(message: string): string {
  return formatRecord({
    category: ["ktctl"],
    level: "error",
    message: [firstLine(message)],
    rawMessage: firstLine(message),
    timestamp: Date.now(),
    properties: {},
  } as unknown as LogRecord);
}

const EXAMPLES = {
  main: `
Examples:
  ktctl connect                          # SOCKS on 127.0.0.1:2223; prints the http_proxy to set
  ktctl connect --method http            # an HTTP proxy and a PAC file for browsers
  ktctl status                           # what runs, and its connections in the last minute
  ktctl clean                            # put back settings a killed connect left
`,
  connect: `
Examples:
  ktctl connect --context prod -n shop   # short names (web) mean web.shop
  ktctl connect --method http --proxyPort 3128
  ktctl connect --dialDirect none        # only the cluster; nothing else through ktctl
  ktctl connect --clusterCIDR 10.96.0.0/12,10.244.0.0/16
Then, in another console: curl http://web.shop/ with the http_proxy it prints.
Open the printed address in a browser for the live view.
`,
  clean: `
Examples:
  ktctl clean --dryRun                   # only say what would be put back
`,
  status: `
Examples:
  ktctl status
  ktctl status --json | jq '.processes[].status.traffic.lastMinute'
`,
};

/** Runs the CLI and exits with its status. */
export async function main(args: string[]): Promise<never> {
  let result: Promise<number> = Promise.resolve(0);
  const program = buildProgram((code) => result = code);
  program.exitOverride((err) => {
    throw err;
  });
  try {
    await program.parseAsync(args, { from: "user" });
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    Deno.exit(typeof code === "number" ? code : 1);
  }
  Deno.exit(await result);
}
