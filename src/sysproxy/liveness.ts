/**
 * Whether a state file's owner still runs: same pid AND same identity (start time). A pid that
 * now belongs to another program is dead as far as the state file is concerned.
 *
 * @module
 */
import { type ProcessProbe, ProcessProbeError } from "../os/process_probe.ts";
import type { StateRecord } from "./state_file.ts";

/** The verdict on a state file's owner; `unknown` when the probe could not tell. */
export type OwnerStatus =
  | { state: "alive" }
  | { state: "dead"; why: string }
  | { state: "unknown"; why: string };

/** Looks the owner of `record` up with `probe`. */
export async function ownerStatus(
  record: StateRecord,
  probe: ProcessProbe,
): Promise<OwnerStatus> {
  let current: string | undefined;
  try {
    current = await probe.startTime(record.pid);
  } catch (error) {
    if (error instanceof ProcessProbeError) return { state: "unknown", why: error.message };
    throw error;
  }
  if (current === undefined) return { state: "dead", why: `pid ${record.pid} is not running` };
  if (
    record.processStart !== null && current !== record.processStart &&
    identityScheme(record.processStart) === identityScheme(current)
  ) {
    return { state: "dead", why: `pid ${record.pid} now belongs to another program` };
  }
  return { state: "alive" };
}

/**
 * Older ktctl versions on Windows recorded `created:<wmic CreationDate>` or `image:<name>`; this
 * one records `started:<FILETIME>`. Identities of different schemes cannot be compared, so such
 * an owner counts as alive while its pid runs: the safe direction, touching nothing.
 */
function identityScheme(identity: string): string {
  return /^(started|created|image):/.exec(identity)?.[1] ?? "";
}
