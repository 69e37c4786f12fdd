/**
 * The command line: `ktctl connect`, `ktctl clean`, `ktctl version`. Flags keep kt-connect's
 * camelCase spellings, which its users know. Errors meant for the user print one ERR line and
 * exit 1; anything else is a bug and shows its stack under --debug.
 * @module
 */
import { Command, Option } from "commander";
import { getLogger } from "@logtape/logtape";
import { UserError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { setupLogging } from "./logging.ts";
import { addGlobalFlags } from "./global_flags.ts";
import { type ConnectFlags, validateConnectFlags } from "./connect_options.ts";
import { runClean } from "./clean.ts";
import { DEFAULT_MAX_CONNECTIONS } from "../front/listener.ts";
import { AlreadyRunningError, ClaimError, SetupError } from "../sysproxy/mod.ts";

const log = getLogger(["ktctl"]);

export function buildProgram(run: (code: Promise<number>) => void): Command {
  const program = new Command("ktctl")
    .description(
      "Reach a Kubernetes cluster's pods and services from this machine through a local proxy",
    )
    .version(VERSION, "-v, --version", "print the version")
    .showHelpAfterError("(run with --help for usage)")
    .allowExcessArguments(false);

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
        "set http_proxy for the user (and, in socks mode on Windows, the system proxy) while connected",
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
      ),
  ).action((flags: ConnectFlags) => run(connectMain(flags)));

  addGlobalFlags(
    program.command("clean")
      .description("put back the proxy settings a crashed connect left behind")
      .option("--dryRun", "only print what would be done"),
  ).action((flags: { dryRun?: boolean; debug?: boolean }) =>
    run(withLogging(flags.debug, () => runClean(flags)))
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
): Promise<number> {
  await setupLogging(debug === true);
  try {
    return await body();
  } catch (e) {
    if (
      e instanceof UserError || e instanceof AlreadyRunningError || e instanceof ClaimError ||
      e instanceof SetupError
    ) {
      log.error(e.message);
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
    // Listen for Ctrl+C before starting, so that one pressed during start-up still stops cleanly.
    const stopRequested = waitForStopSignal();
    const opts = validateConnectFlags(flags);
    // Loaded here, not at the top: the connect path (client-node, undici, the cluster view) is
    // most of ktctl's start-up cost, which `version`, `clean` and `--help` need not pay.
    const { startConnect } = await import("./connect.ts");
    const session = await startConnect(opts);
    await stopRequested;
    log.info("Stopping");
    await session.stop();
    log.info("Stopped");
    return 0;
  });
}

/** Resolves on the first Ctrl+C (or Ctrl+Break, SIGTERM, SIGHUP); a second one exits at once. */
function waitForStopSignal(): Promise<void> {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM", "SIGHUP"];
  return new Promise((resolve) => {
    let count = 0;
    const handler = () => {
      if (++count > 1) {
        log.warn("Stopping at once: proxy settings may need `ktctl clean`");
        Deno.exit(130);
      }
      resolve();
    };
    for (const s of signals) Deno.addSignalListener(s, handler);
  });
}

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
