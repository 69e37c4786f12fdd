/**
 * The route decision table: one call gives cluster / upstream / direct / refused for every kind of
 * destination, against a small index, a resolver that records what it was asked (cluster-looking
 * names must never reach it) and fixed or PAC upstreams.
 */
import { StaticPodSource } from "../../helpers/static_source.ts";
import assert from "node:assert/strict";
import { ClusterIndex } from "../../../src/cluster/index.ts";
import type { PodInfo, ServiceInfo, SliceInfo } from "../../../src/kube/objects.ts";
import { type FinalRoute, Router, type RouterOptions } from "../../../src/route/route.ts";
import { pacUrlFor, parsePacAnswer, UpstreamChooser } from "../../../src/route/upstream_choice.ts";
import type { PacEvaluator, UpstreamConfig } from "../../../src/net/proxy_config.ts";
import { parseCidr } from "../../../src/net/ip.ts";

const svc = (ns: string, name: string, over: Partial<ServiceInfo> = {}): ServiceInfo => ({
  namespace: ns,
  name,
  type: "ClusterIP",
  clusterIPs: [],
  headless: false,
  ports: [{ port: 80, protocol: "TCP", targetPort: 8080 }],
  selector: { app: name },
  ...over,
});

function buildIndex(): ClusterIndex {
  const index = new ClusterIndex([parseCidr("10.96.0.0/12"), parseCidr("10.244.0.0/16")]);
  const pod: PodInfo = {
    namespace: "demo",
    name: "web-1",
    ips: ["10.244.0.5"],
    ready: true,
    live: true,
    terminating: false,
    hostNetwork: false,
    ports: [],
    labels: { app: "web" },
  };
  const source = new StaticPodSource(index);
  source.putPod(pod);
  const slice: SliceInfo = {
    namespace: "demo",
    name: "web-x",
    serviceName: "web",
    ports: [{ port: 8080, protocol: "TCP" }],
    endpoints: [{ addresses: ["10.244.0.5"], ready: true, terminating: false, podName: "web-1" }],
  } as SliceInfo;
  source.putSlice(slice);
  index.upsert("services", svc("demo", "web", { clusterIPs: ["10.96.0.10"] }));
  index.upsert("services", svc("demo", "tls", { clusterIPs: ["10.96.0.11"] }));
  for (
    const [name, target] of [
      ["to-local", "localhost"],
      ["to-loop", "127.0.0.1"],
      ["to-meta", "169.254.169.254"],
      ["to-zero", "0.0.0.0"],
      ["to-v6", "fe80::1"],
      ["to-self", "192.168.1.10"],
      ["to-web", "web.demo.svc.cluster.local"],
      ["to-out", "db.example.com."],
      ["to-sneaky", "sneaky.example.com"],
      ["to-ext", "to-out.demo"],
    ]
  ) {
    index.upsert(
      "services",
      svc("demo", name, { type: "ExternalName", externalName: target, ports: [] }),
    );
  }
  index.upsert("services", svc("other", "api"));
  index.upsert("services", svc("a", "dup"));
  index.upsert("services", svc("b", "dup"));
  return index;
}

const DNS: Record<string, string[]> = {
  "example.com": ["93.184.215.14"],
  "db.example.com": ["192.0.2.7"],
  "sneaky.example.com": ["192.0.2.8", "127.0.0.1"],
  "pods.corp": ["10.244.0.5"],
  "void.corp": ["10.244.9.9"],
  "site.local": ["127.0.0.1"],
  "wiki.corp.example": ["192.0.2.9"],
  "intranet": ["192.0.2.10"],
};

function router(
  over: Partial<RouterOptions> = {},
  upstream?: UpstreamConfig,
  pac?: (url: string, host: string) => string,
) {
  const asked: string[] = [];
  const resolver = (host: string) => {
    asked.push(host);
    const found = DNS[host];
    return found ? Promise.resolve(found) : Promise.reject(new Error("ENOTFOUND"));
  };
  const pacFactory = pac
    ? (): PacEvaluator => ({ find: (url, host) => Promise.resolve(pac(url, host)) })
    : undefined;
  const r = new Router(
    buildIndex(),
    {
      namespace: "demo",
      clusterDomain: "cluster.local",
      direct: { kind: "all" },
      selfAddress: "192.168.1.10",
      ...over,
    },
    resolver,
    upstream ? new UpstreamChooser(upstream, pacFactory) : undefined,
  );
  return { r, asked };
}

const kindOf = (route: FinalRoute) =>
  route.kind === "refused" ? `refused ${route.failure}` : route.kind;

Deno.test("route: the decision table without an upstream", async () => {
  const { r, asked } = router();
  const table: [string, number, string, RegExp?][] = [
    ["web", 80, "cluster", /^service demo\/web:80$/],
    ["web.demo", 80, "cluster"],
    ["10.96.0.10", 80, "cluster"],
    ["10.244.0.5", 9000, "cluster", /^pod demo\/web-1$/],
    [
      "10.96.9.9",
      80,
      "refused unknown-host",
      /no pod or service in the cluster has IP 10\.96\.9\.9/,
    ],
    ["nosuch.demo", 80, "refused unknown-host", /^no service nosuch in namespace demo \(it has: /],
    [
      "api",
      80,
      "refused unknown-host",
      /^no service api in namespace demo, which short names are looked up in; did you mean api\.other\?$/,
    ],
    ["dup", 80, "refused unknown-host", /services called dup are in: a, b$/],
    ["nothing.demo.svc.cluster.local", 80, "refused unknown-host"],
    ["example.com", 443, "direct", /^direct$/],
    ["pods.corp", 80, "cluster", /^pod demo\/web-1$/],
    ["void.corp", 80, "refused unknown-host", /resolves to 10\.244\.9\.9, in the cluster's range/],
    ["nowhere.example", 80, "refused unknown-host", /cannot resolve nowhere\.example: ENOTFOUND/],
    [
      "web.nosuchns",
      80,
      "refused unknown-host",
      /^cannot resolve web\.nosuchns: ENOTFOUND \(and no namespace nosuchns in the cluster; a service web is in: demo\)$/,
    ],
  ];
  for (const [host, port, kind, via] of table) {
    const route = await r.route(host, port);
    assert.equal(kindOf(route), kind, `${host}: ${JSON.stringify(route)}`);
    const text = route.kind === "refused" ? route.reason : route.via;
    if (via) assert.match(text, via, host);
  }
  // Names that are the cluster's were never asked of the system resolver.
  for (const name of ["web", "web.demo", "nosuch.demo", "api", "dup"]) {
    assert.ok(!asked.includes(name), `${name} was sent to the system resolver`);
  }
});

Deno.test("route: ExternalName targets on this machine or link-local are refused unless allowed", async () => {
  const { r, asked } = router();
  for (
    const [name, what] of [
      ["to-local", /this machine \(localhost\)/],
      ["to-loop", /this machine \(loopback\)/],
      ["to-meta", /link-local/],
      ["to-zero", /unspecified/],
      ["to-v6", /link-local/],
      ["to-self", /ktctl's own address/],
      ["to-sneaky", /\(127\.0\.0\.1\) points at this machine/],
    ] as const
  ) {
    const route = await r.route(`${name}.demo`, 80);
    assert.equal(kindOf(route), "refused policy", name);
    if (route.kind === "refused") {
      assert.match(route.reason, what, name);
      assert.match(route.reason, /^ExternalName demo\/to-/);
      assert.match(route.reason, /--allowLocalTargets allows it$/);
    }
  }
  assert.ok(!asked.includes("localhost"), "localhost was resolved instead of refused by name");
  const allowed = router({ allowLocalTargets: true }).r;
  const loop = await allowed.route("to-loop.demo", 80);
  assert.equal(loop.kind, "direct");
  assert.deepEqual(loop.kind === "direct" && loop.addresses, ["127.0.0.1"]);
});

Deno.test("route: ExternalName to a cluster name is that service; to outside, resolved and dialled", async () => {
  const { r } = router();
  const web = await r.route("to-web", 80);
  assert.equal(web.kind, "cluster");
  assert.match(
    web.kind === "cluster" ? web.via : "",
    /^ExternalName demo\/to-web → web\.demo\.svc\.cluster\.local: service demo\/web:80$/,
  );
  const out = await r.route("to-out.demo", 5432);
  assert.deepEqual(out, {
    kind: "direct",
    host: "db.example.com",
    port: 5432,
    addresses: ["192.0.2.7"],
    via: "ExternalName demo/to-out → db.example.com: direct",
  });
  const chain = await r.route("to-ext.demo", 80);
  assert.equal(kindOf(chain), "refused unknown-host");
  assert.match(chain.kind === "refused" ? chain.reason : "", /only one hop is followed/);
});

Deno.test("route: --dialDirect limits direct dials, never upstream hops", async () => {
  const limited = router({ direct: { kind: "ranges", ranges: [parseCidr("127.0.0.0/8")] } }).r;
  const refused = await limited.route("example.com", 443);
  assert.equal(kindOf(refused), "refused policy");
  assert.match(
    refused.kind === "refused" ? refused.reason : "",
    /example\.com \(93\.184\.215\.14\) is outside the direct-dial ranges 127\.0\.0\.0\/8/,
  );
  assert.equal((await limited.route("site.local", 80)).kind, "direct");
  const off = router({ direct: { kind: "none" } }).r;
  assert.match(
    JSON.stringify(await off.route("example.com", 80)),
    /direct connections are off \(--dialDirect none\)/,
  );
});

const squid = { protocol: "http" as const, host: "127.0.0.1", port: 3128 };

Deno.test("route: a fixed upstream (environment): proxies by port, no_proxy goes direct", async () => {
  const config: UpstreamConfig = {
    kind: "fixed",
    http: squid,
    https: { ...squid, port: 3129 },
    bypass: [".corp.example", "192.0.2.0/24", "site.local"],
    bypassLocal: false,
    bypassStyle: "no_proxy",
  };
  const { r, asked } = router({}, config);
  const https = await r.route("example.com", 443);
  assert.equal(https.kind, "upstream");
  if (https.kind === "upstream") {
    assert.equal(https.via, "upstream 127.0.0.1:3129");
    assert.deepEqual(https.hops, [{ kind: "proxy", proxy: { ...squid, port: 3129 } }]);
  }
  const http = await r.route("example.com", 8080);
  assert.equal(http.kind === "upstream" && http.via, "upstream 127.0.0.1:3129");
  assert.equal((await r.route("example.com", 80)).kind === "upstream", true);
  // A plain HTTP request (an http:// URL) is http_proxy's on any port, as curl reads it.
  const plain = await r.route("example.com", 8080, true);
  assert.equal(plain.kind === "upstream" && plain.via, "upstream 127.0.0.1:3128");
  // The proxy resolves names: the system resolver is not asked.
  assert.ok(!asked.includes("example.com"));
  // no_proxy: direct.
  assert.equal((await r.route("site.local", 80)).kind, "direct");
  assert.equal((await r.route("192.0.2.9", 80)).kind, "direct");
  // Cluster destinations never go to the upstream.
  assert.equal((await r.route("web.demo", 80)).kind, "cluster");
  assert.equal(kindOf(await r.route("nosuch.demo", 80)), "refused unknown-host");
  // An ExternalName to localhost is refused before any proxy sees it.
  assert.equal(kindOf(await r.route("to-local.demo", 80)), "refused policy");
});

Deno.test("route: a PAC upstream is obeyed per host, and cached", async () => {
  let calls = 0;
  const { r } = router({}, { kind: "pac", url: "http://127.0.0.1:1/x.pac" }, (url, host) => {
    calls++;
    assert.equal(url, pacUrlFor(host, 443));
    return host === "via-squid.example"
      ? "PROXY 127.0.0.1:3128; SOCKS5 127.0.0.1:1080; DIRECT"
      : "DIRECT";
  });
  const a = await r.route("via-squid.example", 443);
  assert.equal(a.kind, "upstream");
  if (a.kind === "upstream") {
    assert.deepEqual(a.hops, [
      { kind: "proxy", proxy: squid },
      { kind: "proxy", proxy: { protocol: "socks5", host: "127.0.0.1", port: 1080 } },
      { kind: "direct" },
    ]);
    assert.match(a.why, /^PAC: PROXY 127\.0\.0\.1:3128/);
  }
  assert.equal((await r.route("example.com", 443)).kind, "direct");
  await r.route("via-squid.example", 443);
  assert.equal(calls, 2, "the second answer for via-squid.example came from the cache");
});

Deno.test("PAC answers: every form browsers accept", () => {
  assert.deepEqual(parsePacAnswer("DIRECT"), [{ kind: "direct" }]);
  assert.deepEqual(parsePacAnswer(""), [{ kind: "direct" }]);
  assert.deepEqual(parsePacAnswer("BOGUS x"), [{ kind: "direct" }]);
  assert.deepEqual(parsePacAnswer("proxy Proxy.Corp:8080;socks [::1]:1080 ; HTTP p"), [
    { kind: "proxy", proxy: { protocol: "http", host: "proxy.corp", port: 8080 } },
    { kind: "proxy", proxy: { protocol: "socks4", host: "::1", port: 1080 } },
    { kind: "proxy", proxy: { protocol: "http", host: "p", port: 80 } },
  ]);
  assert.deepEqual(parsePacAnswer("PROXY a:99999; DIRECT"), [{ kind: "direct" }]);
  assert.equal(pacUrlFor("::1", 8080), "http://[::1]:8080/");
  assert.equal(pacUrlFor("a", 80), "http://a/");
});

Deno.test("route: Windows-style bypass lists (ProxyOverride) with <local>", async () => {
  const { r } = router({}, {
    kind: "fixed",
    other: squid,
    bypass: ["*.corp.example", "192.0.2.*"],
    bypassLocal: true,
  });
  assert.equal((await r.route("wiki.corp.example", 443)).kind, "direct");
  assert.equal((await r.route("intranet", 443)).kind, "direct");
  assert.equal((await r.route("192.0.2.7", 443)).kind, "direct");
  assert.equal((await r.route("example.com", 443)).kind, "upstream");
});
