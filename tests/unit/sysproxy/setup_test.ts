import assert from "node:assert/strict";
import { claimConnect } from "../../../src/sysproxy/claim.ts";
import { SetupError, setupGlobalProxy } from "../../../src/sysproxy/setup.ts";
import {
  ENV,
  HERE,
  INET,
  isMutation,
  SOCKS,
  SOCKS5,
  startConnect,
  STATE_PATH,
  World,
} from "./fakes.ts";

Deno.test("socks: exact reg/setx argv, in order, env first and ProxyEnable last", async () => {
  const world = new World();
  const { deps, claim } = await startConnect(world);
  await setupGlobalProxy(SOCKS, claim, deps);
  assert.deepEqual(world.registry.runner.calls, [
    ["reg", "query", ENV, "/v", "http_proxy"],
    ["reg", "query", INET, "/v", "ProxyServer"],
    ["reg", "query", INET, "/v", "ProxyOverride"],
    ["reg", "query", INET, "/v", "ProxyEnable"],
    ["reg", "query", INET, "/v", "AutoConfigURL"],
    ["setx", "http_proxy", "socks4a://127.0.0.1:2223"],
    ["reg", "query", ENV, "/v", "http_proxy"],
    ["reg", "add", INET, "/v", "ProxyServer", "/t", "REG_SZ", "/d", "socks=127.0.0.1:2223", "/f"],
    ["reg", "add", INET, "/v", "ProxyOverride", "/t", "REG_SZ", "/d", "<local>", "/f"],
    ["reg", "add", INET, "/v", "ProxyEnable", "/t", "REG_DWORD", "/d", "1", "/f"],
  ]);
  assert.deepEqual(world.registry.snapshot(), {
    "hkcu\\environment\\http_proxy": { type: "REG_SZ", data: "socks4a://127.0.0.1:2223" },
    [`${INET}\\ProxyServer`.toLowerCase()]: { type: "REG_SZ", data: "socks=127.0.0.1:2223" },
    [`${INET}\\ProxyOverride`.toLowerCase()]: { type: "REG_SZ", data: "<local>" },
    [`${INET}\\ProxyEnable`.toLowerCase()]: { type: "REG_DWORD", data: 1 },
  });
});

Deno.test("socks5: only http_proxy, through setx; the system proxy is not touched", async () => {
  const world = new World();
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS5, claim, deps);
  assert.deepEqual(world.registry.runner.calls, [
    ["reg", "query", ENV, "/v", "http_proxy"],
    ["setx", "http_proxy", "socks5://127.0.0.1:2223"],
    ["reg", "query", ENV, "/v", "http_proxy"],
  ]);
  assert.ok(applied.summary.some((line) => line.includes("cannot use SOCKS5")));
});

Deno.test("httpsProxy: true also sets https_proxy; by default it is never touched", async () => {
  const world = new World();
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy({ ...SOCKS5, httpsProxy: true }, claim, deps);
  assert.deepEqual(world.registry.runner.mutations, [
    ["setx", "http_proxy", "socks5://127.0.0.1:2223"],
    ["setx", "https_proxy", "socks5://127.0.0.1:2223"],
  ]);
  assert.ok(!applied.summary.some((line) => line.includes("HTTPS requests bypass")));
  const plain = new World();
  const second = await startConnect(plain);
  const summary = (await setupGlobalProxy(SOCKS, second.claim, second.deps)).summary;
  assert.ok(!plain.registry.runner.calls.some((argv) => argv.includes("https_proxy")));
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
  world.registry.observe = (argv) => {
    if (isMutation(argv)) seen.push(world.fs.json(STATE_PATH).values);
  };
  await setupGlobalProxy(SOCKS, claim, deps);
  const expected = [
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
  assert.equal(seen.length, 4);
  for (const values of seen) assert.deepEqual(values, expected);
  const state = world.fs.json(STATE_PATH);
  assert.equal(state.pid, 321);
  assert.equal(state.processStart, "created:321-start");
  assert.equal(state.method, "socks");
  assert.equal(state.version, 1);
});

Deno.test("summary says what was set and that only programs started now use it", async () => {
  const world = new World([[INET, "AutoConfigURL", { type: "REG_SZ", data: "http://wpad/p" }]]);
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  assert.deepEqual(applied.summary, [
    "Set the user environment variable http_proxy=socks4a://127.0.0.1:2223 (before: not set)",
    "https_proxy was not set, so HTTPS requests bypass the proxy",
    "Set the Windows system proxy to socks=127.0.0.1:2223 (bypass list: <local>)",
    "Only programs started from now on use these settings; programs already running, this " +
    "console included, do not",
    "ktctl puts the previous settings back when connect exits; if it is killed, run " +
    "`ktctl clean`",
    "Note: a proxy auto-config script is set (AutoConfigURL=http://wpad/p); Windows uses it " +
    "before the system proxy, so browsers may bypass ktctl's proxy.",
  ]);
});

Deno.test("a value that already has the wanted data is recorded but not rewritten", async () => {
  const world = new World([[INET, "ProxyEnable", { type: "REG_DWORD", data: 1 }]]);
  const { deps, claim } = await startConnect(world);
  const applied = await setupGlobalProxy(SOCKS, claim, deps);
  assert.ok(!world.registry.runner.mutations.some((argv) => argv.includes("ProxyEnable")));
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
    assert.deepEqual(world.registry.runner.calls, []);
    assert.deepEqual(applied.summary, [
      `On ${platform}, --setupGlobalProxy changes no system settings; it only shows this hint`,
      "To use the proxy from a shell, run: export http_proxy=socks5://127.0.0.1:2223",
    ]);
    assert.deepEqual((await applied.restore()).lines, []);
    assert.deepEqual(world.fs.json("/home/dev/.ktctl/connect-127.0.0.1-2223.json").values, []);
  });
}
