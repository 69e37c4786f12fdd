/**
 * Starting the things being compared: `ktctl connect` (as `deno run main.ts connect`, so the
 * spawned process is the proxy itself and /proc figures are ktctl's) and `kubectl port-forward`
 * (the kubectl built with the local control plane).
 * @module
 */
import { type Proc, spawn } from "./procs.ts";

export interface KtctlOptions {
  /** Checkout whose main.ts is run (lets the bench measure an experimental copy). */
  dir: string;
  kubeconfig: string;
  namespace: string;
  method: "socks" | "socks5" | "http";
  /** ktctl's --portForward mode. */
  portForward: "multiplexed" | "websocket";
  port: number;
  /** HOME for ktctl's state files (a temporary folder; never the user's). */
  home: string;
  denoDir: string;
  /** V8 flags for `deno run --v8-flags=...`, comma-separated; "" for none. */
  v8Flags: string;
  /** What `deno run` runs: main.ts of `dir` when unset, or a bundle of it. */
  entry?: string;
  /** More `connect` arguments (e.g. `-d`). */
  extraArgs?: string[];
}

export interface Ktctl {
  proc: Proc;
  port: number;
  proxyUrl: string;
}

/**
 * Deno's cache directory, for a ktctl spawned with another HOME (its own state files) to share
 * the modules this process has.
 */
export async function denoCacheDir(): Promise<string> {
  const env = Deno.env.get("DENO_DIR");
  if (env) return env;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { denoDir: string }).denoDir;
}

/** Spawns `ktctl connect` without waiting for anything. */
export function spawnKtctl(o: KtctlOptions): Proc {
  const name = `ktctl ${o.method}${o.portForward === "websocket" ? " websocket" : ""} :${o.port}`;
  return spawn(name, Deno.execPath(), [
    "run",
    "--allow-all",
    ...(o.v8Flags ? [`--v8-flags=${o.v8Flags}`] : []),
    o.entry ?? "main.ts",
    "connect",
    "-c",
    o.kubeconfig,
    "-n",
    o.namespace,
    "--method",
    o.method,
    "--proxyPort",
    String(o.port),
    "--portForward",
    o.portForward,
    // Only loopback may ever be dialled directly: the local cluster's pod IPs are fake.
    "--dialDirect",
    "127.0.0.0/8,::1/128",
    ...(o.extraArgs ?? []),
  ], {
    cwd: o.dir,
    env: { HOME: o.home, USERPROFILE: o.home, DENO_DIR: o.denoDir, NO_COLOR: "1" },
    stopSignal: "SIGINT",
  });
}

/** Spawns `ktctl connect` and waits for its banner (3 tries: the cluster may be restarting). */
export function startKtctl(o: KtctlOptions, timeoutMs = 60_000): Promise<Ktctl> {
  return retry(async () => {
    const proc = spawnKtctl(o);
    try {
      const m = await proc.waitFor(/http_proxy=(?:")?([a-z0-9]+:\/\/[^\s"]+)/, timeoutMs);
      return { proc, port: o.port, proxyUrl: m[1] };
    } catch (e) {
      await proc.stop();
      throw e;
    }
  });
}

export interface PortForwardOptions {
  kubectl: string;
  kubeconfig: string;
  namespace: string;
  pod: string;
  podPort: number;
  /** Local port; 0 lets kubectl pick one. */
  localPort: number;
}

/** Spawns `kubectl port-forward pod/<pod> <local>:<podPort>` on 127.0.0.1 without waiting. */
export function spawnPortForward(o: PortForwardOptions): Proc {
  return spawn(`kubectl port-forward ${o.pod}:${o.podPort}`, o.kubectl, [
    "--kubeconfig",
    o.kubeconfig,
    "-n",
    o.namespace,
    "port-forward",
    "--address",
    "127.0.0.1",
    `pod/${o.pod}`,
    `${o.localPort === 0 ? "" : o.localPort}:${o.podPort}`,
  ], { stopSignal: "SIGTERM" });
}

export interface PortForward {
  proc: Proc;
  port: number;
}

/** Spawns kubectl port-forward and waits until it says where it listens (3 tries). */
export function startPortForward(o: PortForwardOptions, timeoutMs = 30_000): Promise<PortForward> {
  return retry(async () => {
    const proc = spawnPortForward(o);
    try {
      const m = await proc.waitFor(/Forwarding from 127\.0\.0\.1:(\d+) ->/, timeoutMs);
      return { proc, port: Number(m[1]) };
    } catch (e) {
      await proc.stop();
      throw e;
    }
  });
}

/**
 * Things that went wrong outside the benchmark's control while it ran (a side that died or did
 * not start, fixture pods that were gone): other users of a shared cluster. Reported with the
 * figures, which such events make untrustworthy.
 */
export const disturbances: string[] = [];

async function retry<T>(f: () => Promise<T>, tries = 3, pauseMs = 5_000): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await f();
    } catch (e) {
      if (i >= tries) throw e;
      const first = e instanceof Error ? e.message.split("\n")[0] : String(e);
      disturbances.push(first);
      console.error(`[bench] ${first}; retrying`);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}
