/**
 * WinINet's per-connection settings (the LAN and every RAS/VPN entry) through the recording
 * fakes: what each mode sets, that the state file has it all before the first change, and that
 * restore, console close, `clean` after a crash at any step, and Wine's normalising WinINet all
 * put every value back exactly (whole-registry snapshots, which include the fake's per-connection
 * values).
 */
import assert from "node:assert/strict";
import { clean } from "../../../src/sysproxy/clean.ts";
import { PROXY_POLICY_KEY, setupGlobalProxy } from "../../../src/sysproxy/setup.ts";
import type { GlobalProxyRequest } from "../../../src/sysproxy/types.ts";
import {
  type ConnectionSettings,
  PROXY_TYPE_AUTO_DETECT,
  PROXY_TYPE_AUTO_PROXY_URL,
  PROXY_TYPE_DIRECT,
  PROXY_TYPE_PROXY,
} from "../../../src/os/wininet.ts";
import {
  ENV,
  FakeConnections,
  HTTP,
  INET,
  isMutation,
  type Seed,
  SOCKS,
  SOCKS5,
  startConnect,
  STATE_PATH,
  World,
} from "./fakes.ts";

const VPN = "VPN 公司 (上海)";
const DIAL = "Dial-up ő🚀";

/** A company machine: manual proxy with a bypass list on the LAN, auto-detect on, two RAS entries. */
const COMPANY_LAN: ConnectionSettings = {
  flags: PROXY_TYPE_DIRECT | PROXY_TYPE_PROXY | PROXY_TYPE_AUTO_DETECT,
  proxyServer: "http=proxy.corp:8080;https=proxy.corp:8443",
  bypass: "*.内网.公司;10.*;<local>",
  autoConfigUrl: null,
};
const COMPANY_VPN: ConnectionSettings = {
  flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_PROXY_URL,
  proxyServer: null,
  bypass: null,
  autoConfigUrl: "http://wpad.vpn.corp/proxy.pac",
};

function companyWorld(
  seed: Seed = [[ENV, "http_proxy", { type: "REG_SZ", data: "http://corp:8080" }]],
) {
  const world = new World(seed);
  const connections = new FakeConnections(world.registry, [VPN, DIAL], [
    [null, COMPANY_LAN],
    [VPN, COMPANY_VPN],
  ]);
  world.registry.connections = connections;
  return { world, connections };
}

Deno.test("socks: the LAN and every RAS entry get socks= with <local>, auto-detect and PAC off", async () => {
  const { world, connections } = companyWorld();
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  const ktctl = (bypass: string): ConnectionSettings => ({
    flags: PROXY_TYPE_DIRECT | PROXY_TYPE_PROXY,
    proxyServer: "socks=127.0.0.1:2223",
    bypass,
    autoConfigUrl: null,
  });
  assert.deepEqual(connections.peek(null), ktctl("*.内网.公司;10.*;<local>"));
  assert.deepEqual(connections.peek(VPN), {
    ...ktctl("<local>"),
    autoConfigUrl: "http://wpad.vpn.corp/proxy.pac", // kept, but its flag is off
  });
  assert.deepEqual(connections.peek(DIAL), ktctl("<local>"));
  assert.ok(
    applied.summary.includes(
      `Set the same on the dial-up/VPN connections "${VPN}", "${DIAL}"`,
    ),
    applied.summary.join("\n"),
  );
  // Recorded (version 2) with what Windows reported after the write.
  const state = world.fs.json(STATE_PATH);
  assert.equal(state.version, 2);
  assert.deepEqual(state.connections?.map((c) => c.connection), [null, VPN, DIAL]);
  assert.deepEqual(state.connections?.[0].previous, COMPANY_LAN);
  assert.deepEqual(state.connections?.[0].applied, connections.peek(null));
  assert.deepEqual(
    state.connections?.[0].mirror?.map((m) => [m.name, m.previous?.data ?? null]),
    [
      ["ProxyEnable", 1],
      ["ProxyServer", "http=proxy.corp:8080;https=proxy.corp:8443"],
      ["ProxyOverride", "*.内网.公司;10.*;<local>"],
      ["AutoConfigURL", null],
    ],
  );
  // The legacy values are ktctl's too (the registry fallback).
  assert.deepEqual(world.registry.get(INET, "ProxyServer"), {
    type: "REG_SZ",
    data: "socks=127.0.0.1:2223",
  });
});

Deno.test("http: the PAC URL on every connection, the manual proxy kept as Windows' fallback", async () => {
  const { world, connections } = companyWorld();
  const { deps, claim } = await startConnect(world);
  await setupGlobalProxy(HTTP, claim, deps);
  assert.deepEqual(connections.peek(null), {
    flags: PROXY_TYPE_DIRECT | PROXY_TYPE_PROXY | PROXY_TYPE_AUTO_PROXY_URL,
    proxyServer: COMPANY_LAN.proxyServer,
    bypass: COMPANY_LAN.bypass,
    autoConfigUrl: "http://127.0.0.1:2223/proxy.pac",
  });
  assert.deepEqual(connections.peek(VPN), {
    ...COMPANY_VPN,
    autoConfigUrl: "http://127.0.0.1:2223/proxy.pac",
  });
  // Only AutoConfigURL among the legacy values is ktctl's; the rest are as they were.
  assert.deepEqual(world.registry.get(INET, "ProxyServer")?.data, COMPANY_LAN.proxyServer);
  assert.deepEqual(world.registry.get(INET, "ProxyEnable"), { type: "REG_DWORD", data: 1 });
});

Deno.test("socks5: no connection is touched", async () => {
  const { world } = companyWorld();
  const before = world.registry.snapshot();
  const { deps, claim } = await startConnect(world);
  await setupGlobalProxy(SOCKS5, claim, deps);
  assert.ok(!world.registry.calls.some((c) => c[0] === "conn-set"));
  const after = world.registry.snapshot();
  delete after["hkcu\\environment\\http_proxy"];
  delete before["hkcu\\environment\\http_proxy"];
  assert.deepEqual(after, before);
});

for (const req of [SOCKS, HTTP]) {
  Deno.test(`${req.method}: restore, console close and clean put every connection back exactly`, async () => {
    for (const ending of ["restore", "console", "clean"] as const) {
      const { world } = companyWorld();
      const before = world.registry.snapshot();
      const { deps, claim } = await startConnect(world);
      const applied = await setupGlobalProxy(req, claim, deps);
      assert.notDeepEqual(world.registry.snapshot(), before);
      if (ending === "restore") {
        const report = await applied.restore();
        assert.equal(report.ok, true, report.lines.join("\n"));
        assert.ok(
          report.lines.includes(
            `Restored the connection ${JSON.stringify(VPN)} to flags 5 ` +
              `(direct, auto-config URL), server none, bypass none, auto-config URL ` +
              `"http://wpad.vpn.corp/proxy.pac"`,
          ),
          report.lines.join("\n"),
        );
      } else if (ending === "console") {
        world.registry.closeConsole();
        assert.equal(world.fs.files.has(STATE_PATH), false);
      } else {
        world.kill(100);
        const report = await clean({ dryRun: false }, world.process(200));
        assert.equal(report.ok, true, report.lines.join("\n"));
      }
      assert.deepEqual(world.registry.snapshot(), before, ending);
    }
  });
}

Deno.test("a legacy value that did not exist stays absent, though WinINet writes ProxyEnable=0", async () => {
  const world = new World();
  world.registry.connections = new FakeConnections(world.registry, [VPN]);
  const before = world.registry.snapshot();
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(HTTP, claim, deps);
  assert.equal(world.registry.get(INET, "ProxyEnable"), null);
  assert.equal(world.registry.get(INET, "ProxyServer"), null);
  assert.equal((await applied.restore()).ok, true);
  assert.deepEqual(world.registry.snapshot(), before);
});

Deno.test("a VPN connection the user changed meanwhile is left alone, with a warning", async () => {
  const { world, connections } = companyWorld();
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  const mine: ConnectionSettings = { ...NO_PROXY, proxyServer: "mine:1", flags: 3 };
  connections.set(VPN, mine);
  const report = await applied.restore();
  assert.deepEqual(connections.peek(VPN), mine);
  assert.deepEqual(connections.peek(DIAL), { ...NO_PROXY });
  assert.ok(
    report.lines.some((l) =>
      l.startsWith(`Left the connection ${JSON.stringify(VPN)} as they are: they were changed to`)
    ),
    report.lines.join("\n"),
  );
});

const NO_PROXY: ConnectionSettings = {
  flags: PROXY_TYPE_DIRECT,
  proxyServer: null,
  bypass: null,
  autoConfigUrl: null,
};

Deno.test("Wine's WinINet (normalised flags, no bypass or PAC, one connection): still exact", async () => {
  for (const req of [SOCKS, HTTP]) {
    for (
      const seed of [
        [],
        [
          [INET, "ProxyEnable", { type: "REG_DWORD", data: 1 }],
          [INET, "ProxyServer", { type: "REG_SZ", data: "127.0.0.1:3128" }],
          [INET, "ProxyOverride", { type: "REG_SZ", data: "*.corp;<local>" }],
          [INET, "AutoConfigURL", { type: "REG_SZ", data: "http://wpad/p.pac" }],
        ],
      ] as Seed[]
    ) {
      const world = new World(seed);
      const connections = new FakeConnections(world.registry);
      connections.wineLike = true;
      world.registry.connections = connections;
      const before = world.registry.snapshot();
      const { deps, claim } = await startConnect(world);
      const applied = await setupGlobalProxy(req, claim, deps);
      const report = await applied.restore();
      assert.equal(report.ok, true, report.lines.join("\n"));
      assert.ok(!report.lines.some((l) => l.startsWith("Left")), report.lines.join("\n"));
      assert.deepEqual(world.registry.snapshot(), before, `${req.method} ${seed.length}`);
    }
  }
});

/** How many writes (values, connections, legacy values kept) a setup makes in this world. */
async function writesOf(req: GlobalProxyRequest): Promise<number> {
  const { world } = companyWorld();
  const { deps, claim } = await startConnect(world);
  await setupGlobalProxy(req, claim, deps);
  return world.registry.mutations.length;
}

for (const req of [SOCKS, HTTP]) {
  Deno.test(`${req.method}: a crash at any write (connections too): clean restores exactly`, async (t) => {
    const writes = await writesOf(req);
    assert.ok(writes >= 6, String(writes)); // 2 variables, 3 connections, at least 1 value
    for (let n = 0; n < writes; n++) {
      for (const when of ["crash-before", "crash-after"] as const) {
        await t.step(`${when} write #${n + 1}`, async () => {
          const { world } = companyWorld();
          const original = world.registry.snapshot();
          const { deps, claim } = await startConnect(world);
          let seen = 0;
          world.registry.fail((call) => isMutation(call) && seen++ === n, when);
          await setupGlobalProxy(req, claim, deps);
          world.dieAtCrash(100);
          assert.equal(world.fs.json(STATE_PATH).connections?.length, 3);
          world.registry.clearFaults();
          const report = await clean({ dryRun: false }, world.process(200));
          assert.equal(report.ok, true, report.lines.join("\n"));
          assert.deepEqual(world.registry.snapshot(), original);
          assert.equal(world.fs.files.has(STATE_PATH), false);
        });
      }
    }
  });
}

Deno.test("a failing connection write rolls everything back; a failing read falls back to the registry", async () => {
  const { world, connections } = companyWorld();
  const original = world.registry.snapshot();
  connections.failing.add(`set:${DIAL}`);
  const { deps, claim } = await startConnect(world);
  await assert.rejects(() => setupGlobalProxy(SOCKS, claim, deps), /could not set the connection/);
  assert.deepEqual(world.registry.snapshot(), original);

  const second = companyWorld();
  second.connections.failing.add(`get:${VPN}`);
  const started = await startConnect(second.world, 300);
  const applied = await setupGlobalProxy(SOCKS, started.claim, started.deps);
  assert.ok(applied.summary.some((l) => l.startsWith("Could not read WinINet's per-connection")));
  assert.equal(second.world.fs.json(STATE_PATH).connections, undefined);
  assert.equal(second.world.fs.json(STATE_PATH).version, 1);
});

Deno.test("ProxySettingsPerUser=0: one warning, only the variables are set, and restored", async () => {
  const { world } = companyWorld([[PROXY_POLICY_KEY, "ProxySettingsPerUser", {
    type: "REG_DWORD",
    data: 0,
  }]]);
  const before = world.registry.snapshot();
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  assert.equal(applied.warnings.length, 1);
  assert.match(
    applied.warnings[0],
    /^A Group Policy \(ProxySettingsPerUser=0\) .* cannot be changed without Administrator rights.*What still works: the environment variables/,
  );
  assert.deepEqual(
    world.registry.mutations.map((c) => c.slice(0, 3)),
    [["set", ENV, "http_proxy"], ["set", ENV, "https_proxy"]],
  );
  await applied.restore();
  assert.deepEqual(world.registry.snapshot(), before);
  // Any other value of the policy changes nothing.
  const other = companyWorld([[PROXY_POLICY_KEY, "ProxySettingsPerUser", {
    type: "REG_DWORD",
    data: 1,
  }]]);
  const s = await startConnect(other.world);
  assert.deepEqual((await setupGlobalProxy(SOCKS, s.claim, s.deps)).warnings, []);
});

Deno.test("a Windows that stores the settings otherwise than given: recognised by what it reported", async () => {
  const { world, connections } = companyWorld();
  // Say Windows drops PROXY_TYPE_DIRECT from a RAS entry's flags when a proxy is set.
  connections.normalise = (s) =>
    (s.flags & PROXY_TYPE_PROXY) !== 0 ? { ...s, flags: s.flags & ~PROXY_TYPE_DIRECT } : s;
  const before = world.registry.snapshot();
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  assert.equal(connections.peek(VPN).flags, PROXY_TYPE_PROXY);
  const report = await applied.restore();
  assert.ok(!report.lines.some((l) => l.startsWith("Left")), report.lines.join("\n"));
  assert.deepEqual(world.registry.snapshot(), before);
});
