/**
 * Putting back what a dead connect left behind and removing its state file: shared by `ktctl
 * clean` and by `connect` itself, which repairs a dead predecessor on the same address:port
 * before starting.
 *
 * @module
 */
import { isKtctlValue, type StateRecord } from "./state_file.ts";
import { valueLabel } from "../os/windows_registry.ts";
import { type RestoreReport, restoreValues } from "./touched_values.ts";
import type { SysProxyDeps } from "./types.ts";

/** `connect pid 42 (127.0.0.1:2223)`, as shown to users. */
export function describeOwner(record: StateRecord): string {
  return `connect pid ${record.pid} (${record.address}:${record.port})`;
}

/**
 * Restores the values of a dead owner's state file, then removes the file; keeps the file when
 * a value could not be restored, so a later `ktctl clean` can try again. An entry naming a
 * value ktctl never sets (see `KTCTL_VALUES`) is refused and said so, and the file is kept.
 */
export async function recoverDead(
  path: string,
  record: StateRecord,
  why: string,
  deps: SysProxyDeps,
  dryRun: boolean,
): Promise<RestoreReport> {
  const lines = [`${describeOwner(record)} is gone (${why}); its state file is ${path}`];
  const ours = record.values.filter((v) => isKtctlValue(v.key, v.name));
  const refused = record.values.filter((v) => !isKtctlValue(v.key, v.name));
  const restored = restoreValues(deps.windows, ours, dryRun);
  lines.push(...restored.lines.map((line) => `  ${line}`));
  for (const v of refused) {
    lines.push(
      `  Refused to restore ${JSON.stringify(valueLabel(v.key, v.name))}: ktctl never sets ` +
        `that value, so the state file was changed by something else; check it`,
    );
  }
  if (!restored.ok) {
    lines.push(`  Kept ${path}; fix the problem above and run \`ktctl clean\` again`);
    return { ok: false, lines };
  }
  if (refused.length > 0) {
    // Running clean again would refuse the same entries: only the user can settle this.
    lines.push(
      `  ${dryRun ? "Would keep" : "Kept"} ${path}: ktctl's own values are as above; ` +
        `look at the refused entries, then delete the file`,
    );
    return { ok: false, lines };
  }
  if (!dryRun) await deps.fs.remove(path);
  lines.push(`  ${dryRun ? "Would remove" : "Removed"} ${path}`);
  return { ok: true, lines };
}
