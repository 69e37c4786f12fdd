import assert from "node:assert/strict";
import { claimConnect } from "../../../src/sysproxy/claim.ts";
import { clean } from "../../../src/sysproxy/clean.ts";
import { setupGlobalProxy } from "../../../src/sysproxy/setup.ts";
import { CORP, ENV, INET, SOCKS, startConnect, STATE_DIR, STATE_PATH, World } from "./fakes.ts";

/** A world where connect pid 100 set up the global proxy (and is still running). */
async function withConnect() {
  const world = new World(CORP);
  const { deps, claim } = await startConnect(world);
  await setupGlobalProxy(SOCKS, claim, deps);
  const applied = world.registry.snapshot();
  const stateText = world.fs.files.get(STATE_PATH);
  const callsBefore = world.registry.calls.length;
  const newCalls = () => world.registry.calls.slice(callsBefore);
  return { world, applied, stateText, newCalls, original: new World(CORP).registry.snapshot() };
}

Deno.test("clean while the owner is alive changes nothing and says so", async () => {
  const { world, applied, stateText, newCalls } = await withConnect();
  for (const dryRun of [false, true]) {
    const report = await clean({ dryRun }, world.process(200));
    assert.deepEqual(report, {
      ok: true,
      lines: [
        `connect pid 100 (127.0.0.1:2223) is still running; ${
          dryRun ? "would leave" : "left"
        } its state alone`,
      ],
    });
  }
  assert.deepEqual(newCalls(), []);
  assert.deepEqual(world.registry.snapshot(), applied);
  assert.equal(world.fs.files.get(STATE_PATH), stateText);
});

Deno.test("a pid now used by another program counts as dead: values restored", async () => {
  const { world, original } = await withConnect();
  world.probe.running.set(100, "started:someone-else");
  const report = await clean({ dryRun: false }, world.process(200));
  assert.equal(report.ok, true);
  assert.match(report.lines[0], /pid 100 now belongs to another program/);
  assert.deepEqual(world.registry.snapshot(), original);
  assert.equal(world.fs.files.has(STATE_PATH), false);
});

Deno.test("--dryRun changes nothing and says exactly what it would do", async () => {
  const { world, applied, stateText, newCalls } = await withConnect();
  world.kill(100);
  world.registry.set(INET, "ProxyServer", { type: "REG_SZ", data: "user-choice:3128" });
  const report = await clean({ dryRun: true }, world.process(200));
  assert.deepEqual(report, {
    ok: true,
    lines: [
      `connect pid 100 (127.0.0.1:2223) is gone (pid 100 is not running); its state file is ` +
      STATE_PATH,
      `  Would restore ${INET}\\ProxyEnable to 0 (REG_DWORD)`,
      `  Would remove ${INET}\\ProxyOverride (it did not exist before)`,
      `  Would leave ${INET}\\ProxyServer as it is: it was changed to "user-choice:3128" ` +
      `(REG_SZ) after ktctl set it to "socks=127.0.0.1:2223" (REG_SZ)`,
      `  Would restore ${ENV}\\http_proxy to "http://corp:8080" (REG_SZ)`,
      `  Would remove ${STATE_PATH}`,
    ],
  });
  assert.ok(newCalls().every((call) => call[0] === "get"), JSON.stringify(newCalls()));
  assert.deepEqual(world.registry.snapshot(), {
    ...applied,
    [`${INET}\\ProxyServer`.toLowerCase()]: { type: "REG_SZ", data: "user-choice:3128" },
  });
  assert.equal(world.fs.files.get(STATE_PATH), stateText);
});

Deno.test("a corrupt state file is reported and left, with or without --dryRun", async () => {
  const world = new World();
  world.fs.files.set(STATE_PATH, '{"format": "ktctl-connect-state", "version": 1, "pid": -');
  for (const [dryRun, verb] of [[true, "Would leave"], [false, "Left"]] as const) {
    const report = await clean({ dryRun }, world.process(200));
    assert.equal(report.ok, false);
    assert.equal(report.lines.length, 1);
    assert.ok(report.lines[0].startsWith(`${verb} ${STATE_PATH} alone: it is not a readable`));
  }
  assert.ok(world.fs.files.has(STATE_PATH));
  assert.deepEqual(world.registry.calls, []);
});

Deno.test("a state file of an unknown format version is left for its own ktctl", async () => {
  const world = new World();
  const text = JSON.stringify({ format: "ktctl-connect-state", version: 7, pid: 5 });
  world.fs.files.set(STATE_PATH, text);
  const report = await clean({ dryRun: false }, world.process(200));
  assert.deepEqual(report, {
    ok: false,
    lines: [
      `Left ${STATE_PATH} alone: another ktctl version wrote it (state format 7); run that ` +
      "version's `ktctl clean`",
    ],
  });
  assert.equal(world.fs.files.get(STATE_PATH), text);
});

Deno.test("when liveness cannot be told, the file is left and reported", async () => {
  const { world, applied } = await withConnect();
  world.probe.broken = true;
  const report = await clean({ dryRun: false }, world.process(200));
  assert.equal(report.ok, false);
  assert.match(report.lines[0], /^Cannot tell whether connect pid 100 .* left .* alone$/);
  assert.deepEqual(world.registry.snapshot(), applied);
  assert.ok(world.fs.files.has(STATE_PATH));
});

Deno.test("a restore failure during clean keeps the file and flags the report", async () => {
  const { world } = await withConnect();
  world.kill(100);
  world.registry.fail((call) => call[0] === "set" || call[0] === "delete", "denied");
  const report = await clean({ dryRun: false }, world.process(200));
  assert.equal(report.ok, false);
  assert.ok(report.lines.includes(
    `  Kept ${STATE_PATH}; fix the problem above and run \`ktctl clean\` again`,
  ));
  assert.equal(world.fs.json(STATE_PATH).values.length, 4);
});

Deno.test("clean handles several files and removes dead writers' temp files", async () => {
  const world = new World();
  await startConnect(world, 100);
  await claimConnect({ address: "0.0.0.0", port: 1080 }, world.process(101));
  world.kill(101);
  world.fs.files.set(`${STATE_PATH}.555.tmp`, "{"); // writer 555 died mid-write
  world.fs.files.set(`${STATE_PATH}.100.tmp`, "{"); // writer 100 is still writing
  world.fs.files.set(`${STATE_DIR}\\shadow-555.pid`, "555"); // not ours to judge
  const report = await clean({ dryRun: false }, world.process(200));
  assert.deepEqual(report.lines, [
    `connect pid 101 (0.0.0.0:1080) is gone (pid 101 is not running); its state file is ` +
    `${STATE_DIR}\\connect-0.0.0.0-1080.json`,
    `  Removed ${STATE_DIR}\\connect-0.0.0.0-1080.json`,
    "connect pid 100 (127.0.0.1:2223) is still running; left its state alone",
    `Removed ${STATE_PATH}.555.tmp, left over by a dead ktctl`,
  ]);
  assert.deepEqual([...world.fs.files.keys()].sort(), [
    STATE_PATH,
    `${STATE_PATH}.100.tmp`,
    `${STATE_DIR}\\shadow-555.pid`,
  ]);
});

Deno.test("with no state files clean says there is nothing to do", async () => {
  const report = await clean({ dryRun: false }, new World().process(200));
  assert.deepEqual(report, { ok: true, lines: [`Nothing to clean in ${STATE_DIR}`] });
});

Deno.test("an owner recorded by an older ktctl (wmic or image identity) counts as alive", async () => {
  for (const legacy of ["created:20240501093000.123456+120", "image:deno.exe"]) {
    const { world, applied } = await withConnect();
    const state = world.fs.json(STATE_PATH);
    world.fs.files.set(STATE_PATH, JSON.stringify({ ...state, processStart: legacy }));
    const report = await clean({ dryRun: false }, world.process(200));
    assert.match(report.lines[0], /is still running; left its state alone/);
    assert.deepEqual(world.registry.snapshot(), applied);
  }
});

/** A dead connect's state file with `extra` entries added, as a tampering hand would. */
async function tamperedState(extra: Array<[string, string]>) {
  const { world, original } = await withConnect();
  world.kill(100);
  const state = world.fs.json(STATE_PATH);
  for (const [key, name] of extra) {
    // As ktctl would have recorded it: "set" is what is there now, so a restore would write
    // "previous" (or delete the value) unless the entry is refused.
    world.registry.set(key, name, { type: "REG_SZ", data: "now" });
    state.values.push({
      key,
      name,
      previous: { type: "REG_SZ", data: "calc.exe" },
      set: {
        type: "REG_SZ",
        data: "now",
      },
    });
  }
  world.fs.files.set(STATE_PATH, JSON.stringify(state));
  return { world, original };
}

const RUN = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run";

Deno.test("clean refuses state entries for keys and values ktctl never sets, and says so", async () => {
  const extra: Array<[string, string]> = [
    [RUN, "updater"],
    [ENV, "PATH"],
    [`${INET}\\Connections`, "DefaultConnectionSettings"],
    ["HKLM\\Environment", "http_proxy"],
    [`${ENV}\\`, "http_proxy"],
  ];
  for (const dryRun of [true, false]) {
    const { world, original } = await tamperedState(extra);
    const report = await clean({ dryRun }, world.process(200));
    assert.equal(report.ok, false);
    for (const [key, name] of extra) {
      assert.ok(
        report.lines.includes(
          `  Refused to restore ${
            JSON.stringify(`${key}\\${name}`)
          }: ktctl never sets that value, so the state file was changed by something else; check it`,
        ),
        `${key}\\${name}: ${report.lines.join("\n")}`,
      );
      // Never written: still the value "set" recorded, not the forged "previous".
      assert.deepEqual(world.registry.get(key, name), { type: "REG_SZ", data: "now" });
    }
    const writes = world.registry.calls.filter((c) => c[0] === "set" || c[0] === "delete");
    assert.ok(
      writes.every(([, key]) => key === ENV || key === INET),
      JSON.stringify(writes),
    );
    // ktctl's own values are still put back (in a real run), and the file is kept for a look.
    if (!dryRun) {
      for (const [label, value] of Object.entries(original)) {
        assert.deepEqual(world.registry.snapshot()[label], value, label);
      }
    }
    assert.ok(world.fs.files.has(STATE_PATH));
    assert.equal(
      report.lines.at(-1),
      `  ${dryRun ? "Would keep" : "Kept"} ${STATE_PATH}: ktctl's own values are as above; ` +
        "look at the refused entries, then delete the file",
    );
  }
});

Deno.test("clean accepts ktctl's own value names in any case, as Windows compares them", async () => {
  const { world } = await withConnect();
  world.kill(100);
  const state = world.fs.json(STATE_PATH);
  for (const v of state.values) {
    v.key = v.key.toUpperCase();
    v.name = v.name.toLowerCase();
  }
  world.fs.files.set(STATE_PATH, JSON.stringify(state));
  const report = await clean({ dryRun: false }, world.process(200));
  assert.equal(report.ok, true, report.lines.join("\n"));
  assert.equal(world.fs.files.has(STATE_PATH), false);
});
