/**
 * Which Windows values `--setupGlobalProxy` sets, read together with their current values so
 * the state file can record both before anything changes. Pure decisions (proxy strings,
 * override merge) are separate functions so they are tested without any registry.
 *
 * @module
 */
import { clientHostPort, clientUrl } from "../net/client_address.ts";
import type { TouchedValue } from "./state_file.ts";
import type { GlobalProxyRequest } from "./types.ts";
import {
  ENVIRONMENT_KEY,
  INTERNET_SETTINGS_KEY,
  type Registry,
  type RegValue,
} from "../os/windows_registry.ts";

/** WinINet's SOCKS-only proxy syntax; Windows speaks SOCKS4 only, hence `socks` mode only. */
export function proxyServerValue(address: string, port: number): string {
  return `socks=${clientHostPort(address, port)}`;
}

/** The PAC URL ktctl's listener serves (`GET /proxy.pac`), as clients reach it. */
export function pacUrl(address: string, port: number): string {
  return `${clientUrl("http", address, port)}/proxy.pac`;
}

/**
 * The proxy URL for the environment, with a wildcard host (`socks4a://0.0.0.0:2223`) replaced
 * by the host clients use, so it always agrees with the system proxy and the banner. In `socks`
 * mode it is `http://HOST:PORT` whatever the caller asked: the port speaks HTTP in every mode,
 * and `http://` is the one proxy URL that curl, wget, Python, Go, Node and Deno all accept
 * (`socks4a://` works in curl only). `socks5` mode keeps the caller's `socks5h://`.
 */
export function environmentProxyUrl(req: GlobalProxyRequest): string {
  if (req.method === "socks") return clientUrl("http", req.address, req.port);
  const match = /^([a-z][a-z0-9+.-]*):\/\/(\[[^\]]*\]|[^/:]*):(\d+)(\/.*)?$/i.exec(req.proxyUrl);
  if (!match) return req.proxyUrl;
  return `${clientUrl(match[1], match[2], Number(match[3]))}${match[4] ?? ""}`;
}

/**
 * Keeps the user's bypass list and makes sure `<local>` (plain host names bypass the proxy) is
 * in it, so intranet names keep working while connected.
 */
export function mergeProxyOverride(previous: RegValue | null): string {
  const text = previous !== null && previous.type !== "REG_DWORD" ? previous.data : "";
  const list = text.trim().replace(/;+$/, "");
  if (list === "") return "<local>";
  const hasLocal = list.split(";").some((entry) => entry.trim().toLowerCase() === "<local>");
  return hasLocal ? text : `${list};<local>`;
}

const sz = (data: string): RegValue => ({ type: "REG_SZ", data });
const dword = (data: number): RegValue => ({ type: "REG_DWORD", data });

/**
 * The user environment variables set in each mode: both in `socks` and `http` mode (an
 * `http://` https_proxy is what Go, curl and Python use for HTTPS through CONNECT); `socks5`
 * mode sets only `http_proxy` unless asked, since a `socks5h://` https_proxy is not understood
 * by every program.
 */
export function environmentNames(req: GlobalProxyRequest): string[] {
  return req.method !== "socks5" || req.httpsProxy ? ["http_proxy", "https_proxy"] : ["http_proxy"];
}

/** The values to touch, in application order, with their current (previous) values. */
export function planWindowsValues(registry: Registry, req: GlobalProxyRequest): TouchedValue[] {
  const read = (key: string, name: string, set: (previous: RegValue | null) => RegValue) => {
    const previous = registry.get(key, name);
    return { key, name, previous, set: set(previous) };
  };
  const url = sz(environmentProxyUrl(req));
  const values = environmentNames(req).map((name) => read(ENVIRONMENT_KEY, name, () => url));
  if (req.method === "socks") {
    const server = sz(proxyServerValue(req.address, req.port));
    values.push(read(INTERNET_SETTINGS_KEY, "ProxyServer", () => server));
    values.push(
      read(INTERNET_SETTINGS_KEY, "ProxyOverride", (prev) => sz(mergeProxyOverride(prev))),
    );
    // Enabled last, so the proxy is never switched on while pointing at the old server.
    values.push(read(INTERNET_SETTINGS_KEY, "ProxyEnable", () => dword(1)));
  } else if (req.method === "http") {
    // Only the auto-config script: ProxyEnable and ProxyServer stay as the user had them. While
    // ktctl serves the script, WinINet and Chromium follow it (cluster destinations to ktctl,
    // the rest as the previous settings said: src/front/http/pac.ts). Once ktctl is gone the
    // script cannot be fetched, and Windows falls back to the manual proxy if the user had one
    // enabled, else goes DIRECT: a crashed ktctl never leaves browsers pointing at a dead proxy.
    const script = sz(pacUrl(req.address, req.port));
    values.push(read(INTERNET_SETTINGS_KEY, "AutoConfigURL", () => script));
  }
  return values;
}

/**
 * A warning when a proxy auto-config script is set in socks mode: WinINet prefers it to the
 * manual proxy, so browsers may not use ktctl's proxy at all.
 */
export function autoConfigWarning(registry: Registry): string[] {
  let pac: RegValue | null;
  try {
    pac = registry.get(INTERNET_SETTINGS_KEY, "AutoConfigURL");
  } catch {
    return []; // Only a warning: not being able to read it must not stop the setup.
  }
  if (pac === null || pac.data === "") return [];
  return [
    `Note: a proxy auto-config script is set (AutoConfigURL=${pac.data}); Windows uses it ` +
    "before the system proxy, so browsers may bypass ktctl's proxy.",
  ];
}
