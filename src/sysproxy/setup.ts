/**
 * `--setupGlobalProxy`: on Windows, record every value in the state file, then set them and
 * tell Windows; if a step fails, put back what was already changed so nothing is left
 * half-done. Until the values are restored, closing the console window restores them too.
 * Elsewhere, change nothing and only tell the user how to use the proxy from a shell.
 *
 * @module
 */
import type { ConnectClaim } from "./claim.ts";
import type { TouchedValue } from "./state_file.ts";
import {
  announceChanges,
  applyValue,
  isEnvironment,
  type RestoreReport,
} from "./touched_values.ts";
import type { GlobalProxyRequest, Platform, SysProxyDeps } from "./types.ts";
import {
  autoConfigWarning,
  environmentNames,
  environmentProxyUrl,
  planWindowsValues,
} from "./windows_plan.ts";
import { describeValue, INTERNET_SETTINGS_KEY, valueLabel } from "../os/windows_registry.ts";
import type { TouchedConnection } from "./state_file.ts";
import { applyConnection, planConnections, readConnection } from "./connections.ts";
import { connectionLabel } from "../os/wininet.ts";
import { clientHostPort } from "../net/client_address.ts";
import { pacUrl, proxyServerValue } from "./windows_plan.ts";
import type { UpstreamConfig } from "../net/proxy_config.ts";
import type { WindowsSystem } from "../os/windows_system.ts";

/** Group Policy: `ProxySettingsPerUser` = 0 makes the machine's proxy settings apply to all. */
export const PROXY_POLICY_KEY =
  "HKLM\\Software\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings";

/** Whether a policy makes per-user proxy settings ineffective (read errors count as "no"). */
export function perUserProxyDisabled(windows: WindowsSystem): boolean {
  try {
    const value = windows.registry.get(PROXY_POLICY_KEY, "ProxySettingsPerUser");
    return value?.type === "REG_DWORD" && value.data === 0;
  } catch {
    return false;
  }
}

/** A global proxy that is in place until `restore()`. */
export interface AppliedProxy {
  /** Lines for the user: what was set, and that only programs started from now on use it. */
  summary: string[];
  /** Lines to log as warnings (the system proxy could not be set, and why). */
  warnings: string[];
  /** Puts every value back (see the state file docs); safe to call more than once. */
  restore(): Promise<RestoreReport>;
}

/** Setting up failed; `lines` tells what was put back or could not be. */
export class SetupError extends Error {
  constructor(message: string, readonly lines: string[] = []) {
    super(message);
    this.name = "SetupError";
  }
}

/** Sets up the global proxy for a claimed connect (see the module doc). */
export async function setupGlobalProxy(
  req: GlobalProxyRequest,
  claim: ConnectClaim,
  deps: SysProxyDeps,
  /** The settings found before (recorded in the state file for the user and `clean`). */
  upstream?: UpstreamConfig,
): Promise<AppliedProxy> {
  if (deps.platform !== "windows") {
    return {
      summary: hintOnly(req, deps.platform),
      warnings: [],
      restore: () => claim.restoreValues(),
    };
  }
  if (claim.record.values.length > 0) {
    throw new SetupError("the global proxy is already set up for this connect");
  }
  const registry = deps.windows.registry;
  const warnings: string[] = [];
  const policy = perUserProxyDisabled(deps.windows);
  if (policy) {
    warnings.push(
      "A Group Policy (ProxySettingsPerUser=0) makes the machine's proxy settings apply to every " +
        "user: the system proxy cannot be changed without Administrator rights, so ktctl leaves " +
        "it alone. What still works: the environment variables set below (programs started " +
        `from now on), the proxy at ${clientHostPort(req.address, req.port)} and the PAC URL ` +
        `${pacUrl(req.address, req.port)} given to a program by hand`,
    );
  }
  let values: TouchedValue[];
  let connections: TouchedConnection[] = [];
  const notes: string[] = [];
  try {
    values = planWindowsValues(registry, req).filter((v) => !policy || isEnvironment(v));
  } catch (error) {
    throw new SetupError(
      `could not read the current proxy settings, so nothing was changed: ${
        (error as Error).message
      }`,
    );
  }
  if (!policy && deps.windows.connections && req.method !== "socks5") {
    try {
      connections = planConnections(deps.windows.connections, registry, req.method, {
        proxyServer: proxyServerValue(req.address, req.port),
        pacUrl: pacUrl(req.address, req.port),
      });
    } catch (error) {
      // Only the registry values then, as before: enough for the LAN on every Windows.
      notes.push(
        `Could not read WinINet's per-connection settings (${(error as Error).message}); ` +
          "set the registry values only, so a VPN connection keeps its own proxy settings",
      );
    }
  }
  if (connections.length === 0 && req.method === "socks") {
    notes.push(...autoConfigWarning(registry));
  }
  if (req.method === "http" && connections.length === 0) notes.push(...manualProxyNote(deps, req));
  const extra = { connections, ...(upstream ? { upstream } : {}) };
  await claim.save(req.method, values, extra);
  let unguard = () => {};
  try {
    unguard = claim.restoreOnConsoleClose();
  } catch (error) {
    notes.push(
      `Closing this console window will not restore the settings (${
        (error as Error).message
      }); stop ktctl with Ctrl+C, or run \`ktctl clean\` afterwards`,
    );
  }
  const environment = values.filter(isEnvironment);
  const internet = values.filter((v) => !isEnvironment(v));
  // Environment first, then the connections, then the legacy registry values (restored in
  // the reverse order): see connections.ts.
  const steps: [string, () => void][] = [
    ...environment.map((v): [string, () => void] => [
      valueLabel(v.key, v.name),
      () => applyValue(registry, v),
    ]),
    ...connections.map((c): [string, () => void] => [
      connectionLabel(c.connection),
      () => applyConnection(deps.windows.connections!, registry, c),
    ]),
    ...internet.map((v): [string, () => void] => [
      valueLabel(v.key, v.name),
      () => applyValue(registry, v),
    ]),
  ];
  for (const [what, step] of steps) {
    try {
      step();
    } catch (error) {
      const rollback = await claim.restoreValues();
      if (rollback.ok) unguard();
      throw new SetupError(
        `could not set ${what}: ${(error as Error).message}; ` +
          (rollback.ok
            ? "everything ktctl had changed was put back"
            : "some changes could not be put back"),
        rollback.lines,
      );
    }
  }
  if (connections.length > 0) {
    // What Windows reports now that everything is applied (Wine's LAN settings are the legacy
    // values ktctl wrote last), so restoring recognises ktctl's settings either way.
    try {
      for (const c of connections) {
        c.applied = readConnection(deps.windows.connections!, registry, c.connection);
      }
      await claim.save(req.method, values, extra);
    } catch (error) {
      notes.push(`Could not read back the connection settings: ${(error as Error).message}`);
    }
  }
  const announced = announceChanges(deps.windows, values, connections.length > 0);
  return {
    summary: [
      ...windowsSummary(req, values, connections, policy),
      ...notes,
      ...announced,
    ],
    warnings,
    restore: async () => {
      const report = await claim.restoreValues();
      if (report.ok) unguard();
      return report;
    },
  };
}

/** In http mode a manual proxy the user has enabled only applies again once ktctl is gone. */
function manualProxyNote(deps: SysProxyDeps, req: GlobalProxyRequest): string[] {
  if (req.method !== "http") return [];
  try {
    const enabled = deps.windows.registry.get(INTERNET_SETTINGS_KEY, "ProxyEnable");
    const server = deps.windows.registry.get(INTERNET_SETTINGS_KEY, "ProxyServer");
    if (enabled?.data !== 1 || !server?.data) return [];
    return [
      `Note: while ktctl serves the auto-config script, destinations outside the cluster go ` +
      `direct, not through your proxy ${server.data}; it applies again once ktctl exits`,
    ];
  } catch {
    return [];
  }
}

function windowsSummary(
  req: GlobalProxyRequest,
  values: TouchedValue[],
  connections: TouchedConnection[],
  policy: boolean,
): string[] {
  const lines = values.filter(isEnvironment).map((value) =>
    `Set the user environment variable ${value.name}=${value.set.data} (before: ${
      describeValue(value.previous)
    })`
  );
  if (!environmentNames(req).includes("https_proxy")) {
    lines.push("https_proxy was not set, so HTTPS requests bypass the proxy");
  }
  const settings = new Map(values.map((value) => [value.name, value]));
  const pac = settings.get("AutoConfigURL");
  if (policy) {
    lines.push(
      "Environment variables reach only programs started from now on, not those already " +
        "running (this console included)",
      "ktctl puts the previous settings back when connect exits; if it is killed, run `ktctl clean`",
    );
    return lines;
  }
  const vpn = connections.filter((c) => c.connection !== null).map((c) => c.connection);
  if (vpn.length > 0) {
    lines.push(
      `Set the same on the dial-up/VPN connections ${vpn.map((n) => JSON.stringify(n)).join(", ")}`,
    );
  }
  lines.push(
    req.method === "socks"
      ? `Set the Windows system proxy to ${settings.get("ProxyServer")?.set.data} (bypass list: ${
        settings.get("ProxyOverride")?.set.data
      })`
      : pac
      ? `Set the Windows proxy auto-config script to ${pac.set.data} (before: ${
        describeValue(pac.previous)
      }): cluster destinations go to ktctl, everything else where your previous settings sent ` +
        "it, and your previous settings apply again once ktctl is gone"
      : "Left the Windows system proxy alone: it cannot use SOCKS5 (Firefox and tools such as " +
        "Proxifier can)",
    "Environment variables reach only programs started from now on, not those already " +
      "running (this console included)",
    ...(settings.has("ProxyServer") || pac
      ? ["Browsers and other programs that follow the system proxy use the change at once"]
      : []),
    "ktctl puts the previous settings back when connect exits; if it is killed, run `ktctl clean`",
  );
  return lines;
}

function hintOnly(req: GlobalProxyRequest, platform: Platform): string[] {
  const url = environmentProxyUrl(req);
  const exports = environmentNames(req).map((name) => `${name}=${url}`).join(" ");
  return [
    `On ${platform}, --setupGlobalProxy changes no system settings; it only shows this hint`,
    `To use the proxy from a shell, run: export ${exports}`,
  ];
}
