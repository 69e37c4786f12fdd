import assert from "node:assert/strict";
import { clean } from "../../../src/sysproxy/clean.ts";
import { SetupError, setupGlobalProxy } from "../../../src/sysproxy/setup.ts";
import {
  accessDenied,
  CORP,
  ENV,
  INET,
  type Seed,
  SOCKS,
  startConnect,
  STATE_PATH,
  World,
} from "./fakes.ts";

async function claimed(initial: Seed = CORP) {
  const world = new World(initial);
  const { deps, claim } = await startConnect(world);
  return { world, deps, claim, original: new World(initial).registry.snapshot() };
}

Deno.test("access denied midway: what was applied is rolled back, state is a plain claim", async () => {
  const { world, deps, claim, original } = await claimed();
  world.registry.fail((argv) => argv[1] === "add" && argv[4] === "ProxyServer", accessDenied);
  const error = await setupGlobalProxy(SOCKS, claim, deps).catch((e) => e);
  assert.ok(error instanceof SetupError);
  assert.equal(
    error.message,
    `could not set ${INET}\\ProxyServer: reg add ${INET} /v ProxyServer /t REG_SZ /d ` +
      "socks=127.0.0.1:2223 /f failed with exit code 1: ERROR: Access is denied.; everything " +
      "ktctl had changed was put back",
  );
  assert.deepEqual(world.registry.snapshot(), original);
  assert.deepEqual(error.lines, [`Restored ${ENV}\\http_proxy to "http://corp:8080" (REG_SZ)`]);
  const state = world.fs.json(STATE_PATH);
  assert.deepEqual([state.values, state.method], [[], null]);
  // ProxyEnable was never touched.
  assert.ok(!world.registry.runner.mutations.some((argv) => argv.includes("ProxyEnable")));
});

Deno.test("reg.exe missing: nothing changed, nothing recorded", async () => {
  const { world, deps, claim } = await claimed();
  world.registry.fail((argv) => argv[0] === "reg", "missing");
  await assert.rejects(setupGlobalProxy(SOCKS, claim, deps), {
    name: "SetupError",
    message: "could not read the current proxy settings, so nothing was changed: reg was not " +
      "found on PATH",
  });
  assert.deepEqual(world.registry.runner.mutations, []);
  assert.deepEqual(world.fs.json(STATE_PATH).values, []);
});

Deno.test("a previous value of a type ktctl cannot restore exactly stops the setup", async () => {
  const { world, deps, claim } = await claimed([]);
  world.registry.fail(
    (argv) => argv[1] === "query" && argv[4] === "ProxyServer",
    {
      code: 0,
      stdout: `\r\nHKEY_CURRENT_USER\\X\r\n    ProxyServer    REG_BINARY    00ff\r\n\r\n`,
      stderr: "",
    },
  );
  await assert.rejects(setupGlobalProxy(SOCKS, claim, deps), /nothing was changed.*REG_BINARY/);
  assert.deepEqual(world.registry.runner.mutations, []);
});

Deno.test("Wine's stub setx (exit 0, writes nothing) is detected, nothing else set", async () => {
  const { world, deps, claim, original } = await claimed();
  world.registry.setxIsStub = true;
  await assert.rejects(
    setupGlobalProxy(SOCKS, claim, deps),
    /setx reported success but HKCU\\Environment\\http_proxy is "http:\/\/corp:8080" \(REG_SZ\)/,
  );
  assert.deepEqual(world.registry.snapshot(), original);
  assert.ok(!world.registry.runner.mutations.some((argv) => argv[1] === "add"));
  assert.deepEqual(world.fs.json(STATE_PATH).values, []);
});

Deno.test("a failed rollback keeps every value in the state file for ktctl clean", async () => {
  const { world, deps, claim, original } = await claimed();
  world.registry.fail((argv) => argv[1] === "add" && argv[4] === "ProxyEnable", accessDenied);
  world.registry.fail((argv) => argv[1] === "delete" && argv[4] === "ProxyServer", accessDenied);
  const error = await setupGlobalProxy(SOCKS, claim, deps).catch((e) => e);
  assert.ok(error instanceof SetupError);
  assert.match(error.message, /some changes could not be put back$/);
  assert.ok(error.lines.some((line) => line.startsWith(`Could not restore ${INET}\\ProxyServer`)));
  assert.equal(world.fs.json(STATE_PATH).values.length, 4);
  // The connect exits (release keeps the file), the problem gets fixed, clean finishes the job.
  await claim.release();
  world.kill(100);
  world.registry.clearFaults();
  const report = await clean({ dryRun: false }, world.process(200));
  assert.equal(report.ok, true);
  assert.deepEqual(world.registry.snapshot(), original);
  assert.equal(world.fs.files.has(STATE_PATH), false);
});
