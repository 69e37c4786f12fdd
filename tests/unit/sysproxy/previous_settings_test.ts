/**
 * The previous Windows proxy settings as an UpstreamConfig: WinINet's ProxyServer, ProxyOverride
 * and flags parsed on tables of real-world and hostile values; ktctl's own address never taken.
 */
import assert from "node:assert/strict";
import {
  describeUpstream,
  parseBypass,
  parseEndpoint,
  parseProxyServer,
  readPreviousSettings,
  settingsFromRegistry,
  upstreamFromSettings,
} from "../../../src/sysproxy/previous_settings.ts";
import {
  PROXY_TYPE_AUTO_DETECT,
  PROXY_TYPE_AUTO_PROXY_URL,
  PROXY_TYPE_DIRECT,
  PROXY_TYPE_PROXY,
} from "../../../src/os/wininet.ts";
import { FakeConnections, INET, World } from "./fakes.ts";

const SELF = { host: "127.0.0.1", port: 2223, pacUrl: "http://127.0.0.1:2223/proxy.pac" };
const http = (host: string, port: number) => ({ protocol: "http" as const, host, port });

Deno.test("ProxyServer: one proxy, per scheme, socks=, http:// prefixes, default ports", () => {
  assert.deepEqual(parseProxyServer("proxy.corp:8080"), { other: http("proxy.corp", 8080) });
  assert.deepEqual(parseProxyServer("http://proxy.corp:8080/"), {
    other: http("proxy.corp", 8080),
  });
  assert.deepEqual(
    parseProxyServer("http=a.corp:3128;https=b.corp:3129;ftp=f:21;socks=s.corp"),
    {
      http: http("a.corp", 3128),
      https: http("b.corp", 3129),
      other: { protocol: "socks4", host: "s.corp", port: 1080 },
    },
  );
  assert.deepEqual(parseProxyServer(" http=a:1   https=[fd00::1]:2 "), {
    http: http("a", 1),
    https: http("fd00::1", 2),
  });
  assert.deepEqual(parseProxyServer("http=proxy"), { http: http("proxy", 80) });
  for (const bad of ["", ";;", "ftp=a:1", "a:99999", "b:c", "http=", "x=y:1", "é:1"]) {
    assert.equal(parseProxyServer(bad), undefined, bad);
  }
  assert.equal(parseProxyServer("a:1;".repeat(5000)), undefined, "too long");
  assert.equal(parseEndpoint("[::1", "http", 80), undefined);
});

Deno.test("ProxyOverride: entries as written, <local> apart, any separators", () => {
  assert.deepEqual(parseBypass("*.corp.example; 10.*;<LOCAL>;;"), {
    bypass: ["*.corp.example", "10.*"],
    bypassLocal: true,
  });
  assert.deepEqual(parseBypass(null), { bypass: [], bypassLocal: false });
  assert.deepEqual(parseBypass("*.内网.公司"), { bypass: ["*.内网.公司"], bypassLocal: false });
});

Deno.test("flags decide: auto-detect first, then the PAC URL, then the manual proxy", () => {
  const manual = {
    flags: PROXY_TYPE_DIRECT | PROXY_TYPE_PROXY,
    proxyServer: "proxy.corp:8080",
    bypass: "*.corp;<local>",
    autoConfigUrl: null,
  };
  const fixed = {
    kind: "fixed",
    other: http("proxy.corp", 8080),
    bypass: ["*.corp"],
    bypassLocal: true,
  };
  assert.deepEqual(upstreamFromSettings(manual, SELF), fixed);
  assert.deepEqual(upstreamFromSettings({ ...manual, flags: PROXY_TYPE_DIRECT }, SELF), {
    kind: "none",
  });
  const pac = {
    ...manual,
    flags: manual.flags | PROXY_TYPE_AUTO_PROXY_URL,
    autoConfigUrl: "http://wpad/p",
  };
  assert.deepEqual(upstreamFromSettings(pac, SELF), { kind: "pac", url: "http://wpad/p" });
  assert.deepEqual(
    upstreamFromSettings({ ...pac, flags: pac.flags | PROXY_TYPE_AUTO_DETECT }, SELF),
    { kind: "auto-detect", pacUrl: "http://wpad/p", fallback: fixed },
  );
  assert.deepEqual(
    upstreamFromSettings({ ...manual, flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_DETECT }, SELF),
    { kind: "auto-detect" },
  );
  // A URL without its flag is not in use.
  assert.deepEqual(
    upstreamFromSettings({ ...manual, flags: PROXY_TYPE_DIRECT, autoConfigUrl: "http://x/" }, SELF),
    { kind: "none" },
  );
});

Deno.test("ktctl's own proxy or PAC (a crashed connect's leftovers) is never the upstream", () => {
  for (const server of ["socks=127.0.0.1:2223", "127.0.0.1:2223", "http=localhost:2223"]) {
    assert.deepEqual(
      upstreamFromSettings(
        { flags: 3, proxyServer: server, bypass: null, autoConfigUrl: null },
        SELF,
      ),
      { kind: "none" },
      server,
    );
  }
  assert.deepEqual(
    upstreamFromSettings(
      { flags: 5, proxyServer: null, bypass: null, autoConfigUrl: SELF.pacUrl },
      SELF,
    ),
    { kind: "none" },
  );
});

Deno.test("read from WinINet where it answers, else from the registry values", () => {
  const world = new World([
    [INET, "ProxyEnable", { type: "REG_DWORD", data: 1 }],
    [INET, "ProxyServer", { type: "REG_SZ", data: "http=a:1" }],
    [INET, "AutoConfigURL", { type: "REG_SZ", data: "http://wpad/p.pac" }],
  ]);
  assert.deepEqual(readPreviousSettings(world.registry, SELF), {
    config: { kind: "pac", url: "http://wpad/p.pac" },
    source: "Windows system proxy (LAN)",
    note:
      "WinINet's settings could not be read (no per-connection settings here); used the registry",
  });
  const connections = new FakeConnections(world.registry);
  world.registry.connections = connections;
  connections.set(null, {
    flags: PROXY_TYPE_DIRECT | PROXY_TYPE_PROXY | PROXY_TYPE_AUTO_DETECT,
    proxyServer: "http=a:1",
    bypass: null,
    autoConfigUrl: null,
  });
  assert.deepEqual(readPreviousSettings(world.registry, SELF).config, {
    kind: "auto-detect",
    fallback: { kind: "fixed", http: http("a", 1), bypass: [], bypassLocal: false },
  });
  // Wine's WinINet reports no auto-config URL: the registry value fills it in.
  const wine = new World([[INET, "AutoConfigURL", { type: "REG_SZ", data: "http://w/p" }]]);
  const wineConnections = new FakeConnections(wine.registry);
  wineConnections.wineLike = true;
  wine.registry.connections = wineConnections;
  const untouched = wine.registry.snapshot();
  assert.deepEqual(readPreviousSettings(wine.registry, SELF).config, {
    kind: "pac",
    url: "http://w/p",
  });
  // Reading changed nothing (Wine's WinINet writes ProxyEnable=0 when it reads).
  assert.deepEqual(wine.registry.snapshot(), untouched);
  assert.equal(settingsFromRegistry(new World().registry.registry).flags, PROXY_TYPE_DIRECT);
});

Deno.test("describeUpstream: one line per kind", () => {
  assert.equal(describeUpstream({ kind: "none" }), "none (direct)");
  assert.equal(
    describeUpstream({
      kind: "fixed",
      http: http("a", 1),
      https: http("::1", 2),
      bypass: ["*.corp"],
      bypassLocal: true,
    }),
    "http: http://a:1, https: http://[::1]:2 (bypass *.corp;<local>)",
  );
  assert.equal(
    describeUpstream({ kind: "auto-detect", pacUrl: "http://w/p" }),
    "automatic detection (WPAD), then the PAC file http://w/p",
  );
});
