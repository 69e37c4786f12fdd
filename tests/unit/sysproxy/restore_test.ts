import assert from "node:assert/strict";
import { setupGlobalProxy } from "../../../src/sysproxy/setup.ts";
import {
  accessDenied,
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
  return { world, deps, claim, applied, setupCalls: world.registry.runner.calls.length };
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
    `Restored ${ENV}\\http_proxy to "http://%PROXY_HOST%:8080" (REG_EXPAND_SZ)`,
  ]);
});

Deno.test("restore deletes what did not exist, then broadcasts through a setx", async () => {
  const { world, applied, setupCalls } = await connected([]);
  await applied.restore();
  assert.deepEqual(world.registry.snapshot(), {});
  assert.deepEqual(world.registry.runner.calls.slice(setupCalls), [
    ["reg", "query", INET, "/v", "ProxyEnable"],
    ["reg", "delete", INET, "/v", "ProxyEnable", "/f"],
    ["reg", "query", INET, "/v", "ProxyOverride"],
    ["reg", "delete", INET, "/v", "ProxyOverride", "/f"],
    ["reg", "query", INET, "/v", "ProxyServer"],
    ["reg", "delete", INET, "/v", "ProxyServer", "/f"],
    ["reg", "query", ENV, "/v", "http_proxy"],
    ["reg", "delete", ENV, "/v", "http_proxy", "/f"],
    ["setx", "KTCTL_ENVIRONMENT_REFRESH", "1"],
    ["reg", "delete", ENV, "/v", "KTCTL_ENVIRONMENT_REFRESH", "/f"],
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
  const calls = world.registry.runner.calls.length;
  assert.deepEqual(await applied.restore(), { ok: true, lines: [] });
  assert.equal(world.registry.runner.calls.length, calls);
});

Deno.test("release before restore still restores, and only then removes the file", async () => {
  const { world, claim } = await connected(CORP_PROXY);
  const lines = await claim.release();
  assert.equal(lines.length, 4);
  assert.deepEqual(world.registry.snapshot(), new World(CORP_PROXY).registry.snapshot());
  assert.equal(world.fs.files.has(STATE_PATH), false);
  assert.deepEqual(await claim.release(), []);
});

Deno.test("access denied during restore keeps the state file and says run ktctl clean", async () => {
  const { world, claim, applied } = await connected(CORP_PROXY);
  world.registry.fail((argv) => argv[1] === "add" && argv[4] === "ProxyServer", accessDenied);
  const report = await applied.restore();
  assert.equal(report.ok, false);
  assert.ok(report.lines.includes(
    `Could not restore ${INET}\\ProxyServer: reg add ${INET} /v ProxyServer /t REG_SZ /d ` +
      "proxy.corp.example:8080 /f failed with exit code 1: ERROR: Access is denied.",
  ));
  assert.match(
    report.lines.at(-1) ?? "",
    /stay recorded in .*connect-127\.0\.0\.1-2223\.json.*ktctl clean/,
  );
  // The others were restored anyway; the file still has everything.
  assert.deepEqual(world.registry.get(INET, "ProxyEnable"), { type: "REG_DWORD", data: 0 });
  assert.equal(world.fs.json(STATE_PATH).values.length, 4);
  // Releasing does not drop what is still to be restored.
  await claim.release();
  assert.equal(world.fs.json(STATE_PATH).values.length, 4);
});

Deno.test("reg.exe missing during restore: every value reported, state file kept", async () => {
  const { world, applied } = await connected(CORP_PROXY);
  world.registry.fail((argv) => argv[0] === "reg", "missing");
  const report = await applied.restore();
  assert.equal(report.ok, false);
  assert.equal(
    report.lines.filter((line) => line.endsWith(": reg was not found on PATH")).length,
    4,
  );
  assert.equal(world.fs.json(STATE_PATH).values.length, 4);
});

Deno.test("a failed broadcast after restoring is only a note", async () => {
  const { world, applied } = await connected([]);
  world.registry.fail((argv) => argv[0] === "setx", accessDenied);
  const report = await applied.restore();
  assert.equal(report.ok, true);
  assert.match(report.lines.at(-1) ?? "", /^Could not tell Windows that the environment changed/);
  assert.deepEqual(world.registry.snapshot(), {});
});
