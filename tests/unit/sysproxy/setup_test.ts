import assert from "node:assert/strict";
import { claimConnect } from "../../../src/sysproxy/claim.ts";
import { SetupError, setupGlobalProxy } from "../../../src/sysproxy/setup.ts";
import {
  ENV,
  HERE,
  HTTP,
  INET,
  isMutation,
  SOCKS,
  SOCKS5,
  startConnect,
  STATE_PATH,
  World,
} from "./fakes.ts";
import { PROXY_POLICY_KEY as POLICY } from "../../../src/sysproxy/setup.ts";

Deno.test("socks: every read first, then env, ProxyEnable last, then the announcements", async () => {
  const world = new World();
  const { deps, claim } = await startConnect(world);
  await setupGlobalProxy(SOCKS, claim, deps);
  assert.deepEqual(world.registry.calls, [
    ["get", POLICY, "ProxySettingsPerUser"],
    ["get", ENV, "http_proxy"],
    ["get", ENV, "https_proxy"],
    ["get", INET, "ProxyServer"],
    ["get", INET, "ProxyOverride"],
    ["get", INET, "ProxyEnable"],
    ["get", INET, "AutoConfigURL"],
    ["close-handler", "on"],
    ["set", ENV, "http_proxy", "REG_SZ", "http://127.0.0.1:2223"],
    ["set", ENV, "https_proxy", "REG_SZ", "http://127.0.0.1:2223"],
    ["set", INET, "ProxyServer", "REG_SZ", "socks=127.0.0.1:2223"],
    ["set", INET, "ProxyOverride", "REG_SZ", "<local>"],
    ["set", INET, "ProxyEnable", "REG_DWORD", "1"],
    ["broadcast"],
    ["refresh"],
  ]);
  assert.deepEqual(world.registry.snapshot(), {
    "hkcu\\environment\\http_proxy": { type: "REG_SZ", data: "http://127.0.0.1:2223" },
    "hkcu\\environment\\https_proxy": { type: "REG_SZ", data: "http://127.0.0.1:2223" },
    [`${INET}\\ProxyServer`.toLowerCase()]: { type: "REG_SZ", data: "socks=127.0.0.1:2223" },
    [`${INET}\\ProxyOverride`.toLowerCase()]: { type: "REG_SZ", data: "<local>" },
    [`${INET}\\ProxyEnable`.toLowerCase()]: { type: "REG_DWORD", data: 1 },
  });
});

Deno.test("socks5: only http_proxy; the system proxy is not touched or refreshed", async () => {
  const world = new World();
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS5, claim, deps);
  assert.deepEqual(world.registry.calls, [
    ["get", POLICY, "ProxySettingsPerUser"],
    ["get", ENV, "http_proxy"],
    ["close-handler", "on"],
    ["set", ENV, "http_proxy", "REG_SZ", "socks5://127.0.0.1:2223"],
    ["broadcast"],
  ]);
  assert.ok(applied.summary.some((line) => line.includes("cannot use SOCKS5")));
});

Deno.test("http: http_proxy, https_proxy and the PAC URL; ProxyEnable/ProxyServer untouched", async () => {
  const world = new World([
    [INET, "ProxyEnable", { type: "REG_DWORD", data: 1 }],
    [INET, "ProxyServer", { type: "REG_SZ", data: "proxy.corp:8080" }],
    [INET, "AutoConfigURL", { type: "REG_SZ", data: "http://wpad.corp/proxy.pac" }],
  ]);
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(HTTP, claim, deps);
  assert.deepEqual(world.registry.mutations, [
    ["set", ENV, "http_proxy", "REG_SZ", "http://127.0.0.1:2223"],
    ["set", ENV, "https_proxy", "REG_SZ", "http://127.0.0.1:2223"],
    ["set", INET, "AutoConfigURL", "REG_SZ", "http://127.0.0.1:2223/proxy.pac"],
  ]);
  assert.deepEqual(world.registry.calls.slice(-2), [["broadcast"], ["refresh"]]);
  const state = world.fs.json(STATE_PATH);
  assert.equal(state.method, "http");
  assert.deepEqual(state.values.at(-1)?.previous, {
    type: "REG_SZ",
    data: "http://wpad.corp/proxy.pac",
  });
  assert.deepEqual(applied.summary, [
    "Set the user environment variable http_proxy=http://127.0.0.1:2223 (before: not set)",
    "Set the user environment variable https_proxy=http://127.0.0.1:2223 (before: not set)",
    "Set the Windows proxy auto-config script to http://127.0.0.1:2223/proxy.pac (before: " +
    '"http://wpad.corp/proxy.pac" (REG_SZ)): cluster destinations go to ktctl, everything else ' +
    "where your previous settings sent it, and your previous settings apply again once ktctl " +
    "is gone",
    "Environment variables reach only programs started from now on, not those already running " +
    "(this console included)",
    "Browsers and other programs that follow the system proxy use the change at once",
    "ktctl puts the previous settings back when connect exits; if it is killed, run " +
    "`ktctl clean`",
    "Note: while ktctl serves the auto-config script, destinations outside the cluster go " +
    "direct, not through your proxy proxy.corp:8080; it applies again once ktctl exits",
  ]);
  const report = await applied.restore();
  assert.equal(report.ok, true);
  assert.deepEqual(world.registry.get(INET, "AutoConfigURL"), {
    type: "REG_SZ",
    data: "http://wpad.corp/proxy.pac",
  });
  assert.equal(world.registry.get(ENV, "https_proxy"), null);
});

Deno.test("a wildcard listen address: clients use loopback everywhere", async () => {
  for (
    const [address, host] of [["0.0.0.0", "127.0.0.1:2223"], ["::", "[::1]:2223"]] as const
  ) {
    const world = new World();
    const deps = world.process(100);
    const claim = await claimConnect({ address, port: 2223 }, deps);
    const scheme = address === "::" ? "socks4a://[::]:2223" : "socks4a://0.0.0.0:2223";
    await setupGlobalProxy({ method: "socks", address, port: 2223, proxyUrl: scheme }, claim, deps);
    assert.deepEqual(world.registry.get(ENV, "http_proxy")?.data, `http://${host}`);
    assert.deepEqual(world.registry.get(INET, "ProxyServer")?.data, `socks=${host}`);
    const http = new World();
    const httpDeps = http.process(100);
    const httpClaim = await claimConnect({ address, port: 2223 }, httpDeps);
    await setupGlobalProxy(
      {
        method: "http",
        address,
        port: 2223,
        proxyUrl: `http://${address === "::" ? "[::]" : address}:2223`,
      },
      httpClaim,
      httpDeps,
    );
    assert.deepEqual(http.registry.get(ENV, "https_proxy")?.data, `http://${host}`);
    assert.deepEqual(http.registry.get(INET, "AutoConfigURL")?.data, `http://${host}/proxy.pac`);
  }
});

Deno.test("httpsProxy: true also sets https_proxy in socks5 mode; by default never", async () => {
  const world = new World();
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy({ ...SOCKS5, httpsProxy: true }, claim, deps);
  assert.deepEqual(world.registry.mutations, [
    ["set", ENV, "http_proxy", "REG_SZ", "socks5://127.0.0.1:2223"],
    ["set", ENV, "https_proxy", "REG_SZ", "socks5://127.0.0.1:2223"],
  ]);
  assert.ok(!applied.summary.some((line) => line.includes("HTTPS requests bypass")));
  const plain = new World();
  const second = await startConnect(plain);
  const summary = (await setupGlobalProxy(SOCKS5, second.claim, second.deps)).summary;
  assert.ok(!plain.registry.calls.some((call) => call.includes("https_proxy")));
  assert.ok(summary.includes("https_proxy was not set, so HTTPS requests bypass the proxy"));
});

Deno.test("the state file holds every value before the first change is made", async () => {
  const world = new World([
    [ENV, "HTTP_PROXY", { type: "REG_SZ", data: "http://corp:8080" }],
    [INET, "ProxyEnable", { type: "REG_DWORD", data: 0 }],
    [INET, "ProxyOverride", { type: "REG_SZ", data: "*.corp.example" }],
  ]);
  const { deps, claim } = await startConnect(world, 321);
  const seen: unknown[] = [];
  world.registry.observe = (call) => {
    if (isMutation(call)) seen.push(world.fs.json(STATE_PATH).values);
  };
  await setupGlobalProxy(SOCKS, claim, deps);
  const expected = [
    {
      key: ENV,
      name: "http_proxy",
      previous: { type: "REG_SZ", data: "http://corp:8080" },
      set: { type: "REG_SZ", data: "http://127.0.0.1:2223" },
    },
    {
      key: ENV,
      name: "https_proxy",
      previous: null,
      set: { type: "REG_SZ", data: "http://127.0.0.1:2223" },
    },
    {
      key: INET,
      name: "ProxyServer",
      previous: null,
      set: { type: "REG_SZ", data: "socks=127.0.0.1:2223" },
    },
    {
      key: INET,
      name: "ProxyOverride",
      previous: { type: "REG_SZ", data: "*.corp.example" },
      set: { type: "REG_SZ", data: "*.corp.example;<local>" },
    },
    {
      key: INET,
      name: "ProxyEnable",
      previous: { type: "REG_DWORD", data: 0 },
      set: { type: "REG_DWORD", data: 1 },
    },
  ];
  assert.equal(seen.length, 5);
  for (const values of seen) assert.deepEqual(values, expected);
  const state = world.fs.json(STATE_PATH);
  assert.equal(state.pid, 321);
  assert.equal(state.processStart, "started:321");
  assert.equal(state.method, "socks");
  assert.equal(state.version, 1);
});

Deno.test("summary says what was set and who sees it when", async () => {
  const world = new World([[INET, "AutoConfigURL", { type: "REG_SZ", data: "http://wpad/p" }]]);
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  assert.deepEqual(applied.summary, [
    "Set the user environment variable http_proxy=http://127.0.0.1:2223 (before: not set)",
    "Set the user environment variable https_proxy=http://127.0.0.1:2223 (before: not set)",
    "Set the Windows system proxy to socks=127.0.0.1:2223 (bypass list: <local>)",
    "Environment variables reach only programs started from now on, not those already running " +
    "(this console included)",
    "Browsers and other programs that follow the system proxy use the change at once",
    "ktctl puts the previous settings back when connect exits; if it is killed, run " +
    "`ktctl clean`",
    "Note: a proxy auto-config script is set (AutoConfigURL=http://wpad/p); Windows uses it " +
    "before the system proxy, so browsers may bypass ktctl's proxy.",
  ]);
});

Deno.test("failed announcements are warnings in the summary, not failures", async () => {
  const world = new World();
  world.registry.broadcastWorks = false;
  world.registry.refreshWorks = { settingsChanged: false, refresh: false };
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  assert.match(applied.summary.at(-2) ?? "", /^Could not tell Windows that the user environment/);
  assert.match(
    applied.summary.at(-1) ?? "",
    /^Could not tell running programs .*InternetSetOption/,
  );
  // One of the two WinINet calls is enough (Wine's REFRESH fails).
  const wine = new World();
  wine.registry.refreshWorks = { settingsChanged: true, refresh: false };
  const second = await startConnect(wine);
  const summary = (await setupGlobalProxy(SOCKS5, second.claim, second.deps)).summary;
  assert.ok(!summary.some((line) => line.startsWith("Could not")));
});

Deno.test("a value that already has the wanted data is recorded but not rewritten", async () => {
  const world = new World([[INET, "ProxyEnable", { type: "REG_DWORD", data: 1 }]]);
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  assert.ok(!world.registry.mutations.some((call) => call.includes("ProxyEnable")));
  await applied.restore();
  assert.deepEqual(world.registry.get(INET, "ProxyEnable"), { type: "REG_DWORD", data: 1 });
});

Deno.test("setting up twice on one claim is refused", async () => {
  const world = new World();
  const { deps, claim } = await startConnect(world);
  await setupGlobalProxy(SOCKS, claim, deps);
  await assert.rejects(setupGlobalProxy(SOCKS, claim, deps), SetupError);
});

for (const platform of ["linux", "darwin"] as const) {
  Deno.test(`${platform}: nothing is changed, the summary gives the export hint`, async () => {
    const world = new World();
    const deps = world.process(100, platform);
    const claim = await claimConnect(HERE, deps);
    const applied = await setupGlobalProxy(SOCKS5, claim, deps);
    assert.deepEqual(world.registry.calls, []);
    assert.deepEqual(applied.summary, [
      `On ${platform}, --setupGlobalProxy changes no system settings; it only shows this hint`,
      "To use the proxy from a shell, run: export http_proxy=socks5://127.0.0.1:2223",
    ]);
    const http = await setupGlobalProxy(HTTP, claim, deps);
    assert.equal(
      http.summary[1],
      "To use the proxy from a shell, run: export http_proxy=http://127.0.0.1:2223 " +
        "https_proxy=http://127.0.0.1:2223",
    );
    assert.deepEqual((await applied.restore()).lines, []);
    assert.deepEqual(world.fs.json("/home/dev/.ktctl/connect-127.0.0.1-2223.json").values, []);
  });
}

Deno.test("no console-close handler (FFI refused): a note, and everything else as usual", async () => {
  const world = new World();
  world.registry.onConsoleClose = () => {
    throw new Error("SetConsoleCtrlHandler failed");
  };
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  assert.match(
    applied.summary.at(-1) ?? "",
    /^Closing this console window will not restore the settings \(SetConsoleCtrlHandler failed\)/,
  );
  assert.equal((await applied.restore()).ok, true);
  assert.deepEqual(world.registry.snapshot(), {});
});
