/**
 * The upstream proxy's rows (issue 18's bench): what ktctl adds when a destination outside the
 * cluster goes through the company's proxy, and what a PAC file costs per connection.
 *
 * - A new connection + one small HTTP GET to a loopback origin "outside the cluster", in
 *   interleaved rounds (each round visits every side, in a rotated order), through:
 *   squid directly (CONNECT: the anchor); ktctl started with `--upstreamProxy http://squid`
 *   (SOCKS5 and CONNECT to ktctl, which CONNECTs through squid); and ktctl started with
 *   `--upstreamProxy pac+http://.../proxy.pac`, a PAC file served here that answers
 *   `PROXY squid` for everything. Each row: p50/p90 ms, the CPU ms per connection of the proxy
 *   processes (ktctl + squid, or squid alone for the anchor; utime + stime from /proc, the figure
 *   a loaded machine disturbs least), the ratio to the anchor's p50 and the milliseconds added.
 *   No fixed goal: the issue asks for the figures.
 * - The PAC sandbox itself (src/net/pac_sandbox.ts), in this process: the first evaluation
 *   (Worker start + script compile + one answer), uncached evaluations (one Worker round trip
 *   each, a new host every time), and UpstreamChooser's cached lookups (the same host again,
 *   which is what ktctl does for every connection after the first within a minute).
 *
 *   deno run -A bench/upstream_rows.ts [--rounds 3] [--gets 100] [--evals 200]
 *     [--entry main.ts] [-c KUBECONFIG]
 *
 * ktctl runs as `deno run --allow-all KTCTL_V8_ARG main.ts connect` (or --entry, e.g. a bundle)
 * with `--dialDirect` limited to loopback; it needs a cluster for its banner only (-c,
 * $KUBECONFIG, or the local test cluster). squid is the Debian package, started by
 * testenv/squid.ts on a free loopback port (never the system service). It prints figures and
 * never asserts them: on a shared machine they are noise. Linux only.
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { type Dialer, httpConnect, httpGet, socks5 } from "./clients.ts";
import { clockTicks, freePort, type Proc, spawn, stopAll } from "./procs.ts";
import { type Cell, fmt, fmtRatio, table } from "./table.ts";
import { median, percentile, rotate } from "./stats.ts";
import { KTCTL_V8_ARG } from "../scripts/v8_flags.ts";
import { hasSquid, type Squid, startSquid } from "../testenv/squid.ts";
import { pacSandboxFromText } from "../src/net/pac_sandbox.ts";
import { UpstreamChooser } from "../src/route/upstream_choice.ts";

interface Side {
  name: string;
  via: "CONNECT" | "SOCKS5";
  /** The processes whose CPU is counted (ktctl and squid, or squid alone). */
  pids: () => number[];
  dialer(originPort: number): Dialer;
  anchor?: boolean;
}

// ---------------------------------------------------------------------------------------------
// The origin: its own process, so that its work does not share the client's event loop.

/** Answers every HTTP request with a small 200 and `Connection: close`; prints `port <n>`. */
async function serveOrigin(): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  console.log(`port ${listener.addr.port}`);
  const body = "hello from the loopback origin\n".repeat(4);
  const small = new TextEncoder().encode(
    `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
  for await (const conn of listener) {
    (async () => {
      try {
        const buf = new Uint8Array(4096);
        let head = "";
        while (!head.includes("\r\n\r\n")) {
          const n = await conn.read(buf);
          if (n === null || head.length > 16384) return;
          head += new TextDecoder().decode(buf.subarray(0, n));
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
// The sides.

async function defaultKubeconfig(): Promise<string> {
  const fromEnv = Deno.env.get("KUBECONFIG");
  if (fromEnv) return fromEnv;
  const { ensureCluster, runDir } = await import("../testenv/cluster/mod.ts");
  await ensureCluster();
  return join(runDir(), "admin.kubeconfig");
}

function startKtctl(
  name: string,
  entry: string,
  kubeconfig: string,
  home: string,
  upstream: string,
): { proc: Proc; port: number; ready: Promise<unknown> } {
  Deno.mkdirSync(home, { recursive: true });
  const port = freePort();
  const proc = spawn(name, Deno.execPath(), [
    "run",
    "--allow-all",
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
    "--upstreamProxy",
    upstream,
  ], {
    // No proxy variables of this shell: the upstream is the flag's, nothing else.
    env: {
      HOME: home,
      USERPROFILE: home,
      NO_COLOR: "1",
      http_proxy: "",
      https_proxy: "",
      all_proxy: "",
      HTTP_PROXY: "",
      HTTPS_PROXY: "",
      ALL_PROXY: "",
      no_proxy: "",
      NO_PROXY: "",
    },
    stopSignal: "SIGINT",
  });
  const ready = (async () => {
    await proc.waitFor(/http_proxy=/, 90_000);
    const line = (await proc.waitFor(/Outside the cluster: [^\n]*/, 10_000))[0];
    if (!line.includes("through the upstream proxy")) {
      throw new Error(`${name}: no upstream in its banner: ${line}`);
    }
  })();
  return { proc, port, ready };
}

/** squid's pid (testenv/squid.ts writes it to its folder; squid -N does not fork). */
function squidPid(squid: Squid): number {
  return Number(Deno.readTextFileSync(join(squid.dir, "squid.pid")).trim());
}

/** A PAC server on loopback: every URL answers `PROXY squid`. */
function servePac(squidPort: number): { url: string; close(): Promise<void> } {
  const script = `function FindProxyForURL(url, host) {\n` +
    `  if (isPlainHostName(host) || dnsDomainIs(host, ".corp.example")) return "DIRECT";\n` +
    `  return "PROXY 127.0.0.1:${squidPort}";\n}\n`;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      new Response(script, { headers: { "content-type": "application/x-ns-proxy-autoconfig" } }),
  );
  return {
    url: `pac+http://127.0.0.1:${server.addr.port}/proxy.pac`,
    close: () => server.shutdown(),
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/** CPU time of the given processes, in clock ticks (NaN when one is gone). */
function ticksOf(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    sum += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return sum;
}

interface Samples {
  gets: number[];
  cpuTicks: number;
  conns: number;
}

const PAC_SCRIPT = `function FindProxyForURL(url, host) {
  if (isPlainHostName(host) || dnsDomainIs(host, ".corp.example") ||
      shExpMatch(host, "*.intranet.*") || isInNet(host, "10.0.0.0", "255.0.0.0")) return "DIRECT";
  return "PROXY 127.0.0.1:3128; DIRECT";
}`;

/** The PAC sandbox's own cost, in this process (ms). */
async function pacCosts(evals: number): Promise<Cell[][]> {
  // Hosts are IP literals, so isInNet needs no DNS: the figure is the evaluation, not a lookup.
  const host = (i: number) => `192.0.${(i >> 8) & 255}.${i & 255}`;
  const rows: Cell[][] = [];
  const sandbox = pacSandboxFromText(PAC_SCRIPT);
  let t0 = performance.now();
  await sandbox.find(`https://${host(0)}/`, host(0));
  rows.push([
    "sandbox: first evaluation (Worker + compile + answer)",
    1,
    fmt(performance.now() - t0, 3),
    "-",
  ]);
  const uncached: number[] = [];
  for (let i = 1; i <= evals; i++) {
    t0 = performance.now();
    await sandbox.find(`https://${host(i)}/`, host(i));
    uncached.push(performance.now() - t0);
  }
  rows.push([
    "sandbox: evaluation, a new host each time",
    evals,
    fmt(median(uncached), 3),
    fmt(percentile(uncached, 90), 3),
  ]);
  sandbox.close?.();

  const chooser = new UpstreamChooser(
    { kind: "pac", url: "http://127.0.0.1:1/proxy.pac" },
    () => pacSandboxFromText(PAC_SCRIPT),
  );
  t0 = performance.now();
  await chooser.choose(host(0), 443);
  rows.push([
    "UpstreamChooser: first choice (as above, + parse)",
    1,
    fmt(performance.now() - t0, 3),
    "-",
  ]);
  const fresh: number[] = [];
  for (let i = 1; i <= evals; i++) {
    t0 = performance.now();
    await chooser.choose(host(i), 443);
    fresh.push(performance.now() - t0);
  }
  rows.push([
    "UpstreamChooser: a new host each time (evaluated)",
    evals,
    fmt(median(fresh), 3),
    fmt(percentile(fresh, 90), 3),
  ]);
  const cached: number[] = [];
  for (let i = 0; i < evals * 10; i++) {
    t0 = performance.now();
    await chooser.choose(host(1 + (i % evals)), 443);
    cached.push(performance.now() - t0);
  }
  rows.push([
    "UpstreamChooser: a host seen within a minute (cached)",
    evals * 10,
    fmt(median(cached), 4),
    fmt(percentile(cached, 90), 4),
  ]);
  chooser.close();
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "3" },
      gets: { type: "string", default: "100" },
      evals: { type: "string", default: "200" },
      entry: { type: "string", default: "main.ts" },
      kubeconfig: { type: "string", short: "c" },
      origin: { type: "boolean" },
    },
  });
  if (values.origin) return await serveOrigin();
  if (Deno.build.os !== "linux") throw new Error("bench/upstream_rows.ts runs on Linux only");
  if (!hasSquid()) throw new Error("squid is not installed (apt-get install squid)");
  const rounds = Number(values.rounds);
  const gets = Number(values.gets);
  const evals = Number(values.evals);
  const hz = await clockTicks();
  const load = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  console.log(
    `bench/upstream_rows.ts: load average ${load} on ${navigator.hardwareConcurrency} CPUs; ` +
      "figures from a loaded machine are noise beside CPU per connection",
  );
  const dir = Deno.makeTempDirSync({ prefix: "ktctl-upstream-rows-" });
  let squid: Squid | undefined;
  let pac: { url: string; close(): Promise<void> } | undefined;
  const stop = async () => {
    await stopAll();
    await squid?.stop();
    await pac?.close();
    Deno.removeSync(dir, { recursive: true });
    if (squid) await Deno.remove(squid.dir, { recursive: true }).catch(() => {});
  };
  Deno.addSignalListener("SIGINT", () => stop().finally(() => Deno.exit(130)));
  try {
    // First, in-process and before anything else runs here: the PAC sandbox's own cost.
    const pacRows = await pacCosts(evals);
    const kubeconfig = values.kubeconfig ?? await defaultKubeconfig();
    squid = await startSquid();
    const sq = squid;
    pac = servePac(sq.port);
    const origin = spawn("origin", Deno.execPath(), [
      "run",
      "--allow-net=127.0.0.1",
      new URL(import.meta.url).pathname,
      "--origin",
    ]);
    const originPort = Number((await origin.waitFor(/port (\d+)/, 30_000))[1]);
    const fixed = startKtctl("ktctl upstream", values.entry, kubeconfig, join(dir, "a"), sq.url);
    const viaPac = startKtctl("ktctl PAC", values.entry, kubeconfig, join(dir, "b"), pac.url);
    await Promise.all([fixed.ready, viaPac.ready]);
    const spid = squidPid(sq);
    const sides: Side[] = [
      {
        name: "squid directly",
        via: "CONNECT",
        anchor: true,
        pids: () => [spid],
        dialer: (o) => httpConnect(sq.port, "127.0.0.1", o),
      },
      ...[["ktctl --upstreamProxy http://squid", fixed], [
        "ktctl --upstreamProxy pac+http://",
        viaPac,
      ]]
        .flatMap(([name, k]) => {
          const kt = k as typeof fixed;
          return [
            {
              name: name as string,
              via: "SOCKS5" as const,
              pids: () => [kt.proc.pid, spid],
              dialer: (o: number) => socks5(kt.port, "127.0.0.1", o),
            },
            {
              name: name as string,
              via: "CONNECT" as const,
              pids: () => [kt.proc.pid, spid],
              dialer: (o: number) => httpConnect(kt.port, "127.0.0.1", o),
            },
          ];
        }),
    ];
    const samples = new Map<Side, Samples>(
      sides.map((s) => [s, { gets: [], cpuTicks: 0, conns: 0 }]),
    );
    for (const s of sides) {
      for (let i = 0; i < 20; i++) await httpGet(s.dialer(originPort), "origin", 10_000, "/warm");
    }
    for (let r = 0; r < rounds; r++) {
      for (const s of rotate(sides, r)) {
        const got = samples.get(s)!;
        const before = ticksOf(s.pids());
        for (let i = 0; i < gets; i++) {
          got.gets.push(await httpGet(s.dialer(originPort), "origin", 10_000));
        }
        got.cpuTicks += ticksOf(s.pids()) - before;
        got.conns += gets;
      }
      console.log(`round ${r + 1}/${rounds} done`);
    }
    const seen = (await sq.accessLog()).split("\n").filter((l) =>
      l.includes(`127.0.0.1:${originPort}`)
    )
      .length;
    const total = [...samples.values()].reduce((a, s) => a + s.conns, 0) + 20 * sides.length;
    console.log(report(sides, samples, hz, { rounds, gets, seen, total }));
    console.log(
      [
        "",
        `The PAC sandbox in this process (${evals} evaluations; ms; the script uses isPlainHostName, ` +
        "dnsDomainIs, shExpMatch and isInNet on IP literals, so no DNS):",
        "",
        table(["what", "n", "p50 ms", "p90 ms"], pacRows),
      ].join("\n"),
    );
  } finally {
    await stop();
  }
}

function report(
  sides: Side[],
  samples: Map<Side, Samples>,
  hz: number,
  o: { rounds: number; gets: number; seen: number; total: number },
): string {
  const anchor = sides.find((s) => s.anchor)!;
  const p50 = (s: Side) => median(samples.get(s)!.gets);
  const cpu = (s: Side) => (samples.get(s)!.cpuTicks / hz) * 1000 / samples.get(s)!.conns;
  const rows: Cell[][] = sides.map((s) => {
    const g = samples.get(s)!;
    return [
      s.name,
      s.via,
      fmt(p50(s), 3),
      fmt(percentile(g.gets, 90), 3),
      fmt(cpu(s), 3),
      s.anchor ? "anchor" : fmtRatio(p50(s) / p50(anchor)),
      s.anchor ? "-" : `${(p50(s) - p50(anchor)) >= 0 ? "+" : ""}${fmt(p50(s) - p50(anchor), 3)}`,
      s.anchor ? "-" : `${(cpu(s) - cpu(anchor)) >= 0 ? "+" : ""}${fmt(cpu(s) - cpu(anchor), 3)}`,
    ];
  });
  return [
    "",
    `New connection + small GET to a loopback origin outside the cluster (${o.rounds} rounds x ` +
    `${o.gets}, interleaved; p50/p90 ms; CPU ms per connection of ktctl + squid, or squid alone). ` +
    `squid's access log has ${o.seen} of the ${o.total} requests (every one went through it). No ` +
    "fixed goal: ktctl's added p50 over squid directly is the figure. The PAC rows evaluate the " +
    "PAC once per host and port, then answer from ktctl's cache (a minute), as every real " +
    "connection after the first does; the evaluation's own cost is the second table.",
    "",
    table([
      "side",
      "client via",
      "GET p50",
      "GET p90",
      "CPU/conn",
      "p50 vs squid",
      "added p50 ms",
      "added CPU ms",
    ], rows),
  ].join("\n");
}

if (import.meta.main) await main();
