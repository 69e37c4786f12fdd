/**
 * One live `connect` per address:port. Before starting, connect claims the address:port by
 * creating its state file exclusively; a leftover file of a dead connect is repaired (its
 * values restored) first, and a live owner makes the claim fail with {@link AlreadyRunningError}.
 * The claim also carries the global-proxy values, so releasing it restores them if that has not
 * happened yet: the state file never disappears while values are still to be restored.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ownerStatus } from "./liveness.ts";
import { ProcessProbeError } from "../os/process_probe.ts";
import { describeOwner, recoverDead } from "./recovery.ts";
import {
  formatState,
  joinPath,
  parseState,
  STATE_FORMAT,
  STATE_VERSION,
  stateDir,
  stateFileName,
  type StateRecord,
} from "./state_file.ts";
import { hasValues, restoreRecord, type RestoreReport } from "./touched_values.ts";
import type { ProxyMethod, SysProxyDeps } from "./types.ts";

const logger = getLogger(["ktctl", "sysproxy"]);

/** A live connect already owns the address:port. */
export class AlreadyRunningError extends Error {
  constructor(readonly pid: number, readonly address: string, readonly port: number) {
    super(
      `ktctl connect is already running on ${address}:${port} (pid ${pid}); ` +
        "stop it first, or choose another --proxyAddr/--proxyPort",
    );
    this.name = "AlreadyRunningError";
  }
}

/** The address:port could not be claimed for another reason, explained in the message. */
export class ClaimError extends Error {
  constructor(message: string, readonly lines: string[] = []) {
    super(message);
    this.name = "ClaimError";
  }
}

/** A held claim on an address:port; see the module doc. */
export class ConnectClaim {
  #record: StateRecord;
  #released = false;

  constructor(
    /** The state file. */
    readonly path: string,
    record: StateRecord,
    private readonly deps: SysProxyDeps,
    /** What was done to repair a dead predecessor's leftovers (lines for the user). */
    readonly repaired: string[],
  ) {
    this.#record = record;
  }

  /** The state as last written to disk. */
  get record(): Readonly<StateRecord> {
    return this.#record;
  }

  /** Records the global-proxy values (before they are applied). */
  async save(
    method: ProxyMethod | null,
    values: StateRecord["values"],
    extra: Pick<StateRecord, "connections" | "upstream"> = {},
  ): Promise<void> {
    if (this.#released) throw new Error("the connect claim was already released");
    const record: StateRecord = { ...this.#record, method, values };
    delete record.connections;
    if (extra.connections?.length) record.connections = extra.connections;
    if (extra.upstream) record.upstream = extra.upstream;
    await this.deps.fs.writeAtomic(this.path, formatState(record));
    this.#record = record;
  }

  /**
   * Restores the recorded values; on success the file goes back to a plain claim. On failure
   * the file keeps them, so `ktctl clean` can finish the job after this process is gone.
   */
  async restoreValues(): Promise<RestoreReport> {
    if (!hasValues(this.#record)) return { ok: true, lines: [] };
    const report = restoreRecord(this.deps.windows, this.#record, false);
    if (!report.ok) {
      report.lines.push(
        `The previous values stay recorded in ${this.path}; once the problem is fixed, ` +
          "run `ktctl clean` (after this connect has exited)",
      );
      return report;
    }
    await this.save(null, [], { upstream: this.#record.upstream });
    return report;
  }

  /**
   * Until the returned function is called, closing the console window restores the recorded
   * values synchronously, before Windows ends the process, and removes the state file (see
   * {@link restoreBeforeExit}).
   */
  restoreOnConsoleClose(): () => void {
    return this.deps.windows.onConsoleClose(() => this.restoreBeforeExit());
  }

  /**
   * The synchronous restore for a process that is about to be ended: the same restore as
   * {@link restoreValues}, then the state file goes (unless a value could not be restored, so
   * that `ktctl clean` still can). Nothing here awaits: the caller cannot.
   */
  restoreBeforeExit(): RestoreReport {
    if (this.#released || !hasValues(this.#record)) return { ok: true, lines: [] };
    const report = restoreRecord(this.deps.windows, this.#record, false);
    for (const line of report.lines) logger.info("Console closed: {line}", { line });
    if (report.ok) {
      this.deps.fs.removeSync(this.path);
      this.#record = { ...this.#record, method: null, values: [], connections: undefined };
      this.#released = true;
    }
    return report;
  }

  /**
   * Ends the claim: restores values still recorded, then removes the state file (unless a
   * restore failed). Safe to call twice.
   */
  async release(): Promise<string[]> {
    if (this.#released) return [];
    const report = await this.restoreValues();
    this.#released = true;
    if (report.ok) await this.deps.fs.remove(this.path);
    return report.lines;
  }
}

/**
 * Claims `address:port` for this process (see the module doc).
 * @throws {AlreadyRunningError} when a live connect owns it.
 * @throws {ClaimError} when its state file is unreadable, from another ktctl version, its
 *   owner's liveness cannot be told, or a dead owner's values cannot be restored.
 */
export async function claimConnect(
  req: { address: string; port: number },
  deps: SysProxyDeps,
): Promise<ConnectClaim> {
  const dir = stateDir(deps.home, deps.platform);
  const path = joinPath(deps.platform, dir, stateFileName(req.address, req.port));
  await deps.fs.ensureDir(dir);
  const record: StateRecord = {
    format: STATE_FORMAT,
    version: STATE_VERSION,
    pid: deps.pid,
    processStart: await ownIdentity(deps),
    address: req.address,
    port: req.port,
    method: null,
    createdAt: deps.now().toISOString(),
    values: [],
  };
  const repaired: string[] = [];
  // A few rounds, in case another connect creates or removes the file while we look at it.
  for (let round = 0; round < 3; round++) {
    if (await deps.fs.createExclusive(path, formatState(record))) {
      return new ConnectClaim(path, record, deps, repaired);
    }
    const text = await deps.fs.read(path);
    if (text === undefined) continue;
    const parsed = parseState(text);
    if (parsed.kind === "foreign") {
      throw new ClaimError(
        `${path} was written by another ktctl version (state format ${parsed.version}); ` +
          "stop that ktctl or use it to run `ktctl clean`",
      );
    }
    if (parsed.kind === "corrupt") {
      throw new ClaimError(
        `${path} is not a readable state file (${parsed.reason}); if no ktctl connect runs on ` +
          `${req.address}:${req.port}, check it for settings to restore by hand and delete it`,
      );
    }
    const owner = parsed.record;
    const status = await ownerStatus(owner, deps.process);
    if (status.state === "alive") throw new AlreadyRunningError(owner.pid, req.address, req.port);
    if (status.state === "unknown") {
      throw new ClaimError(
        `cannot tell whether ${describeOwner(owner)} still runs (${status.why}); if it does ` +
          `not, restore the settings ${path} lists by hand and delete it`,
      );
    }
    const recovered = await recoverDead(path, owner, status.why, deps, false);
    repaired.push(...recovered.lines);
    if (!recovered.ok) {
      throw new ClaimError(
        `could not restore what ${describeOwner(owner)} left behind`,
        recovered.lines,
      );
    }
  }
  throw new ClaimError(`${path} keeps changing; is another ktctl connect starting?`);
}

/** This process's identity, recorded so nobody mistakes a later holder of our pid for us. */
async function ownIdentity(deps: SysProxyDeps): Promise<string | null> {
  try {
    return await deps.process.startTime(deps.pid) ?? null;
  } catch (error) {
    if (error instanceof ProcessProbeError) return null;
    throw error;
  }
}
