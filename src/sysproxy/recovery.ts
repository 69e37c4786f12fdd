/**
 * Putting back what a dead connect left behind and removing its state file: shared by `ktctl
 * clean` and by `connect` itself, which repairs a dead predecessor on the same address:port
 * before starting.
 *
 * @module
 */
import type { StateRecord } from "./state_file.ts";
import { restoreRecord, type RestoreReport } from "./touched_values.ts";
import type { SysProxyDeps } from "./types.ts";

/** `connect pid 42 (127.0.0.1:2223)`, as shown to users. */
export function describeOwner(record: StateRecord): string {
  return `connect pid ${record.pid} (${record.address}:${record.port})`;
}

/**
 * Restores the values of a dead owner's state file, then removes the file; keeps the file when
 * a value could not be restored, so a later `ktctl clean` can try again.
 */
export async function recoverDead(
  path: string,
  record: StateRecord,
  why: string,
  deps: SysProxyDeps,
  dryRun: boolean,
): Promise<RestoreReport> {
  const lines = [`${describeOwner(record)} is gone (${why}); its state file is ${path}`];
  const restored = restoreRecord(deps.windows, record, dryRun);
  lines.push(...restored.lines.map((line) => `  ${line}`));
  if (!restored.ok) {
    lines.push(`  Kept ${path}; fix the problem above and run \`ktctl clean\` again`);
    return { ok: false, lines };
  }
  if (!dryRun) await deps.fs.remove(path);
  lines.push(`  ${dryRun ? "Would remove" : "Removed"} ${path}`);
  return { ok: true, lines };
}
