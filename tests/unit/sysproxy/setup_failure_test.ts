import assert from "node:assert/strict";
import { clean } from "../../../src/sysproxy/clean.ts";
import { SetupError, setupGlobalProxy } from "../../../src/sysproxy/setup.ts";
import { CORP, ENV, INET, type Seed, SOCKS, startConnect, STATE_PATH, World } from "./fakes.ts";

async function claimed(initial: Seed = CORP) {
  const world = new World(initial);
  const { deps, claim } = await startConnect(world);
  return { world, deps, claim, original: new World(initial).registry.snapshot() };
}

Deno.test("access denied midway: what was applied is rolled back, state is a plain claim", async () => {
  const { world, deps, claim, original } = await claimed();
  world.registry.fail((call) => call[0] === "set" && call[2] === "ProxyServer", "denied");
  const error = await setupGlobalProxy(SOCKS, claim, deps).catch((e) => e);
  assert.ok(error instanceof SetupError);
  assert.equal(
    error.message,
    `could not set ${INET}\\ProxyServer: set ${INET}\\ProxyServer failed with Windows error 5; ` +
      "everything ktctl had changed was put back",
  );
  assert.deepEqual(world.registry.snapshot(), original);
  assert.deepEqual(error.lines, [
    `Removed ${ENV}\\https_proxy (it did not exist before)`,
    `Restored ${ENV}\\http_proxy to "http://corp:8080" (REG_SZ)`,
  ]);
  const state = world.fs.json(STATE_PATH);
  assert.deepEqual([state.values, state.method], [[], null]);
  // ProxyEnable was never touched, and the console-close handler is gone again.
  assert.ok(!world.registry.mutations.some((call) => call.includes("ProxyEnable")));
  assert.equal(world.registry.closeHandlers.size, 0);
});

Deno.test("the registry unreadable: nothing changed, nothing recorded", async () => {
  const { world, deps, claim } = await claimed();
  world.registry.fail((call) => call[0] === "get", "denied");
  await assert.rejects(setupGlobalProxy(SOCKS, claim, deps), {
    name: "SetupError",
    message: "could not read the current proxy settings, so nothing was changed: get " +
      `${ENV}\\http_proxy failed with Windows error 5`,
  });
  assert.deepEqual(world.registry.mutations, []);
  assert.deepEqual(world.fs.json(STATE_PATH).values, []);
});

Deno.test("a previous value of a type ktctl cannot restore exactly stops the setup", async () => {
  const { world, deps, claim } = await claimed([]);
  world.registry.setRaw(INET, "ProxyServer", 3, new Uint8Array([0, 255]));
  await assert.rejects(
    setupGlobalProxy(SOCKS, claim, deps),
    /nothing was changed.*registry type 3/,
  );
  assert.deepEqual(world.registry.mutations, []);
});

Deno.test("a failed rollback keeps every value in the state file for ktctl clean", async () => {
  const { world, deps, claim, original } = await claimed();
  world.registry.fail((call) => call[0] === "set" && call[2] === "ProxyEnable", "denied");
  world.registry.fail((call) => call[0] === "delete" && call[2] === "ProxyServer", "denied");
  const error = await setupGlobalProxy(SOCKS, claim, deps).catch((e) => e);
  assert.ok(error instanceof SetupError);
  assert.match(error.message, /some changes could not be put back$/);
  assert.ok(error.lines.some((line) => line.startsWith(`Could not restore ${INET}\\ProxyServer`)));
  assert.equal(world.fs.json(STATE_PATH).values.length, 5);
  // The connect exits (release keeps the file), the problem gets fixed, clean finishes the job.
  await claim.release();
  world.kill(100);
  world.registry.clearFaults();
  const report = await clean({ dryRun: false }, world.process(200));
  assert.equal(report.ok, true);
  assert.deepEqual(world.registry.snapshot(), original);
  assert.equal(world.fs.files.has(STATE_PATH), false);
});
