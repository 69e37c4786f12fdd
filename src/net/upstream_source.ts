/**
 * Where the upstream proxy comes from, off Windows' own settings: `--upstreamProxy URL`, or the
 * `http_proxy`/`https_proxy`/`all_proxy`/`no_proxy` variables ktctl was started with (values that
 * point at ktctl itself are ignored: they are what `--setupGlobalProxy` set). Pure: the
 * environment and ktctl's own address are passed in.
 * @module
 */
import { canonicalIp, isLoopback } from "./ip.ts";
import type { ProxyEndpoint, UpstreamConfig, UpstreamFound } from "./proxy_config.ts";

/** A proxy URL that cannot be used, with why. */
export class ProxyUrlError extends Error {
  override name = "ProxyUrlError";
}

/**
 * `http://[user:pass@]host:port`, `socks5://...` (also `socks5h`), `socks4://`/`socks4a://`,
 * or a bare `host:port` (HTTP, as curl and Go take it).
 */
export function parseProxyEndpoint(text: string): ProxyEndpoint {
  const value = text.trim();
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new ProxyUrlError(`"${value}" is not a proxy URL such as http://proxy.corp:3128`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  const protocol = scheme === "http"
    ? "http"
    : scheme === "socks5" || scheme === "socks5h"
    ? "socks5"
    : scheme === "socks4" || scheme === "socks4a" || scheme === "socks"
    ? "socks4"
    : undefined;
  if (!protocol) {
    throw new ProxyUrlError(
      `${scheme}:// proxies are not supported (use http://, socks5:// or socks4a://)`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!host) throw new ProxyUrlError(`"${value}" names no proxy host`);
  const port = Number(url.port || (protocol === "http" ? 80 : 1080));
  const endpoint: ProxyEndpoint = { protocol, host: canonicalIp(host) ?? host.toLowerCase(), port };
  if (url.username) {
    endpoint.username = decodeURIComponent(url.username);
    endpoint.password = decodeURIComponent(url.password);
  }
  return endpoint;
}

/** `--upstreamProxy`: a proxy URL, `pac+http(s)://.../x.pac`, or `none`. */
export function parseUpstreamFlag(text: string): UpstreamConfig {
  const value = text.trim();
  if (value.toLowerCase() === "none" || value.toLowerCase() === "direct") return { kind: "none" };
  const pac = /^pac\+(https?:\/\/.+)$/i.exec(value);
  if (pac) {
    try {
      new URL(pac[1]);
    } catch {
      throw new ProxyUrlError(`"${pac[1]}" is not a PAC URL`);
    }
    return { kind: "pac", url: pac[1] };
  }
  const proxy = parseProxyEndpoint(value);
  return { kind: "fixed", other: proxy, bypass: [], bypassLocal: false, bypassStyle: "no_proxy" };
}

/** A proxy variable that was not used, and why. */
export interface Ignored {
  variable: string;
  why: string;
  /** It pointed at ktctl itself (what `--setupGlobalProxy` sets): expected. */
  self: boolean;
}

/** ktctl's own listener, whose address in a proxy variable means "ignore me". */
export interface SelfAddress {
  port: number;
  /** The address ktctl listens on (loopback names and addresses always count as ktctl's). */
  address: string;
}

/** Whether a proxy endpoint is ktctl itself. */
export function pointsAtSelf(p: ProxyEndpoint, self: SelfAddress): boolean {
  if (p.port !== self.port) return false;
  const ip = canonicalIp(p.host);
  return p.host === "localhost" || (ip !== undefined && (isLoopback(ip) || ip === self.address));
}

/**
 * The upstream from the proxy variables, as curl reads them (lower case first, then upper case:
 * Go reads both), or undefined when none is set. Unusable or self-pointing values are skipped and
 * reported in `ignored` (`self` for those that point at ktctl: expected, not worth a warning).
 */
export function upstreamFromEnv(
  env: (name: string) => string | undefined,
  self: SelfAddress,
): { found?: UpstreamFound; ignored: Ignored[] } {
  const ignored: Ignored[] = [];
  const read = (name: string) => {
    const variable = [name, name.toUpperCase()].find((n) => env(n)?.trim());
    if (!variable) return undefined;
    try {
      const p = parseProxyEndpoint(env(variable)!);
      if (pointsAtSelf(p, self)) {
        ignored.push({ variable, why: "it points at ktctl itself", self: true });
        return undefined;
      }
      return { variable, endpoint: p };
    } catch (e) {
      ignored.push({ variable, why: (e as Error).message, self: false });
      return undefined;
    }
  };
  const http = read("http_proxy");
  const https = read("https_proxy");
  const all = read("all_proxy");
  if (!http && !https && !all) return { ignored };
  const noProxyVar = ["no_proxy", "NO_PROXY"].find((n) => env(n) !== undefined);
  const bypass = noProxyVar ? env(noProxyVar)!.split(/[,\s]+/).filter((s) => s) : [];
  return {
    found: {
      config: {
        kind: "fixed",
        http: http?.endpoint,
        https: https?.endpoint,
        other: all?.endpoint,
        bypass,
        bypassLocal: false,
        bypassStyle: "no_proxy",
      },
      source: `environment (${
        [http, https, all].filter((v) => v).map((v) => v!.variable).join(", ")
      }${noProxyVar ? `, ${noProxyVar}` : ""})`,
    },
    ignored,
  };
}

/** A proxy as `protocol://host:port`, never with its credentials. */
export function endpointText(p: ProxyEndpoint): string {
  const host = p.host.includes(":") ? `[${p.host}]` : p.host;
  return `${p.protocol}://${p.username !== undefined ? "(user)@" : ""}${host}:${p.port}`;
}

/** The banner's one line about the upstream (the lead wires it into the banner). */
export function upstreamBannerLine(found: UpstreamFound | undefined): string {
  if (!found || found.config.kind === "none") {
    return "Outside the cluster: direct connections (no upstream proxy)";
  }
  const c = found.config;
  let what: string;
  switch (c.kind) {
    case "fixed": {
      const labelled = ([["http", c.http], ["https", c.https], ["other", c.other]] as const)
        .filter(([, p]) => p).map(([label, p]) => [label, endpointText(p!)]);
      const unique = new Set(labelled.map(([, text]) => text));
      what = unique.size === 1
        ? [...unique][0]
        : labelled.map(([label, text]) => `${label} ${text}`).join(", ");
      const bypass = c.bypass.length + (c.bypassLocal ? 1 : 0);
      if (bypass > 0) what += ` (${bypass} bypass entr${bypass === 1 ? "y" : "ies"})`;
      break;
    }
    case "pac":
      what = `the PAC file ${c.url}`;
      break;
    case "auto-detect":
      what = `automatic detection (WPAD)${c.pacUrl ? `, PAC ${c.pacUrl}` : ""}`;
      break;
  }
  return `Outside the cluster: through the upstream proxy ${what}, from ${found.source}`;
}

/**
 * The upstream in order: `--upstreamProxy`, else what the system settings gave (Windows), else
 * the environment's proxy variables, else none.
 */
export function selectUpstream(o: {
  flag?: UpstreamConfig;
  system?: UpstreamFound;
  env: (name: string) => string | undefined;
  self: SelfAddress;
}): { found: UpstreamFound; ignored: Ignored[] } {
  if (o.flag) return { found: { config: o.flag, source: "--upstreamProxy" }, ignored: [] };
  if (o.system) return { found: o.system, ignored: [] };
  const fromEnv = upstreamFromEnv(o.env, o.self);
  return {
    found: fromEnv.found ?? { config: { kind: "none" }, source: "no proxy settings found" },
    ignored: fromEnv.ignored,
  };
}
