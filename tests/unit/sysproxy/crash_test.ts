/**
 * A connect killed at any moment of setting up or restoring (simulated by rewinding registry
 * and files to how they were just before or after one registry write: nothing after it
 * happened) leaves enough on disk for `ktctl clean` to restore the registry exactly.
 */
import assert from "node:assert/strict";
import { clean } from "../../../src/sysproxy/clean.ts";
import { setupGlobalProxy } from "../../../src/sysproxy/setup.ts";
import type { GlobalProxyRequest } from "../../../src/sysproxy/types.ts";
import {
  CORP_PROXY,
  HTTP,
  isMutation,
  type Seed,
  SOCKS,
  startConnect,
  STATE_PATH,
  World,
} from "./fakes.ts";

const STARTS: Record<string, Seed> = {
  "nothing set before": [],
  "user settings before": CORP_PROXY,
};
/** Each method with the number of values it writes. */
const METHODS: [GlobalProxyRequest, number][] = [
  [SOCKS, 5], // http_proxy, https_proxy, ProxyServer, ProxyOverride, ProxyEnable
  [HTTP, 3], // http_proxy, https_proxy, AutoConfigURL
];

/** The process dies at the n-th (0-based) registry write, before or after it takes effect. */
function crashAt(world: World, n: number, when: "crash-before" | "crash-after") {
  let seen = 0;
  world.registry.fail((call) => isMutation(call) && seen++ === n, when);
}

async function cleanAfterDeath(world: World) {
  world.registry.clearFaults();
  return await clean({ dryRun: false }, world.process(200));
}

for (const [start, initial] of Object.entries(STARTS)) {
  for (const [req, writes] of METHODS) {
    Deno.test(`${req.method}: crash during setup (${start}): clean restores from any step`, async (t) => {
      const original = new World(initial).registry.snapshot();
      for (let n = 0; n < writes; n++) {
        for (const when of ["crash-before", "crash-after"] as const) {
          await t.step(`${when} mutation #${n + 1}`, async () => {
            const world = new World(initial);
            const { deps, claim } = await startConnect(world);
            crashAt(world, n, when);
            await setupGlobalProxy(req, claim, deps);
            world.dieAtCrash(100);
            assert.equal(world.fs.json(STATE_PATH).values.length, writes);
            if (n > 0 || when === "crash-after") {
              assert.notDeepEqual(world.registry.snapshot(), original);
            }
            const report = await cleanAfterDeath(world);
            assert.equal(report.ok, true, report.lines.join("\n"));
            assert.deepEqual(world.registry.snapshot(), original);
            assert.equal(world.fs.files.has(STATE_PATH), false);
            assert.ok(
              !report.lines.some((line) => line.includes("Left ")),
              report.lines.join("\n"),
            );
          });
        }
      }
    });

    Deno.test(`${req.method}: crash during restore (${start}): clean finishes it`, async (t) => {
      const original = new World(initial).registry.snapshot();
      for (let n = 0; n < writes; n++) {
        await t.step(`crash-after restore mutation #${n + 1}`, async () => {
          const world = new World(initial);
          const { deps, claim } = await startConnect(world);
          const applied = await setupGlobalProxy(req, claim, deps);
          crashAt(world, n, "crash-after");
          await applied.restore();
          world.dieAtCrash(100);
          if (n < writes - 1) assert.notDeepEqual(world.registry.snapshot(), original);
          const report = await cleanAfterDeath(world);
          assert.equal(report.ok, true, report.lines.join("\n"));
          assert.deepEqual(world.registry.snapshot(), original);
          assert.equal(world.fs.files.has(STATE_PATH), false);
        });
      }
    });
  }
}

Deno.test("crash right after the claim: clean removes the stale file, touches nothing", async () => {
  const world = new World();
  await startConnect(world);
  world.kill(100);
  const report = await clean({ dryRun: false }, world.process(200));
  assert.deepEqual(world.registry.calls, []);
  assert.equal(world.fs.files.has(STATE_PATH), false);
  assert.deepEqual(report.lines, [
    `connect pid 100 (127.0.0.1:2223) is gone (pid 100 is not running); its state file is ` +
    STATE_PATH,
    `  Removed ${STATE_PATH}`,
  ]);
});
