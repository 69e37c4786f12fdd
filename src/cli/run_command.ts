/**
 * `ktctl connect [flags] -- COMMAND [ARGS...]`: the command runs with every proxy convention its
 * tools read pointed at ktctl, in its environment only (nothing global changes, and ktctl's own
 * environment is left as it was); it inherits the terminal, and ktctl ends with its exit code.
 *
 * Signals: a terminal's Ctrl+C goes to the whole foreground process group, the command included,
 * so when ktctl's stdin is a terminal it does not pass SIGINT on (the command would get two).
 * Otherwise (a script, a service manager, `kill`) SIGINT reaches only ktctl, which passes it
 * on. SIGTERM and SIGHUP are always passed on. On Windows the console delivers Ctrl+C and
 * Ctrl+Break to every process attached to it; ktctl only keeps itself alive until the command
 * ends.
 *
 * Arguments go to the program as ktctl received them (after the user's shell parsed them). On
 * Windows, Deno.Command quotes each one as the C runtime's parser (CommandLineToArgvW) reads it
 * back, the rules java, curl, python, node and `powershell -Command` follow; `cmd /c` takes the
 * rest of its command line as one string, which that quoting also gives back as typed
 * (tests/windows/connect_command_wine_test.ts). A bare name is looked up through PATH and
 * PATHEXT, and `.cmd`/`.bat` files (mvn, npm) run with their arguments escaped for cmd.exe
 * (Deno 2.5.5+, denoland/deno#31118; not exercised under Wine here).
 * @module
 */
import { hostPort } from "../net/client_address.ts";

/**
 * The variables the command gets (merged over ktctl's own environment by Deno.Command): HTTP
 * proxies as `http://` (every tool reads that), ALL_PROXY as `socks5h://` (names go to ktctl),
 * loopback never proxied, Node's opt-in, and Java's system properties appended to
 * JAVA_TOOL_OPTIONS, so JDBC drivers and other socket clients reach cluster names through SOCKS.
 */
export function commandEnvironment(
  host: string,
  port: number,
  parent: { get(name: string): string | undefined } = Deno.env,
): Record<string, string> {
  const hp = hostPort(host, port);
  const http = `http://${hp}`;
  const socks = `socks5h://${hp}`;
  const noProxy = "localhost,127.0.0.1,::1";
  const java = [
    `-DsocksProxyHost=${host}`,
    `-DsocksProxyPort=${port}`,
    `-Dhttp.proxyHost=${host}`,
    `-Dhttp.proxyPort=${port}`,
    `-Dhttps.proxyHost=${host}`,
    `-Dhttps.proxyPort=${port}`,
  ].join(" ");
  const before = parent.get("JAVA_TOOL_OPTIONS")?.trim();
  return {
    http_proxy: http,
    https_proxy: http,
    HTTP_PROXY: http,
    HTTPS_PROXY: http,
    ALL_PROXY: socks,
    all_proxy: socks,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
    NODE_USE_ENV_PROXY: "1",
    JAVA_TOOL_OPTIONS: before ? `${before} ${java}` : java,
  };
}

/** Signals ktctl passes on to the command, given the platform and whether stdin is a terminal. */
export function relayedSignals(os: typeof Deno.build.os, stdinIsTerminal: boolean): {
  listen: Deno.Signal[];
  relay: Deno.Signal[];
} {
  if (os === "windows") return { listen: ["SIGINT", "SIGBREAK"], relay: [] };
  const relay: Deno.Signal[] = ["SIGTERM", "SIGHUP"];
  if (!stdinIsTerminal) relay.unshift("SIGINT");
  return { listen: ["SIGINT", "SIGTERM", "SIGHUP"], relay };
}

/**
 * Listens for stop signals from before the proxy starts until the command ends: one that comes
 * during start-up cancels the command; afterwards they are passed on (see the module doc).
 */
export class SignalRelay {
  #child: Deno.ChildProcess | undefined;
  #listeners: [Deno.Signal, () => void][] = [];
  #received: Deno.Signal | undefined;
  readonly #relay: Deno.Signal[];

  constructor(
    os: typeof Deno.build.os = Deno.build.os,
    stdinIsTerminal: boolean = Deno.stdin.isTerminal(),
  ) {
    const { listen, relay } = relayedSignals(os, stdinIsTerminal);
    this.#relay = relay;
    for (const signal of listen) {
      const handler = () => {
        this.#received ??= signal;
        if (this.#child && this.#relay.includes(signal)) {
          try {
            this.#child.kill(signal);
          } catch { /* it has just ended */ }
        }
      };
      Deno.addSignalListener(signal, handler);
      this.#listeners.push([signal, handler]);
    }
  }

  /** The first signal that came before the command started, if any. */
  get stoppedEarly(): Deno.Signal | undefined {
    return this.#child ? undefined : this.#received;
  }

  attach(child: Deno.ChildProcess): void {
    this.#child = child;
  }

  close(): void {
    for (const [signal, handler] of this.#listeners) Deno.removeSignalListener(signal, handler);
    this.#listeners = [];
  }
}

/** Starts the command on the terminal; throws Deno.errors.NotFound when there is no such program. */
export function spawnCommand(argv: string[], env: Record<string, string>): Deno.ChildProcess {
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    env,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
}
