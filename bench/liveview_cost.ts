/**
 * What the live page costs (issue 21's "Cost" row): one `ktctl connect` to the local control
 * plane, measured with its page at `http://127.0.0.1:PORT/` open and refreshing, against without,
 * in interleaved phases (each round runs both, in a rotated order, on the same ktctl):
 *
 * - a new connection + one small HTTP GET through ktctl (SOCKS5, socks5h) to the Service
 *   demo/web: p50/p90 ms, and ktctl's CPU ms per connection (utime + stime from /proc, the
 *   figure a loaded machine disturbs least);
 * - one bulk download (`GET <n>`) from demo/bulk through ktctl: MB/s.
 *
 * - ktctl's CPU over `--idleSeconds` of no traffic, page open against closed: what refreshing
 *   the page costs ktctl per second, independent of the connection rate.
 *
 * Goal: within noise, ≤ 3 % (p50 and CPU per connection ≤ 1.03x, bulk ≥ 0.97x without the
 * page); each is printed with met / not met.
 *
 * "The page open" is, by default, a loop in its own process that does what the page's script
 * does: GET `/` once, then `/api/status` one second after each answer. With `--chromium`, it is
 * the page itself in headless Chromium (whose own CPU then shares the machine with ktctl: the
 * CPU per connection is ktctl's alone either way).
 *
 *   deno run -A bench/liveview_cost.ts [--rounds 3] [--gets 100] [--bulkMiB 64] [--chromium]
 *     [--entry main.ts] [-c KUBECONFIG]
 *
 * It prints figures and never asserts them; on a shared machine they are noise. Linux only.
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { bulkGet, httpGet, socks5 } from "./clients.ts";
import { clockTicks, cpuTicks, freePort, type Proc, spawn, stopAll } from "./procs.ts";
import { type Cell, fmt, fmtRatio, table } from "./table.ts";
import { mbps, median, percentile, rotate } from "./stats.ts";
import { KTCTL_V8_ARG } from "../scripts/v8_flags.ts";
import { BULK, WEB } from "../testenv/cluster/fixture.ts";

const MIB = 1024 * 1024;

/** As the page's script: `/` once, then `/api/status` one second after each answer. */
async function poll(base: string): Promise<void> {
  const page = await fetch(`${base}/`);
  if (!page.ok) throw new Error(`GET / answered ${page.status}`);
  await page.arrayBuffer();
  let n = 0;
  for (;;) {
    const r = await fetch(`${base}/api/status`, { cache: "no-store" });
    if (!r.ok) throw new Error(`GET /api/status answered ${r.status}`);
    await r.json();
    console.log(++n === 1 ? "polling" : `poll ${n}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function defaultKubeconfig(): Promise<string> {
  const fromEnv = Deno.env.get("KUBECONFIG");
  if (fromEnv) return fromEnv;
  const { ensureCluster, runDir } = await import("../testenv/cluster/mod.ts");
  await ensureCluster();
  return join(runDir(), "admin.kubeconfig");
}

/** The page open: the polling loop, or headless Chromium on it. Resolves once it is refreshing. */
async function openPage(base: string, chromium: boolean, dir: string): Promise<Proc> {
  if (!chromium) {
    const p = spawn("page (poll loop)", Deno.execPath(), [
      "run",
      "--allow-net=127.0.0.1",
      new URL(import.meta.url).pathname,
      "--poll",
      base,
    ], { env: { NO_COLOR: "1" } });
    await p.waitFor(/polling/, 30_000);
    return p;
  }
  const profile = Deno.makeTempDirSync({ dir, prefix: "chromium-" });
  const p = spawn("page (chromium)", "chromium", [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    `--user-data-dir=${profile}`,
    "--remote-debugging-port=0",
    `${base}/`,
  ]);
  await p.waitFor(/DevTools listening/, 60_000);
  return p;
}

interface Samples {
  gets: number[];
  cpuTicks: number;
  conns: number;
  bulk: number[];
  /** ktctl's CPU ticks over the idle seconds, and how many. */
  idleTicks: number;
  idleSeconds: number;
  /** /api/status answers during the measured phases (page open only). */
  polls: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "3" },
      gets: { type: "string", default: "100" },
      bulkMiB: { type: "string", default: "64" },
      idleSeconds: { type: "string", default: "5" },
      chromium: { type: "boolean" },
      entry: { type: "string", default: "main.ts" },
      kubeconfig: { type: "string", short: "c" },
      poll: { type: "string" },
    },
  });
  if (values.poll) return await poll(values.poll);
  if (Deno.build.os !== "linux") throw new Error("bench/liveview_cost.ts runs on Linux only");
  const rounds = Number(values.rounds);
  const gets = Number(values.gets);
  const bulkBytes = Number(values.bulkMiB) * MIB;
  const idleSeconds = Number(values.idleSeconds);
  const hz = await clockTicks();
  const load = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  console.log(
    `bench/liveview_cost.ts: load average ${load} on ${navigator.hardwareConcurrency} CPUs; ` +
      "on a loaded machine the ratios are noise, CPU per connection least so",
  );
  const dir = Deno.makeTempDirSync({ prefix: "ktctl-liveview-cost-" });
  const stop = () => stopAll().finally(() => Deno.removeSync(dir, { recursive: true }));
  Deno.addSignalListener("SIGINT", () => stop().finally(() => Deno.exit(130)));
  try {
    const kubeconfig = values.kubeconfig ?? await defaultKubeconfig();
    const home = join(dir, "home");
    Deno.mkdirSync(home);
    const port = freePort();
    const ktctl = spawn("ktctl", Deno.execPath(), [
      "run",
      "--allow-all",
      KTCTL_V8_ARG,
      values.entry,
      "connect",
      "-c",
      kubeconfig,
      "--proxyPort",
      String(port),
      // Only loopback may be dialled directly: the test cluster's pod IPs are fake.
      "--dialDirect",
      "127.0.0.0/8,::1/128",
    ], { env: { HOME: home, USERPROFILE: home, NO_COLOR: "1" }, stopSignal: "SIGINT" });
    await ktctl.waitFor(/http_proxy=/, 90_000);
    const base = `http://127.0.0.1:${port}`;
    const web = () => socks5(port, `${WEB.service}.${WEB.namespace}`, 80);
    const bulk = () => socks5(port, `${BULK.service}.${BULK.namespace}`, BULK.port);
    const webHost = `${WEB.service}.${WEB.namespace}`;
    // Warm-up: tunnels to both pods up, code paths loaded, and the page served once.
    for (let i = 0; i < 20; i++) await httpGet(web(), webHost, 15_000);
    await bulkGet(bulk(), 8 * MIB, 60_000);
    await (await openPage(base, values.chromium ?? false, dir)).stop();

    const sides = ["page closed", "page open"] as const;
    const samples = new Map<string, Samples>(
      sides.map((s) => [s, {
        gets: [],
        cpuTicks: 0,
        conns: 0,
        bulk: [],
        idleTicks: 0,
        idleSeconds: 0,
        polls: 0,
      }]),
    );
    for (let r = 0; r < rounds; r++) {
      for (const side of rotate(sides, r)) {
        const page = side === "page open"
          ? await openPage(base, values.chromium ?? false, dir)
          : undefined;
        const got = samples.get(side)!;
        const polls = () => page?.output().match(/^poll/gm)?.length ?? 0;
        const polled = polls();
        // Idle: nothing but the page (when open); ktctl's CPU per second is the page's cost.
        const idle0 = cpuTicks(ktctl.pid);
        await new Promise((r) => setTimeout(r, idleSeconds * 1000));
        got.idleTicks += cpuTicks(ktctl.pid) - idle0;
        got.idleSeconds += idleSeconds;
        const before = cpuTicks(ktctl.pid);
        for (let i = 0; i < gets; i++) got.gets.push(await httpGet(web(), webHost, 15_000));
        got.cpuTicks += cpuTicks(ktctl.pid) - before;
        got.conns += gets;
        const t = await bulkGet(bulk(), bulkBytes, 120_000);
        got.bulk.push(mbps(t.bytes, t.ms));
        got.polls += polls() - polled;
        if (page) {
          if (page.exited) throw new Error(`${page.name} stopped:\n${page.output().slice(-2000)}`);
          await page.stop();
        }
      }
      console.log(`round ${r + 1}/${rounds} done`);
    }
    console.log(
      report(samples, hz, { rounds, gets, bulkBytes, idleSeconds, chromium: !!values.chromium }),
    );
  } finally {
    await stop();
  }
}

function report(
  samples: Map<string, Samples>,
  hz: number,
  o: { rounds: number; gets: number; bulkBytes: number; idleSeconds: number; chromium: boolean },
): string {
  const closed = samples.get("page closed")!;
  const open = samples.get("page open")!;
  const cpu = (s: Samples) => (s.cpuTicks / hz) * 1000 / s.conns;
  const idle = (s: Samples) => (s.idleTicks / hz) * 1000 / s.idleSeconds;
  const row = (
    what: string,
    a: number,
    b: number,
    digits: number,
    higherIsBetter: boolean,
  ): Cell[] => {
    const ratio = b / a;
    const met = higherIsBetter ? ratio >= 0.97 : ratio <= 1.03;
    return [what, fmt(a, digits), fmt(b, digits), fmtRatio(ratio), met ? "met" : "not met"];
  };
  return [
    "",
    `ktctl with its live page open and refreshing (${
      o.chromium ? "headless Chromium" : "a loop fetching /api/status every second, as the page"
    }) against closed: ${o.rounds} interleaved rounds x ${o.gets} new connections + small GET ` +
    `(SOCKS5 to ${WEB.service}.${WEB.namespace}:80) and one ${o.bulkBytes / MIB} MiB download ` +
    `from ${BULK.service}.${BULK.namespace}:${BULK.port} per round. Goal: within 3 %.`,
    "",
    table(["figure", "page closed", "page open", "open / closed", "goal within 3 %"], [
      row("GET p50 ms", median(closed.gets), median(open.gets), 3, false),
      row("GET p90 ms", percentile(closed.gets, 90), percentile(open.gets, 90), 3, false),
      row("ktctl CPU ms per connection", cpu(closed), cpu(open), 3, false),
      row("bulk MB/s (median round)", median(closed.bulk), median(open.bulk), 1, true),
    ]),
    "",
    `ktctl's CPU while idle (${o.rounds} x ${o.idleSeconds} s per side, clock ticks of ` +
    `${1000 / hz} ms): page closed ${fmt(idle(closed), 2)} ms/s, page open ` +
    `${fmt(idle(open), 2)} ms/s: the page costs ktctl ${fmt(idle(open) - idle(closed), 2)} ms ` +
    `of CPU per second (${fmt((idle(open) - idle(closed)) / 10, 3)} % of one core). ` +
    (o.chromium
      ? "Chromium's polls are not counted here."
      : `${open.polls} /api/status answers came during the measured phases.`),
  ].join("\n");
}

if (import.meta.main) await main();
