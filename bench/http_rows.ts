/**
 * The benchmark's HTTP-proxy rows: ktctl's HTTP front (`--method http`; every mode's listener
 * speaks it) with CONNECT tunnels and with absolute-form requests, beside the SOCKS rows of the
 * same run: bulk both ways, new connections, 200 downloads at once. Goals: at least 0.95x the
 * SOCKS path and at least 1.0x kubectl port-forward. Bulk and new connections measure those two
 * references again in their own loop, interleaved, since a shared machine's speed drifts between
 * one loop and the next by more than the difference sought. Absolute-form bulk goes to the fixture's
 * bulk-over-HTTP service (BULK_HTTP), CONNECT to the same line-protocol port as SOCKS.
 * Kept apart from bench.ts's own rows so that each can change without the other.
 * @module
 */
import { BULK, BULK_HTTP, POD_PORTS } from "../testenv/cluster/mod.ts";
import {
  bulkGet,
  bulkPut,
  type Dialer,
  direct,
  httpBulkGet,
  httpBulkPut,
  httpConnect,
  httpGet,
  messageOf,
  type Transfer,
} from "./clients.ts";
import { cpuTicks, memStatus } from "./procs.ts";
import { type Cell, fmt, fmtRatio } from "./table.ts";
import { type Ktctl, type KtctlOptions, startKtctl } from "./sides.ts";
import { mbps, median, percentile, rotate, round } from "./stats.ts";

const MiB = 1024 * 1024;
export const HTTP_GOALS = { vsSocks: 0.95, vsKubectl: 1.0 };

export type HttpSide = "CONNECT" | "absolute-form";
const SIDES: HttpSide[] = ["CONNECT", "absolute-form"];
type LatencySide = HttpSide | "socks5" | "kubectl";
const LATENCY_SIDES: LatencySide[] = [...SIDES, "socks5", "kubectl"];

interface Concurrent {
  ok: number[];
  mbps: number[];
  peakRss: number[];
}

type BulkSide = HttpSide | "socks5" | "kubectl";
const BULK_SIDES: BulkSide[] = [...SIDES, "socks5", "kubectl"];

export interface HttpResults {
  /** With the references measured in the same loop: socks5 ktctl and kubectl port-forward. */
  bulk: Record<"get" | "put", Record<BulkSide, number[]>>;
  /** CPU time of the ktctl process per MiB moved, ms. */
  bulkCpu: Record<"get" | "put", Record<HttpSide, number[]>>;
  /** With the references measured in the same loop: socks5 ktctl and kubectl port-forward. */
  latency: Record<LatencySide, { p50: number[]; p95: number[]; failed: number[] }>;
  concurrency: Record<HttpSide, Concurrent>;
}

export function emptyHttpResults(): HttpResults {
  const bySide = () => ({ CONNECT: [], "absolute-form": [] });
  const byBulkSide = () => ({ ...bySide(), socks5: [], kubectl: [] });
  const conc = () => ({ ok: [], mbps: [], peakRss: [] });
  const lat = () => ({ p50: [], p95: [], failed: [] });
  return {
    bulk: { get: byBulkSide(), put: byBulkSide() },
    bulkCpu: { get: bySide(), put: bySide() },
    latency: { CONNECT: lat(), "absolute-form": lat(), socks5: lat(), kubectl: lat() },
    concurrency: { CONNECT: conc(), "absolute-form": conc() },
  };
}

/** What the HTTP rows need from the bench. */
export interface HttpBenchEnv {
  /** Options for a fresh `ktctl connect --method http` on a free port. */
  ktctl: () => KtctlOptions;
  bulkHost: string;
  webHost: string;
  webPod: string;
  /** The references in the latency loop: the long-lived socks5 ktctl and kubectl port-forward. */
  socksWeb: () => Dialer;
  kubectlWeb: () => Dialer;
  /** The same references for bulk: the socks5 ktctl and kubectl port-forward to bulk:9100. */
  socksBulk: () => Dialer;
  kubectlBulk: () => Dialer;
  bulkBytes: number;
  latencyCount: number;
  concurrency: number;
  concurrencyBytes: number;
  ticksPerSecond: number;
  bulkTimeoutMs: (bytes: number) => number;
  note: (msg: string) => void;
  errors: string[];
}

/** The long-lived `--method http` ktctl the bulk and latency rows use (restarted if it died). */
export class HttpSideProcess {
  #side: Ktctl | undefined;
  constructor(private env: HttpBenchEnv) {}

  async get(): Promise<Ktctl> {
    if (this.#side && !this.#side.proc.exited) return this.#side;
    if (this.#side) this.env.note(`${this.#side.proc.name} had exited; restarting it`);
    await this.#side?.proc.stop();
    this.#side = await startKtctl(this.env.ktctl());
    return this.#side;
  }

  async stop(): Promise<void> {
    await this.#side?.proc.stop();
  }
}

function bulkOps(env: HttpBenchEnv, port: number) {
  const absolute = `http://${BULK_HTTP.service}.${BULK_HTTP.namespace}`;
  const tunnel = httpConnect(port, env.bulkHost, BULK.port);
  return {
    CONNECT: {
      get: (n: number, ms: number) => bulkGet(tunnel, n, ms),
      put: (n: number, ms: number) => bulkPut(tunnel, n, ms),
    },
    "absolute-form": {
      get: (n: number, ms: number) => httpBulkGet(direct(port), absolute, n, ms),
      put: (n: number, ms: number) => httpBulkPut(direct(port), absolute, n, ms),
    },
  } satisfies Record<HttpSide, Record<"get" | "put", (n: number, ms: number) => Promise<Transfer>>>;
}

export async function warmUpHttp(env: HttpBenchEnv, side: HttpSideProcess): Promise<void> {
  const kt = await side.get();
  const ops = bulkOps(env, kt.port);
  for (const s of SIDES) {
    await ops[s].get(4 * MiB, 30_000).catch((e) => env.note(`warm-up ${s}: ${messageOf(e)}`));
    await ops[s].put(4 * MiB, 30_000).catch((e) => env.note(`warm-up ${s}: ${messageOf(e)}`));
    for (let i = 0; i < 5; i++) {
      await latencyGet(env, kt.port, s).catch(() => {});
    }
  }
}

export async function runHttpBulk(
  env: HttpBenchEnv,
  side: HttpSideProcess,
  run: number,
  res: HttpResults,
): Promise<void> {
  const kt = await side.get();
  const ops = {
    ...bulkOps(env, kt.port),
    socks5: {
      get: (n: number, ms: number) => bulkGet(env.socksBulk(), n, ms),
      put: (n: number, ms: number) => bulkPut(env.socksBulk(), n, ms),
    },
    kubectl: {
      get: (n: number, ms: number) => bulkGet(env.kubectlBulk(), n, ms),
      put: (n: number, ms: number) => bulkPut(env.kubectlBulk(), n, ms),
    },
  };
  const n = env.bulkBytes;
  for (const dir of ["get", "put"] as const) {
    const figures: string[] = [];
    for (const s of rotate(BULK_SIDES, run)) {
      let v = NaN;
      try {
        const ticks0 = cpuTicks(kt.proc.pid);
        const t = await ops[s][dir](n, env.bulkTimeoutMs(n));
        v = mbps(t.bytes, t.ms);
        if (s === "CONNECT" || s === "absolute-form") {
          const cpuMs = (cpuTicks(kt.proc.pid) - ticks0) / env.ticksPerSecond * 1000;
          res.bulkCpu[dir][s].push(cpuMs / (n / MiB));
        }
      } catch (e) {
        env.errors.push(`run ${run + 1} bulk ${dir} http ${s}: ${messageOf(e)}`);
      }
      res.bulk[dir][s].push(v);
      figures.push(`${s} ${fmt(v, 0)}`);
    }
    env.note(
      `run ${run + 1} bulk ${dir === "get" ? "download" : "upload"} via ktctl's HTTP proxy, ` +
        `references in the same loop, MB/s: ${figures.join(", ")}`,
    );
  }
}

/** One fresh connection and one GET to the web pod, tunnelled or as an absolute-form request. */
function latencyGet(env: HttpBenchEnv, port: number, s: HttpSide): Promise<number> {
  return s === "CONNECT"
    ? httpGet(httpConnect(port, env.webHost, POD_PORTS.http), env.webPod, 10_000)
    : httpGet(direct(port), env.webPod, 10_000, `http://${env.webHost}:${POD_PORTS.http}/bench`);
}

export async function runHttpLatency(
  env: HttpBenchEnv,
  side: HttpSideProcess,
  run: number,
  res: HttpResults,
): Promise<void> {
  const kt = await side.get();
  const sides = LATENCY_SIDES;
  const get = (s: LatencySide) =>
    s === "socks5"
      ? httpGet(env.socksWeb(), env.webPod, 10_000)
      : s === "kubectl"
      ? httpGet(env.kubectlWeb(), env.webPod, 10_000)
      : latencyGet(env, kt.port, s);
  const samples = Object.fromEntries(sides.map((s) => [s, [] as number[]])) as Record<
    LatencySide,
    number[]
  >;
  const failed = Object.fromEntries(sides.map((s) => [s, 0])) as Record<LatencySide, number>;
  const deadline = Date.now() + 10 * 60_000;
  for (let i = 0; i < env.latencyCount && Date.now() < deadline; i++) {
    for (const s of rotate(sides, i + run)) {
      try {
        samples[s].push(await get(s));
      } catch (e) {
        if (failed[s]++ < 3) env.errors.push(`run ${run + 1} latency http ${s}: ${messageOf(e)}`);
      }
    }
  }
  const figures = sides.map((s) => {
    const r = res.latency[s];
    r.p50.push(percentile(samples[s], 50));
    r.p95.push(percentile(samples[s], 95));
    r.failed.push(failed[s]);
    return `${s} p50 ${fmt(r.p50.at(-1), 2)} p95 ${fmt(r.p95.at(-1), 2)}` +
      (failed[s] ? ` (${failed[s]} failed)` : "");
  });
  env.note(
    `run ${run + 1} new connections via ktctl's HTTP proxy, references in the same loop (ms): ` +
      figures.join("; "),
  );
}

/** 200 downloads of 4 MiB at once, each side through a fresh `--method http` ktctl. */
export async function runHttpConcurrency(
  env: HttpBenchEnv,
  run: number,
  res: HttpResults,
): Promise<void> {
  for (const s of rotate(SIDES, run)) {
    const kt = await startKtctl(env.ktctl());
    try {
      const op = bulkOps(env, kt.port)[s].get;
      const { concurrency: count, concurrencyBytes: bytes } = env;
      const errors = new Map<string, number>();
      const t0 = performance.now();
      const outcomes = await Promise.all(
        Array.from({ length: count }, () =>
          op(bytes, 120_000).then(() => true, (e) => {
            const m = messageOf(e).replace(/\d+/g, "N");
            errors.set(m, (errors.get(m) ?? 0) + 1);
            return false;
          })),
      );
      const ok = outcomes.filter(Boolean).length;
      const rate = mbps(ok * bytes, performance.now() - t0);
      const peak = memStatus(kt.proc.pid).hwm / 1e6;
      res.concurrency[s].ok.push(ok);
      res.concurrency[s].mbps.push(rate);
      res.concurrency[s].peakRss.push(peak);
      for (const [m, k] of errors) {
        env.errors.push(`run ${run + 1} concurrent downloads http ${s}: ${k}x ${m}`);
      }
      env.note(
        `run ${run + 1} concurrent downloads via ktctl's HTTP proxy, ${s}: ${ok}/${count} ok, ` +
          `${fmt(rate, 0)} MB/s, peak RSS ${fmt(peak)} MB`,
      );
    } finally {
      await kt.proc.stop();
    }
  }
}

/** The SOCKS and kubectl figures of the same run that the HTTP rows are compared with. */
export interface HttpBaseline {
  bulk: Record<"get" | "put", { socks: number; kubectl: number; plain: number }>;
  latency: Record<"p50" | "p95", { socks: number; kubectl: number; plain: number }>;
  concurrency: {
    socks: number;
    kubectl: number;
    kubectlPeakRss: number;
    /** The report's goal for peak RSS under the same load (the SOCKS rows'), if any. */
    peakRssGoalMB?: number;
  };
}

/**
 * The table rows (label, ktctl, kubectl pf, plain, ktctl/kubectl, ktctl/plain, goal, verdict)
 * and the JSON figures. Verdicts: the ratio to SOCKS (and met or not), then met against kubectl.
 */
export function httpReport(
  env: Pick<HttpBenchEnv, "bulkBytes" | "latencyCount" | "concurrency" | "concurrencyBytes">,
  res: HttpResults,
  base: HttpBaseline,
): { rows: Cell[][]; json: Record<string, unknown> } {
  const m = median;
  const rows: Cell[][] = [];
  const met = (ok: boolean) => ok ? "met" : "NOT MET";
  /** `speed` is higher-is-better (MB/s) for both ratios. */
  const verdict = (vsSocks: number, vsKubectl: number) =>
    Number.isFinite(vsSocks) && Number.isFinite(vsKubectl)
      ? `${fmtRatio(vsSocks)} socks: ${met(vsSocks >= HTTP_GOALS.vsSocks)} / ` +
        `${met(vsKubectl >= HTTP_GOALS.vsKubectl)}`
      : "n/a";
  const goal = `>=${HTTP_GOALS.vsSocks}x socks5 / >=${HTTP_GOALS.vsKubectl.toFixed(1)}x kubectl`;
  const own = (x: number, other: number) => Number.isFinite(x) ? x : other;
  for (const dir of ["get", "put"] as const) {
    // The references of the same loop, when it ran; else the bulk rows' figures.
    const b = {
      ...base.bulk[dir],
      socks: own(m(res.bulk[dir].socks5), base.bulk[dir].socks),
      kubectl: own(m(res.bulk[dir].kubectl), base.bulk[dir].kubectl),
    };
    for (const s of SIDES) {
      const k = m(res.bulk[dir][s]);
      rows.push([
        `bulk ${dir === "get" ? "download" : "upload"} ${round(env.bulkBytes / MiB)} MiB, ` +
        `ktctl http ${s} (MB/s)`,
        fmt(k, 0),
        fmt(b.kubectl, 0),
        fmt(b.plain, 0),
        fmtRatio(k / b.kubectl),
        fmtRatio(k / b.plain),
        goal,
        verdict(k / b.socks, k / b.kubectl),
      ]);
    }
    rows.push([
      `bulk ${dir === "get" ? "download" : "upload"}, CPU of ktctl per MiB, CONNECT / ` +
      "absolute-form (ms)",
      `${fmt(m(res.bulkCpu[dir].CONNECT), 2)} / ${fmt(m(res.bulkCpu[dir]["absolute-form"]), 2)}`,
      "",
      "",
      "",
      "",
      "",
      "",
    ]);
  }
  for (const p of ["p50", "p95"] as const) {
    // The references of the same loop, when it ran; else the latency rows' figures.
    const b = {
      ...base.latency[p],
      socks: own(m(res.latency.socks5[p]), base.latency[p].socks),
      kubectl: own(m(res.latency.kubectl[p]), base.latency[p].kubectl),
    };
    for (const s of SIDES) {
      const k = m(res.latency[s][p]);
      // Times: lower is better, so the speed ratios are inverted.
      rows.push([
        `new connection + HTTP GET via ktctl http ${s}, ${p} of ${env.latencyCount} (ms)`,
        fmt(k, 2),
        fmt(b.kubectl, 2),
        fmt(b.plain, 2),
        fmtRatio(k / b.kubectl),
        fmtRatio(k / b.plain),
        p === "p50" ? goal : "",
        p === "p50" ? verdict(b.socks / k, b.kubectl / k) : `${fmtRatio(b.socks / k)} socks`,
      ]);
    }
  }
  const conc = `${env.concurrency} x ${round(env.concurrencyBytes / MiB)} MiB downloads at once`;
  for (const s of SIDES) {
    const c = res.concurrency[s];
    const k = m(c.mbps);
    const worst = c.ok.length ? Math.min(...c.ok) : NaN;
    rows.push([
      `${conc} via ktctl http ${s}: aggregate (MB/s), succeeded (worst run)`,
      `${fmt(k, 0)}, ${fmt(worst, 0)}/${env.concurrency}`,
      fmt(base.concurrency.kubectl, 0),
      "",
      fmtRatio(k / base.concurrency.kubectl),
      "",
      goal,
      verdict(k / base.concurrency.socks, k / base.concurrency.kubectl),
    ]);
    const peak = m(c.peakRss);
    const rssGoal = base.concurrency.peakRssGoalMB;
    rows.push([
      `${conc} via ktctl http ${s}: peak RSS, VmHWM (MB)`,
      fmt(peak, 1),
      fmt(base.concurrency.kubectlPeakRss, 1),
      "",
      fmtRatio(peak / base.concurrency.kubectlPeakRss),
      "",
      rssGoal === undefined ? "" : `<= ${rssGoal} MB`,
      rssGoal === undefined || !Number.isFinite(peak) ? "" : met(peak <= rssGoal),
    ]);
  }
  const medians = (xs: Record<HttpSide, number[]>, digits = 1) =>
    Object.fromEntries(SIDES.map((s) => [s, round(m(xs[s]), digits)]));
  return {
    rows,
    json: {
      goals: HTTP_GOALS,
      bulk: {
        median: {
          get: Object.fromEntries(BULK_SIDES.map((s) => [s, round(m(res.bulk.get[s]))])),
          put: Object.fromEntries(BULK_SIDES.map((s) => [s, round(m(res.bulk.put[s]))])),
        },
        cpuMsPerMiB: { get: medians(res.bulkCpu.get, 2), put: medians(res.bulkCpu.put, 2) },
      },
      latency: Object.fromEntries(LATENCY_SIDES.map((s) => [s, {
        p50: round(m(res.latency[s].p50), 2),
        p95: round(m(res.latency[s].p95), 2),
      }])),
      concurrency: Object.fromEntries(SIDES.map((s) => [s, {
        ok: m(res.concurrency[s].ok),
        mbps: round(m(res.concurrency[s].mbps)),
        peakRssMB: round(m(res.concurrency[s].peakRss)),
      }])),
      runs: res,
    },
  };
}
