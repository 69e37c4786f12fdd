/**
 * ktctl's front end on the direct path against mature C proxies (issue 23's last goal): a new
 * connection plus a small HTTP GET (p50) and one bulk download, through ktctl (`--dialDirect`
 * limited to loopback) and through tinyproxy, microsocks, squid and dante, all to the same
 * loopback origin, with the same client, in interleaved rounds (each round visits every proxy,
 * in a rotated order). Each row is printed beside its anchor, the fastest of tinyproxy,
 * microsocks and squid, with the goal and whether it is met:
 *
 * - GET p50 ≤ 1.0x the fastest anchor's p50;
 * - CPU per connection ≤ 1.0x the anchor's lowest (the steady figure on a loaded machine);
 * - bulk ≥ 1.0x the fastest anchor's throughput (nothing may cost throughput).
 *
 * It also prints each proxy's CPU time per new connection (utime + stime of the proxy's whole
 * process tree over the GET loop, from /proc), which a loaded machine disturbs far less than
 * wall-clock latency does.
 *
 *   deno run -A bench/c_proxies.ts [--rounds 3] [--gets 200] [--bulkMiB 256]
 *     [--entry ktctl.js] [--compare other-ktctl.js] [-c KUBECONFIG]
 *
 * `--compare` runs a second ktctl bundle (another checkout's, say) in the same interleaved
 * rounds, shown as "ktctl --compare" and not judged: a before/after on a loaded machine. A row
 * "bare Deno relay" (bench/bare_relay.ts, with ktctl's flags) shows the floor: what a new
 * connection costs any Deno relay here.
 *
 * ktctl runs as the executables run it: the bundle (`deno bundle` of this checkout, or --entry)
 * under `deno run --no-config` with ktctl's V8 flags. It needs a cluster for its banner (the
 * direct path itself never touches it): the kubeconfig from -c, $KUBECONFIG, or the local test
 * cluster's (`deno task cluster up`). The C proxies are Debian packages, installed with apt-get
 * when absent (root), and each is started here on a free loopback port with its own config in a
 * temporary folder: never the system services. Linux only.
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { bulkGet, type Dialer, direct, httpGet, socks5 } from "./clients.ts";
import { writeAll } from "../src/net/io.ts";
import { clockTicks, freePort, type Proc, spawn, stopAll } from "./procs.ts";
import { type Cell, fmt, fmtRatio, table } from "./table.ts";
import { median, percentile, rotate } from "./stats.ts";
import { KTCTL_V8_ARG } from "../scripts/v8_flags.ts";
import { bundleKtctl } from "../scripts/bundle.ts";

/** The Debian package and binary of each C proxy. */
const PACKAGES = [
  { pkg: "tinyproxy", bin: "tinyproxy" },
  { pkg: "microsocks", bin: "microsocks" },
  { pkg: "squid", bin: "squid" },
  { pkg: "dante-server", bin: "danted" },
] as const;

/** The proxies whose fastest figure is the goal's anchor (dante is shown, not an anchor). */
const ANCHORS = ["tinyproxy", "microsocks", "squid"];

interface Side {
  name: string;
  /** How the client goes through it to the origin. */
  via: "CONNECT" | "SOCKS5" | "none";
  proc?: Proc;
  dialer(originPort: number): Dialer;
}

// ---------------------------------------------------------------------------------------------
// The origin: its own process, so that its work does not share the client's event loop.

/**
 * One line decides: `GET <n>\n` -> n bytes, then close (bulk); an HTTP request (`GET /...`) ->
 * a small 200 with `Connection: close`. Runs until killed; prints `port <n>` when listening.
 */
async function serveOrigin(): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(`port ${listener.addr.port}`);
  const body = "hello from the loopback origin\n".repeat(4); // ~124 bytes: a small GET
  const small = new TextEncoder().encode(
    `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
  const chunk = new Uint8Array(256 * 1024).fill(0x61);
  for await (const conn of listener) {
    (async () => {
      try {
        conn.setNoDelay(true);
        const buf = new Uint8Array(4096);
        let head = "";
        while (!head.includes("\n")) {
          const n = await conn.read(buf);
          if (n === null) return;
          head += new TextDecoder().decode(buf.subarray(0, n));
          if (head.length > 4096) return;
        }
        const bulk = /^GET (\d+)\n/.exec(head);
        if (bulk) {
          let left = Number(bulk[1]);
          while (left > 0) {
            left -= await conn.write(left >= chunk.length ? chunk : chunk.subarray(0, left));
          }
          return;
        }
        while (!head.includes("\r\n\r\n")) {
          const n = await conn.read(buf);
          if (n === null) return;
          head += new TextDecoder().decode(buf.subarray(0, n));
          if (head.length > 16384) return;
        }
        let off = 0;
        while (off < small.length) off += await conn.write(small.subarray(off));
      } catch {
        /* the client went away */
      } finally {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    })();
  }
}

// ---------------------------------------------------------------------------------------------
// The proxies.

/**
 * `CONNECT host:port` on 127.0.0.1:proxyPort; any `HTTP/1.x 200` will do (tinyproxy answers
 * HTTP/1.0, which clients.ts's httpConnect refuses). The answer must come alone: the origin
 * speaks only when spoken to.
 */
function httpConnect(proxyPort: number, host: string, port: number): Dialer {
  const request = new TextEncoder().encode(
    `CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`,
  );
  return {
    port: proxyPort,
    async handshake(conn) {
      await writeAll(conn, request);
      const buf = new Uint8Array(4096);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null || head.length > 4096) throw new Error(`CONNECT: ${JSON.stringify(head)}`);
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      if (!/^HTTP\/1\.[01] 200/.test(head) || !head.endsWith("\r\n\r\n")) {
        throw new Error(`CONNECT ${host}:${port}: ${JSON.stringify(head.slice(0, 200))}`);
      }
    },
  };
}

function which(bin: string): string | undefined {
  for (const dir of ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"]) {
    try {
      if (Deno.statSync(join(dir, bin)).isFile) return join(dir, bin);
    } catch { /* not there */ }
  }
  return undefined;
}

/** Installs the missing packages with apt-get (without starting their services). */
async function ensurePackages(): Promise<void> {
  const missing = PACKAGES.filter((p) => !which(p.bin)).map((p) => p.pkg);
  if (missing.length === 0) return;
  console.log(`installing ${missing.join(", ")} with apt-get`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  // policy-rc.d is how Debian keeps a package's service from being started on install.
  const policy = "/usr/sbin/policy-rc.d";
  let wrotePolicy = false;
  try {
    Deno.statSync(policy);
  } catch {
    Deno.writeTextFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
    wrotePolicy = true;
  }
  try {
    for (const args of [["update", "-qq"], ["install", "-y", "-qq", ...missing]]) {
      const r = await new Deno.Command("apt-get", {
        args,
        env,
        stdout: "inherit",
        stderr: "inherit",
      })
        .output();
      if (!r.success) throw new Error(`apt-get ${args.join(" ")} failed (exit ${r.code})`);
    }
  } finally {
    if (wrotePolicy) Deno.removeSync(policy);
  }
}

/** Waits until something accepts on 127.0.0.1:port, or throws when `proc` exits or time runs out. */
async function waitListening(proc: Proc, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch { /* not yet */ }
    if (proc.exited) throw new Error(`${proc.name} exited:\n${proc.output().slice(-2000)}`);
    if (Date.now() > deadline) {
      throw new Error(`${proc.name} not listening on ${port} after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startTinyproxy(dir: string): Promise<Side> {
  const port = freePort();
  const conf = join(dir, "tinyproxy.conf");
  // No ConnectPort line: CONNECT to every port. Runs in the foreground (-d) as nobody.
  Deno.writeTextFileSync(
    conf,
    [
      "User nobody",
      "Group nogroup",
      `Port ${port}`,
      "Listen 127.0.0.1",
      "Timeout 60",
      "MaxClients 512",
      "Allow 127.0.0.1",
      "LogLevel Critical",
      "DisableViaHeader Yes",
      "",
    ].join("\n"),
  );
  const proc = spawn("tinyproxy", which("tinyproxy")!, ["-d", "-c", conf]);
  await waitListening(proc, port, 10_000);
  return {
    name: "tinyproxy",
    via: "CONNECT",
    proc,
    dialer: (o) => httpConnect(port, "127.0.0.1", o),
  };
}

async function startMicrosocks(): Promise<Side> {
  const port = freePort();
  const proc = spawn("microsocks", which("microsocks")!, ["-i", "127.0.0.1", "-p", String(port)]);
  await waitListening(proc, port, 10_000);
  return { name: "microsocks", via: "SOCKS5", proc, dialer: (o) => socks5(port, "127.0.0.1", o) };
}

async function startSquid(dir: string): Promise<Side> {
  const port = freePort();
  const conf = join(dir, "squid.conf");
  Deno.mkdirSync(join(dir, "squid"), { recursive: true });
  Deno.chmodSync(join(dir, "squid"), 0o777);
  // A plain forwarding proxy: no cache, no logs, CONNECT to any port from loopback only.
  Deno.writeTextFileSync(
    conf,
    [
      `http_port 127.0.0.1:${port}`,
      "acl loopback src 127.0.0.0/8",
      "http_access allow loopback",
      "http_access deny all",
      "cache deny all",
      "access_log none",
      `cache_log ${join(dir, "squid", "cache.log")}`,
      `pid_filename ${join(dir, "squid", "squid.pid")}`,
      `coredump_dir ${join(dir, "squid")}`,
      "shutdown_lifetime 0 seconds",
      "via off",
      "forwarded_for delete",
      "",
    ].join("\n"),
  );
  // -n: its own service name (shared memory segments, pid), so a system squid is untouched.
  const proc = spawn("squid", which("squid")!, ["-N", "-n", `ktctlbench${port}`, "-f", conf], {
    stopSignal: "SIGINT",
  });
  await waitListening(proc, port, 30_000);
  return { name: "squid", via: "CONNECT", proc, dialer: (o) => httpConnect(port, "127.0.0.1", o) };
}

async function startDante(dir: string): Promise<Side> {
  const port = freePort();
  const conf = join(dir, "danted.conf");
  Deno.writeTextFileSync(
    conf,
    [
      "logoutput: stderr",
      `internal: 127.0.0.1 port = ${port}`,
      "external: 127.0.0.1",
      "clientmethod: none",
      "socksmethod: none",
      "user.privileged: root",
      "user.unprivileged: nobody",
      "client pass {",
      "  from: 127.0.0.0/8 to: 0.0.0.0/0",
      "  log: error",
      "}",
      "socks pass {",
      "  from: 127.0.0.0/8 to: 127.0.0.0/8",
      "  command: connect",
      "  log: error",
      "}",
      "socks block {",
      "  from: 0.0.0.0/0 to: 0.0.0.0/0",
      "  log: error",
      "}",
      "",
    ].join("\n"),
  );
  const proc = spawn("dante", which("danted")!, ["-f", conf, "-p", join(dir, "danted.pid")]);
  await waitListening(proc, port, 15_000);
  return { name: "dante", via: "SOCKS5", proc, dialer: (o) => socks5(port, "127.0.0.1", o) };
}

/**
 * bench/bare_relay.ts, run with the same flags as ktctl: the floor of any Deno relay's cost per
 * connection (shown beside ktctl, not judged).
 */
async function startBareRelay(): Promise<Side> {
  const proc = spawn("bare Deno relay", Deno.execPath(), [
    "run",
    "--allow-net=127.0.0.1",
    "--no-config",
    KTCTL_V8_ARG,
    new URL("./bare_relay.ts", import.meta.url).pathname,
  ]);
  const port = Number((await proc.waitFor(/port (\d+)/, 30_000))[1]);
  return {
    name: "bare Deno relay",
    via: "SOCKS5",
    proc,
    dialer: (o) => socks5(port, "127.0.0.1", o),
  };
}

async function defaultKubeconfig(): Promise<string> {
  const fromEnv = Deno.env.get("KUBECONFIG");
  if (fromEnv) return fromEnv;
  const { ensureCluster, runDir } = await import("../testenv/cluster/mod.ts");
  await ensureCluster();
  return join(runDir(), "admin.kubeconfig");
}

/**
 * ktctl as it runs by default: SOCKS5 and CONNECT rows. With `--allowOtherUsers` (no check of
 * who owns each connection, which the C proxies do not do either), one more SOCKS5 row that shows
 * that check's share; not judged against the goal.
 */
async function startKtctl(
  entry: string,
  kubeconfig: string,
  home: string,
  allowOtherUsers = false,
  name = "ktctl",
): Promise<Side[]> {
  Deno.mkdirSync(home, { recursive: true });
  const port = freePort();
  const proc = spawn("ktctl", Deno.execPath(), [
    "run",
    "--allow-all",
    "--no-config",
    KTCTL_V8_ARG,
    entry,
    "connect",
    "-c",
    kubeconfig,
    "--proxyPort",
    String(port),
    // Only loopback may be dialled directly: the test cluster's pod IPs are fake.
    "--dialDirect",
    "127.0.0.0/8,::1/128",
    ...(allowOtherUsers ? ["--allowOtherUsers"] : []),
  ], { env: { HOME: home, USERPROFILE: home, NO_COLOR: "1" }, stopSignal: "SIGINT" });
  await proc.waitFor(/http_proxy=/, 60_000);
  if (allowOtherUsers) {
    return [{
      name: "ktctl --allowOtherUsers",
      via: "SOCKS5",
      proc,
      dialer: (o) => socks5(port, "127.0.0.1", o),
    }];
  }
  return [
    { name, via: "SOCKS5", proc, dialer: (o) => socks5(port, "127.0.0.1", o) },
    { name, via: "CONNECT", proc, dialer: (o) => httpConnect(port, "127.0.0.1", o) },
  ];
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/** CPU time of `pid` and every process below it (and their waited-for children), in clock ticks. */
function treeTicks(pid: number): number {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(e.name), Number(f[1]));
      // utime + stime, and cutime + cstime: children that exited and were waited for.
      ticks.set(
        Number(e.name),
        Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
      );
    } catch { /* gone meanwhile */ }
  }
  let sum = 0;
  for (const [p, t] of ticks) {
    for (let q: number | undefined = p; q !== undefined && q > 1; q = parent.get(q)) {
      if (q === pid) {
        sum += t;
        break;
      }
    }
  }
  return sum;
}

interface Samples {
  gets: number[];
  cpuTicks: number;
  conns: number;
  bulk: { bytes: number; ms: number }[];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "3" },
      gets: { type: "string", default: "200" },
      bulkMiB: { type: "string", default: "256" },
      entry: { type: "string" },
      compare: { type: "string" },
      kubeconfig: { type: "string", short: "c" },
      origin: { type: "boolean" },
    },
  });
  if (values.origin) return await serveOrigin();
  if (Deno.build.os !== "linux") throw new Error("bench/c_proxies.ts runs on Linux only");
  const rounds = Number(values.rounds);
  const gets = Number(values.gets);
  const bulkBytes = Number(values.bulkMiB) * 1024 * 1024;
  const hz = await clockTicks();
  const dir = Deno.makeTempDirSync({ prefix: "ktctl-c-proxies-" });
  Deno.chmodSync(dir, 0o755);
  const stop = () => stopAll().finally(() => Deno.removeSync(dir, { recursive: true }));
  Deno.addSignalListener("SIGINT", () => stop().finally(() => Deno.exit(130)));
  try {
    await ensurePackages();
    const entry = values.entry ?? join(dir, "ktctl.js");
    if (!values.entry) await bundleKtctl(entry);
    const kubeconfig = values.kubeconfig ?? await defaultKubeconfig();
    const origin = spawn("origin", Deno.execPath(), [
      "run",
      "--allow-net=127.0.0.1",
      "--no-config",
      new URL(import.meta.url).pathname,
      "--origin",
    ]);
    const originPort = Number((await origin.waitFor(/port (\d+)/, 30_000))[1]);
    const home = join(dir, "home");
    Deno.mkdirSync(home);
    const sides: Side[] = [
      { name: "no proxy", via: "none", dialer: (o) => direct(o) },
      ...await startKtctl(entry, kubeconfig, join(home, "a")),
      ...await startKtctl(entry, kubeconfig, join(home, "b"), true),
      await startBareRelay(),
      ...values.compare
        ? await startKtctl(values.compare, kubeconfig, join(home, "c"), false, "ktctl --compare")
        : [],
      await startTinyproxy(dir),
      await startMicrosocks(),
      await startSquid(dir),
      await startDante(dir),
    ];
    const samples = new Map<Side, Samples>(
      sides.map((s) => [s, { gets: [], cpuTicks: 0, conns: 0, bulk: [] }]),
    );
    // Warm-up: every path once (first connections load code, fill caches).
    for (const s of sides) {
      for (let i = 0; i < 20; i++) await httpGet(s.dialer(originPort), "origin", 10_000);
      await bulkGet(s.dialer(originPort), 16 * 1024 * 1024, 60_000);
    }
    for (let r = 0; r < rounds; r++) {
      for (const s of rotate(sides, r)) {
        const got = samples.get(s)!;
        const before = s.proc ? treeTicks(s.proc.pid) : 0;
        for (let i = 0; i < gets; i++) {
          got.gets.push(await httpGet(s.dialer(originPort), "origin", 10_000));
        }
        if (s.proc) got.cpuTicks += treeTicks(s.proc.pid) - before;
        got.conns += gets;
        got.bulk.push(await bulkGet(s.dialer(originPort), bulkBytes, 120_000));
      }
      console.log(`round ${r + 1}/${rounds} done`);
    }
    const figures = sides.map((s): RowFigures => {
      const g = samples.get(s)!;
      return {
        name: s.name,
        via: s.via,
        gets: g.gets,
        cpuMsPerConn: s.proc ? (g.cpuTicks / hz) * 1000 / g.conns : NaN,
        gbps: g.bulk.map((b) => b.bytes / 1e9 / (b.ms / 1000)),
      };
    });
    console.log(report(figures, { rounds, gets, bulkBytes }));
  } finally {
    await stop();
  }
}

/** One row's figures, as report() takes them. */
export interface RowFigures {
  name: string;
  via: string;
  /** GET latencies (ms). */
  gets: number[];
  /** CPU ms of the proxy per connection; NaN for the no-proxy row. */
  cpuMsPerConn: number;
  /** Bulk throughput of each round (GB/s). */
  gbps: number[];
}

/** The rows judged against the goals: ktctl as it runs by default (SOCKS5 and CONNECT). */
const JUDGED = "ktctl";
/** The floor row: the smallest Deno relay (bench/bare_relay.ts). */
const FLOOR = "bare Deno relay";

/**
 * The table (pure). Anchors: the fastest of tinyproxy, microsocks and squid for each column
 * (lowest GET p50, lowest CPU per connection, highest bulk GB/s); goals (ktctl's rows only):
 * GET p50 <= 1.0x, CPU per connection <= 1.0x, bulk >= 1.0x the anchor's. "CPU vs floor" is each
 * row's CPU per connection against the bare Deno relay's: what is Deno's and what is the proxy's.
 */
export function report(
  figures: RowFigures[],
  o: { rounds: number; gets: number; bulkBytes: number },
): string {
  const p50 = (f: RowFigures) => median(f.gets);
  const gbps = (f: RowFigures) => median(f.gbps);
  const anchors = figures.filter((f) => ANCHORS.includes(f.name));
  const best = (key: (f: RowFigures) => number, lower: boolean) =>
    anchors.reduce((a, b) => ((lower ? key(b) < key(a) : key(b) > key(a)) ? b : a));
  const getAnchor = best(p50, true);
  const cpuAnchor = best((f) => f.cpuMsPerConn, true);
  const bulkAnchor = best(gbps, false);
  const floor = figures.find((f) => f.name === FLOOR);
  const verdict = (judged: boolean, ratio: number, ok: boolean) =>
    !judged ? "-" : Number.isFinite(ratio) ? (ok ? "met" : "not met") : "n/a";
  const rows: Cell[][] = figures.map((f) => {
    const getRatio = p50(f) / p50(getAnchor);
    const cpuRatio = f.cpuMsPerConn / cpuAnchor.cpuMsPerConn;
    const bulkRatio = gbps(f) / gbps(bulkAnchor);
    const judged = f.name === JUDGED;
    return [
      f.name,
      f.via,
      fmt(p50(f), 3),
      fmt(percentile(f.gets, 90), 3),
      `${fmtRatio(getRatio)} of ${getAnchor.name}`,
      verdict(judged, getRatio, getRatio <= 1.0),
      Number.isFinite(f.cpuMsPerConn) ? fmt(f.cpuMsPerConn, 3) : "-",
      Number.isFinite(f.cpuMsPerConn) ? `${fmtRatio(cpuRatio)} of ${cpuAnchor.name}` : "-",
      verdict(judged, cpuRatio, cpuRatio <= 1.0),
      floor && Number.isFinite(f.cpuMsPerConn)
        ? `${fmtRatio(f.cpuMsPerConn / floor.cpuMsPerConn)} (+${
          fmt(f.cpuMsPerConn - floor.cpuMsPerConn, 3)
        })`
        : "-",
      fmt(gbps(f), 2),
      `${fmtRatio(bulkRatio)} of ${bulkAnchor.name}`,
      verdict(judged, bulkRatio, bulkRatio >= 1.0),
    ];
  });
  return [
    "",
    `New connection + small GET (${o.rounds} rounds x ${o.gets}, p50/p90 ms, proxy CPU ms per ` +
    `connection) and one ${o.bulkBytes / 1024 / 1024} MiB download per round (median GB/s), ` +
    "same client, same loopback origin. Goals (ktctl's rows): GET p50 <= 1.0x, CPU per " +
    "connection <= 1.0x and bulk >= 1.0x the fastest of tinyproxy, microsocks and squid. " +
    `"CPU vs floor": against ${FLOOR} (bench/bare_relay.ts, ktctl's flags), what any Deno ` +
    "relay pays per connection.",
    "",
    table([
      "proxy",
      "via",
      "GET p50",
      "GET p90",
      "GET vs anchor",
      "GET goal <= 1.0x",
      "CPU/conn",
      "CPU vs anchor",
      "CPU goal <= 1.0x",
      "CPU vs floor",
      "bulk GB/s",
      "bulk vs anchor",
      "bulk goal >= 1.0x",
    ], rows),
  ].join("\n");
}

if (import.meta.main) await main();
