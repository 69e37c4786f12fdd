/**
 * `--setupGlobalProxy`: on Windows, record every value in the state file, then set them; if a
 * step fails, put back what was already changed so nothing is left half-done. Elsewhere,
 * change nothing and only tell the user how to use the proxy from a shell.
 *
 * @module
 */
import type { ConnectClaim } from "./claim.ts";
import type { TouchedValue } from "./state_file.ts";
import { applyValue, isEnvironment, type RestoreReport } from "./touched_values.ts";
import type { GlobalProxyRequest, Platform, SysProxyDeps } from "./types.ts";
import { autoConfigWarning, planWindowsValues } from "./windows_plan.ts";
import { describeValue, valueLabel } from "./windows_registry.ts";

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
  let values: TouchedValue[];
  try {
    values = await planWindowsValues(deps.runner, req);
  } catch (error) {
    throw new SetupError(
      `could not read the current proxy settings, so nothing was changed: ${
        (error as Error).message
      }`,
    );
  }
  const notes = req.method === "socks" ? await autoConfigWarning(deps.runner) : [];
  await claim.save(req.method, values);
  for (const value of values) {
    try {
      await applyValue(deps.runner, value);
    } catch (error) {
      const rollback = await claim.restoreValues();
      throw new SetupError(
        `could not set ${valueLabel(value.key, value.name)}: ${(error as Error).message}; ` +
          (rollback.ok
            ? "everything ktctl had changed was put back"
            : "some changes could not be put back"),
        rollback.lines,
      );
    }
  }
  return {
    summary: [...windowsSummary(req, values), ...notes],
    restore: () => claim.restoreValues(),
  };
}

function windowsSummary(req: GlobalProxyRequest, values: TouchedValue[]): string[] {
  const lines = values.filter(isEnvironment).map((value) =>
    `Set the user environment variable ${value.name}=${value.set.data} (before: ${
      describeValue(value.previous)
    })`
  );
  if (!req.httpsProxy) lines.push("https_proxy was not set, so HTTPS requests bypass the proxy");
  const settings = new Map(values.map((value) => [value.name, value.set.data]));
  lines.push(
    req.method === "socks"
      ? `Set the Windows system proxy to ${settings.get("ProxyServer")} (bypass list: ${
        settings.get("ProxyOverride")
      })`
      : "Left the Windows system proxy alone: it cannot use SOCKS5 (Firefox and tools such as " +
        "Proxifier can)",
    "Only programs started from now on use these settings; programs already running, this " +
      "console included, do not",
    "ktctl puts the previous settings back when connect exits; if it is killed, run `ktctl clean`",
  );
  return lines;
}

function hintOnly(req: GlobalProxyRequest, platform: Platform): string[] {
  return [
    `On ${platform}, --setupGlobalProxy changes no system settings; it only shows this hint`,
    `To use the proxy from a shell, run: export http_proxy=${req.proxyUrl}`,
  ];
}
