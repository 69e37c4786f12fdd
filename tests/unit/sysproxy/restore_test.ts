import assert from "node:assert/strict";
import { setupGlobalProxy } from "../../../src/sysproxy/setup.ts";
import {
  CORP_PROXY,
  ENV,
  INET,
  type Seed,
  SOCKS,
  startConnect,
  STATE_PATH,
  World,
} from "./fakes.ts";

async function connected(initial: Seed) {
  const world = new World(initial);
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  return { world, deps, claim, applied, setupCalls: world.registry.calls.length };
}

Deno.test("restore puts back the exact previous values and types", async () => {
  const { world, applied } = await connected(CORP_PROXY);
  const before = new World(CORP_PROXY).registry.snapshot();
  const report = await applied.restore();
  assert.equal(report.ok, true);
  assert.deepEqual(world.registry.snapshot(), before);
  assert.deepEqual(report.lines, [
    "Restored HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\ProxyEnable" +
    " to 0 (REG_DWORD)",
    `Restored ${INET}\\ProxyOverride to "*.corp.example; 10.*" (REG_SZ)`,
    `Restored ${INET}\\ProxyServer to "proxy.corp.example:8080" (REG_SZ)`,
    `Removed ${ENV}\\https_proxy (it did not exist before)`,
    `Restored ${ENV}\\http_proxy to "http://%PROXY_HOST%:8080" (REG_EXPAND_SZ)`,
  ]);
});

Deno.test("restore deletes what did not exist, then broadcasts and refreshes once", async () => {
  const { world, applied, setupCalls } = await connected([]);
  await applied.restore();
  assert.deepEqual(world.registry.snapshot(), {});
  assert.deepEqual(world.registry.calls.slice(setupCalls), [
    ["get", INET, "ProxyEnable"],
    ["delete", INET, "ProxyEnable"],
    ["get", INET, "ProxyOverride"],
    ["delete", INET, "ProxyOverride"],
    ["get", INET, "ProxyServer"],
    ["delete", INET, "ProxyServer"],
    ["get", ENV, "https_proxy"],
    ["delete", ENV, "https_proxy"],
    ["get", ENV, "http_proxy"],
    ["delete", ENV, "http_proxy"],
    ["broadcast"],
    ["refresh"],
    ["close-handler", "off"],
  ]);
});

Deno.test("restore leaves the claim in the state file; release removes the file", async () => {
  const { world, claim, applied } = await connected([]);
  await applied.restore();
  const state = world.fs.json(STATE_PATH);
  assert.deepEqual([state.values, state.method, state.pid], [[], null, 100]);
  assert.deepEqual(await claim.release(), []);
  assert.equal(world.fs.files.has(STATE_PATH), false);
});

Deno.test("a value the user changed meanwhile is left alone, with a warning", async () => {
  const { world, applied } = await connected(CORP_PROXY);
  world.registry.set(INET, "ProxyServer", { type: "REG_SZ", data: "socks=10.0.0.9:1080" });
  const report = await applied.restore();
  assert.equal(report.ok, true);
  assert.deepEqual(world.registry.get(INET, "ProxyServer"), {
    type: "REG_SZ",
    data: "socks=10.0.0.9:1080",
  });
  assert.ok(report.lines.includes(
    `Left ${INET}\\ProxyServer as it is: it was changed to "socks=10.0.0.9:1080" (REG_SZ) ` +
      `after ktctl set it to "socks=127.0.0.1:2223" (REG_SZ)`,
  ));
  assert.deepEqual(world.registry.get(INET, "ProxyEnable"), { type: "REG_DWORD", data: 0 });
  assert.equal(world.fs.json(STATE_PATH).values.length, 0);
});

Deno.test("restore is idempotent: the second call changes and reports nothing", async () => {
  const { world, applied } = await connected(CORP_PROXY);
  await applied.restore();
  const calls = world.registry.calls.length;
  assert.deepEqual(await applied.restore(), { ok: true, lines: [] });
  assert.equal(world.registry.calls.length, calls);
});

Deno.test("release before restore still restores, and only then removes the file", async () => {
  const { world, claim } = await connected(CORP_PROXY);
  const lines = await claim.release();
  assert.equal(lines.length, 5);
  assert.deepEqual(world.registry.snapshot(), new World(CORP_PROXY).registry.snapshot());
  assert.equal(world.fs.files.has(STATE_PATH), false);
  assert.deepEqual(await claim.release(), []);
});

Deno.test("access denied during restore keeps the state file and says run ktctl clean", async () => {
  const { world, claim, applied } = await connected(CORP_PROXY);
  world.registry.fail((call) => call[0] === "set" && call[2] === "ProxyServer", "denied");
  const report = await applied.restore();
  assert.equal(report.ok, false);
  assert.ok(report.lines.includes(
    `Could not restore ${INET}\\ProxyServer: set ${INET}\\ProxyServer failed with Windows error 5`,
  ));
  assert.match(
    report.lines.at(-1) ?? "",
    /stay recorded in .*connect-127\.0\.0\.1-2223\.json.*ktctl clean/,
  );
  // The others were restored anyway; the file still has everything.
  assert.deepEqual(world.registry.get(INET, "ProxyEnable"), { type: "REG_DWORD", data: 0 });
  assert.equal(world.fs.json(STATE_PATH).values.length, 5);
  // The console-close handler stays: closing the window would try again.
  assert.equal(world.registry.closeHandlers.size, 1);
  // Releasing does not drop what is still to be restored.
  await claim.release();
  assert.equal(world.fs.json(STATE_PATH).values.length, 5);
});

Deno.test("the registry failing everywhere: every value reported, state file kept", async () => {
  const { world, applied } = await connected(CORP_PROXY);
  world.registry.fail((call) => call[0] === "get", "denied");
  const report = await applied.restore();
  assert.equal(report.ok, false);
  assert.equal(report.lines.filter((line) => line.endsWith("Windows error 5")).length, 5);
  assert.equal(world.fs.json(STATE_PATH).values.length, 5);
});

Deno.test("a failed broadcast after restoring is only a note", async () => {
  const { world, applied } = await connected([]);
  world.registry.broadcastWorks = false;
  const report = await applied.restore();
  assert.equal(report.ok, true);
  assert.match(report.lines.at(-1) ?? "", /^Could not tell Windows that the user environment/);
  assert.deepEqual(world.registry.snapshot(), {});
});

Deno.test("closing the console restores synchronously and removes the state file", async () => {
  for (const initial of [[], CORP_PROXY]) {
    const { world, applied } = await connected(initial);
    const calls = world.registry.calls.length;
    world.registry.closeConsole(); // Nothing awaited: Windows ends the process right after.
    assert.deepEqual(world.registry.snapshot(), new World(initial).registry.snapshot());
    assert.equal(world.fs.files.has(STATE_PATH), false);
    assert.deepEqual(world.registry.calls.slice(calls).at(-2), ["broadcast"]);
    // Had the process lived on, its normal stop would find nothing left to do.
    assert.deepEqual(await applied.restore(), { ok: true, lines: [] });
  }
});

Deno.test("closing the console when a value cannot be restored keeps the state file", async () => {
  const { world } = await connected(CORP_PROXY);
  world.registry.fail((call) => call[0] === "set" && call[2] === "ProxyServer", "denied");
  world.registry.closeConsole();
  assert.equal(world.fs.json(STATE_PATH).values.length, 5);
});

Deno.test("non-ASCII previous values come back exactly", async () => {
  const exotic: Seed = [
    [ENV, "http_proxy", { type: "REG_SZ", data: "http://代理.公司:3128" }],
    [INET, "ProxyServer", { type: "REG_SZ", data: "http=proxy.café.example:8080" }],
    [INET, "ProxyOverride", { type: "REG_SZ", data: "*.内网.公司;*.ñandú;🚀.example" }],
  ];
  const { world, applied } = await connected(exotic);
  assert.equal(
    world.registry.get(INET, "ProxyOverride")?.data,
    "*.内网.公司;*.ñandú;🚀.example;<local>",
  );
  await applied.restore();
  assert.deepEqual(world.registry.snapshot(), new World(exotic).registry.snapshot());
});
