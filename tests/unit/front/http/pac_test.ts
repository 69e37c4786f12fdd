/**
 * The PAC file with the previous configuration behind it, evaluated as a browser would: in a
 * fresh `node:vm` context with the PAC helper functions, on a table of destinations.
 */
import assert from "node:assert/strict";
import vm from "node:vm";
import {
  endpointDirective,
  isFunctionBody,
  pacDirective,
  type PacPrevious,
  renderPac,
} from "../../../../src/front/http/pac.ts";

/** The PAC helpers a browser provides (only those these scripts may use). */
const HELPERS = `
function shExpMatch(str, pat) {
  var re = new RegExp("^" + pat.replace(/[.+^$()|{}\\[\\]\\\\]/g, "\\\\$&").replace(/\\*/g, ".*").replace(/\\?/g, ".") + "$");
  return re.test(str);
}
function dnsDomainIs(h, d) { return h.length >= d.length && h.substring(h.length - d.length) == d; }
function isPlainHostName(h) { return h.indexOf(".") < 0; }
function isInNet() { throw new Error("isInNet must not be called"); }
function dnsResolve() { throw new Error("dnsResolve must not be called"); }
`;

/** FindProxyForURL of `pac` for `url`, evaluated in a fresh context. */
function evaluate(pac: string): (url: string) => string {
  const context = vm.createContext({});
  vm.runInContext(HELPERS + pac, context, { timeout: 1000 });
  return (url: string) => {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
    context.__url = url;
    context.__host = host;
    return vm.runInContext("FindProxyForURL(__url, __host)", context, { timeout: 1000 });
  };
}

const KTCTL = pacDirective("http", "127.0.0.1:2223");
const base = {
  proxy: KTCTL,
  clusterDomain: "cluster.local",
  namespaces: ["demo"],
  ranges: ["10.96.0.0/12", "10.244.0.0/16"],
};
const SQUID = { protocol: "http" as const, host: "127.0.0.1", port: 3128 };

const CLUSTER = [
  "http://web.demo/",
  "https://web.demo.svc.cluster.local/x",
  "http://10.96.0.10/",
  "http://10.96.250.250/",
  "http://anything.cluster.local:8080/",
];

Deno.test("pac: cluster destinations go to ktctl alone, never DIRECT after it", () => {
  for (const previous of [undefined, { kind: "direct" } as const]) {
    const find = evaluate(renderPac({ ...base, previous }));
    for (const url of CLUSTER) assert.equal(find(url), "PROXY 127.0.0.1:2223", url);
    assert.equal(find("http://example.com/"), "DIRECT");
  }
});

Deno.test("pac: a previous manual proxy per scheme, with its bypass list and <local>", () => {
  const previous: PacPrevious = {
    kind: "fixed",
    http: SQUID,
    https: { ...SQUID, port: 3129 },
    other: { protocol: "socks4", host: "10.0.0.9", port: 1080 },
    bypass: ["*.corp.example", "10.*", "Intranet.Host", "http://*.legacy"],
    bypassLocal: true,
  };
  const find = evaluate(renderPac({ ...base, previous }));
  const table: [string, string][] = [
    ["http://example.com/", "PROXY 127.0.0.1:3128"],
    ["ws://example.com/", "PROXY 127.0.0.1:3128"],
    ["https://example.com/", "PROXY 127.0.0.1:3129"],
    ["wss://example.com/", "PROXY 127.0.0.1:3129"],
    ["ftp://example.com/", "SOCKS 10.0.0.9:1080"],
    ["http://www.corp.example/", "DIRECT"],
    ["http://WWW.CORP.EXAMPLE/", "DIRECT"],
    ["http://corp.example/", "PROXY 127.0.0.1:3128"],
    ["http://10.1.2.3/", "DIRECT"],
    ["http://intranet.host/", "DIRECT"],
    ["http://a.legacy/", "DIRECT"],
    ["http://printer/", "DIRECT"],
    ...CLUSTER.map((url): [string, string] => [url, "PROXY 127.0.0.1:2223"]),
  ];
  for (const [url, want] of table) assert.equal(find(url), want, url);
  // Only "other": every scheme uses it; no <local>: plain names too.
  const one = evaluate(renderPac({
    ...base,
    previous: { kind: "fixed", other: SQUID, bypass: [], bypassLocal: false },
  }));
  assert.equal(one("https://example.com/"), "PROXY 127.0.0.1:3128");
  assert.equal(one("http://printer/"), "PROXY 127.0.0.1:3128");
  // Only http=: https goes direct, as WinINet does.
  const httpOnly = evaluate(renderPac({
    ...base,
    previous: { kind: "fixed", http: SQUID, bypass: [], bypassLocal: false },
  }));
  assert.equal(httpOnly("https://example.com/"), "DIRECT");
});

const COMPANY_PAC = `
// A company PAC as they come: sloppy globals, helpers, and names ktctl uses itself.
DOMAIN = "corp.example";
KTCTL = "DIRECT";
RANGES = [];
function isCorp(host) { return dnsDomainIs(host, "." + DOMAIN); }
function FindProxyForURL(url, host) {
  if (isCorp(host)) return "DIRECT";
  if (shExpMatch(host, "*.blocked.example")) return "PROXY 127.0.0.1:9; PROXY 127.0.0.1:3128";
  return "PROXY 127.0.0.1:3128";
}
`;

Deno.test("pac: the previous PAC answers outside the cluster and cannot replace ktctl's answers", () => {
  const previous: PacPrevious = {
    kind: "script",
    url: "http://wpad.corp/proxy.pac",
    text: COMPANY_PAC,
  };
  const find = evaluate(renderPac({ ...base, previous }));
  const table: [string, string][] = [
    ["http://example.com/", "PROXY 127.0.0.1:3128"],
    ["https://www.corp.example/", "DIRECT"],
    ["http://x.blocked.example/", "PROXY 127.0.0.1:9; PROXY 127.0.0.1:3128"],
    ...CLUSTER.map((url): [string, string] => [url, "PROXY 127.0.0.1:2223"]),
  ];
  for (const [url, want] of table) assert.equal(find(url), want, url);
});

Deno.test("pac: a previous PAC that assigns FindProxyForURL as a global cannot replace ktctl's", () => {
  // Assigned (not declared), and re-assigned by itself when first called.
  const text = `FindProxyForURL = function (url, host) {
    FindProxyForURL = function () { return "PROXY 127.0.0.1:3128"; };
    return "PROXY 127.0.0.1:3128";
  };`;
  const find = evaluate(renderPac({ ...base, previous: { kind: "script", url: "u", text } }));
  assert.equal(find("http://example.com/"), "PROXY 127.0.0.1:3128");
  assert.equal(find("http://example.com/"), "PROXY 127.0.0.1:3128");
  for (const url of CLUSTER) assert.equal(find(url), "PROXY 127.0.0.1:2223", url);
});

Deno.test("pac: a previous PAC that throws, returns nothing or does not parse falls back", () => {
  const fallback: PacPrevious = { kind: "fixed", other: SQUID, bypass: [], bypassLocal: false };
  for (
    const text of [
      "function FindProxyForURL(u, h) { throw new Error('boom'); }",
      "function FindProxyForURL(u, h) { return ''; }",
      "function FindProxyForURL(u, h) { return 'DIRECT'; } }); FindProxyForURL = function () { return 'DIRECT'; }; (function () {",
      "/* unterminated",
      "var nothing = 1;",
    ]
  ) {
    const pac = renderPac({ ...base, previous: { kind: "script", url: "x\ny", text, fallback } });
    const find = evaluate(pac);
    assert.equal(find("http://example.com/"), "PROXY 127.0.0.1:3128", text);
    assert.equal(find("http://web.demo/"), "PROXY 127.0.0.1:2223", text);
    assert.ok(!pac.includes("x\ny"), "the URL comment stays on one line");
  }
  // No fallback: DIRECT.
  const find = evaluate(renderPac({ ...base, previous: { kind: "script", url: "u", text: "}" } }));
  assert.equal(find("http://example.com/"), "DIRECT");
});

Deno.test("pac: FindProxyForURLEx-only scripts are used too; socks mode's directive", () => {
  const text = "function FindProxyForURLEx(u, h) { return 'PROXY 127.0.0.1:3128'; }";
  const socks = pacDirective("socks", "127.0.0.1:2223");
  const find = evaluate(
    renderPac({ ...base, proxy: socks, previous: { kind: "script", url: "u", text } }),
  );
  assert.equal(find("http://example.com/"), "PROXY 127.0.0.1:3128");
  assert.equal(find("http://web.demo/"), "SOCKS5 127.0.0.1:2223; SOCKS 127.0.0.1:2223");
});

Deno.test("pac: rendering is pure and the helpers say what they do", () => {
  const input = { ...base, previous: { kind: "script", url: "u", text: COMPANY_PAC } as const };
  assert.equal(renderPac(input), renderPac(input));
  assert.equal(endpointDirective({ protocol: "socks5", host: "::1", port: 1 }), "SOCKS5 [::1]:1");
  assert.equal(endpointDirective({ protocol: "socks4", host: "h", port: 2 }), "SOCKS h:2");
  assert.equal(isFunctionBody("return 1"), true);
  assert.equal(isFunctionBody("}"), false);
  // U+2028 in a pattern does not end a line in older engines.
  const pac = renderPac({
    ...base,
    previous: { kind: "fixed", bypass: ["a\u2028b"], bypassLocal: false },
  });
  assert.ok(!pac.includes("\u2028"));
});
