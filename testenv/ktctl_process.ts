/**
 * Runs the real `ktctl connect` CLI as a child process, waits for its banner, and hands back
 * exactly the `http_proxy` value it printed, so tests use what a user would copy.
 * @module
 */
import { KTCTL_V8_ARG } from "../scripts/v8_flags.ts";
import { SHIPPED_RUN_FLAGS } from "../scripts/bundle.ts";

export interface KtctlProcess {
  child: Deno.ChildProcess;
  /** The value of `http_proxy` from the banner (or the global-proxy summary). */
  proxyUrl: string;
  port: number;
  /** Everything printed so far (stdout and stderr, interleaved by arrival). */
  output(): string;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
}

/** Deno's cache directory as this process sees it, so a child with another HOME shares it. */
export function denoDir(): string {
  const home = Deno.env.get("HOME") ?? "";
  return Deno.env.get("DENO_DIR") ??
    (Deno.env.get("XDG_CACHE_HOME")
      ? `${Deno.env.get("XDG_CACHE_HOME")}/deno`
      : `${home}/.cache/deno`);
}

/** A loopback port that was free a moment ago. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

export async function startKtctl(
  args: string[],
  opts: {
    env?: Record<string, string>;
    timeoutMs?: number;
    port?: number;
    /** What `deno run` runs: main.ts, or a bundle of it (scripts/bundle.ts). */
    entry?: string;
    /**
     * Runs `entry` as the executables run the bundle: `--no-config` (no deno.json, no import
     * map, no lockfile), with the V8 flags the build embeds.
     */
    asShipped?: boolean;
    /** A compiled ktctl executable to run instead of `deno run`. */
    executable?: string;
  } = {},
): Promise<KtctlProcess> {
  const port = opts.port ?? freePort();
  const ktctlArgs = ["connect", "--proxyPort", String(port), ...args];
  const launch = opts.executable ? [opts.executable, ...ktctlArgs] : [
    Deno.execPath(),
    "run",
    ...(opts.asShipped ? SHIPPED_RUN_FLAGS : ["--allow-all", KTCTL_V8_ARG]),
    opts.entry ?? "main.ts",
    ...ktctlArgs,
  ];
  const child = new Deno.Command(launch[0], {
    args: launch.slice(1),
    // Tests point HOME elsewhere (for ktctl's state files); Deno's module cache stays put.
    env: { DENO_DIR: denoDir(), ...opts.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let notify = () => {};
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      notify();
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    notify();
    return s;
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let proxyUrl: string | undefined;
  while (!proxyUrl) {
    // Ready once the whole banner is out (the hint and the closing line of dashes), or the
    // global-proxy summary has named the value.
    proxyUrl = text.match(/http_proxy="?([a-z0-9]+:\/\/[^\s"]+)[\s\S]*?INF -{20,}\n/)?.[1] ??
      text.match(/http_proxy=(?:")?([a-z0-9]+:\/\/[^\s"]+)[^\n]*\n[^\n]*only programs/i)?.[1];
    if (proxyUrl) break;
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill("SIGKILL");
      await status;
      await pumps;
      throw new Error(`ktctl did not start:\n${text}`);
    }
    await new Promise<void>((r) => {
      notify = r;
      setTimeout(r, 100);
    });
  }
  return {
    child,
    proxyUrl,
    port,
    output: () => text,
    async stop(signal: Deno.Signal = "SIGINT") {
      if (!exited) child.kill(signal);
      const s = await status;
      await pumps;
      return s.code;
    },
  };
}
