/**
 * Applying and restoring the registry values recorded in a state file. Restoring compares the
 * current value with the recorded ones, so it is safe at any point after a crash and safe to
 * repeat: a value still as ktctl set it goes back (or is deleted if it did not exist), a value
 * still as before was never changed or is already restored, and anything else was changed by
 * the user meanwhile and is left alone with a warning.
 *
 * @module
 */
import type { CommandRunner } from "./command_runner.ts";
import type { TouchedValue } from "./state_file.ts";
import {
  deleteValue,
  describeValue,
  ENVIRONMENT_KEY,
  queryValue,
  RegistryError,
  type RegValue,
  sameValue,
  setUserEnv,
  setValue,
  valueLabel,
} from "./windows_registry.ts";

/**
 * A ktctl-owned variable set with `setx` (then deleted) after restoring environment variables,
 * only for the WM_SETTINGCHANGE broadcast setx sends: `reg` cannot broadcast, and without one
 * Explorer keeps handing the restored variable's old value to programs it starts until the
 * user signs out. The variable stays in Explorer's copy of the environment until the next
 * broadcast, which is harmless.
 */
export const REFRESH_VARIABLE = "KTCTL_ENVIRONMENT_REFRESH";

/** Environment variables are set with setx (which broadcasts), the rest with reg add. */
export function isEnvironment(value: TouchedValue): boolean {
  return value.key.toLowerCase() === ENVIRONMENT_KEY.toLowerCase();
}

function label(value: TouchedValue): string {
  return valueLabel(value.key, value.name);
}

/** Sets one value (nothing to run if it already had that value). */
export async function applyValue(runner: CommandRunner, value: TouchedValue): Promise<void> {
  if (sameValue(value.previous, value.set)) return;
  if (!isEnvironment(value)) return await setValue(runner, value.key, value.name, value.set);
  await setUserEnv(runner, value.name, String(value.set.data));
  // Wine's own setx.exe is a stub that exits 0 and writes nothing: check that it took.
  const now = await queryValue(runner, value.key, value.name);
  if (!sameValue(now, value.set)) {
    throw new RegistryError(
      `setx reported success but ${label(value)} is ${describeValue(now)}`,
    );
  }
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
 * Restores `values` in reverse order of application. A value that cannot be read or written is
 * reported and the others still restored. With `dryRun`, only reads and describes.
 */
export async function restoreValues(
  runner: CommandRunner,
  values: readonly TouchedValue[],
  dryRun: boolean,
): Promise<RestoreReport> {
  const report: RestoreReport = { ok: true, lines: [] };
  let environmentChanged = false;
  for (const value of [...values].reverse()) {
    try {
      const step = restoreStep(value, await queryValue(runner, value.key, value.name));
      report.lines.push(...await runStep(runner, value, step, dryRun));
      environmentChanged ||= !dryRun && isEnvironment(value) &&
        (step.action === "put-back" || step.action === "delete");
    } catch (error) {
      report.ok = false;
      report.lines.push(`Could not restore ${label(value)}: ${(error as Error).message}`);
    }
  }
  if (!dryRun && values.some(isEnvironment)) {
    report.lines.push(...await refreshEnvironment(runner, environmentChanged));
  }
  return report;
}

async function runStep(
  runner: CommandRunner,
  value: TouchedValue,
  step: RestoreStep,
  dryRun: boolean,
): Promise<string[]> {
  switch (step.action) {
    case "put-back":
      if (!dryRun) await setValue(runner, value.key, value.name, step.previous);
      return [
        `${dryRun ? "Would restore" : "Restored"} ${label(value)} to ${
          describeValue(step.previous)
        }`,
      ];
    case "delete":
      if (!dryRun) await deleteValue(runner, value.key, value.name);
      return [`${dryRun ? "Would remove" : "Removed"} ${label(value)} (it did not exist before)`];
    case "unchanged":
      return dryRun ? [`${label(value)} already has its previous value; nothing to do`] : [];
    case "changed":
      return [
        `${dryRun ? "Would leave" : "Left"} ${label(value)} as it is: it was changed to ${
          describeValue(step.current)
        } after ktctl set it to ${describeValue(value.set)}`,
      ];
  }
}

/**
 * Makes Explorer re-read the user environment after a restore changed it (see
 * {@link REFRESH_VARIABLE}); otherwise only removes the variable if a crash between its setx and
 * its deletion left it behind.
 */
async function refreshEnvironment(runner: CommandRunner, changed: boolean): Promise<string[]> {
  try {
    if (changed) await setUserEnv(runner, REFRESH_VARIABLE, "1");
    if (changed || await queryValue(runner, ENVIRONMENT_KEY, REFRESH_VARIABLE) !== null) {
      await deleteValue(runner, ENVIRONMENT_KEY, REFRESH_VARIABLE);
    }
    return [];
  } catch (error) {
    return [
      `Could not tell Windows that the environment changed (${(error as Error).message}); ` +
      "programs started from Explorer may see the old values until you sign out and in again",
    ];
  }
}
