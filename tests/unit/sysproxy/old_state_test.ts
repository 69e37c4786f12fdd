/**
 * State files written by earlier ktctl versions (format 1, socks mode's `socks4a://` http_proxy
 * and no https_proxy, no connections) still restore and `clean` exactly.
 */
import assert from "node:assert/strict";
import { clean } from "../../../src/sysproxy/clean.ts";
import { claimConnect } from "../../../src/sysproxy/claim.ts";
import { ENV, HERE, INET, STATE_PATH, World } from "./fakes.ts";

const OLD = {
  format: "ktctl-connect-state",
  version: 1,
  pid: 100,
  processStart: "started:100",
  address: "127.0.0.1",
  port: 2223,
  method: "socks",
  createdAt: "2024-05-01T09:30:00.000Z",
  values: [
    {
      key: ENV,
      name: "http_proxy",
      previous: { type: "REG_SZ", data: "http://corp:8080" },
      set: { type: "REG_SZ", data: "socks4a://127.0.0.1:2223" },
    },
    {
      key: INET,
      name: "ProxyServer",
      previous: null,
      set: { type: "REG_SZ", data: "socks=127.0.0.1:2223" },
    },
    { key: INET, name: "ProxyOverride", previous: null, set: { type: "REG_SZ", data: "<local>" } },
    {
      key: INET,
      name: "ProxyEnable",
      previous: { type: "REG_DWORD", data: 0 },
      set: { type: "REG_DWORD", data: 1 },
    },
  ],
};

/** The registry as the old connect left it, and as it was before. */
function oldWorld() {
  const before = new World([
    [ENV, "http_proxy", { type: "REG_SZ", data: "http://corp:8080" }],
    [INET, "ProxyEnable", { type: "REG_DWORD", data: 0 }],
  ]).registry.snapshot();
  const world = new World([
    [ENV, "http_proxy", { type: "REG_SZ", data: "socks4a://127.0.0.1:2223" }],
    [INET, "ProxyServer", { type: "REG_SZ", data: "socks=127.0.0.1:2223" }],
    [INET, "ProxyOverride", { type: "REG_SZ", data: "<local>" }],
    [INET, "ProxyEnable", { type: "REG_DWORD", data: 1 }],
  ]);
  world.fs.files.set(STATE_PATH, JSON.stringify(OLD, null, 2));
  return { world, before };
}

Deno.test("an old socks4a:// state file: clean restores every value exactly", async () => {
  const { world, before } = oldWorld();
  const report = await clean({ dryRun: false }, world.process(200));
  assert.equal(report.ok, true, report.lines.join("\n"));
  assert.ok(report.lines.includes(`  Restored ${ENV}\\http_proxy to "http://corp:8080" (REG_SZ)`));
  assert.deepEqual(world.registry.snapshot(), before);
  assert.equal(world.fs.files.has(STATE_PATH), false);
});

Deno.test("an old socks4a:// state file: the next connect repairs it first", async () => {
  const { world, before } = oldWorld();
  const claim = await claimConnect(HERE, world.process(200));
  assert.equal(claim.repaired.length, 6, claim.repaired.join("\n"));
  assert.deepEqual(world.registry.snapshot(), before);
  assert.equal(world.fs.json(STATE_PATH).pid, 200);
});
