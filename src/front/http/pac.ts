/**
 * The proxy auto-config file ktctl serves at `/proxy.pac`: cluster destinations go to ktctl,
 * everything else DIRECT, so a browser set to it keeps every other site as it was. Each proxy
 * answer ends in `DIRECT`, so when ktctl is gone a browser that still holds the script goes
 * direct instead of failing. The script never calls `isInNet` or `dnsResolve` (in some browsers
 * they block on DNS for every request): names are matched as text, and only IPv4 literals are
 * compared with the cluster's ranges, by arithmetic. Pure.
 *
 * ```ts
 * renderPac({ proxy: "PROXY 127.0.0.1:2223", clusterDomain: "cluster.local", namespaces: ["demo"], ranges: ["10.96.0.0/12"] });
 * ```
 * @module
 */

export interface PacInput {
  /** The PAC directive(s) for ktctl, e.g. `PROXY 127.0.0.1:2223` or `SOCKS5 …; SOCKS …`. */
  proxy: string;
  clusterDomain: string;
  /** Namespaces whose `svc.ns`, `svc.ns.svc` and `a-b-c-d.ns.pod` names go to ktctl. */
  namespaces: readonly string[];
  /** The cluster's pod and service ranges, as CIDR text; IPv6 ones are left to names. */
  ranges: readonly string[];
}

/** The PAC directive for a mode: HTTP proxy, or SOCKS5 (names resolved by ktctl) then SOCKS4. */
export function pacDirective(mode: "http" | "socks", hostPort: string): string {
  return mode === "http" ? `PROXY ${hostPort}` : `SOCKS5 ${hostPort}; SOCKS ${hostPort}`;
}

export function renderPac(input: PacInput): string {
  const namespaces: Record<string, true> = {};
  for (const ns of [...input.namespaces].sort()) namespaces[ns] = true;
  const ranges = input.ranges.flatMap((r) => {
    const v4 = ipv4Range(r);
    return v4 ? [v4] : [];
  });
  return `// ktctl: cluster destinations through ktctl, everything else direct.
var KTCTL = ${JSON.stringify(`${input.proxy}; DIRECT`)};
var DOMAIN = ${JSON.stringify(input.clusterDomain)};
var NAMESPACES = ${JSON.stringify(namespaces)};
var RANGES = ${JSON.stringify(ranges)};

function ktctlIpv4(host) {
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

function FindProxyForURL(url, host) {
  host = host.toLowerCase();
  if (host.charAt(host.length - 1) == ".") host = host.substring(0, host.length - 1);
  if (host == DOMAIN || dnsDomainIs(host, "." + DOMAIN)) return KTCTL;
  var labels = host.split(".");
  var ns = labels.length >= 2 ? labels[1] : "";
  if (NAMESPACES.hasOwnProperty(ns)) {
    if (labels.length == 2) return KTCTL;
    if (labels.length == 3 && (labels[2] == "svc" || labels[2] == "pod")) return KTCTL;
  }
  if (labels.length == 4 && labels[3] == "svc" && NAMESPACES.hasOwnProperty(labels[2])) {
    return KTCTL;
  }
  var ip = ktctlIpv4(host);
  if (ip >= 0) {
    for (var r = 0; r < RANGES.length; r++) {
      var size = Math.pow(2, 32 - RANGES[r][1]);
      if (Math.floor(ip / size) * size == RANGES[r][0]) return KTCTL;
    }
  }
  return "DIRECT";
}
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
