/**
 * The system proxy set the way Windows keeps it: WinINet's per-connection settings (the LAN and
 * every RAS/VPN entry, `src/os/wininet.ts`), planned from what each connection had, applied
 * before the legacy registry values and restored after them.
 *
 * - `socks`: `DIRECT|PROXY`, `socks=HOST:PORT`, the connection's bypass list plus `<local>`.
 *   "Automatically detect settings" and the auto-config URL are switched off while connected
 *   (with auto-detect on, WPAD wins over any proxy; with a PAC URL, the PAC does): programs then
 *   send everything to ktctl, which sends what is outside the cluster on to the previous proxy.
 * - `http`: `DIRECT|AUTO_PROXY_URL` plus the connection's own `PROXY` bit, the auto-config URL
 *   ktctl's PAC (which repeats the previous configuration's answers for everything outside the
 *   cluster), auto-detect off; the manual proxy and bypass list stay, so Windows falls back to
 *   them when the PAC cannot be fetched (ktctl gone).
 * - `socks5`: nothing (WinINet speaks SOCKS4 only).
 *
 * WinINet rewrites the LAN's legacy values (`ProxyEnable`, `ProxyServer`, `ProxyOverride`,
 * `AutoConfigURL`) from the settings it is given, and not always as they were (an absent
 * `ProxyEnable` becomes 0; Wine's WinINet even writes it when it only reads): those are recorded
 * before, and put back exactly after each write and read, so the registry values ktctl does not
 * set itself stay byte for byte as they were. Connections are restored before the legacy values
 * ktctl set, and leave those as they found them for the registry restore to judge. Restoring is
 * safe to repeat: a connection still as ktctl left it goes back; one the user changed meanwhile
 * is left alone with a warning. Synchronous, like the rest of the restore.
 * @module
 */
import {
  connectionLabel,
  type ConnectionName,
  type ConnectionOptions,
  type ConnectionSettings,
  describeSettings,
  PROXY_TYPE_AUTO_PROXY_URL,
  PROXY_TYPE_DIRECT,
  PROXY_TYPE_PROXY,
  sameSettings,
} from "../os/wininet.ts";
import { INTERNET_SETTINGS_KEY, type Registry, sameValue } from "../os/windows_registry.ts";
import type { TouchedConnection } from "./state_file.ts";
import type { ProxyMethod } from "./types.ts";
import { mergeProxyOverride } from "./windows_plan.ts";

/** The legacy LAN values WinINet keeps beside its per-connection settings. */
export const MIRROR_NAMES = ["ProxyEnable", "ProxyServer", "ProxyOverride", "AutoConfigURL"];

/** What ktctl sets on one connection in `method`, given what it had (undefined: untouched). */
export function plannedSettings(
  method: ProxyMethod,
  previous: ConnectionSettings,
  ktctl: { proxyServer: string; pacUrl: string },
): ConnectionSettings | undefined {
  if (method === "socks") {
    const bypass = previous.bypass === null
      ? null
      : { type: "REG_SZ" as const, data: previous.bypass };
    return {
      flags: PROXY_TYPE_DIRECT | PROXY_TYPE_PROXY,
      proxyServer: ktctl.proxyServer,
      bypass: mergeProxyOverride(bypass),
      autoConfigUrl: previous.autoConfigUrl,
    };
  }
  if (method === "http") {
    return {
      flags: PROXY_TYPE_DIRECT | PROXY_TYPE_AUTO_PROXY_URL | (previous.flags & PROXY_TYPE_PROXY),
      proxyServer: previous.proxyServer,
      bypass: previous.bypass,
      autoConfigUrl: ktctl.pacUrl,
    };
  }
  return undefined;
}

/**
 * Reads every connection (the LAN first, then each RAS entry) and plans its change; for the LAN
 * also the legacy values to keep. @throws what the connection calls throw.
 */
export function planConnections(
  connections: ConnectionOptions,
  registry: Registry,
  method: ProxyMethod,
  ktctl: { proxyServer: string; pacUrl: string },
): TouchedConnection[] {
  if (method === "socks5") return [];
  const names: ConnectionName[] = [null, ...connections.rasEntries()];
  return names.flatMap((connection) => {
    const previous = readConnection(connections, registry, connection);
    const set = plannedSettings(method, previous, ktctl);
    if (!set) return [];
    const touched: TouchedConnection = { connection, previous, set };
    if (connection === null) {
      touched.mirror = MIRROR_NAMES.map((name) => ({
        name,
        previous: registry.get(INTERNET_SETTINGS_KEY, name),
      }));
    }
    return [touched];
  });
}

/**
 * Reads one connection without changing anything: Wine's WinINet writes `ProxyEnable=0` when it
 * reads LAN settings that have none, so the LAN's legacy values are put back as they were.
 */
export function readConnection(
  connections: ConnectionOptions,
  registry: Registry,
  connection: ConnectionName,
): ConnectionSettings {
  if (connection !== null) return connections.get(connection);
  const mirror = MIRROR_NAMES.map((name) => ({
    name,
    previous: registry.get(INTERNET_SETTINGS_KEY, name),
  }));
  try {
    return connections.get(null);
  } finally {
    putMirrorBack(registry, { connection, previous: NONE, set: NONE, mirror });
  }
}

const NONE: ConnectionSettings = { flags: 1, proxyServer: null, bypass: null, autoConfigUrl: null };

/** Puts the LAN's legacy values back exactly as recorded; returns whether any was written. */
function putMirrorBack(registry: Registry, touched: TouchedConnection): boolean {
  let wrote = false;
  for (const { name, previous } of touched.mirror ?? []) {
    const current = registry.get(INTERNET_SETTINGS_KEY, name);
    if (sameValue(current, previous) && current?.type === previous?.type) continue;
    if (previous === null) registry.delete(INTERNET_SETTINGS_KEY, name);
    else registry.set(INTERNET_SETTINGS_KEY, name, previous);
    wrote = true;
  }
  return wrote;
}

/**
 * Writes ktctl's settings to one connection and keeps the LAN's legacy values as they were
 * (ktctl sets its own afterwards). Once everything is applied, the caller records what Windows
 * reports ({@link readConnection}) as `applied`.
 */
export function applyConnection(
  connections: ConnectionOptions,
  registry: Registry,
  touched: TouchedConnection,
): void {
  if (!sameSettings(touched.previous, touched.set)) {
    connections.set(touched.connection, touched.set);
  }
  putMirrorBack(registry, touched);
}

/** What restoring one connection did: a line for the user ("" for nothing), and whether it wrote. */
export interface ConnectionRestore {
  line: string;
  changed: boolean;
}

/**
 * Restores one connection (see the module doc); with `dryRun` only reads and describes.
 * `handled` names the legacy values that the registry restore judges next (those ktctl set
 * itself): the connection write leaves them as they are now, so that restore still sees ktctl's
 * value (and puts the previous one back) or the user's (and leaves it).
 */
export function restoreConnection(
  connections: ConnectionOptions,
  registry: Registry,
  touched: TouchedConnection,
  dryRun: boolean,
  handled: ReadonlySet<string> = new Set(),
): ConnectionRestore {
  const label = connectionLabel(touched.connection);
  const current = connections.get(touched.connection);
  if (sameSettings(current, touched.previous)) {
    if (dryRun) {
      return { line: `${label} already have their previous proxy settings`, changed: false };
    }
    return { line: "", changed: putMirrorBack(registry, touched) };
  }
  const ours = sameSettings(current, touched.set) ||
    (touched.applied !== undefined && sameSettings(current, touched.applied));
  if (!ours) {
    return {
      line: `${dryRun ? "Would leave" : "Left"} ${label} as they are: they were changed to ${
        describeSettings(current)
      } after ktctl set them to ${describeSettings(touched.set)}`,
      changed: false,
    };
  }
  if (dryRun) {
    return {
      line: `Would restore ${label} to ${describeSettings(touched.previous)}`,
      changed: false,
    };
  }
  const mirror = touched.mirror?.map((m) =>
    handled.has(m.name.toLowerCase())
      ? { name: m.name, previous: registry.get(INTERNET_SETTINGS_KEY, m.name) }
      : m
  );
  connections.set(touched.connection, touched.previous);
  putMirrorBack(registry, { ...touched, mirror });
  return { line: `Restored ${label} to ${describeSettings(touched.previous)}`, changed: true };
}
