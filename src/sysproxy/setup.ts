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

/** A global proxy that is in place until `restore()`. */
export interface AppliedProxy {
  /** Lines for the user: what was set, and that only programs started from now on use it. */
  summary: string[];
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
): Promise<AppliedProxy> {
  if (deps.platform !== "windows") {
    return { summary: hintOnly(req, deps.platform), restore: () => claim.restoreValues() };
  }
  if (claim.record.values.length > 0) {
    throw new SetupError("the global proxy is already set up for this connect");
  }
  const registry = deps.windows.registry;
  let values: TouchedValue[];
  try {
    values = planWindowsValues(registry, req);
  } catch (error) {
    throw new SetupError(
      `could not read the current proxy settings, so nothing was changed: ${
        (error as Error).message
      }`,
    );
  }
  const notes = req.method === "socks" ? autoConfigWarning(registry) : manualProxyNote(deps, req);
  await claim.save(req.method, values);
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
  for (const value of values) {
    try {
      applyValue(registry, value);
    } catch (error) {
      const rollback = await claim.restoreValues();
      if (rollback.ok) unguard();
      throw new SetupError(
        `could not set ${valueLabel(value.key, value.name)}: ${(error as Error).message}; ` +
          (rollback.ok
            ? "everything ktctl had changed was put back"
            : "some changes could not be put back"),
        rollback.lines,
      );
    }
  }
  const warnings = announceChanges(deps.windows, values);
  return {
    summary: [...windowsSummary(req, values), ...notes, ...warnings],
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

function windowsSummary(req: GlobalProxyRequest, values: TouchedValue[]): string[] {
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
  lines.push(
    req.method === "socks"
      ? `Set the Windows system proxy to ${settings.get("ProxyServer")?.set.data} (bypass list: ${
        settings.get("ProxyOverride")?.set.data
      })`
      : pac
      ? `Set the Windows proxy auto-config script to ${pac.set.data} (before: ${
        describeValue(pac.previous)
      }): cluster destinations go to ktctl, everything else direct, and direct again for ` +
        "everything if ktctl is gone"
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
