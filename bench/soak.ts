/**
 * Soak: one long-lived `ktctl connect` on the local control plane under mixed traffic for
 * `--minutes` (30 by default), sampling what would grow if something leaked. A script, not CI.
 *
 *   deno run --allow-all bench/soak.ts [--minutes 30] [--rate 200] [--svg docs/soak.svg]
 *     [--no-bundle]
 *
 * ktctl runs as the bundle that `deno task build` compiles (what users run); `--no-bundle` runs
 * main.ts instead (it loads and keeps all of client-node's generated code: ~45 MB more RSS).
 *
 * Traffic, all through ktctl's SOCKS5 port to pods of a namespace of the script's own (deleted at
 * the end), whose kwok PortForwards point at the fixture's loopback servers:
 * - new connections at `--rate` per second: one HTTP GET each to Service `soak-web`;
 * - bulk transfers: a 64 MiB download and a 16 MiB upload after another, through `soak-bulk`;
 * - slow readers: 4 downloads from `soak-slow` read at ~160 KiB/s (a pod of their own: kwok
 *   stalls other streams to a pod whose client does not read, see testenv/cluster/README.md);
 * - pods replaced: every `--replaceSeconds` a new web pod joins the Service (once it answers)
 *   and the oldest leaves it and is deleted.
 *
 * Every `--sampleSeconds` (10) it reads /proc of the ktctl process: RSS, open file descriptors,
 * TCP connections to the API server (its sessions and watches) and from clients, CPU time; and
 * prints a line. At the end it prints the series and a summary, and draws docs/soak.svg.
 * @module
 */
import { parseArgs } from "node:util";
import {
  backendFor,
  BULK,
  CLUSTER_NAME,
  ensureCluster,
  kubectl,
  NODES,
  pod,
  POD_PORTS,
  portForward,
  runDir,
  service,
  WEB,
} from "../testenv/cluster/mod.ts";
import { bulkGet, bulkPut, httpGet, messageOf, socks5, withConn } from "./clients.ts";
import { clockTicks, cpuTicks, freePort, memStatus, stopAll } from "./procs.ts";
import { denoCacheDir, startKtctl } from "./sides.ts";
import { bundleKtctl } from "../scripts/bundle.ts";
import { KTCTL_V8_FLAGS } from "../scripts/v8_flags.ts";
import { parseProcTcpLine } from "../src/peer/owner_linux.ts";
import { writeAll } from "../src/net/io.ts";

const { values: flags } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    rate: { type: "string", default: "200" },
    sampleSeconds: { type: "string", default: "10" },
    replaceSeconds: { type: "string", default: "60" },
    svg: { type: "string", default: "docs/soak.svg" },
    "no-bundle": { type: "boolean", default: false },
  },
});
const MINUTES = Number(flags.minutes);
const RATE = Number(flags.rate);
const SAMPLE_MS = Number(flags.sampleSeconds) * 1000;
const REPLACE_MS = Number(flags.replaceSeconds) * 1000;
const MAX_IN_FLIGHT = 256;

const info = await ensureCluster();
const apiPort = Number(new URL(info.server).port);
const ns = `soak-${Date.now().toString(36)}`;
const webBackend = backendFor(WEB.namespace, WEB.pods[0], POD_PORTS.http).loopbackPort;
const bulkBackend = backendFor(BULK.namespace, BULK.pod, BULK.port).loopbackPort;

let stopping = false;
const stop = () => stopping = true;
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `kubectl apply` of a list of objects. */
async function apply(objs: unknown[]): Promise<void> {
  await kubectl(["apply", "-f", "-"], {
    stdin: JSON.stringify({ apiVersion: "v1", kind: "List", items: objs }),
  });
}

function webPod(name: string, app: string, node: string) {
  return [
    pod(ns, name, { app }, node, [{ name: "http", containerPort: POD_PORTS.http }]),
    portForward(ns, name, [[POD_PORTS.http, webBackend]]),
  ];
}

// ---------------------------------------------------------------------------------------------
// Counters

interface Tally {
  ok: number;
  failed: number;
  bytes: number;
  failures: Map<string, number>;
}
const tally = (): Tally => ({ ok: 0, failed: 0, bytes: 0, failures: new Map() });
const counts = { short: tally(), bulk: tally(), slow: tally(), replace: tally() };

function fail(t: Tally, e: unknown): void {
  t.failed++;
  // Numbers (ports, byte counts) vary; the rest of the message says what happened.
  const key = messageOf(e).replace(/\d+/g, "N").slice(0, 120);
  t.failures.set(key, (t.failures.get(key) ?? 0) + 1);
}

// ---------------------------------------------------------------------------------------------
// /proc of the ktctl process

/** Things done to the cluster by others while the soak runs (the machine is shared). */
const events: { t: number; what: string }[] = [];

/** The shared kube-apiserver's pid, to tell a restart by someone else from a ktctl fault. */
async function apiServerPid(): Promise<string> {
  const file = `${runDir()}/kwok/clusters/${CLUSTER_NAME}/pids/kube-apiserver.pid`;
  return (await Deno.readTextFile(file).catch(() => "?")).trim();
}

interface Sample {
  t: number;
  rssMiB: number;
  fds: number;
  apiConns: number;
  clientConns: number;
  cpuS: number;
  connsPerS: number;
  failed: number;
}

function socketInodes(pid: number): { fds: number; inodes: Set<number> } {
  const inodes = new Set<number>();
  let fds = 0;
  for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
    fds++;
    try {
      const m = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`));
      if (m) inodes.add(Number(m[1]));
    } catch { /* closed meanwhile */ }
  }
  return { fds, inodes };
}

/** Established TCP connections of `inodes`: to the API server, and accepted on the proxy port. */
function tcpConnections(inodes: Set<number>, proxyPort: number) {
  let api = 0, clients = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = Deno.readTextFileSync(table);
    } catch { /* no IPv6 */ }
    for (const line of text.split("\n")) {
      const row = parseProcTcpLine(line);
      if (!row || row.state !== 1 || !inodes.has(row.inode)) continue;
      if (row.remotePort === apiPort) api++;
      else if (row.localPort === proxyPort) clients++;
    }
  }
  return { api, clients };
}

// ---------------------------------------------------------------------------------------------
// Traffic

async function shortConnections(proxyPort: number, started: number): Promise<void> {
  const dialer = socks5(proxyPort, `soak-web.${ns}.svc.cluster.local`, 80);
  let launched = 0;
  let inFlight = 0;
  while (!stopping) {
    let due = Math.floor(((performance.now() - started) / 1000) * RATE) - launched;
    if (due > RATE) { // more than a second behind: drop the backlog rather than burst
      launched += due - RATE;
      due = RATE;
    }
    for (; due > 0 && inFlight < MAX_IN_FLIGHT; due--) {
      launched++;
      inFlight++;
      httpGet(dialer, "soak-web", 10_000)
        .then(() => counts.short.ok++, (e) => fail(counts.short, e))
        .finally(() => inFlight--);
    }
    await sleep(20);
  }
  while (inFlight > 0) await sleep(50);
}

async function bulkLoop(proxyPort: number): Promise<void> {
  const dialer = socks5(proxyPort, `soak-bulk.${ns}.svc.cluster.local`, BULK.port);
  while (!stopping) {
    for (
      const op of [
        () => bulkGet(dialer, 64 << 20, 120_000),
        () => bulkPut(dialer, 16 << 20, 120_000),
      ]
    ) {
      try {
        counts.bulk.bytes += (await op()).bytes;
        counts.bulk.ok++;
      } catch (e) {
        fail(counts.bulk, e);
      }
      await sleep(1000); // bulk, not flat out: the machine is shared
    }
  }
}

/** Downloads 4 MiB, reading 16 KiB every 100 ms. */
async function slowReader(proxyPort: number): Promise<void> {
  const dialer = socks5(proxyPort, `soak-slow.${ns}.svc.cluster.local`, BULK.port);
  const n = 4 << 20;
  const buf = new Uint8Array(16 * 1024);
  while (!stopping) {
    try {
      await withConn(dialer, 120_000, async (conn) => {
        await writeAll(conn, new TextEncoder().encode(`GET ${n}\n`));
        let left = n;
        while (left > 0 && !stopping) {
          const r = await conn.read(left >= buf.length ? buf : buf.subarray(0, left));
          if (r === null) throw new Error(`slow read ended with ${left} bytes left`);
          left -= r;
          counts.slow.bytes += r;
          await sleep(100);
        }
      });
      counts.slow.ok++;
    } catch (e) {
      fail(counts.slow, e);
      await sleep(1000);
    }
  }
}

/** A new web pod joins the Service once it answers through ktctl; the oldest one leaves. */
async function replacePods(proxyPort: number, live: string[]): Promise<void> {
  let next = live.length;
  let lastStart = performance.now();
  while (!stopping) {
    await sleep(500);
    if (performance.now() - lastStart < REPLACE_MS) continue;
    lastStart = performance.now();
    const name = `w-${next++}`;
    try {
      await apply(webPod(name, "soak-warm", NODES[next % NODES.length]));
      const deadline = Date.now() + 60_000;
      let answered = false;
      while (!answered && !stopping && Date.now() < deadline) {
        const ip = (await kubectl(["-n", ns, "get", "pod", name, "-o", "jsonpath={.status.podIP}"]))
          .stdout.trim();
        if (ip) {
          answered = await httpGet(socks5(proxyPort, ip, POD_PORTS.http), "probe", 5_000)
            .then(() => true, () => false);
        }
        if (!answered) await sleep(500);
      }
      if (stopping) break;
      if (!answered) throw new Error(`new pod ${name} did not answer within 60 s`);
      const old = live.shift()!;
      live.push(name);
      await kubectl(["-n", ns, "label", "pod", name, "app=soak-web", "--overwrite"]);
      await kubectl(["-n", ns, "label", "pod", old, "app=soak-retired", "--overwrite"]);
      await sleep(5_000); // the EndpointSlice, then ktctl's watch, let go of it
      await kubectl(["-n", ns, "delete", "pod", old, "--wait=false"]);
      await kubectl(["-n", ns, "delete", "portforward.kwok.x-k8s.io", old, "--wait=false"]);
      counts.replace.ok++;
    } catch (e) {
      fail(counts.replace, e);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function svg(samples: Sample[]): string {
  const panels: [string, (s: Sample) => number][] = [
    ["RSS (MiB)", (s) => s.rssMiB],
    ["open file descriptors", (s) => s.fds],
    ["TCP connections to the API server", (s) => s.apiConns],
    ["new connections per second", (s) => s.connsPerS],
  ];
  const w = 640, h = 110, pad = 40;
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const parts = panels.map(([title, f], i) => {
    const ys = samples.map(f);
    const max = Math.max(1, ...ys) * 1.1;
    const top = i * (h + 30) + 20;
    const points = samples.map((s, j) =>
      `${(pad + (s.t / tMax) * (w - pad - 10)).toFixed(1)},${
        (top + h - (ys[j] / max) * h).toFixed(1)
      }`
    ).join(" ");
    const last = ys.length ? ys[ys.length - 1] : 0;
    const marks = events.map((e) => {
      const x = (pad + (e.t / tMax) * (w - pad - 10)).toFixed(1);
      return `<line x1="${x}" x2="${x}" y1="${top}" y2="${top + h}" stroke="#d62728" ` +
        `stroke-dasharray="3,3"><title>${e.what}</title></line>`;
    }).join("");
    return marks +
      `<text x="${pad}" y="${top - 5}" font-size="12">${title}: min ${fmt(Math.min(...ys))}, max ${
        fmt(Math.max(...ys))
      }, last ${fmt(last)}</text>` +
      `<rect x="${pad}" y="${top}" width="${
        w - pad - 10
      }" height="${h}" fill="none" stroke="#ccc"/>` +
      `<text x="${pad - 4}" y="${top + 10}" font-size="10" text-anchor="end">${fmt(max)}</text>` +
      `<text x="${pad - 4}" y="${top + h}" font-size="10" text-anchor="end">0</text>` +
      `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${points}"/>`;
  });
  const height = panels.length * (h + 30) + 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${height}" ` +
    `font-family="sans-serif">${parts.join("")}` +
    `<text x="${pad}" y="${height - 4}" font-size="10">${
      events.length ? "dashed: kube-apiserver restarted by other tests" : ""
    }</text>` +
    `<text x="${w - 10}" y="${height - 4}" font-size="10" text-anchor="end">minutes: 0 to ${
      (tMax / 60).toFixed(0)
    }</text></svg>\n`;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1)) : "-";
}

/** Least-squares slope of `f` over the samples after the first third (the warm-up), per 10 min. */
function slopePer10Min(samples: Sample[], f: (s: Sample) => number): number {
  const xs = samples.slice(Math.floor(samples.length / 3));
  if (xs.length < 2) return NaN;
  const mx = xs.reduce((a, s) => a + s.t, 0) / xs.length;
  const my = xs.reduce((a, s) => a + f(s), 0) / xs.length;
  const num = xs.reduce((a, s) => a + (s.t - mx) * (f(s) - my), 0);
  const den = xs.reduce((a, s) => a + (s.t - mx) ** 2, 0);
  return (num / den) * 600;
}

// ---------------------------------------------------------------------------------------------
// Main

const samples: Sample[] = [];
try {
  await kubectl(["create", "namespace", ns]);
  const live = ["w-0", "w-1", "w-2"];
  await apply([
    ...live.flatMap((name, i) => webPod(name, "soak-web", NODES[i % NODES.length])),
    pod(ns, "bulk", { app: "soak-bulk" }, NODES[0], [{ name: "bulk", containerPort: BULK.port }]),
    portForward(ns, "bulk", [[BULK.port, bulkBackend]]),
    pod(ns, "slow", { app: "soak-slow" }, NODES[1], [{ name: "bulk", containerPort: BULK.port }]),
    portForward(ns, "slow", [[BULK.port, bulkBackend]]),
    service(ns, "soak-web", { app: "soak-web" }, [{
      name: "http",
      port: 80,
      targetPort: POD_PORTS.http,
    }]),
    service(ns, "soak-bulk", { app: "soak-bulk" }, [{
      name: "bulk",
      port: BULK.port,
      targetPort: BULK.port,
    }]),
    service(ns, "soak-slow", { app: "soak-slow" }, [{
      name: "bulk",
      port: BULK.port,
      targetPort: BULK.port,
    }]),
  ]);
  const home = await Deno.makeTempDir({ prefix: "ktctl-soak-home-" });
  let entry: string | undefined;
  if (!flags["no-bundle"]) {
    entry = `${home}/ktctl.js`;
    await bundleKtctl(entry);
  }
  const ktctl = await startKtctl({
    entry,
    dir: Deno.cwd(),
    kubeconfig: info.kubeconfigs.admin,
    namespace: ns,
    method: "socks5",
    portForward: "multiplexed",
    port: freePort(),
    home,
    denoDir: await denoCacheDir(),
    v8Flags: KTCTL_V8_FLAGS.join(","),
  });
  const pid = ktctl.proc.pid;
  // kwok serves a new pod's port-forwards some seconds after it is Ready: wait for each Service.
  for (
    const [svc, probe] of [
      [
        "soak-web",
        () => httpGet(socks5(ktctl.port, `soak-web.${ns}.svc.cluster.local`, 80), "x", 5_000),
      ],
      [
        "soak-bulk",
        () => bulkGet(socks5(ktctl.port, `soak-bulk.${ns}.svc.cluster.local`, BULK.port), 1, 5_000),
      ],
      [
        "soak-slow",
        () => bulkGet(socks5(ktctl.port, `soak-slow.${ns}.svc.cluster.local`, BULK.port), 1, 5_000),
      ],
    ] as const
  ) {
    const deadline = Date.now() + 90_000;
    while (!(await (probe as () => Promise<unknown>)().then(() => true, () => false))) {
      if (Date.now() > deadline) throw new Error(`${svc} did not answer within 90 s`);
      await sleep(500);
    }
  }
  const ticks = await clockTicks();
  console.log(
    `soak: ${MINUTES} min, ${RATE} new connections/s, namespace ${ns}, ktctl (${
      entry ? "bundle" : "main.ts"
    }) pid ${pid} on :${ktctl.port}`,
  );
  console.log("     t | RSS MiB | fds | API conns | client conns | CPU s | conns/s | failed");
  const started = performance.now();
  const traffic = [
    shortConnections(ktctl.port, started),
    bulkLoop(ktctl.port),
    ...[0, 1, 2, 3].map(() => slowReader(ktctl.port)),
    replacePods(ktctl.port, live),
  ];
  let lastOk = 0;
  let lastApiPid = await apiServerPid();
  const cpu0 = cpuTicks(pid);
  const end = started + MINUTES * 60_000;
  for (let next = started + SAMPLE_MS; !stopping; next += SAMPLE_MS) {
    await sleep(Math.max(0, next - performance.now()));
    if (ktctl.proc.exited) throw new Error(`ktctl exited:\n${ktctl.proc.output().slice(-2000)}`);
    const { fds, inodes } = socketInodes(pid);
    const conns = tcpConnections(inodes, ktctl.port);
    const failed = Object.values(counts).reduce((a, t) => a + t.failed, 0);
    const s: Sample = {
      t: Math.round((performance.now() - started) / 1000),
      rssMiB: memStatus(pid).rss / 2 ** 20,
      fds,
      apiConns: conns.api,
      clientConns: conns.clients,
      cpuS: (cpuTicks(pid) - cpu0) / ticks,
      connsPerS: (counts.short.ok - lastOk) / (SAMPLE_MS / 1000),
      failed,
    };
    lastOk = counts.short.ok;
    samples.push(s);
    const apiPid = await apiServerPid();
    if (apiPid !== lastApiPid) {
      events.push({ t: s.t, what: `kube-apiserver restarted (pid ${lastApiPid} -> ${apiPid})` });
      console.log(`${String(s.t).padStart(5)}s | ${events.at(-1)!.what}`);
      lastApiPid = apiPid;
    }
    const nsGone = (await kubectl(["get", "namespace", ns], { check: false })).code !== 0;
    if (nsGone) {
      events.push({ t: s.t, what: `namespace ${ns} gone: the cluster was recreated` });
      console.log(`${String(s.t).padStart(5)}s | ${events.at(-1)!.what}; stopping`);
      break;
    }
    console.log(
      `${String(s.t).padStart(5)}s | ${fmt(s.rssMiB).padStart(7)} | ${String(fds).padStart(3)} | ${
        String(s.apiConns).padStart(9)
      } | ${String(s.clientConns).padStart(12)} | ${fmt(s.cpuS).padStart(5)} | ${
        fmt(s.connsPerS).padStart(7)
      } | ${failed}`,
    );
    if (performance.now() >= end) break;
  }
  stopping = true;
  await Promise.all(traffic);
  await Deno.mkdir(flags.svg.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  await Deno.writeTextFile(flags.svg, svg(samples));
  // deno fmt formats SVG too: write it as `deno task check` wants it in the repository.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", flags.svg] }).output();
  const rss = samples.map((s) => s.rssMiB), fds = samples.map((s) => s.fds);
  const summary = {
    minutes: MINUTES,
    samples: samples.length,
    connections: Object.fromEntries(
      Object.entries(counts).map((
        [k, t],
      ) => [k, { ok: t.ok, failed: t.failed, MiB: Math.round(t.bytes / 2 ** 20) }]),
    ),
    rssMiB: {
      first: fmt(rss[0]),
      max: fmt(Math.max(...rss)),
      last: fmt(rss.at(-1)!),
      slopePer10Min: fmt(slopePer10Min(samples, (s) => s.rssMiB)),
    },
    fds: {
      first: fds[0],
      min: Math.min(...fds),
      max: Math.max(...fds),
      last: fds.at(-1),
      slopePer10Min: fmt(slopePer10Min(samples, (s) => s.fds)),
    },
    apiConns: {
      min: Math.min(...samples.map((s) => s.apiConns)),
      max: Math.max(...samples.map((s) => s.apiConns)),
    },
    ktctlCpuS: fmt(samples.at(-1)!.cpuS),
    disturbances: events,
    failures: Object.fromEntries(
      Object.entries(counts).filter(([, t]) => t.failures.size).map((
        [k, t],
      ) => [k, Object.fromEntries(t.failures)]),
    ),
  };
  console.log(JSON.stringify(summary, null, 1));
  console.log(`plot: ${flags.svg}`);
  await ktctl.proc.stop();
} finally {
  stopping = true;
  await stopAll();
  await kubectl(["delete", "namespace", ns, "--wait=false"], { check: false }).catch(() => {});
}
