/**
 * The proxy auto-config file ktctl serves at `/proxy.pac`: cluster destinations go to ktctl,
 * everything else where the machine's previous configuration sent it, so a browser set to it
 * keeps the company's answers for every other site:
 * - the previous manual proxy (per scheme, as Windows' `ProxyServer` gives them), honouring its
 *   bypass list (`*` patterns, `<local>` for names without a dot);
 * - or the previous PAC file's own answer: its text (fetched by ktctl, never run by it) is
 *   embedded in a function of its own, so its `FindProxyForURL` and any global it assigns
 *   cannot replace ktctl's; if it throws or returns nothing, the fallback (a manual proxy, else
 *   DIRECT) answers;
 * - or DIRECT.
 * Cluster answers have no `; DIRECT` after them: a cluster address that ktctl refuses (or a
 * ktctl that is gone) must fail in the browser, never be dialled by it through the local
 * network. The script never calls `isInNet` or `dnsResolve` (in some browsers they block on DNS
 * for every request): names are matched as text, and only IPv4 literals are compared with the
 * cluster's ranges, by arithmetic. Written in ES3 (Windows evaluates PAC files with JScript).
 * Pure: inputs to text.
 *
 * ```ts
 * renderPac({ proxy: "PROXY 127.0.0.1:2223", clusterDomain: "cluster.local", namespaces: ["demo"], ranges: ["10.96.0.0/12"] });
 * ```
 * @module
 */
import type { ProxyEndpoint } from "../../net/proxy_config.ts";

/** What the PAC answers for destinations outside the cluster. */
export type PacPrevious =
  | { kind: "direct" }
  | {
    kind: "fixed";
    http?: ProxyEndpoint;
    https?: ProxyEndpoint;
    /** For every other scheme, and for http/https when those are not given. */
    other?: ProxyEndpoint;
    bypass: readonly string[];
    bypassLocal: boolean;
  }
  | {
    kind: "script";
    /** Where it came from (a comment in the output). */
    url: string;
    /** The previous PAC file's text, as fetched. */
    text: string;
    /** When the script fails or cannot be used. */
    fallback?: PacPrevious;
  };

export interface PacInput {
  /** The PAC directive(s) for ktctl, e.g. `PROXY 127.0.0.1:2223` or `SOCKS5 …; SOCKS …`. */
  proxy: string;
  clusterDomain: string;
  /** Namespaces whose `svc.ns`, `svc.ns.svc` and `a-b-c-d.ns.pod` names go to ktctl. */
  namespaces: readonly string[];
  /** The cluster's pod and service ranges, as CIDR text; IPv6 ones are left to names. */
  ranges: readonly string[];
  /** Destinations outside the cluster (default: DIRECT). */
  previous?: PacPrevious;
}

/** The PAC directive for a mode: HTTP proxy, or SOCKS5 (names resolved by ktctl) then SOCKS4. */
export function pacDirective(mode: "http" | "socks", hostPort: string): string {
  return mode === "http" ? `PROXY ${hostPort}` : `SOCKS5 ${hostPort}; SOCKS ${hostPort}`;
}

/** JSON as JavaScript source (U+2028/U+2029 escaped for engines older than ES2019). */
function js(value: unknown): string {
  return JSON.stringify(value).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** The PAC directive for one proxy server. */
export function endpointDirective(endpoint: ProxyEndpoint): string {
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  const kind = endpoint.protocol === "http"
    ? "PROXY"
    : endpoint.protocol === "socks5"
    ? "SOCKS5"
    : "SOCKS";
  return `${kind} ${host}:${endpoint.port}`;
}

/**
 * Whether `text` is a well-formed function body: then wrapping it in a function cannot end that
 * function early (an unbalanced `}` or an open comment would let it reach ktctl's own code).
 * Only parsed, never run.
 */
export function isFunctionBody(text: string): boolean {
  try {
    new Function(text);
    return true;
  } catch {
    return false;
  }
}

/** The `previous(url, host)` function for a fixed proxy or DIRECT (ES3, inside ktctl's closure). */
function fixedFunction(name: string, previous: PacPrevious | undefined): string {
  if (!previous || previous.kind !== "fixed") {
    return `function ${name}(url, host) { return "DIRECT"; }`;
  }
  const direct = (e?: ProxyEndpoint) => e ? endpointDirective(e) : "";
  const bypass = previous.bypass.map((p) => p.trim().replace(/^[a-z]+:\/\//i, "").toLowerCase())
    .filter((p) => p !== "");
  return `var BYPASS = ${js(bypass)};
  var BYPASS_LOCAL = ${previous.bypassLocal};
  var VIA_HTTP = ${js(direct(previous.http ?? previous.other))};
  var VIA_HTTPS = ${js(direct(previous.https ?? previous.other))};
  var VIA_OTHER = ${js(direct(previous.other))};
  function ${name}(url, host) {
    var h = host.toLowerCase();
    if (BYPASS_LOCAL && h.indexOf(".") < 0 && h.indexOf(":") < 0) return "DIRECT";
    for (var i = 0; i < BYPASS.length; i++) {
      if (shExpMatch(h, BYPASS[i])) return "DIRECT";
    }
    var scheme = url.substring(0, url.indexOf(":")).toLowerCase();
    var via = scheme == "http" || scheme == "ws" ? VIA_HTTP
      : scheme == "https" || scheme == "wss" ? VIA_HTTPS : VIA_OTHER;
    return via == "" ? "DIRECT" : via;
  }`;
}

/** The previous PAC, in a function of its own, before ktctl's closure (see the module doc). */
function embeddedScript(previous: PacPrevious | undefined): string {
  if (previous?.kind !== "script" || !isFunctionBody(previous.text)) {
    const note = previous?.kind === "script"
      ? `// The previous PAC file (${
        previous.url.replace(/[\r\n\u2028\u2029]/g, " ")
      }) is not valid JavaScript and is left out.\n`
      : "";
    return `${note}var ktctlPreviousFindProxyForURL = null;\n`;
  }
  return `// The previous PAC file, ${
    previous.url.replace(/[\r\n\u2028\u2029]/g, " ")
  }, as it was fetched: its functions and variables stay inside this function.
var ktctlPreviousFindProxyForURL = (function () {
var FindProxyForURL, FindProxyForURLEx;
${previous.text}
;return typeof FindProxyForURL == "function" ? FindProxyForURL
  : typeof FindProxyForURLEx == "function" ? FindProxyForURLEx : null;
})();
`;
}

export function renderPac(input: PacInput): string {
  const namespaces: Record<string, true> = {};
  for (const ns of [...input.namespaces].sort()) namespaces[ns] = true;
  const ranges = input.ranges.flatMap((r) => {
    const v4 = ipv4Range(r);
    return v4 ? [v4] : [];
  });
  const previous = input.previous;
  const fallback = previous?.kind === "script" ? previous.fallback : previous;
  return `// ktctl: cluster destinations through ktctl, everything else as the previous settings said.
${embeddedScript(previous)}
var FindProxyForURL = (function () {
  var KTCTL = ${js(input.proxy)};
  var DOMAIN = ${js(input.clusterDomain)};
  var NAMESPACES = ${js(namespaces)};
  var RANGES = ${js(ranges)};
  var SCRIPT = ktctlPreviousFindProxyForURL;

  ${fixedFunction("fallback", fallback)}

  function previous(url, host) {
    if (SCRIPT) {
      try {
        var answer = SCRIPT(url, host);
        if (typeof answer == "string" && answer != "") return answer;
      } catch (e) {}
    }
    return fallback(url, host);
  }

  function ipv4(host) {
    var m = /^(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})$/.exec(host);
    if (!m) return -1;
    var n = 0;
    for (var i = 1; i <= 4; i++) {
      var b = parseInt(m[i], 10);
      if (b > 255) return -1;
      n = n * 256 + b;
    }
    return n;
  }

  function inCluster(host) {
    if (host == DOMAIN) return true;
    var suffix = "." + DOMAIN;
    if (host.length > suffix.length && host.substring(host.length - suffix.length) == suffix) {
      return true;
    }
    var labels = host.split(".");
    var ns = labels.length >= 2 ? labels[1] : "";
    if (NAMESPACES.hasOwnProperty(ns)) {
      if (labels.length == 2) return true;
      if (labels.length == 3 && (labels[2] == "svc" || labels[2] == "pod")) return true;
    }
    if (labels.length == 4 && labels[3] == "svc" && NAMESPACES.hasOwnProperty(labels[2])) {
      return true;
    }
    var ip = ipv4(host);
    if (ip >= 0) {
      for (var r = 0; r < RANGES.length; r++) {
        var size = Math.pow(2, 32 - RANGES[r][1]);
        if (Math.floor(ip / size) * size == RANGES[r][0]) return true;
      }
    }
    return false;
  }

  return function (url, host) {
    var h = host.toLowerCase();
    if (h.charAt(h.length - 1) == ".") h = h.substring(0, h.length - 1);
    if (inCluster(h)) return KTCTL;
    return previous(url, host);
  };
})();
`;
}

/** `a.b.c.d/n` as [network as a number, prefix length]; undefined for anything else. */
function ipv4Range(cidr: string): [number, number] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) return undefined;
  const bits = Number(m[5]);
  const octets = m.slice(1, 5).map(Number);
  if (bits > 32 || octets.some((o) => o > 255)) return undefined;
  const n = octets.reduce((a, o) => a * 256 + o, 0);
  const size = 2 ** (32 - bits);
  return [Math.floor(n / size) * size, bits];
}
