/**
 * The Windows proxy settings the user had before ktctl, as an {@link UpstreamConfig}: read once
 * at start, before anything changes, so routing and the PAC file can keep sending what is outside
 * the cluster where it went before. The parsers are pure (every byte of the settings is the
 * user's or a policy's and is checked, never trusted); {@link readPreviousSettings} is the thin
 * reader over the WinINet per-connection settings (the registry values where those are missing).
 *
 * WinINet's forms:
 * - `ProxyServer`: `host:port` (one HTTP proxy for every scheme) or `http=h:p;https=h:p;socks=h:p`
 *   (per scheme; `socks=` is SOCKS4 to WinINet and serves every scheme without an entry of its
 *   own; `ftp=` is ignored), entries separated by `;` or white space, an optional `http://`.
 * - `ProxyOverride`: `;`-separated patterns with `*` wildcards, matched against the host name;
 *   `<local>` means "names without a dot".
 * - flags: `PROXY_TYPE_AUTO_DETECT` (WPAD, tried first), `PROXY_TYPE_AUTO_PROXY_URL` (the PAC
 *   URL), `PROXY_TYPE_PROXY` (the manual proxy).
 * @module
 */
import type { ProxyEndpoint, UpstreamConfig, UpstreamFound } from "../net/proxy_config.ts";
import {
  type ConnectionSettings,
  PROXY_TYPE_AUTO_DETECT,
  PROXY_TYPE_AUTO_PROXY_URL,
  PROXY_TYPE_DIRECT,
  PROXY_TYPE_PROXY,
} from "../os/wininet.ts";
import { INTERNET_SETTINGS_KEY, type Registry } from "../os/windows_registry.ts";
import type { WindowsSystem } from "../os/windows_system.ts";
import { readConnection } from "./connections.ts";

type Fixed = Extract<UpstreamConfig, { kind: "fixed" }>;

/** The longest value accepted from the settings (WinINet's own limit is far below). */
const MAX_TEXT = 8192;

/** `host:port` (IPv6 in brackets, `http://` allowed) as an endpoint; undefined if malformed. */
export function parseEndpoint(
  text: string,
  protocol: ProxyEndpoint["protocol"],
  defaultPort: number,
): ProxyEndpoint | undefined {
  const bare = text.trim().replace(/^(?:https?|socks4?|socks5):\/\//i, "").replace(/\/+$/, "");
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(bare);
  if (!m) return undefined;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  const host = m[1].startsWith("[") ? m[1].slice(1, -1) : m[1];
  return { protocol, host, port };
}

/** `ProxyServer` as WinINet reads it (see the module doc); undefined when nothing usable. */
export function parseProxyServer(
  text: string,
): Pick<Fixed, "http" | "https" | "other"> | undefined {
  if (text.length > MAX_TEXT) return undefined;
  const entries = text.split(/[;\s]+/).filter((e) => e !== "");
  const out: Pick<Fixed, "http" | "https" | "other"> = {};
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    if (eq < 0) {
      // One proxy for every scheme.
      const endpoint = parseEndpoint(entry, "http", 80);
      if (endpoint && !out.other) out.other = endpoint;
      continue;
    }
    const scheme = entry.slice(0, eq).toLowerCase();
    const value = entry.slice(eq + 1);
    if (scheme === "http" && !out.http) out.http = parseEndpoint(value, "http", 80);
    else if (scheme === "https" && !out.https) out.https = parseEndpoint(value, "http", 80);
    else if (scheme === "socks" && !out.other) out.other = parseEndpoint(value, "socks4", 1080);
  }
  for (const key of ["http", "https", "other"] as const) if (!out[key]) delete out[key];
  return out.http || out.https || out.other ? out : undefined;
}

/** `ProxyOverride` as a bypass list: the patterns as written, and whether `<local>` is there. */
export function parseBypass(text: string | null): { bypass: string[]; bypassLocal: boolean } {
  const entries = (text ?? "").slice(0, MAX_TEXT).split(/[;\s]+/).filter((e) => e !== "");
  const bypassLocal = entries.some((e) => e.toLowerCase() === "<local>");
  return { bypass: entries.filter((e) => e.toLowerCase() !== "<local>"), bypassLocal };
}

/** Whether `endpoint` is ktctl itself (a leftover from a crashed connect, or another one). */
function isSelf(endpoint: ProxyEndpoint | undefined, self: SelfAddress): boolean {
  if (!endpoint || endpoint.port !== self.port) return false;
  const host = endpoint.host.toLowerCase();
  return host === "localhost" || host === self.host.toLowerCase() || /^127\./.test(host) ||
    host === "::1";
}

/** ktctl's own address and PAC URL, which are never taken for a previous setting. */
export interface SelfAddress {
  host: string;
  port: number;
  pacUrl: string;
}

/** One connection's settings as an upstream (see the module doc). */
export function upstreamFromSettings(s: ConnectionSettings, self: SelfAddress): UpstreamConfig {
  let fixed: UpstreamConfig | undefined;
  if ((s.flags & PROXY_TYPE_PROXY) !== 0 && s.proxyServer) {
    const servers = parseProxyServer(s.proxyServer);
    if (servers && !(["http", "https", "other"] as const).some((k) => isSelf(servers[k], self))) {
      fixed = { kind: "fixed", ...servers, ...parseBypass(s.bypass) };
    }
  }
  const url = s.autoConfigUrl?.trim() ?? "";
  const pacUrl = (s.flags & PROXY_TYPE_AUTO_PROXY_URL) !== 0 && url !== "" &&
      url.length <= MAX_TEXT && url !== self.pacUrl
    ? url
    : undefined;
  if ((s.flags & PROXY_TYPE_AUTO_DETECT) !== 0) {
    return {
      kind: "auto-detect",
      ...(pacUrl ? { pacUrl } : {}),
      ...(fixed ? { fallback: fixed } : {}),
    };
  }
  if (pacUrl) return { kind: "pac", url: pacUrl };
  return fixed ?? { kind: "none" };
}

/** The LAN settings from the legacy registry values (no auto-detect flag there). */
export function settingsFromRegistry(registry: Registry): ConnectionSettings {
  const text = (name: string) => {
    const value = registry.get(INTERNET_SETTINGS_KEY, name);
    return value && value.type !== "REG_DWORD" ? value.data : null;
  };
  const enable = registry.get(INTERNET_SETTINGS_KEY, "ProxyEnable");
  const pac = text("AutoConfigURL");
  return {
    flags: PROXY_TYPE_DIRECT |
      (enable?.type === "REG_DWORD" && enable.data !== 0 ? PROXY_TYPE_PROXY : 0) |
      (pac ? PROXY_TYPE_AUTO_PROXY_URL : 0),
    proxyServer: text("ProxyServer"),
    bypass: text("ProxyOverride"),
    autoConfigUrl: pac,
  };
}

/**
 * The LAN's settings, before ktctl changes anything. WinINet's per-connection settings where it
 * has them (they include auto-detect); the registry values otherwise, with the reason. Which VPN
 * connection is up is not looked at: its settings apply only while it is connected.
 */
export function readPreviousSettings(
  windows: WindowsSystem,
  self: SelfAddress,
): UpstreamFound & { note?: string } {
  let settings: ConnectionSettings;
  let note: string | undefined;
  try {
    if (!windows.connections) throw new Error("no per-connection settings here");
    settings = readConnection(windows.connections, windows.registry, null);
    // The flags (auto-detect is only there) from WinINet; the strings from the legacy values
    // where they exist, which Windows keeps equal to WinINet's and Wine keeps exact: Wine's
    // WinINet reduces `http=a:1;https=b:2` to `a:1` and leaves the auto-config URL out.
    const registry = settingsFromRegistry(windows.registry);
    settings = {
      flags: settings.flags | (registry.autoConfigUrl ? PROXY_TYPE_AUTO_PROXY_URL : 0),
      proxyServer: registry.proxyServer ?? settings.proxyServer,
      bypass: registry.bypass ?? settings.bypass,
      autoConfigUrl: registry.autoConfigUrl ?? settings.autoConfigUrl,
    };
  } catch (error) {
    note = `WinINet's settings could not be read (${(error as Error).message}); used the registry`;
    settings = settingsFromRegistry(windows.registry);
  }
  return {
    config: upstreamFromSettings(settings, self),
    source: "Windows system proxy (LAN)",
    ...(note ? { note } : {}),
  };
}

/** One line naming an upstream, for the log. */
export function describeUpstream(config: UpstreamConfig): string {
  const ep = (e: ProxyEndpoint) =>
    `${e.protocol}://${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}`;
  switch (config.kind) {
    case "none":
      return "none (direct)";
    case "pac":
      return `the PAC file ${config.url}`;
    case "auto-detect":
      return `automatic detection (WPAD)${
        config.pacUrl ? `, then the PAC file ${config.pacUrl}` : ""
      }${config.fallback ? `, then ${describeUpstream(config.fallback)}` : ""}`;
    case "fixed": {
      const parts = [
        config.http && `http: ${ep(config.http)}`,
        config.https && `https: ${ep(config.https)}`,
        config.other && `${config.http || config.https ? "other" : "all"}: ${ep(config.other)}`,
      ].filter(Boolean);
      const bypass = [...config.bypass, ...(config.bypassLocal ? ["<local>"] : [])];
      return `${parts.join(", ")}${bypass.length ? ` (bypass ${bypass.join(";")})` : ""}`;
    }
  }
}
