/**
 * `ktctl clean`: for every state file, leave a live connect alone, and put back what a dead one
 * left behind. Files it cannot understand are reported and kept, never guessed at. `--dryRun`
 * reads (files, registry, processes) but changes nothing, and says what it would do.
 *
 * @module
 */
import { ownerStatus } from "./liveness.ts";
import { describeOwner, recoverDead } from "./recovery.ts";
import { isStateFileName, joinPath, parseState, stateDir } from "./state_file.ts";
import { ProcessProbeError } from "../os/process_probe.ts";
import { parseTempName } from "./state_fs.ts";
import type { SysProxyDeps } from "./types.ts";

/** What `clean` did (or would do); `ok` is false when something needs the user's attention. */
export interface CleanReport {
  ok: boolean;
  lines: string[];
}

/** Cleans `<home>/.ktctl/` (see the module doc). */
export async function clean(opts: { dryRun: boolean }, deps: SysProxyDeps): Promise<CleanReport> {
  const dir = stateDir(deps.home, deps.platform);
  const report: CleanReport = { ok: true, lines: [] };
  for (const name of await deps.fs.list(dir)) {
    const path = joinPath(deps.platform, dir, name);
    if (isStateFileName(name)) {
      const result = await cleanStateFile(path, deps, opts.dryRun);
      report.ok &&= result.ok;
      report.lines.push(...result.lines);
    } else {
      report.lines.push(...await cleanTempFile(path, name, deps, opts.dryRun));
    }
  }
  if (report.lines.length === 0) report.lines.push(`Nothing to clean in ${dir}`);
  return report;
}

async function cleanStateFile(
  path: string,
  deps: SysProxyDeps,
  dryRun: boolean,
): Promise<CleanReport> {
  const leave = dryRun ? "Would leave" : "Left";
  const text = await deps.fs.read(path);
  if (text === undefined) return { ok: true, lines: [] }; // Its owner just removed it.
  const parsed = parseState(text);
  if (parsed.kind === "corrupt") {
    return {
      ok: false,
      lines: [
        `${leave} ${path} alone: it is not a readable state file (${parsed.reason}); if no ` +
        "ktctl connect is running, check it for settings to restore by hand and delete it",
      ],
    };
  }
  if (parsed.kind === "foreign") {
    return {
      ok: false,
      lines: [
        `${leave} ${path} alone: another ktctl version wrote it (state format ` +
        `${JSON.stringify(parsed.version)}); run that version's \`ktctl clean\``,
      ],
    };
  }
  const owner = parsed.record;
  const status = await ownerStatus(owner, deps.process);
  if (status.state === "alive") {
    return {
      ok: true,
      lines: [`${describeOwner(owner)} is still running; ${leave.toLowerCase()} its state alone`],
    };
  }
  if (status.state === "unknown") {
    return {
      ok: false,
      lines: [
        `Cannot tell whether ${describeOwner(owner)} still runs (${status.why}); ` +
        `${leave.toLowerCase()} ${path} alone`,
      ],
    };
  }
  return await recoverDead(path, owner, status.why, deps, dryRun);
}

/** Removes a state temp file whose writer died between writing it and renaming it. */
async function cleanTempFile(
  path: string,
  name: string,
  deps: SysProxyDeps,
  dryRun: boolean,
): Promise<string[]> {
  const temp = parseTempName(name);
  if (temp === undefined || !isStateFileName(temp.target)) return [];
  try {
    if (await deps.process.startTime(temp.pid) !== undefined) return [];
  } catch (error) {
    if (error instanceof ProcessProbeError) return [];
    throw error;
  }
  if (!dryRun) await deps.fs.remove(path);
  return [`${dryRun ? "Would remove" : "Removed"} ${path}, left over by a dead ktctl`];
}
