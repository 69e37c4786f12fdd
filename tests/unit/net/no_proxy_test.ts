/**
 * `no_proxy` as curl and Go read it, Windows bypass entries, the variables ktctl started with, and
 * which entries would send cluster destinations around ktctl.
 */
import assert from "node:assert/strict";
import {
  noProxyCoveringCluster,
  noProxyMatch,
  parseNoProxy,
  windowsBypassMatch,
} from "../../../src/net/no_proxy.ts";
import { parseCidr } from "../../../src/net/ip.ts";
import {
  parseProxyEndpoint,
  selectUpstream,
  upstreamBannerLine,
  upstreamFromEnv,
} from "../../../src/net/upstream_source.ts";

Deno.test("no_proxy: domains, dots, wildcards, IPs, CIDRs, ports, *", () => {
  const entries = parseNoProxy(
    "corp.example, .internal,*.lab, 192.0.2.1, 10.0.0.0/8, [::1], host:8080 fd00::/8 ,, bad/99",
  );
  const bypassed = (host: string, port = 80) => noProxyMatch(entries, host, port)?.text;
  assert.equal(bypassed("corp.example"), "corp.example");
  assert.equal(bypassed("wiki.CORP.example."), "corp.example");
  assert.equal(bypassed("notcorp.example"), undefined);
  // curl strips the leading dot: .internal matches internal itself too.
  assert.equal(bypassed("internal"), ".internal");
  assert.equal(bypassed("a.b.internal"), ".internal");
  assert.equal(bypassed("x.lab"), "*.lab");
  assert.equal(bypassed("192.0.2.1"), "192.0.2.1");
  assert.equal(bypassed("192.0.2.2"), undefined);
  assert.equal(bypassed("10.96.0.1"), "10.0.0.0/8");
  assert.equal(bypassed("::1"), "[::1]");
  assert.equal(bypassed("[fd00::5]"), "fd00::/8");
  assert.equal(bypassed("host", 8080), "host:8080");
  assert.equal(bypassed("host", 80), undefined);
  // An IP entry is not a domain suffix.
  assert.equal(bypassed("1.192.0.2.1"), undefined);
  assert.equal(noProxyMatch(parseNoProxy("*"), "anything", 1)?.kind, "all");
  assert.deepEqual(parseNoProxy(""), []);
});

Deno.test("Windows bypass entries: wildcards and <local>", () => {
  const m = (host: string, local = false) =>
    windowsBypassMatch(["*.corp.example", "10.*", "intranet:8080", "<local>"], local, host, 8080);
  assert.equal(m("wiki.corp.example"), "*.corp.example");
  assert.equal(m("corp.example"), undefined);
  assert.equal(m("10.1.2.3"), "10.*");
  assert.equal(m("intranet"), "intranet:8080");
  assert.equal(m("printer"), "<local>");
  assert.equal(windowsBypassMatch([], true, "printer", 80), "<local>");
  assert.equal(windowsBypassMatch([], false, "printer", 80), undefined);
  assert.equal(windowsBypassMatch(["a.b"], false, "axb", 80), undefined, "a dot is literal");
});

Deno.test("no_proxy entries that cover the cluster are named", () => {
  const cluster = {
    domain: "cluster.local",
    namespaces: ["demo", "kube-system"],
    ranges: [parseCidr("10.96.0.0/12"), parseCidr("10.244.0.0/16")],
  };
  const env = (v: Record<string, string>) => (name: string) => v[name];
  assert.deepEqual(
    noProxyCoveringCluster(env({ no_proxy: "localhost,127.0.0.1,.corp.example" }), cluster),
    [],
  );
  assert.deepEqual(
    noProxyCoveringCluster(
      env({ NO_PROXY: ".cluster.local,10.0.0.0/8,demo,10.96.0.1,*,.svc,local" }),
      cluster,
    ).map((h) => `${h.entry}: ${h.covers}`),
    [
      ".cluster.local: names under cluster.local",
      "10.0.0.0/8: the cluster's range 10.96.0.0/12",
      "demo: names in namespace demo (such as web.demo)",
      "10.96.0.1: the cluster address 10.96.0.1",
      "*: every destination",
      ".svc: names under cluster.local",
      "local: names under cluster.local",
    ],
  );
});

Deno.test("proxy URLs: schemes, default ports, credentials, junk", () => {
  assert.deepEqual(parseProxyEndpoint("proxy.corp:3128"), {
    protocol: "http",
    host: "proxy.corp",
    port: 3128,
  });
  assert.deepEqual(parseProxyEndpoint("http://proxy.corp"), {
    protocol: "http",
    host: "proxy.corp",
    port: 80,
  });
  assert.deepEqual(parseProxyEndpoint("socks5h://[::1]"), {
    protocol: "socks5",
    host: "::1",
    port: 1080,
  });
  assert.deepEqual(parseProxyEndpoint("socks4a://u@h:1"), {
    protocol: "socks4",
    host: "h",
    port: 1,
    username: "u",
    password: "",
  });
  assert.throws(() => parseProxyEndpoint("https://p:443"), /https:\/\/ proxies are not supported/);
  assert.throws(() => parseProxyEndpoint("http://"), /not a proxy URL/);
});

Deno.test("environment: curl's names first, ktctl's own address ignored, no_proxy kept", () => {
  const self = { port: 2223, address: "127.0.0.1" };
  const env = (v: Record<string, string>) => (name: string) => v[name];
  const { found, ignored } = upstreamFromEnv(
    env({
      http_proxy: "http://127.0.0.1:2223",
      HTTP_PROXY: "http://squid:3128",
      https_proxy: "http://squid:3128",
      no_proxy: "localhost,.corp",
    }),
    self,
  );
  assert.deepEqual(ignored, [
    { variable: "http_proxy", why: "it points at ktctl itself", self: true },
  ]);
  assert.deepEqual(found?.config, {
    kind: "fixed",
    http: undefined,
    https: { protocol: "http", host: "squid", port: 3128 },
    other: undefined,
    bypass: ["localhost", ".corp"],
    bypassLocal: false,
    bypassStyle: "no_proxy",
  });
  assert.equal(found?.source, "environment (https_proxy, no_proxy)");
  assert.equal(
    upstreamBannerLine(found),
    "Outside the cluster: through the upstream proxy http://squid:3128 (2 bypass entries), " +
      "from environment (https_proxy, no_proxy)",
  );
  assert.equal(
    upstreamFromEnv(env({ all_proxy: "socks5://localhost:2223" }), self).found,
    undefined,
  );
  assert.equal(
    selectUpstream({ env: env({}), self }).found.config.kind,
    "none",
  );
  assert.equal(
    upstreamBannerLine(selectUpstream({ env: env({}), self }).found),
    "Outside the cluster: direct connections (no upstream proxy)",
  );
  // The flag wins over the environment; credentials never reach the banner.
  const flagged = selectUpstream({
    flag: {
      kind: "fixed",
      other: { protocol: "http", host: "p", port: 1, username: "u", password: "secret" },
      bypass: [],
      bypassLocal: false,
    },
    env: env({ https_proxy: "http://squid:3128" }),
    self,
  });
  assert.equal(
    upstreamBannerLine(flagged.found),
    "Outside the cluster: through the upstream proxy http://(user)@p:1, from --upstreamProxy",
  );
});
