import assert from "node:assert/strict";
import { AlreadyRunningError, claimConnect, ClaimError } from "../../../src/sysproxy/claim.ts";
import { setupGlobalProxy } from "../../../src/sysproxy/setup.ts";
import { CORP, ENV, HERE, INET, SOCKS, STATE_DIR, STATE_PATH, World } from "./fakes.ts";

Deno.test("a claim writes a state file with no values that names this process", async () => {
  const world = new World();
  const claim = await claimConnect(HERE, world.process(100));
  assert.equal(claim.path, STATE_PATH);
  assert.deepEqual(world.fs.json(STATE_PATH), {
    format: "ktctl-connect-state",
    version: 1,
    pid: 100,
    processStart: "started:100",
    address: "127.0.0.1",
    port: 2223,
    method: null,
    createdAt: "2024-05-01T09:30:00.000Z",
    values: [],
  });
  assert.deepEqual(claim.repaired, []);
  assert.deepEqual(await claim.release(), []);
  assert.equal(world.fs.files.has(STATE_PATH), false);
});

Deno.test("a second claim on the same address:port while the first runs fails", async () => {
  const world = new World();
  await claimConnect(HERE, world.process(100));
  const text = world.fs.files.get(STATE_PATH);
  const error = await claimConnect(HERE, world.process(200)).catch((e) => e);
  assert.ok(error instanceof AlreadyRunningError);
  assert.equal(error.pid, 100);
  assert.equal(
    error.message,
    "ktctl connect is already running on 127.0.0.1:2223 (pid 100); stop it first, or choose " +
      "another --proxyAddr/--proxyPort",
  );
  assert.equal(world.fs.files.get(STATE_PATH), text);
  // Another port is another claim.
  const other = await claimConnect({ address: "127.0.0.1", port: 2224 }, world.process(200));
  assert.equal(other.path, `${STATE_DIR}\\connect-127.0.0.1-2224.json`);
});

Deno.test("a dead owner's leftovers are restored before the new claim is made", async () => {
  const world = new World(CORP);
  const first = world.process(100);
  await setupGlobalProxy(SOCKS, await claimConnect(HERE, first), first);
  world.kill(100);
  const claim = await claimConnect(HERE, world.process(200));
  assert.deepEqual(world.registry.snapshot(), new World(CORP).registry.snapshot());
  assert.equal(world.fs.json(STATE_PATH).pid, 200);
  assert.deepEqual(claim.repaired, [
    `connect pid 100 (127.0.0.1:2223) is gone (pid 100 is not running); its state file is ` +
    STATE_PATH,
    `  Restored ${INET}\\ProxyEnable to 0 (REG_DWORD)`,
    `  Removed ${INET}\\ProxyOverride (it did not exist before)`,
    `  Removed ${INET}\\ProxyServer (it did not exist before)`,
    `  Removed ${ENV}\\https_proxy (it did not exist before)`,
    `  Restored ${ENV}\\http_proxy to "http://corp:8080" (REG_SZ)`,
    `  Removed ${STATE_PATH}`,
  ]);
});

Deno.test("a recycled pid (same pid, other start time) does not block a claim", async () => {
  const world = new World();
  await claimConnect(HERE, world.process(100));
  world.probe.running.set(100, "started:another-program");
  const claim = await claimConnect(HERE, world.process(200));
  assert.match(claim.repaired[0], /pid 100 now belongs to another program/);
  assert.equal(world.fs.json(STATE_PATH).pid, 200);
});

Deno.test("leftovers that cannot be restored stop the claim and stay on disk", async () => {
  const world = new World(CORP);
  const first = world.process(100);
  await setupGlobalProxy(SOCKS, await claimConnect(HERE, first), first);
  world.kill(100);
  world.registry.fail((call) => call[0] === "delete" && call[2] === "ProxyServer", "denied");
  const error = await claimConnect(HERE, world.process(200)).catch((e) => e);
  assert.ok(error instanceof ClaimError);
  assert.equal(
    error.message,
    "could not restore what connect pid 100 (127.0.0.1:2223) left behind",
  );
  assert.ok(error.lines.some((line: string) => line.includes("Windows error 5")));
  assert.equal(world.fs.json(STATE_PATH).pid, 100);
  assert.equal(world.fs.json(STATE_PATH).values.length, 5);
});

Deno.test("an unreadable or foreign state file stops the claim untouched", async () => {
  for (const text of ["garbage", JSON.stringify({ format: "ktctl-connect-state", version: 9 })]) {
    const world = new World();
    world.fs.files.set(STATE_PATH, text);
    await assert.rejects(claimConnect(HERE, world.process(200)), ClaimError);
    assert.equal(world.fs.files.get(STATE_PATH), text);
  }
});

Deno.test("when the owner's liveness cannot be told, the claim is refused", async () => {
  const world = new World();
  await claimConnect(HERE, world.process(100));
  world.probe.broken = true;
  await assert.rejects(
    claimConnect(HERE, world.process(200)),
    /cannot tell whether connect pid 100/,
  );
  assert.equal(world.fs.json(STATE_PATH).pid, 100);
});

Deno.test("off Windows the claim lives under $HOME/.ktctl", async () => {
  const world = new World();
  const claim = await claimConnect({ address: "::1", port: 2223 }, world.process(100, "linux"));
  assert.equal(claim.path, "/home/dev/.ktctl/connect-__1-2223.json");
  assert.equal(world.fs.json(claim.path).address, "::1");
});
