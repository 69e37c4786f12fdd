/**
 * The bench report's goals: each judged row shows its goal beside the figure and says met or
 * NOT MET, and n/a when there is nothing to judge. The report is pure, so it is fed figures here.
 */
import assert from "node:assert/strict";
import { judge, report } from "../../../bench/report.ts";
import {
  emptyResults,
  type Env,
  GOALS,
  MEASUREMENTS,
  type Results,
} from "../../../bench/results.ts";

Deno.test("judge: bounds are inclusive, each way, and a missing figure is n/a", () => {
  assert.deepStrictEqual(judge(120, { atMost: 120 }), "met");
  assert.deepStrictEqual(judge(120.1, { atMost: 120 }), "NOT MET");
  assert.deepStrictEqual(judge(1.0, { atLeast: 1.0 }), "met");
  assert.deepStrictEqual(judge(0.99, { atLeast: 1.0 }), "NOT MET");
  assert.deepStrictEqual(judge(NaN, { atMost: 1 }), "n/a");
  assert.deepStrictEqual(judge(Infinity, { atLeast: 1 }), "n/a");
});

function env(): Env {
  return {
    cfg: {
      runs: 3,
      quick: false,
      bulkBytes: 256 * 1024 * 1024,
      latencyCount: 200,
      exchanges: 50,
      concurrency: 200,
      concurrencyBytes: 4 * 1024 * 1024,
      idleMs: 5000,
      only: new Set(MEASUREMENTS),
      ktctlDir: "/checkout",
      ktctlV8Flags: "",
      bundle: true,
      timeoutMin: 30,
      auth: "cert",
    },
    revision: "abc1234",
    entry: "/tmp/ktctl.js",
  } as unknown as Env;
}

/** The cells of the row whose label starts with `label` (trimmed), or throws. */
function rowOf(text: string, label: string): string[] {
  const line = text.split("\n").find((l) => l.startsWith(`| ${label}`));
  if (!line) throw new Error(`no row "${label}" in:\n${text}`);
  return line.split("|").slice(1, -1).map((c) => c.trim());
}

function figures(
  o: { startup: [number, number]; idle: number; down: number; up: number },
): Results {
  const res = emptyResults();
  res.startup.ktctl.push(o.startup[0]);
  res.startup.kubectl.push(o.startup[1]);
  res.startup.ktctlBanner.push(o.startup[0] / 2);
  res.idle.ktctl.rss.push(o.idle);
  res.idle.kubectl.rss.push(54);
  res.idle.ktctl.cpu.push(0.1);
  res.idle.kubectl.cpu.push(0.1);
  for (const [c, peak] of [[res.concurrency, o.down], [res.concurrencyUpload, o.up]] as const) {
    c.ktctl.ok.push(200);
    c.kubectl.ok.push(200);
    c.ktctl.mbps.push(200);
    c.kubectl.mbps.push(150);
    c.ktctl.cpuMsPerMiB.push(2);
    c.kubectl.cpuMsPerMiB.push(3);
    c.ktctl.peakRss.push(peak);
    c.kubectl.peakRss.push(105);
  }
  return res;
}

Deno.test("report: start-up, idle RSS and both peaks are judged against their goals", () => {
  const { text } = report(env(), figures({ startup: [150, 79], idle: 70, down: 119, up: 120 }));
  const startup = rowOf(text, "start-up: launch to first proxied reply");
  assert.deepStrictEqual(startup.slice(1, 3), ["150", "79"]);
  assert.deepStrictEqual(startup.slice(-2), [
    `<= ${GOALS.startupVsKubectl.toFixed(1)}x kubectl`,
    "met",
  ]);
  assert.deepStrictEqual(rowOf(text, "idle 5 s: RSS").slice(-2), [
    `<= ${GOALS.idleRssMB} MB`,
    "met",
  ]);
  const down = rowOf(text, "200 x 4 MiB downloads at once: peak RSS");
  assert.deepStrictEqual(down.slice(-2), ["<= 120 MB", "met"]);
  assert.deepStrictEqual(rowOf(text, "200 x 4 MiB uploads at once: peak RSS").slice(-2), [
    "<= 120 MB",
    "met",
  ]);
  // The HTTP proxy's peak rows carry the same goal (no figures here: n/a, no verdict).
  assert.deepStrictEqual(
    rowOf(text, "200 x 4 MiB downloads at once via ktctl http CONNECT: peak RSS").at(-2),
    "<= 120 MB",
  );
});

Deno.test("report: figures past their goals say NOT MET", () => {
  const { text } = report(env(), figures({ startup: [409, 79], idle: 85, down: 139.6, up: 129.7 }));
  assert.deepStrictEqual(rowOf(text, "start-up: launch to first proxied reply").at(-1), "NOT MET");
  assert.match(rowOf(text, "start-up: launch to first proxied reply")[4], /^5\.18x$/);
  assert.deepStrictEqual(rowOf(text, "idle 5 s: RSS").at(-1), "NOT MET");
  assert.deepStrictEqual(rowOf(text, "200 x 4 MiB downloads at once: peak RSS").at(-1), "NOT MET");
  assert.deepStrictEqual(rowOf(text, "200 x 4 MiB uploads at once: peak RSS").at(-1), "NOT MET");
});

Deno.test("report: a start-up without kubectl's figure is n/a, not met", () => {
  const res = figures({ startup: [150, 79], idle: 60, down: 100, up: 100 });
  res.startup.kubectl.length = 0;
  const { text } = report(env(), res);
  assert.deepStrictEqual(rowOf(text, "start-up: launch to first proxied reply").at(-1), "n/a");
});
