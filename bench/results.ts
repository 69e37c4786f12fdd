/**
 * What the benchmark (bench/bench.ts) measures into and reports from: its configuration, the
 * per-run figures of every side, and the environment of one run. Shared by the measuring
 * (bench.ts) and the report (report.ts), which never measures.
 * @module
 */
import type { ClusterInfo } from "../testenv/cluster/mod.ts";
import { emptyHttpResults, type HttpResults } from "./http_rows.ts";

export const MiB = 1024 * 1024;
export const MEASUREMENTS = [
  "bulk",
  "latency",
  "interactive",
  "concurrency",
  "idle",
  "startup",
] as const;
export type Measurement = typeof MEASUREMENTS[number];

export interface Config {
  runs: number;
  quick: boolean;
  bulkBytes: number;
  latencyCount: number;
  exchanges: number;
  concurrency: number;
  concurrencyBytes: number;
  idleMs: number;
  only: Set<Measurement>;
  ktctlDir: string;
  /** V8 flags ktctl runs with (`deno run --v8-flags=...`), comma-separated; "" for none. */
  ktctlV8Flags: string;
  /** Run the bundle of the checkout's main.ts (what `deno task build` compiles). */
  bundle: boolean;
  timeoutMin: number;
  /** Which kubeconfig both ktctl and kubectl use: client certificate (admin) or bearer token. */
  auth: "cert" | "token";
}

/** The goals the report judges rows against (issue 23 for memory and start-up). */
export const GOALS = {
  bulkVsKubectl: 1.0,
  bulkVsPlain: 0.5,
  /** Peak RSS (VmHWM) under 200 downloads, and under 200 uploads, at once. */
  peakRssMB: 120,
  /** RSS of a connected, idle ktctl. */
  idleRssMB: 70,
  /** Launch to first proxied reply, as a multiple of kubectl port-forward's. */
  startupVsKubectl: 2.0,
};

export type BulkSide = "ktctl socks5" | "ktctl socks4a" | "kubectl" | "plain";
export const BULK_SIDES: BulkSide[] = ["ktctl socks5", "ktctl socks4a", "kubectl", "plain"];
/**
 * "ktctl ws" is ktctl with --portForward websocket: one WebSocket per connection. "ktctl
 * insecure" is ktctl with the same kubeconfig changed to `insecure-skip-tls-verify` (no CA),
 * which takes the node:tls adapter (net/node_tls.ts) instead of Deno's TLS.
 */
export type LatSide = "ktctl" | "ktctl ws" | "ktctl insecure" | "kubectl" | "plain";
export const LAT_SIDES: LatSide[] = ["ktctl", "ktctl ws", "ktctl insecure", "kubectl", "plain"];
export type ProcSide = "ktctl" | "kubectl";

export interface ConcurrencyFigures {
  ok: number[];
  mbps: number[];
  peakRss: number[];
  cpuMsPerMiB: number[];
}

/** Per-run figures; the table shows their medians. */
export interface Results {
  bulk: { get: Record<BulkSide, number[]>; put: Record<BulkSide, number[]> };
  /** CPU time of the proxy process (ktctl, kubectl) per MiB moved, ms. */
  bulkCpu: {
    get: Record<Exclude<BulkSide, "plain">, number[]>;
    put: Record<Exclude<BulkSide, "plain">, number[]>;
  };
  /**
   * CPU time of the relays every port-forward byte crosses (kube-apiserver and kwok, the
   * kubelet here) per MiB moved, ms: what bounds any port-forward client on this machine.
   */
  relayCpu: {
    get: Record<Exclude<BulkSide, "plain">, number[]>;
    put: Record<Exclude<BulkSide, "plain">, number[]>;
  };
  bulkPeakRss: Partial<Record<"ktctl socks5" | "ktctl socks4a", number>>;
  latency: Record<LatSide, { p50: number[]; p95: number[]; p99: number[]; failed: number[] }>;
  /** Round trips on one open tunnel, request in two writes. */
  interactive: Record<LatSide, { p50: number[]; p95: number[] }>;
  /** 200 downloads at once (`concurrency`), and 200 uploads at once. */
  concurrency: Record<ProcSide, ConcurrencyFigures>;
  concurrencyUpload: Record<ProcSide, ConcurrencyFigures>;
  idle: Record<ProcSide, { rss: number[]; cpu: number[] }>;
  startup: Record<ProcSide, number[]> & { ktctlBanner: number[] };
  /** The HTTP proxy's rows (CONNECT and absolute-form), bench/http_rows.ts. */
  http: HttpResults;
  errors: string[];
}

export function emptyResults(): Results {
  const bySide = () =>
    Object.fromEntries(BULK_SIDES.map((s) => [s, [] as number[]])) as Record<BulkSide, number[]>;
  const byProxy = () => ({ "ktctl socks5": [], "ktctl socks4a": [], "kubectl": [] });
  const lat = () => ({ p50: [], p95: [], p99: [], failed: [] });
  const conc = (): ConcurrencyFigures => ({ ok: [], mbps: [], peakRss: [], cpuMsPerMiB: [] });
  return {
    bulk: { get: bySide(), put: bySide() },
    bulkCpu: { get: byProxy(), put: byProxy() },
    relayCpu: { get: byProxy(), put: byProxy() },
    bulkPeakRss: {},
    latency: {
      ktctl: lat(),
      "ktctl ws": lat(),
      "ktctl insecure": lat(),
      kubectl: lat(),
      plain: lat(),
    },
    interactive: {
      ktctl: { p50: [], p95: [] },
      "ktctl ws": { p50: [], p95: [] },
      "ktctl insecure": { p50: [], p95: [] },
      kubectl: { p50: [], p95: [] },
      plain: { p50: [], p95: [] },
    },
    concurrency: { ktctl: conc(), kubectl: conc() },
    concurrencyUpload: { ktctl: conc(), kubectl: conc() },
    idle: { ktctl: { rss: [], cpu: [] }, kubectl: { rss: [], cpu: [] } },
    startup: { ktctl: [], kubectl: [], ktctlBanner: [] },
    http: emptyHttpResults(),
    errors: [],
  };
}

export interface Env {
  cfg: Config;
  info: ClusterInfo;
  kubectl: string;
  home: string;
  denoDir: string;
  /** The bundle ktctl runs from with --bundle (else main.ts of the checkout). */
  entry?: string;
  ticksPerSecond: number;
  /** git revision of the ktctl checkout measured. */
  revision: string;
  bulkHost: string;
  webHost: string;
  plainBulkPort: number;
  plainWebPort: number;
  /** The kubeconfig ktctl uses, changed to insecure-skip-tls-verify (the "ktctl insecure" side). */
  insecureKubeconfig: string;
}

/** The gap between the two writes of each interactive request, ms. */
export const SPLIT_GAP_MS = 2;
