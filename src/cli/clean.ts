/**
 * `ktctl clean`: puts back what a `connect` that died without cleaning up left changed, from its
 * state file, unless that connect is still alive. `--dryRun` only says what it would do.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import * as sysproxy from "../sysproxy/mod.ts";

const log = getLogger(["ktctl", "clean"]);

export async function runClean(flags: { dryRun?: boolean }): Promise<number> {
  const report = await sysproxy.clean({ dryRun: flags.dryRun === true }, sysproxy.defaultDeps());
  for (const line of report.lines) log.info(line);
  return report.ok ? 0 : 1;
}
