/**
 * Shared by the Wine tests: `ktctl` as it ships (the bundle `ktctl.exe` embeds, run by
 * the Windows deno.exe with the flags the build embeds), exact registry snapshots
 * (`reg export`), the state folder, and what a new Windows process sees.
 */
import { bundleKtctl, SHIPPED_RUN_FLAGS } from "../../scripts/bundle.ts";
import assert from "node:assert/strict";
import { type ClusterInfo, clusterInfo, ensureCluster, WEB } from "../../testenv/cluster/mod.ts";
import { curl } from "../../testenv/socks_client.ts";
import {
  assertExitedOk,
  parseRegExport,
  type RegValue,
  REPO_ROOT,
  type RunResult,
  type WinePrefix,
  type WinProcess,
} from "./wine.ts";

export const INET = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings";
export const ENV = "HKCU\\Environment";
// Only loopback may ever be dialled directly: the cluster's pod IPs are fake.
/**
 * Direct dials to loopback only, and every local client served: the clients here are Linux
 * programs (curl), whose sockets Wine's GetExtendedTcpTable cannot name a Windows owner for
 * (peer_owner_wine_test.ts shows the check itself).
 */
export const SAFE = ["--dialDirect", "127.0.0.0/8,::1/128", "--allowOtherUsers"];
// The summary's last line: printed once every value is set.
export const READY = /ktctl puts the previous settings back when connect exits/;
// Output after a silent start this long means progress (Wine can be slow to start a process).
export const SILENT_START_MS = 90_000;
export const START_TIMEOUT_MS = 300_000;
export const opts = { sanitizeOps: false, sanitizeResources: false };

let clusterReady: Promise<ClusterInfo> | undefined;

/** The local control plane, started (or built) on first use: only connect tests need it. */
export function cluster(): Promise<ClusterInfo> {
  return clusterReady ??= ensureCluster().then(() => clusterInfo());
}

/**
 * Runs a Wine program again when Wine failed to start it (rarely, start.exe says "Application
 * could not be started ... ShellExecuteEx failed: Internal error." and exits 1: the program
 * never ran, so running it again is safe). Without this, such a failed `reg query` would read
 * as a missing value.
 */
export async function started(run: () => Promise<RunResult>): Promise<RunResult> {
  for (let attempt = 1;; attempt++) {
    const r = await run();
    if (r.code === 0 || !/ShellExecuteEx failed/.test(r.stdout + r.stderr) || attempt === 4) {
      return r;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** `wine reg.exe <args>`, started again if Wine could not start it. */
export function reg(wp: WinePrefix, args: string[]): Promise<RunResult> {
  return started(() => wp.reg(args));
}

export function byName(a: RegValue, b: RegValue): number {
  return a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1;
}

/** `values` with some replaced, added or (null) removed, sorted like a snapshot. */
export function withChanges(
  values: RegValue[],
  changes: Record<string, Omit<RegValue, "name"> | null>,
): RegValue[] {
  const changed = new Set(Object.keys(changes).map((name) => name.toLowerCase()));
  const kept = values.filter((v) => !changed.has(v.name.toLowerCase()));
  const added = Object.entries(changes).flatMap(([name, v]) => v ? [{ name, ...v }] : []);
  return [...kept, ...added].sort(byName);
}

/** Both keys ktctl may touch, every value with its type, sorted by name. */
export type Snapshot = { inet: RegValue[]; env: RegValue[] };

/** Every value of `key` (not its subkeys), exactly, from `reg export` (UTF-16LE). */
export async function keyValues(wp: WinePrefix, key: string): Promise<RegValue[]> {
  let text: string | undefined;
  // Wine now and then fails to start reg.exe right after a prefix was created; a missing key
  // is not what these tests look at, so ask again before judging.
  for (let i = 0; i < 4 && text === undefined; i++) {
    if (i > 0) await new Promise((done) => setTimeout(done, 1000));
    text = await wp.regExport(key);
  }
  assert.ok(text !== undefined, `reg export ${key} failed`);
  return parseRegExport(text, key).sort(byName);
}

export async function snapshot(wp: WinePrefix): Promise<Snapshot> {
  return { inet: await keyValues(wp, INET), env: await keyValues(wp, ENV) };
}

/** `reg add` one value (the way a user or another program would). */
export async function regSet(
  wp: WinePrefix,
  key: string,
  name: string,
  type: string,
  data: string | number,
): Promise<void> {
  const r = await reg(wp, ["add", key, "/v", name, "/t", type, "/d", String(data), "/f"]);
  assertExitedOk(r, `reg add ${key}\\${name}: ${r.stdout}${r.stderr}`);
}

/** One value with its type, or undefined when it does not exist. */
export async function typed(wp: WinePrefix, key: string, name: string) {
  const v = (await keyValues(wp, key)).find((v) => v.name.toLowerCase() === name.toLowerCase());
  return v && { type: v.type, value: v.value };
}

/** The prefix's %USERPROFILE%\.ktctl, as a Linux path. */
export async function stateDirOf(wp: WinePrefix): Promise<string> {
  const r = await started(() =>
    wp.wine("cmd", ["/c", "echo %USERPROFILE%"], { timeoutMs: 30_000 })
  );
  const profile = r.stdout.trim();
  assert.match(profile, /^C:\\users\\/i, `USERPROFILE: ${r.stdout}${r.stderr}`);
  return `${wp.toLinuxPath(profile)}/.ktctl`;
}

export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

export async function filesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return names.sort();
}

export interface StateJson {
  pid: number;
  address: string;
  port: number;
  method: string | null;
  values: {
    key: string;
    name: string;
    previous: { type: string; data: string | number } | null;
    set: { type: string; data: string | number };
  }[];
}

let bundled: Promise<string> | undefined;

/**
 * The bundle that `deno task build` compiles into `ktctl.exe` (scripts/bundle.ts, an entry and chunks):
 * bundled once per test process, removed when the process ends.
 */
export function shippedBundle(): Promise<string> {
  return bundled ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "ktctl-wine-bundle-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
    await bundleKtctl(`${dir}/ktctl.js`);
    return `${dir}/ktctl.js`;
  })();
}

/**
 * deno.exe's arguments for `ktctl <args>` as `ktctl.exe` runs it: the bundle, all permissions,
 * no deno.json, the embedded V8 flags (`SHIPPED_RUN_FLAGS`). Started in the prefix's `C:\work`,
 * away from the repository.
 */
export async function ktctlArgs(wp: WinePrefix, args: string[]): Promise<string[]> {
  return ["run", ...SHIPPED_RUN_FLAGS, wp.toWinPath(await shippedBundle()), ...args];
}

/** `ktctl <args>` run to completion by the Windows deno. */
export async function ktctl(wp: WinePrefix, args: string[]): Promise<RunResult> {
  const argv = await ktctlArgs(wp, args);
  const r = await started(() => wp.runWinDeno(argv, { timeoutMs: START_TIMEOUT_MS }));
  assert.equal(r.timedOut, false, `ktctl ${args.join(" ")} timed out:\n${r.stdout}${r.stderr}`);
  return r;
}

export async function connectArgs(
  wp: WinePrefix,
  port: number,
  extra: string[],
): Promise<string[]> {
  const info = await cluster();
  return [
    "connect",
    "-c",
    wp.toWinPath(info.kubeconfigs.admin),
    "-n",
    WEB.namespace,
    ...SAFE,
    "--proxyPort",
    String(port),
    ...extra,
  ];
}

export interface Connect {
  p: WinProcess;
  /** The http_proxy value connect printed in its summary. */
  proxyUrl: string;
  output(): string;
}

/** Starts `connect --setupGlobalProxy` and waits until every value is set. */
export class Retry extends Error {}

export async function startConnect(
  wp: WinePrefix,
  port: number,
  extra: string[],
): Promise<Connect> {
  const args = await ktctlArgs(wp, await connectArgs(wp, port, ["--setupGlobalProxy", ...extra]));
  for (let attempt = 1;; attempt++) {
    const p = wp.spawnWinDeno(args);
    const output = () => p.stdout() + p.stderr();
    const began = Date.now();
    try {
      try {
        await p.waitFor(READY, { timeoutMs: SILENT_START_MS });
      } catch (e) {
        // Nothing printed at all for this long is Wine stuck before the program runs (seen once
        // in a fresh CI run), not ktctl: start it again. Output means progress: keep waiting.
        if (output().trim() === "" && attempt < 3) throw new Retry();
        const left = START_TIMEOUT_MS - (Date.now() - began);
        if (left <= 0) throw e;
        await p.waitFor(READY, { timeoutMs: left });
      }
    } catch (e) {
      p.kill("SIGKILL");
      await p.wait(10_000);
      if (e instanceof Retry) continue;
      // Wine could not start it (see `started`): the program never ran.
      if (/ShellExecuteEx failed/.test(output()) && attempt < 4) continue;
      throw e;
    }
    const printed = /Set the user environment variable http_proxy=(\S+) \(before: /.exec(output());
    assert.ok(printed, `no http_proxy line in:\n${output()}`);
    return { p, proxyUrl: printed[1], output };
  }
}

/** Stops connect like Ctrl+C and returns how it ended. */
export async function interrupt(c: Connect): Promise<RunResult> {
  c.p.kill("SIGINT");
  const r = await c.p.wait(60_000);
  assert.equal(r.timedOut, false, `connect did not stop after SIGINT:\n${c.output()}`);
  return r;
}

export async function killQuietly(c: Connect | undefined): Promise<void> {
  if (!c) return;
  c.p.kill("SIGKILL");
  await c.p.wait(10_000);
}

/** http_proxy (and HTTP_PROXY) as a newly started Windows process sees them. */
export async function newProcessProxyEnv(wp: WinePrefix): Promise<(string | null)[]> {
  const script = await wp.writeScript(
    "env.ts",
    'console.log(JSON.stringify([Deno.env.get("http_proxy") ?? null, ' +
      'Deno.env.get("HTTP_PROXY") ?? null]));',
  );
  const r = await started(() =>
    wp.runWinDeno(["run", "--allow-env", script], { timeoutMs: 120_000 })
  );
  assertExitedOk(r, r.stderr);
  return JSON.parse(r.stdout) as (string | null)[];
}

/** Linux curl through the proxy to the web service, by its cluster name. */
export async function assertProxyWorks(proxyUrl: string): Promise<void> {
  const r = await curl(proxyUrl, `http://${WEB.service}.${WEB.namespace}/`);
  assert.equal(r.code, 0, `curl --proxy ${proxyUrl}: ${r.stderr}`);
  assert.match(r.body, new RegExp(`^pod=${WEB.namespace}/web-\\d\\n`));
}

export function assertNoErrors(output: string): void {
  assert.doesNotMatch(output, / (ERR|WRN) /, output);
}

/** `names` as a newly started Windows process sees them (null: not set). */
export async function newProcessEnv(wp: WinePrefix, names: string[]): Promise<(string | null)[]> {
  const script = await wp.writeScript(
    "env_names.ts",
    `console.log(JSON.stringify(${JSON.stringify(names)}.map((n) => Deno.env.get(n) ?? null)));`,
  );
  const r = await started(() =>
    wp.runWinDeno(["run", "--allow-env", script], { timeoutMs: 120_000 })
  );
  assertExitedOk(r, r.stderr);
  return JSON.parse(r.stdout) as (string | null)[];
}

/** A Windows deno.exe running one of tests/windows/fixtures/, started from the repository. */
export function spawnFixture(wp: WinePrefix, name: string, args: string[]): WinProcess {
  const script = wp.toWinPath(`${REPO_ROOT}/tests/windows/fixtures/${name}`);
  return wp.spawnWinDeno(["run", "-A", "--no-lock", script, ...args], { cwd: REPO_ROOT });
}
