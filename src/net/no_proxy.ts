/**
 * Bypass lists: which destinations skip a proxy. Two spellings meet here: `no_proxy`/`NO_PROXY`
 * as curl and Go read them (the union of both: `*`; domain names matching themselves and their
 * subdomains, with a leading `.` or `*.` ignored as curl does; IP literals; CIDRs; Go's
 * `host:port`), and Windows' `ProxyOverride` entries (wildcards: `*.corp`, `10.*`, `<local>`
 * for names without a dot). Pure, so every entry form is tested.
 * @module
 */
import ipaddr from "ipaddr.js";
import { canonicalIp, type Cidr, inRanges, parseCidr } from "./ip.ts";

/** One parsed `no_proxy` entry. */
export type NoProxyEntry =
  | { kind: "all"; text: string }
  | { kind: "domain"; suffix: string; port?: number; text: string }
  | { kind: "ip"; ip: string; port?: number; text: string }
  | { kind: "cidr"; cidr: Cidr; text: string };

/** Splits a `no_proxy` value (commas, and spaces as curl allows) into entries; junk is skipped. */
export function parseNoProxy(value: string): NoProxyEntry[] {
  const out: NoProxyEntry[] = [];
  for (const raw of value.split(/[,\s]+/)) {
    const text = raw.trim();
    if (!text) continue;
    const lower = text.toLowerCase();
    if (lower === "*") {
      out.push({ kind: "all", text });
      continue;
    }
    if (lower.includes("/")) {
      try {
        out.push({ kind: "cidr", cidr: parseCidr(lower), text });
      } catch { /* not a range: ignored, as curl and Go do */ }
      continue;
    }
    const { host, port } = splitPort(lower);
    const ip = canonicalIp(host.replace(/^\[|\]$/g, ""));
    if (ip) {
      out.push({ kind: "ip", ip, port, text });
      continue;
    }
    const suffix = host.replace(/^\*?\./, "").replace(/\.$/, "");
    if (suffix) out.push({ kind: "domain", suffix, port, text });
  }
  return out;
}

function splitPort(text: string): { host: string; port?: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  return m ? { host: m[1], port: Number(m[2]) } : { host: text };
}

/** The first entry that sends `host:port` around the proxy, or undefined. */
export function noProxyMatch(
  entries: readonly NoProxyEntry[],
  host: string,
  port: number,
): NoProxyEntry | undefined {
  const name = host.toLowerCase().replace(/\.$/, "").replace(/^\[|\]$/g, "");
  const ip = canonicalIp(name);
  for (const e of entries) {
    switch (e.kind) {
      case "all":
        return e;
      case "cidr":
        if (ip && inRanges(ip, [e.cidr])) return e;
        break;
      case "ip":
        if (ip === e.ip && (e.port === undefined || e.port === port)) return e;
        break;
      case "domain":
        if (
          !ip && (name === e.suffix || name.endsWith(`.${e.suffix}`)) &&
          (e.port === undefined || e.port === port)
        ) return e;
    }
  }
  return undefined;
}

/**
 * Whether Windows' bypass list (`ProxyOverride` entries, `<local>` given apart) sends `host` around
 * the proxy. Entries are wildcards matched against the host, case-insensitively.
 */
export function windowsBypassMatch(
  entries: readonly string[],
  bypassLocal: boolean,
  host: string,
  port: number,
): string | undefined {
  const name = host.toLowerCase().replace(/\.$/, "").replace(/^\[|\]$/g, "");
  if (bypassLocal && !name.includes(".") && !name.includes(":")) return "<local>";
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase().replace(/^[a-z]+:\/\//, "");
    if (!entry) continue;
    if (entry === "<local>") {
      if (!name.includes(".") && !name.includes(":")) return raw;
      continue;
    }
    if (glob(entry, name) || glob(entry, `${name}:${port}`)) return raw;
  }
  return undefined;
}

function glob(pattern: string, text: string): boolean {
  const re = new RegExp(
    `^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`,
  );
  return re.test(text);
}

/** What of the cluster an entry would send around ktctl, in words; undefined when nothing. */
export function clusterCoverage(
  entry: NoProxyEntry,
  cluster: { domain: string; namespaces: readonly string[]; ranges: readonly Cidr[] },
): string | undefined {
  switch (entry.kind) {
    case "all":
      return "every destination";
    case "domain": {
      if (
        cluster.domain === entry.suffix || cluster.domain.endsWith(`.${entry.suffix}`) ||
        `svc.${cluster.domain}`.endsWith(`.${entry.suffix}`) || entry.suffix === "svc"
      ) return `names under ${cluster.domain}`;
      const ns = cluster.namespaces.find((n) => n === entry.suffix);
      return ns ? `names in namespace ${ns} (such as web.${ns})` : undefined;
    }
    case "ip":
      return cluster.ranges.some((r) => inRanges(entry.ip, [r]))
        ? `the cluster address ${entry.ip}`
        : undefined;
    case "cidr": {
      const hit = cluster.ranges.find((r) => overlaps(entry.cidr, r));
      return hit ? `the cluster's range ${hit[0].toString()}/${hit[1]}` : undefined;
    }
  }
}

function overlaps(a: Cidr, b: Cidr): boolean {
  if (a[0].kind() !== b[0].kind()) return false;
  const bits = Math.min(a[1], b[1]);
  return (a[0] as ipaddr.IPv4).match(b[0] as ipaddr.IPv4, bits);
}

/**
 * The `no_proxy`/`NO_PROXY` entries that would send cluster destinations around ktctl (curl
 * and Go bypass the proxy for them), each with what it covers; empty when none does.
 */
export function noProxyCoveringCluster(
  env: (name: string) => string | undefined,
  cluster: { domain: string; namespaces: readonly string[]; ranges: readonly Cidr[] },
): { variable: string; entry: string; covers: string }[] {
  const out: { variable: string; entry: string; covers: string }[] = [];
  for (const variable of ["no_proxy", "NO_PROXY"]) {
    const value = env(variable);
    if (!value) continue;
    for (const entry of parseNoProxy(value)) {
      const covers = clusterCoverage(entry, cluster);
      if (covers && !out.some((o) => o.entry === entry.text)) {
        out.push({ variable, entry: entry.text, covers });
      }
    }
  }
  return out;
}
