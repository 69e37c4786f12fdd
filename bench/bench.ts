/**
 * `deno task bench [--quick] [--runs N] [--only LIST] [--ktctl-dir DIR] [--bulk-mib N]
 * [--timeout-min N]`: ktctl against `kubectl port-forward` and plain loopback TCP on the local
 * control plane (testenv/cluster), every side measured in the same run, interleaved, and printed
 * as one table of medians with ratios and the goals, plus one JSON line (`BENCH_JSON {...}`).
 * `--ktctl-dir` runs another checkout's main.ts (an experiment) instead of this one's;
 * `--bundle` runs ktctl as the bundle of main.ts that `deno task build` compiles
 * (scripts/bundle.ts) instead of main.ts itself, as the released executables run it (launched
 * once before measuring: see primeBundle);
 * `--ktctl-v8-flags=FLAGS` runs ktctl with `deno run --v8-flags=FLAGS` instead of the V8 flags
 * ktctl ships with (scripts/v8_flags.ts; an empty value runs it with none), to compare settings;
 * `--auth token` has ktctl and kubectl use the bearer-token kubeconfig instead of the
 * client-certificate (admin) one.
 *
 * Measurements (`--only` takes a comma-separated subset of these names):
 *   bulk         GET and PUT of 256 MiB on demo/bulk:9100 through ktctl (socks5 and socks mode,
 *                with SOCKS5 / SOCKS4a clients), kubectl port-forward, and plain TCP (the ceiling);
 *                also the CPU time the proxy process (ktctl, kubectl) spends per MiB, and what
 *                kube-apiserver and kwok spend relaying it (with ktctl's, the most any
 *                port-forward client could reach on this machine)
 *   latency      300 sequential fresh connections, one HTTP GET each to demo/web-0:8080:
 *                p50/p95/p99 for ktctl (multiplexed, and with --portForward websocket),
 *                kubectl port-forward and plain TCP
 *   interactive  50 keep-alive HTTP exchanges on one open tunnel, each request written in two
 *                parts 2 ms apart (Nagle plus delayed ACKs on an upstream socket cost ~40 ms)
 *   concurrency  200 simultaneous GETs of 4 MiB through a fresh ktctl (and, for reference, a fresh
 *                kubectl port-forward): successes, aggregate MB/s, peak RSS (VmHWM), CPU per MiB;
 *                then the same with 200 PUTs through another fresh pair
 *   idle         RSS and CPU% of the same fresh processes, idle for 10 s before that load
 *   startup      launch of `ktctl connect` (or kubectl port-forward) to its first proxied reply
 * bulk, latency and concurrency also measure ktctl's HTTP proxy (a `--method http` ktctl; CONNECT
 * and absolute-form requests) against the SOCKS and kubectl figures of the same run
 * (bench/http_rows.ts).
 *
 * Bounded in count and time everywhere (per operation deadlines, an overall deadline); every
 * process it starts is stopped on every exit path. It prints figures and never asserts them:
 * the exit code is 0 when the benchmark ran, whatever the figures. MB = 10^6 bytes.
 * @module
 */
import {
  backendFor,
  BULK,
  type ClusterInfo,
  ensureCluster,
  kubectl,
  kubectlBinary,
  POD_PORTS,
  WEB,
} from "../testenv/cluster/mod.ts";
import {
  bulkGet,
  bulkPut,
  type Dialer,
  direct,
  httpExchanges,
  httpGet,
  messageOf,
  socks4a,
  socks5,
} from "./clients.ts";
import {
  clockTicks,
  cpuTicks,
  freePort,
  memStatus,
  pidsNamed,
  type Proc,
  stopAll,
} from "./procs.ts";
import { fmt } from "./table.ts";
import { KTCTL_V8_FLAGS } from "../scripts/v8_flags.ts";
import { bundleKtctl } from "../scripts/bundle.ts";
import {
  denoCacheDir,
  disturbances,
  spawnKtctl,
  spawnPortForward,
  startKtctl,
  startPortForward,
} from "./sides.ts";
import { mbps, percentile, rotate } from "./stats.ts";
import {
  type HttpBenchEnv,
  HttpSideProcess,
  runHttpBulk,
  runHttpConcurrency,
  runHttpLatency,
  warmUpHttp,
} from "./http_rows.ts";

import {
  BULK_SIDES,
  type BulkSide,
  type Config,
  emptyResults,
  type Env,
  GOALS,
  LAT_SIDES,
  type LatSide,
  type Measurement,
  MEASUREMENTS,
  MiB,
  type ProcSide,
  type Results,
  SPLIT_GAP_MS,
} from "./results.ts";
import { report } from "./report.ts";
function usage(): never {
  console.error(
    "usage: deno task bench [--quick] [--runs N] [--ktctl-dir DIR] [--bulk-mib N]\n" +
      "                       [--auth cert|token] [--timeout-min N] [--only LIST]\n" +
      "                       [--bundle] [--ktctl-v8-flags=FLAGS]\n" +
      `LIST: comma-separated, of ${MEASUREMENTS.join(", ")}`,
  );
  Deno.exit(2);
}

function parseConfig(args: string[]): Config {
  const quick = args.includes("--quick");
  const value = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) usage();
    return v;
  };
  const int = (flag: string, def: number, min: number, max: number): number => {
    const v = value(flag);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) usage();
    return n;
  };
  const valueFlags = new Set([
    "--runs",
    "--only",
    "--ktctl-dir",
    "--bulk-mib",
    "--timeout-min",
    "--auth",
  ]);
  // Its value starts with "--" itself, so it comes in one argument, after "=".
  const v8Prefix = "--ktctl-v8-flags=";
  let ktctlV8Flags = KTCTL_V8_FLAGS.join(",");
  for (let i = 0; i < args.length; i++) {
    if (valueFlags.has(args[i])) i++;
    else if (args[i].startsWith(v8Prefix)) ktctlV8Flags = args[i].slice(v8Prefix.length);
    else if (args[i] !== "--quick" && args[i] !== "--bundle") usage();
  }
  const auth = value("--auth") ?? "cert";
  if (auth !== "cert" && auth !== "token") usage();
  const onlyText = value("--only");
  const only = new Set<Measurement>();
  for (const name of onlyText?.split(",") ?? MEASUREMENTS) {
    if (!(MEASUREMENTS as readonly string[]).includes(name)) usage();
    only.add(name as Measurement);
  }
  const repo = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
  return {
    runs: int("--runs", quick ? 1 : 3, 1, 20),
    quick,
    bulkBytes: int("--bulk-mib", quick ? 32 : 256, 1, 4096) * MiB,
    latencyCount: quick ? 100 : 300,
    exchanges: quick ? 20 : 50,
    concurrency: 200,
    concurrencyBytes: (quick ? 1 : 4) * MiB,
    idleMs: quick ? 5_000 : 10_000,
    only,
    ktctlDir: value("--ktctl-dir") ?? repo,
    ktctlV8Flags,
    bundle: args.includes("--bundle"),
    timeoutMin: int("--timeout-min", 30, 1, 240),
    auth,
  };
}

const started = performance.now();
function note(msg: string): void {
  console.error(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The 1-minute load average and the CPU count: how noisy the machine was. */
function load(): string {
  try {
    const one = Deno.readTextFileSync("/proc/loadavg").split(" ")[0];
    return `load ${one} on ${navigator.hardwareConcurrency} CPUs`;
  } catch {
    return "load unknown";
  }
}

// ---------------------------------------------------------------------------------------------
// Results

// ---------------------------------------------------------------------------------------------
// Environment shared by the measurements

/** Whether the pods the bench uses exist (other test suites delete fixture pods). */
async function fixturePresent(): Promise<boolean> {
  for (const [ns, pod] of [[BULK.namespace, BULK.pod], [WEB.namespace, WEB.pods[0]]]) {
    if ((await kubectl(["get", "pod", "-n", ns, pod], { check: false })).code !== 0) return false;
  }
  return true;
}

async function clusterWithRetry(): Promise<ClusterInfo> {
  // testenv/cluster may be mid-change (or mid-start) when the bench starts: a few bounded tries.
  for (let attempt = 1;; attempt++) {
    try {
      const info = await ensureCluster();
      if (await fixturePresent()) return info;
      note("fixture pods missing (deleted by a test?): re-applying the fixture");
      disturbances.push("fixture pods were missing at the start");
      return await ensureCluster({ resetFixture: true });
    } catch (e) {
      if (attempt >= 3) throw e;
      note(`ensureCluster failed (${messageOf(e).split("\n")[0]}); retrying in 60 s`);
      await sleep(60_000);
    }
  }
}

/** The checkout's commit, "+dirty" when main.ts or src/ has uncommitted changes. */
async function revision(dir: string): Promise<string> {
  const git = async (args: string[]) => {
    try {
      const out = await new Deno.Command("git", { args: ["-C", dir, ...args], stdout: "piped" })
        .output();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
    } catch {
      return undefined;
    }
  };
  const head = await git(["rev-parse", "--short", "HEAD"]);
  if (head === undefined) return "unknown revision";
  const dirty = await git(["status", "--porcelain", "--", "main.ts", "src"]);
  return head + (dirty ? "+dirty" : "");
}

/**
 * Launches the bundle once before it is measured. `deno run` of a JavaScript file it has not
 * seen parses the whole file for its imports first (~48 MB more peak RSS for the 3 MB bundle,
 * and ~0.2 s) and then keeps the result in DENO_DIR; a compiled executable carries its module
 * graph and never does that. Unprimed, the first run's peak RSS measured deno's analysis.
 */
async function primeBundle(env: Env): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", env.entry!, "--help"],
    env: { DENO_DIR: env.denoDir, NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`the bundle does not start: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

function ktctlOptions(
  env: Env,
  method: "socks" | "socks5" | "http",
  port = freePort(),
  portForward: "multiplexed" | "websocket" = "multiplexed",
  kubeconfig = env.info.kubeconfigs[env.cfg.auth === "cert" ? "admin" : "token"],
) {
  return {
    dir: env.cfg.ktctlDir,
    kubeconfig,
    namespace: WEB.namespace,
    method,
    portForward,
    port,
    home: env.home,
    denoDir: env.denoDir,
    v8Flags: env.cfg.ktctlV8Flags,
    entry: env.entry,
  };
}

function pfOptions(env: Env, pod: string, podPort: number, localPort = 0) {
  return {
    kubectl: env.kubectl,
    kubeconfig: env.info.kubeconfigs[env.cfg.auth === "cert" ? "admin" : "token"],
    namespace: pod === BULK.pod ? BULK.namespace : WEB.namespace,
    pod,
    podPort,
    localPort,
  };
}

// ---------------------------------------------------------------------------------------------
// Bulk and latency: long-lived processes, sides interleaved

interface LongLived {
  ktctl5: { proc: Proc; port: number };
  ktctl4: { proc: Proc; port: number };
  ktctlWs: { proc: Proc; port: number };
  ktctlInsecure: { proc: Proc; port: number };
  pfBulk: { proc: Proc; port: number };
  pfWeb: { proc: Proc; port: number };
}

async function startLongLived(env: Env): Promise<LongLived> {
  const [ktctl5, ktctl4, ktctlWs, ktctlInsecure, pfBulk, pfWeb] = await Promise.all([
    startKtctl(ktctlOptions(env, "socks5")),
    startKtctl(ktctlOptions(env, "socks")),
    startKtctl(ktctlOptions(env, "socks5", freePort(), "websocket")),
    startInsecure(env),
    startPortForward(pfOptions(env, BULK.pod, BULK.port)),
    startPortForward(pfOptions(env, WEB.pods[0], POD_PORTS.http)),
  ]);
  return { ktctl5, ktctl4, ktctlWs, ktctlInsecure, pfBulk, pfWeb };
}

function startInsecure(env: Env) {
  return startKtctl(
    ktctlOptions(env, "socks5", freePort(), "multiplexed", env.insecureKubeconfig),
  );
}

/** The kubeconfig ktctl uses, with the CA dropped and verification skipped. */
async function writeInsecureKubeconfig(env: Omit<Env, "insecureKubeconfig">): Promise<string> {
  const base = env.info.kubeconfigs[env.cfg.auth === "cert" ? "admin" : "token"];
  const out = await kubectl(["--kubeconfig", base, "config", "view", "--raw", "-o", "json"]);
  const config = JSON.parse(out.stdout);
  for (const { cluster } of config.clusters) {
    delete cluster["certificate-authority-data"];
    delete cluster["certificate-authority"];
    cluster["insecure-skip-tls-verify"] = true;
  }
  const file = `${env.home}/insecure.kubeconfig`;
  await Deno.writeTextFile(file, JSON.stringify(config));
  return file;
}

/**
 * Restarts whatever long-lived side has exited (kubectl port-forward ends when its pod is
 * deleted or the API server restarts, which other test suites on a shared cluster do).
 */
async function reviveLongLived(env: Env, ll: LongLived): Promise<void> {
  const restart = {
    ktctl5: () => startKtctl(ktctlOptions(env, "socks5")),
    ktctl4: () => startKtctl(ktctlOptions(env, "socks")),
    ktctlWs: () => startKtctl(ktctlOptions(env, "socks5", freePort(), "websocket")),
    ktctlInsecure: () => startInsecure(env),
    pfBulk: () => startPortForward(pfOptions(env, BULK.pod, BULK.port)),
    pfWeb: () => startPortForward(pfOptions(env, WEB.pods[0], POD_PORTS.http)),
  };
  for (const key of Object.keys(restart) as (keyof LongLived)[]) {
    const side = ll[key];
    if (!side.proc.exited) continue;
    const last = side.proc.output().trim().split("\n").at(-1) ?? "";
    note(`${side.proc.name} had exited (${last.slice(0, 200)}); restarting it`);
    disturbances.push(`${side.proc.name} exited`);
    await side.proc.stop();
    ll[key] = await restart[key]();
  }
}

function bulkDialers(env: Env, ll: LongLived): Record<BulkSide, Dialer> {
  return {
    "ktctl socks5": socks5(ll.ktctl5.port, env.bulkHost, BULK.port),
    "ktctl socks4a": socks4a(ll.ktctl4.port, env.bulkHost, BULK.port),
    "kubectl": direct(ll.pfBulk.port),
    "plain": direct(env.plainBulkPort),
  };
}

function latencyDialers(env: Env, ll: LongLived): Record<LatSide, Dialer> {
  return {
    ktctl: socks5(ll.ktctl5.port, env.webHost, POD_PORTS.http),
    "ktctl ws": socks5(ll.ktctlWs.port, env.webHost, POD_PORTS.http),
    "ktctl insecure": socks5(ll.ktctlInsecure.port, env.webHost, POD_PORTS.http),
    kubectl: direct(ll.pfWeb.port),
    plain: direct(env.plainWebPort),
  };
}

/** Generous per-transfer deadline: 2 MB/s would be far below anything seen. */
function bulkTimeoutMs(bytes: number): number {
  return 30_000 + bytes / 2e6 * 1000;
}

async function warmUp(env: Env, ll: LongLived): Promise<void> {
  const b = bulkDialers(env, ll);
  const l = latencyDialers(env, ll);
  for (const side of BULK_SIDES) {
    try {
      await bulkGet(b[side], 4 * MiB, 30_000);
      await bulkPut(b[side], 4 * MiB, 30_000);
    } catch (e) {
      note(`warm-up bulk ${side}: ${messageOf(e)}`);
    }
  }
  for (let i = 0; i < 5; i++) {
    for (const side of LAT_SIDES) {
      await httpGet(l[side], WEB.pods[0], 10_000).catch((e) =>
        note(`warm-up GET ${side}: ${messageOf(e)}`)
      );
    }
  }
}

/** The processes every port-forward byte crosses on the local control plane. */
const RELAYS = ["kube-apiserver", "kwok-controller"];

async function runBulk(env: Env, ll: LongLived, run: number, res: Results): Promise<void> {
  const dialers = bulkDialers(env, ll);
  const pids = {
    "ktctl socks5": ll.ktctl5.proc.pid,
    "ktctl socks4a": ll.ktctl4.proc.pid,
    "kubectl": ll.pfBulk.proc.pid,
  };
  const n = env.cfg.bulkBytes;
  const relays = pidsNamed(RELAYS);
  const relayTicks = () => relays.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const msPerMiB = (ticks: number) => ticks / env.ticksPerSecond * 1000 / (n / MiB);
  for (const dir of ["get", "put"] as const) {
    const figures: string[] = [];
    for (const side of rotate(BULK_SIDES, run)) {
      let v = NaN;
      try {
        const pid = side === "plain" ? undefined : pids[side];
        const ticks0 = pid === undefined ? 0 : cpuTicks(pid);
        const relay0 = relayTicks();
        const t = dir === "get"
          ? await bulkGet(dialers[side], n, bulkTimeoutMs(n))
          : await bulkPut(dialers[side], n, bulkTimeoutMs(n));
        v = mbps(t.bytes, t.ms);
        if (side !== "plain") {
          res.bulkCpu[dir][side].push(msPerMiB(cpuTicks(pids[side]) - ticks0));
          res.relayCpu[dir][side].push(
            relays.length === RELAYS.length ? msPerMiB(relayTicks() - relay0) : NaN,
          );
        }
      } catch (e) {
        res.errors.push(`run ${run + 1} bulk ${dir} ${side}: ${messageOf(e)}`);
      }
      res.bulk[dir][side].push(v);
      figures.push(`${side} ${fmt(v, 0)}`);
    }
    note(
      `run ${run + 1} bulk ${dir === "get" ? "download" : "upload"} MB/s: ${figures.join(", ")}`,
    );
  }
}

async function runLatency(env: Env, ll: LongLived, run: number, res: Results): Promise<void> {
  const dialers = latencyDialers(env, ll);
  const samples = Object.fromEntries(LAT_SIDES.map((s) => [s, []])) as unknown as Record<
    LatSide,
    number[]
  >;
  const failed = Object.fromEntries(LAT_SIDES.map((s) => [s, 0])) as Record<LatSide, number>;
  const deadline = Date.now() + 10 * 60_000;
  for (let i = 0; i < env.cfg.latencyCount && Date.now() < deadline; i++) {
    for (const side of rotate(LAT_SIDES, i + run)) {
      try {
        samples[side].push(await httpGet(dialers[side], WEB.pods[0], 10_000));
      } catch (e) {
        if (failed[side]++ < 3) {
          res.errors.push(`run ${run + 1} latency ${side} #${i}: ${messageOf(e)}`);
        }
      }
    }
  }
  const figures: string[] = [];
  for (const side of LAT_SIDES) {
    const r = res.latency[side];
    r.p50.push(percentile(samples[side], 50));
    r.p95.push(percentile(samples[side], 95));
    r.p99.push(percentile(samples[side], 99));
    r.failed.push(failed[side]);
    figures.push(
      `${side} p50 ${fmt(r.p50.at(-1), 2)} p95 ${fmt(r.p95.at(-1), 2)} p99 ${
        fmt(r.p99.at(-1), 2)
      }` +
        (failed[side] ? ` (${failed[side]} failed)` : ""),
    );
  }
  note(`run ${run + 1} new connections (ms): ${figures.join("; ")}`);
}

async function runInteractive(env: Env, ll: LongLived, run: number, res: Results): Promise<void> {
  const dialers = latencyDialers(env, ll);
  const figures: string[] = [];
  for (const side of rotate(LAT_SIDES, run)) {
    let times: number[] = [];
    try {
      times = await httpExchanges(
        dialers[side],
        WEB.pods[0],
        env.cfg.exchanges,
        SPLIT_GAP_MS,
        60_000,
      );
    } catch (e) {
      res.errors.push(`run ${run + 1} interactive ${side}: ${messageOf(e)}`);
    }
    res.interactive[side].p50.push(percentile(times, 50));
    res.interactive[side].p95.push(percentile(times, 95));
    figures.push(
      `${side} p50 ${fmt(percentile(times, 50), 2)} p95 ${fmt(percentile(times, 95), 2)}`,
    );
  }
  note(`run ${run + 1} open tunnel, request in 2 writes (ms): ${figures.join("; ")}`);
}

// ---------------------------------------------------------------------------------------------
// Idle and concurrency: fresh processes each run

async function runIdleAndConcurrency(env: Env, run: number, res: Results): Promise<void> {
  const [kt, pf] = await Promise.all([
    startKtctl(ktctlOptions(env, "socks5")),
    startPortForward(pfOptions(env, BULK.pod, BULK.port)),
  ]);
  try {
    const procs: Record<ProcSide, Proc> = { ktctl: kt.proc, kubectl: pf.proc };
    if (env.cfg.only.has("idle")) {
      // Both idle at once: neither disturbs the other, and it halves the wait.
      await sleep(2_000);
      const t0 = performance.now();
      const ticks0 = { ktctl: cpuTicks(kt.proc.pid), kubectl: cpuTicks(pf.proc.pid) };
      await sleep(env.cfg.idleMs);
      const seconds = (performance.now() - t0) / 1000;
      const figures: string[] = [];
      for (const side of ["ktctl", "kubectl"] as const) {
        const pid = procs[side].pid;
        const cpu = (cpuTicks(pid) - ticks0[side]) / env.ticksPerSecond / seconds * 100;
        const rss = memStatus(pid).rss / 1e6;
        res.idle[side].cpu.push(cpu);
        res.idle[side].rss.push(rss);
        figures.push(`${side} RSS ${fmt(rss)} MB CPU ${fmt(cpu, 2)}%`);
      }
      note(`run ${run + 1} idle ${fmt(seconds)} s: ${figures.join("; ")}`);
    }
    if (env.cfg.only.has("concurrency")) await runConcurrency(env, kt, pf, run, "get", res);
  } finally {
    await Promise.all([kt.proc.stop(), pf.proc.stop()]);
  }
  if (!env.cfg.only.has("concurrency")) return;
  // Uploads on a fresh pair too: peak RSS (VmHWM) counts from the start of the process.
  const [kt2, pf2] = await Promise.all([
    startKtctl(ktctlOptions(env, "socks5")),
    startPortForward(pfOptions(env, BULK.pod, BULK.port)),
  ]);
  try {
    await runConcurrency(env, kt2, pf2, run, "put", res);
  } finally {
    await Promise.all([kt2.proc.stop(), pf2.proc.stop()]);
  }
}

/** 200 transfers of 4 MiB at once through each of a fresh ktctl and kubectl port-forward. */
async function runConcurrency(
  env: Env,
  kt: { proc: Proc; port: number },
  pf: { proc: Proc; port: number },
  run: number,
  dir: "get" | "put",
  res: Results,
): Promise<void> {
  const procs: Record<ProcSide, Proc> = { ktctl: kt.proc, kubectl: pf.proc };
  const dialers: Record<ProcSide, Dialer> = {
    ktctl: socks5(kt.port, env.bulkHost, BULK.port),
    kubectl: direct(pf.port),
  };
  const out = dir === "get" ? res.concurrency : res.concurrencyUpload;
  const what = dir === "get" ? "downloads" : "uploads";
  for (const side of rotate(["ktctl", "kubectl"] as const, run)) {
    const { concurrency: count, concurrencyBytes: bytes } = env.cfg;
    const t0 = performance.now();
    const ticks0 = cpuTicks(procs[side].pid);
    const errors = new Map<string, number>();
    const transfer = dir === "get" ? bulkGet : bulkPut;
    const outcomes = await Promise.all(
      Array.from(
        { length: count },
        () =>
          transfer(dialers[side], bytes, 120_000).then(() => true, (e) => {
            const m = messageOf(e).replace(/\d+/g, "N");
            errors.set(m, (errors.get(m) ?? 0) + 1);
            return false;
          }),
      ),
    );
    const ms = performance.now() - t0;
    const ok = outcomes.filter(Boolean).length;
    const rate = mbps(ok * bytes, ms);
    const peak = memStatus(procs[side].pid).hwm / 1e6;
    const cpuMs = (cpuTicks(procs[side].pid) - ticks0) / env.ticksPerSecond * 1000;
    out[side].cpuMsPerMiB.push(cpuMs / (ok * bytes / MiB));
    out[side].ok.push(ok);
    out[side].mbps.push(rate);
    out[side].peakRss.push(peak);
    for (const [m, k] of errors) {
      res.errors.push(`run ${run + 1} concurrent ${what} ${side}: ${k}x ${m}`);
    }
    note(
      `run ${run + 1} concurrent ${what} ${side}: ${ok}/${count} ok, ${fmt(rate, 0)} MB/s, ` +
        `peak RSS ${fmt(peak)} MB`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Start-up: launch to the first proxied reply

async function firstReply(proc: Proc, dialer: Dialer, t0: number, what: string): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 0; attempt < 5_000; attempt++) {
    if (proc.exited) throw new Error(`${what} exited:\n${proc.output().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${what}: no reply within 60 s`);
    try {
      await httpGet(dialer, WEB.pods[0], 20_000);
      return performance.now() - t0;
    } catch {
      await sleep(10);
    }
  }
  throw new Error(`${what}: no reply after 5000 attempts`);
}

async function runStartup(env: Env, run: number, res: Results): Promise<void> {
  const figures: string[] = [];
  for (const side of rotate(["ktctl", "kubectl"] as const, run)) {
    const port = freePort();
    const t0 = performance.now();
    const proc = side === "ktctl"
      ? spawnKtctl(ktctlOptions(env, "socks5", port))
      : spawnPortForward(pfOptions(env, WEB.pods[0], POD_PORTS.http, port));
    let bannerMs = NaN;
    if (side === "ktctl") {
      proc.waitFor(/http_proxy=/, 60_000).then(
        () => bannerMs = performance.now() - t0,
        () => {},
      );
    }
    try {
      const dialer = side === "ktctl" ? socks5(port, env.webHost, POD_PORTS.http) : direct(port);
      const ms = await firstReply(proc, dialer, t0, side);
      res.startup[side].push(ms);
      if (side === "ktctl") {
        await proc.waitFor(/http_proxy=/, 5_000).catch(() => {});
        res.startup.ktctlBanner.push(bannerMs);
      }
      figures.push(
        `${side} ${fmt(ms, 0)} ms` + (side === "ktctl" ? ` (banner at ${fmt(bannerMs, 0)})` : ""),
      );
    } catch (e) {
      res.startup[side].push(NaN);
      res.errors.push(`run ${run + 1} startup ${side}: ${messageOf(e)}`);
    } finally {
      await proc.stop();
    }
  }
  note(`run ${run + 1} start-up to first reply: ${figures.join(", ")}`);
}

/** What the HTTP rows need from this run (bench/http_rows.ts). */
function httpBenchEnv(env: Env, res: Results, ll: () => LongLived | undefined): HttpBenchEnv {
  return {
    ktctl: () => ktctlOptions(env, "http"),
    bulkHost: env.bulkHost,
    webHost: env.webHost,
    webPod: WEB.pods[0],
    socksWeb: () => socks5(ll()!.ktctl5.port, env.webHost, POD_PORTS.http),
    kubectlWeb: () => direct(ll()!.pfWeb.port),
    socksBulk: () => socks5(ll()!.ktctl5.port, env.bulkHost, BULK.port),
    kubectlBulk: () => direct(ll()!.pfBulk.port),
    bulkBytes: env.cfg.bulkBytes,
    latencyCount: env.cfg.latencyCount,
    concurrency: env.cfg.concurrency,
    concurrencyBytes: env.cfg.concurrencyBytes,
    ticksPerSecond: env.ticksPerSecond,
    bulkTimeoutMs,
    note,
    errors: res.errors,
  };
}

// ---------------------------------------------------------------------------------------------

async function bench(cfg: Config, home: string, res: Results): Promise<Env> {
  const info = await clusterWithRetry();
  const partial = {
    cfg,
    info,
    kubectl: kubectlBinary(),
    home,
    denoDir: await denoCacheDir(),
    entry: cfg.bundle ? `${home}/ktctl.js` : undefined,
    ticksPerSecond: await clockTicks(),
    revision: await revision(cfg.ktctlDir),
    bulkHost: `${BULK.service}.${BULK.namespace}`,
    webHost: `${WEB.pods[0]}.${WEB.headlessService}.${WEB.namespace}.svc.cluster.local`,
    plainBulkPort: backendFor(BULK.namespace, BULK.pod, BULK.port).loopbackPort,
    plainWebPort: backendFor(WEB.namespace, WEB.pods[0], POD_PORTS.http).loopbackPort,
  };
  const env: Env = { ...partial, insecureKubeconfig: await writeInsecureKubeconfig(partial) };
  if (env.entry) {
    await bundleKtctl(env.entry, cfg.ktctlDir);
    await primeBundle(env);
  }
  note(
    `cluster ${info.server}; ktctl from ${cfg.ktctlDir} (${env.revision}` +
      `${env.entry ? ", bundled" : ""}), V8 flags ` +
      `${cfg.ktctlV8Flags || "none"}; ${cfg.runs} run(s); ` +
      `measuring ${[...cfg.only].join(", ")}; ${cfg.auth} auth; ${load()}`,
  );

  let ll: LongLived | undefined;
  const httpEnv = httpBenchEnv(env, res, () => ll);
  const httpSide = new HttpSideProcess(httpEnv);
  if (cfg.only.has("bulk") || cfg.only.has("latency") || cfg.only.has("interactive")) {
    ll = await startLongLived(env);
    await warmUp(env, ll);
    if (cfg.only.has("bulk") || cfg.only.has("latency")) await warmUpHttp(httpEnv, httpSide);
  }
  try {
    // A measurement that cannot run (e.g. a side failed to start) is recorded, and the rest go on.
    const attempt = async (what: string, run: number, f: () => Promise<void>) => {
      try {
        await f();
      } catch (e) {
        res.errors.push(`run ${run + 1} ${what}: ${messageOf(e).split("\n")[0]}`);
        note(`run ${run + 1} ${what} failed: ${messageOf(e)}`);
      }
    };
    for (let run = 0; run < cfg.runs; run++) {
      if (cfg.only.has("startup")) await attempt("startup", run, () => runStartup(env, run, res));
      if (ll && cfg.only.has("bulk")) {
        await attempt("bulk", run, async () => {
          await reviveLongLived(env, ll);
          await runBulk(env, ll, run, res);
        });
        await attempt("bulk http", run, () => runHttpBulk(httpEnv, httpSide, run, res.http));
      }
      if (ll && cfg.only.has("latency")) {
        await attempt("latency", run, async () => {
          await reviveLongLived(env, ll);
          await runLatency(env, ll, run, res);
        });
        await attempt("latency http", run, () => runHttpLatency(httpEnv, httpSide, run, res.http));
      }
      if (ll && cfg.only.has("interactive")) {
        await attempt("interactive", run, async () => {
          await reviveLongLived(env, ll);
          await runInteractive(env, ll, run, res);
        });
      }
      if (cfg.only.has("idle") || cfg.only.has("concurrency")) {
        await attempt("idle/concurrency", run, () => runIdleAndConcurrency(env, run, res));
      }
      if (cfg.only.has("concurrency")) {
        await attempt("concurrency http", run, () => runHttpConcurrency(httpEnv, run, res.http));
      }
    }
    note(`done; ${load()}`);
    if (ll) {
      res.bulkPeakRss["ktctl socks5"] = memStatus(ll.ktctl5.proc.pid).hwm / 1e6;
      res.bulkPeakRss["ktctl socks4a"] = memStatus(ll.ktctl4.proc.pid).hwm / 1e6;
    }
  } finally {
    await httpSide.stop();
    if (ll) {
      await Promise.all(
        [ll.ktctl5, ll.ktctl4, ll.ktctlWs, ll.ktctlInsecure, ll.pfBulk, ll.pfWeb].map((s) =>
          s.proc.stop()
        ),
      );
    }
  }
  return env;
}

if (import.meta.main) {
  const cfg = parseConfig(Deno.args);
  const home = await Deno.makeTempDir({ prefix: "ktctl-bench-home-" });
  let finishing = false;
  const abort = async (why: string, code: number) => {
    if (finishing) return;
    finishing = true;
    note(`${why}: stopping every process started`);
    await stopAll();
    await Deno.remove(home, { recursive: true }).catch(() => {});
    Deno.exit(code);
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const sig of signals) Deno.addSignalListener(sig, () => abort(sig, 130));
  const watchdog = setTimeout(
    () => abort(`overall deadline of ${cfg.timeoutMin} min reached`, 3),
    cfg.timeoutMin * 60_000,
  );
  const res = emptyResults();
  let code = 0;
  try {
    const env = await bench(cfg, home, res);
    const { text, json } = report(env, res);
    console.log(text);
    console.log(
      "BENCH_JSON " +
        JSON.stringify({
          runs: cfg.runs,
          quick: cfg.quick,
          ktctlDir: cfg.ktctlDir,
          ktctlV8Flags: cfg.ktctlV8Flags,
          bundle: cfg.bundle,
          revision: env.revision,
          auth: cfg.auth,
          goals: GOALS,
          ...json,
        }),
    );
  } catch (e) {
    console.error(`bench failed: ${e instanceof Error ? e.stack ?? e.message : e}`);
    code = 1;
  } finally {
    clearTimeout(watchdog);
    if (!finishing) {
      finishing = true;
      await stopAll();
      await Deno.remove(home, { recursive: true }).catch(() => {});
    }
  }
  Deno.exit(code);
}
