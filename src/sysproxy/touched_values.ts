/**
 * Applying and restoring the registry values recorded in a state file. Restoring compares the
 * current value with the recorded ones, so it is safe at any point after a crash and safe to
 * repeat: a value still as ktctl set it goes back (or is deleted if it did not exist), a value
 * still as before was never changed or is already restored, and anything else was changed by
 * the user meanwhile and is left alone with a warning. Everything here is synchronous (see
 * `windows_system.ts`), so the console-close handler runs the very same code.
 *
 * @module
 */
import type { StateRecord, TouchedConnection, TouchedValue } from "./state_file.ts";
import { restoreConnection } from "./connections.ts";
import { connectionLabel } from "../os/wininet.ts";
import {
  describeValue,
  ENVIRONMENT_KEY,
  INTERNET_SETTINGS_KEY,
  type Registry,
  type RegValue,
  sameValue,
  valueLabel,
} from "../os/windows_registry.ts";
import type { WindowsSystem } from "../os/windows_system.ts";

/** A user environment variable (programs read those when they start). */
export function isEnvironment(value: TouchedValue): boolean {
  return value.key.toLowerCase() === ENVIRONMENT_KEY.toLowerCase();
}

function isInternetSettings(value: TouchedValue): boolean {
  return value.key.toLowerCase() === INTERNET_SETTINGS_KEY.toLowerCase();
}

function label(value: TouchedValue): string {
  return valueLabel(value.key, value.name);
}

/** Sets one value (nothing to write if it already had that value). */
export function applyValue(registry: Registry, value: TouchedValue): void {
  if (sameValue(value.previous, value.set)) return;
  registry.set(value.key, value.name, value.set);
}

/**
 * Tells Windows that `changed` values changed: the WM_SETTINGCHANGE broadcast for environment
 * variables, WinINet's refresh for Internet Settings. Returns warning lines; a failed
 * notification never undoes the change itself.
 */
export function announceChanges(
  windows: WindowsSystem,
  changed: readonly TouchedValue[],
  connectionsChanged = false,
): string[] {
  const lines: string[] = [];
  if (changed.some(isEnvironment) && !windows.broadcastEnvironment()) {
    lines.push(
      "Could not tell Windows that the user environment changed (WM_SETTINGCHANGE); programs " +
        "started from Explorer may see the old values until you sign out and in again",
    );
  }
  if (connectionsChanged || changed.some(isInternetSettings)) {
    const refreshed = windows.refreshInternetSettings();
    if (!refreshed.settingsChanged && !refreshed.refresh) {
      lines.push(
        "Could not tell running programs that the proxy settings changed (InternetSetOption); " +
          "restart browsers to be sure they use the current ones",
      );
    }
  }
  return lines;
}

/** What restoring one value means, given its current value. */
type RestoreStep =
  | { action: "put-back"; previous: RegValue }
  | { action: "delete" | "unchanged" }
  | { action: "changed"; current: RegValue | null };

function restoreStep(value: TouchedValue, current: RegValue | null): RestoreStep {
  if (sameValue(current, value.set) && !sameValue(current, value.previous)) {
    return value.previous === null
      ? { action: "delete" }
      : { action: "put-back", previous: value.previous };
  }
  if (sameValue(current, value.previous)) return { action: "unchanged" };
  return { action: "changed", current };
}

/** The outcome of restoring a list of values. */
export interface RestoreReport {
  /** `false` when some value could not be restored (the caller keeps the state file). */
  ok: boolean;
  /** Human-readable lines: what was (or, in a dry run, would be) done, and warnings. */
  lines: string[];
}

/**
 * Restores the WinINet `connections` (each puts the legacy values WinINet rewrites back as they
 * were), then `values` in reverse order of application, then announces what changed. A value that cannot be read or written is
 * reported and the others still restored. With `dryRun`, only reads and describes.
 */
export function restoreValues(
  windows: WindowsSystem,
  values: readonly TouchedValue[],
  dryRun: boolean,
  connections: readonly TouchedConnection[] = [],
): RestoreReport {
  const report: RestoreReport = { ok: true, lines: [] };
  const changed: TouchedValue[] = [];
  let connectionsChanged = false;
  const handled = new Set(values.filter(isInternetSettings).map((v) => v.name.toLowerCase()));
  for (const touched of [...connections].reverse()) {
    try {
      if (!windows.connections) {
        throw new Error("WinINet's per-connection settings are unavailable");
      }
      const done = restoreConnection(
        windows.connections,
        windows.registry,
        touched,
        dryRun,
        handled,
      );
      report.lines.push(done.line);
      connectionsChanged ||= done.changed;
    } catch (error) {
      report.ok = false;
      report.lines.push(
        `Could not restore ${connectionLabel(touched.connection)}: ${(error as Error).message}`,
      );
    }
  }

  for (const value of [...values].reverse()) {
    try {
      const step = restoreStep(value, windows.registry.get(value.key, value.name));
      report.lines.push(runStep(windows.registry, value, step, dryRun));
      if (step.action === "put-back" || step.action === "delete") changed.push(value);
    } catch (error) {
      report.ok = false;
      report.lines.push(`Could not restore ${label(value)}: ${(error as Error).message}`);
    }
  }
  if (!dryRun && (changed.length > 0 || connectionsChanged)) {
    report.lines.push(...announceChanges(windows, changed, connectionsChanged));
  }
  report.lines = report.lines.filter((line) => line !== "");
  return report;
}

function runStep(registry: Registry, value: TouchedValue, step: RestoreStep, dryRun: boolean) {
  switch (step.action) {
    case "put-back":
      if (!dryRun) registry.set(value.key, value.name, step.previous);
      return `${dryRun ? "Would restore" : "Restored"} ${label(value)} to ${
        describeValue(step.previous)
      }`;
    case "delete":
      if (!dryRun) registry.delete(value.key, value.name);
      return `${dryRun ? "Would remove" : "Removed"} ${label(value)} (it did not exist before)`;
    case "unchanged":
      return dryRun ? `${label(value)} already has its previous value; nothing to do` : "";
    case "changed":
      return `${dryRun ? "Would leave" : "Left"} ${label(value)} as it is: it was changed to ${
        describeValue(step.current)
      } after ktctl set it to ${describeValue(value.set)}`;
  }
}

/** Whether a state record still has something to restore. */
export function hasValues(record: Pick<StateRecord, "values" | "connections">): boolean {
  return record.values.length > 0 || (record.connections?.length ?? 0) > 0;
}

/** Restores everything a state record holds (see {@link restoreValues}). */
export function restoreRecord(
  windows: WindowsSystem,
  record: Pick<StateRecord, "values" | "connections">,
  dryRun: boolean,
): RestoreReport {
  return restoreValues(windows, record.values, dryRun, record.connections ?? []);
}
