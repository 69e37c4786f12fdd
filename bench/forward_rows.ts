/**
 * `deno run --allow-all bench/forward_rows.ts [--runs N] [--bulk-mib N] [--connections N]
 * [--bundle]`: the
 * rows of issue 20 on the local control plane (testenv/cluster), every side measured in the same
 * run, interleaved, printed as medians with ratios, plus one JSON line (`BENCH_JSON_FORWARD`):
 *
 *   bulk       GET and PUT of `--bulk-mib` MiB on demo/bulk:9100 through `ktctl forward
 *              pod/bulk` and `kubectl port-forward pod/bulk` (the same pod); goal ≥ 1.0x
 *   latency    `--connections` sequential fresh connections, one HTTP GET each, to demo/web-0:8080
 *              through `ktctl forward pod/web-0`, `ktctl forward svc/web` (each connection picks
 *              an endpoint) and `kubectl port-forward pod/web-0`: p50/p95; goal p50 ≤ kubectl
 *   launch     `ktctl connect --proxyPort 0 -- curl http://web.demo/`: launch to the command's
 *              first byte of output; beside it `kubectl port-forward pod/web-0` launched, its
 *              "Forwarding from" line awaited, then curl to the forwarded port: launch to the
 *              first byte of curl's output; the ratio to kubectl's (goal, issue on memory and
 *              start-up: ≤ 2x)
 *
 * `--bundle` runs ktctl as the bundle `deno task build` compiles (scripts/bundle.ts),
 * primed once, as the released executables run it (the start-up goal is stated for that); else
 * main.ts. The load average is printed before and after (a loaded machine moves every figure).
 *
 * It prints figures and never asserts them; every process it starts is stopped on every exit
 * path. Figures from a shared machine say little: run it on a quiet one. MB = 10^6 bytes.
 * @module
 */
import { BULK, ensureCluster, kubectlBinary, WEB } from "../testenv/cluster/mod.ts";
import { KTCTL_V8_ARG } from "../scripts/v8_flags.ts";
import { bundleKtctl } from "../scripts/bundle.ts";
import { bulkGet, bulkPut, direct, httpGet } from "./clients.ts";
import { type Proc, spawn, stopAll } from "./procs.ts";
import { denoCacheDir, startPortForward } from "./sides.ts";
import { mbps, median, percentile, round } from "./stats.ts";

const MIB = 1024 * 1024;

/** What `deno run` starts as ktctl: main.ts, or the bundle with `--bundle`. */
let entry = "main.ts";

interface Side {
  name: string;
  port: number;
  proc: Proc;
}

async function ktctlForward(
  kubeconfig: string,
  home: string,
  denoDir: string,
  target: string,
  port: string,
): Promise<Side> {
  const name = `ktctl forward ${target}`;
  const proc = spawn(name, Deno.execPath(), [
    "run",
    "--allow-all",
    KTCTL_V8_ARG,
    entry,
    "forward",
    "-c",
    kubeconfig,
    "-n",
    "demo",
    target,
    `:${port}`,
  ], {
    env: { HOME: home, USERPROFILE: home, DENO_DIR: denoDir, NO_COLOR: "1" },
    stopSignal: "SIGINT",
  });
  const m = await proc.waitFor(/127\.0\.0\.1:(\d+) → /, 60_000);
  return { name, port: Number(m[1]), proc };
}

/** Launch of `ktctl connect -- curl URL` to curl's first byte on stdout. */
async function launchKtctl(kubeconfig: string, env: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      KTCTL_V8_ARG,
      entry,
      "connect",
      "-c",
      kubeconfig,
      "--proxyPort",
      "0",
      "--dialDirect",
      "127.0.0.0/8,::1/128",
      "--",
      "curl",
      "-sS",
      `http://${WEB.service}.${WEB.namespace}/`,
    ],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  return await firstByte(child, t0);
}

/** Launch of `kubectl port-forward`, its "Forwarding from" line, then curl's first byte. */
async function launchKubectl(kubeconfig: string): Promise<number> {
  const t0 = performance.now();
  const pf = await startPortForward({
    kubectl: kubectlBinary(),
    kubeconfig,
    namespace: WEB.namespace,
    pod: "web-0",
    podPort: 8080,
    localPort: 0,
  });
  try {
    const curl = new Deno.Command("curl", {
      args: ["-sS", `http://127.0.0.1:${pf.port}/`],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    return await firstByte(curl, t0);
  } finally {
    await pf.proc.stop();
  }
}

async function firstByte(child: Deno.ChildProcess, t0: number): Promise<number> {
  let at: number | undefined;
  for await (const _ of child.stdout) at ??= performance.now() - t0;
  const status = await child.status;
  if (!status.success || at === undefined) throw new Error(`exit ${status.code}, no output`);
  return at;
}

function row(name: string, values: Record<string, number | string>): void {
  console.log(
    `${name.padEnd(36)} ${
      Object.entries(values).map(([k, v]) => `${k} ${typeof v === "number" ? round(v) : v}`).join(
        "  ",
      )
    }`,
  );
}

/**
 * Starts the bundle once before it is measured: `deno run` of a JavaScript file it has not seen
 * analyses the whole file first and keeps the result in DENO_DIR (a compiled executable never
 * does that), so the first launch would measure deno's analysis.
 */
async function primeBundle(denoDir: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", entry, "--help"],
    env: { DENO_DIR: denoDir, NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`the bundle does not start: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** The 1, 5 and 15 min load averages (Linux), or "unknown". */
async function loadAverage(): Promise<string> {
  try {
    return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

/** `--name N` or `--name=N`, a positive integer, else `fallback`. */
function flag(name: string, fallback: number): number {
  const i = Deno.args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return fallback;
  const text = Deno.args[i].includes("=") ? Deno.args[i].split("=")[1] : Deno.args[i + 1];
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} takes a positive integer`);
  return n;
}

async function main(): Promise<void> {
  const runs = flag("runs", 3), bytes = flag("bulk-mib", 64) * MIB;
  const connections = flag("connections", 200);
  const info = await ensureCluster();
  const kubeconfig = info.kubeconfigs.admin;
  const home = await Deno.makeTempDir({ prefix: "ktctl-bench-forward-" });
  const denoDir = await denoCacheDir();
  const env = { HOME: home, USERPROFILE: home, DENO_DIR: denoDir, NO_COLOR: "1" };
  const json: Record<string, unknown> = { runs, bulkMiB: bytes / MIB, connections };
  const loadBefore = await loadAverage();
  if (Deno.args.includes("--bundle")) {
    entry = `${home}/ktctl.js`;
    await bundleKtctl(entry);
    await primeBundle(denoDir);
  }
  json.entry = Deno.args.includes("--bundle") ? "bundle" : "main.ts";

  // bulk: the same pod both ways, interleaved run by run.
  const bulkSides: Side[] = [
    await ktctlForward(kubeconfig, home, denoDir, `pod/${BULK.pod}`, String(BULK.port)),
    await startPortForward({
      kubectl: kubectlBinary(),
      kubeconfig,
      namespace: BULK.namespace,
      pod: BULK.pod,
      podPort: BULK.port,
      localPort: 0,
    }).then((pf) => ({ name: "kubectl port-forward pod/bulk", ...pf })),
  ];
  const bulk: Record<string, { get: number[]; put: number[]; failed: string[] }> = {};
  for (const s of bulkSides) bulk[s.name] = { get: [], put: [], failed: [] };
  // A transfer that breaks (a reset on a loaded machine) is reported with its side and left out
  // of the medians; it does not end the whole run.
  const sample = async (s: Side, way: "get" | "put") => {
    try {
      const t = await (way === "get" ? bulkGet : bulkPut)(direct(s.port), bytes, 300_000);
      bulk[s.name][way].push(mbps(t.bytes, t.ms));
    } catch (e) {
      const why = `${way.toUpperCase()} failed: ${e instanceof Error ? e.message : String(e)}`;
      console.error(`${s.name}: ${why}`);
      bulk[s.name].failed.push(why);
    }
  };
  for (let r = 0; r < runs; r++) {
    for (const s of bulkSides) {
      await sample(s, "get");
      await sample(s, "put");
    }
  }
  const [kt, kc] = bulkSides.map((s) => bulk[s.name]);
  for (const s of bulkSides) {
    row(s.name, {
      "GET MB/s": median(bulk[s.name].get),
      "PUT MB/s": median(bulk[s.name].put),
      "failed transfers": bulk[s.name].failed.length,
    });
  }
  row("  ktctl forward / kubectl (goal ≥ 1.0x)", {
    GET: `${round(median(kt.get) / median(kc.get), 2)}x`,
    PUT: `${round(median(kt.put) / median(kc.put), 2)}x`,
  });
  json.bulk = Object.fromEntries(
    Object.entries(bulk).map((
      [k, v],
    ) => [k, { getMBps: median(v.get), putMBps: median(v.put), failed: v.failed }]),
  );
  for (const s of bulkSides) await s.proc.stop();

  // latency: fresh connections, interleaved one by one.
  const latencySides: Side[] = [
    await ktctlForward(kubeconfig, home, denoDir, "pod/web-0", "8080"),
    await ktctlForward(kubeconfig, home, denoDir, `svc/${WEB.service}`, "80"),
    await startPortForward({
      kubectl: kubectlBinary(),
      kubeconfig,
      namespace: WEB.namespace,
      pod: "web-0",
      podPort: 8080,
      localPort: 0,
    }).then((pf) => ({ name: "kubectl port-forward pod/web-0", ...pf })),
  ];
  const ms: Record<string, number[]> = {};
  for (const s of latencySides) ms[s.name] = [];
  for (const s of latencySides) await httpGet(direct(s.port), "web", 30_000); // warm
  for (let i = 0; i < connections; i++) {
    for (const s of latencySides) ms[s.name].push(await httpGet(direct(s.port), "web", 30_000));
  }
  const kubectlP50 = median(ms[latencySides[2].name]);
  for (const s of latencySides) {
    row(s.name, {
      "p50 ms": median(ms[s.name]),
      "p95 ms": percentile(ms[s.name], 95),
      "vs kubectl p50 (goal ≤ 1.0x)": `${round(median(ms[s.name]) / kubectlP50, 2)}x`,
    });
  }
  json.latency = Object.fromEntries(
    Object.entries(ms).map(([k, v]) => [k, { p50: median(v), p95: percentile(v, 95) }]),
  );
  for (const s of latencySides) await s.proc.stop();

  // launch to first reply, alternating.
  const launch = { ktctl: [] as number[], kubectl: [] as number[] };
  for (let r = 0; r < runs; r++) {
    launch.ktctl.push(await launchKtctl(kubeconfig, env));
    launch.kubectl.push(await launchKubectl(kubeconfig));
  }
  row("ktctl connect -- curl (launch → 1st byte)", { "median ms": median(launch.ktctl) });
  row("kubectl port-forward + curl (same)", { "median ms": median(launch.kubectl) });
  row("  ktctl / kubectl (goal ≤ 2x)", {
    launch: `${round(median(launch.ktctl) / median(launch.kubectl), 2)}x`,
  });
  json.launch = { ktctlMs: median(launch.ktctl), kubectlMs: median(launch.kubectl) };
  const loadAfter = await loadAverage();
  json.load = { before: loadBefore, after: loadAfter };
  console.log(`load average (1, 5, 15 min): before ${loadBefore}, after ${loadAfter}`);
  console.log(`BENCH_JSON_FORWARD ${JSON.stringify(json)}`);
}

const deadline = setTimeout(async () => {
  console.error("bench/forward_rows.ts: overall deadline (30 min) reached");
  await stopAll();
  Deno.exit(2);
}, 30 * 60_000);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await stopAll();
    Deno.exit(130);
  });
}
try {
  await main();
} finally {
  clearTimeout(deadline);
  await stopAll();
}
Deno.exit(0);
