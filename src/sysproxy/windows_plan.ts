/**
 * Which Windows values `--setupGlobalProxy` sets, read together with their current values so
 * the state file can record both before anything changes. Pure decisions (proxy server string,
 * override merge) are separate functions so they are tested without any registry.
 *
 * @module
 */
import type { CommandRunner } from "./command_runner.ts";
import type { TouchedValue } from "./state_file.ts";
import type { GlobalProxyRequest } from "./types.ts";
import {
  ENVIRONMENT_KEY,
  INTERNET_SETTINGS_KEY,
  queryValue,
  type RegValue,
} from "./windows_registry.ts";

/** The host clients use to reach a listen address: a wildcard listens on loopback too. */
export function clientHost(address: string): string {
  if (address === "0.0.0.0" || address === "") return "127.0.0.1";
  if (address === "::") return "[::1]";
  return address.includes(":") ? `[${address}]` : address;
}

/** WinINet's SOCKS-only proxy syntax; Windows speaks SOCKS4 only, hence `socks` mode only. */
export function proxyServerValue(address: string, port: number): string {
  return `socks=${clientHost(address)}:${port}`;
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

/** The values to touch, in application order, with their current (previous) values. */
export async function planWindowsValues(
  runner: CommandRunner,
  req: GlobalProxyRequest,
): Promise<TouchedValue[]> {
  const read = async (key: string, name: string, set: (previous: RegValue | null) => RegValue) => {
    const previous = await queryValue(runner, key, name);
    return { key, name, previous, set: set(previous) };
  };
  const envNames = req.httpsProxy ? ["http_proxy", "https_proxy"] : ["http_proxy"];
  const values: TouchedValue[] = [];
  for (const name of envNames) {
    values.push(await read(ENVIRONMENT_KEY, name, () => sz(req.proxyUrl)));
  }
  if (req.method === "socks") {
    const server = sz(proxyServerValue(req.address, req.port));
    values.push(await read(INTERNET_SETTINGS_KEY, "ProxyServer", () => server));
    values.push(
      await read(INTERNET_SETTINGS_KEY, "ProxyOverride", (prev) => sz(mergeProxyOverride(prev))),
    );
    // Enabled last, so the proxy is never switched on while pointing at the old server.
    values.push(await read(INTERNET_SETTINGS_KEY, "ProxyEnable", () => dword(1)));
  }
  return values;
}

/**
 * A warning when a proxy auto-config script is set: WinINet prefers it to the manual proxy,
 * so browsers may not use ktctl's proxy at all.
 */
export async function autoConfigWarning(runner: CommandRunner): Promise<string[]> {
  let pac: RegValue | null;
  try {
    pac = await queryValue(runner, INTERNET_SETTINGS_KEY, "AutoConfigURL");
  } catch {
    return []; // Only a warning: not being able to read it must not stop the setup.
  }
  if (pac === null || pac.data === "") return [];
  return [
    `Note: a proxy auto-config script is set (AutoConfigURL=${pac.data}); Windows uses it ` +
    "before the system proxy, so browsers may bypass ktctl's proxy.",
  ];
}
