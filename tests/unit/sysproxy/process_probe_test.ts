import assert from "node:assert/strict";
import type { CommandResult, CommandRunner } from "../../../src/os/command_runner.ts";
import { ProcessProbeError } from "../../../src/os/process_probe.ts";
import {
  DarwinProcessProbe,
  LinuxProcessProbe,
  parseProcStat,
} from "../../../src/os/process_probe_unix.ts";
import {
  type WindowsProcesses,
  WindowsProcessProbe,
} from "../../../src/os/process_probe_windows.ts";
import { parseTasklist } from "../../../src/os/tasklist.ts";

/** Records argv and answers with `answer`. */
class RecordingRunner implements CommandRunner {
  readonly calls: string[][] = [];
  constructor(private readonly answer: (cmd: string, args: string[]) => CommandResult) {}
  run(cmd: string, args: string[]): Promise<CommandResult> {
    this.calls.push([cmd, ...args]);
    return Promise.resolve(this.answer(cmd, args));
  }
}
const ok = (stdout: string): CommandResult => ({ code: 0, stdout, stderr: "" });

const STAT_TAIL = "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 987654 1 2 3";

Deno.test("parseProcStat takes field 22 even when the command name has ') ' in it", () => {
  assert.equal(parseProcStat(`4242 (deno) S 1 ${STAT_TAIL}`), "987654");
  assert.equal(parseProcStat(`4242 (a) b (c) R 1 ${STAT_TAIL}`), "987654");
});

Deno.test("parseProcStat counts zombies as gone and rejects a short line", () => {
  assert.equal(parseProcStat(`4242 (ktctl) Z 1 ${STAT_TAIL}`), undefined);
  assert.throws(() => parseProcStat("4242 (deno) S 1 2"), ProcessProbeError);
});

Deno.test("LinuxProcessProbe: this process has a stable start time, a free pid none", async () => {
  if (Deno.build.os !== "linux") return;
  const probe = new LinuxProcessProbe();
  const mine = await probe.startTime(Deno.pid);
  assert.match(mine ?? "", /^\d+$/);
  assert.equal(await probe.startTime(Deno.pid), mine);
  assert.equal(await probe.startTime(2 ** 22 + 17), undefined); // above Linux's pid_max
});

Deno.test("DarwinProcessProbe asks ps for lstart; exit 1 means not running", async () => {
  const runner = new RecordingRunner((_, args) =>
    args[3] === "7" ? ok("Wed May  1 09:30:00 2024\n") : { code: 1, stdout: "", stderr: "" }
  );
  const probe = new DarwinProcessProbe(runner);
  assert.equal(await probe.startTime(7), "Wed May  1 09:30:00 2024");
  assert.equal(await probe.startTime(8), undefined);
  assert.deepEqual(runner.calls[0], ["ps", "-o", "lstart=", "-p", "7"]);
});

/** kernel32's answers, scripted: pid -> creation time or a failure. */
function processes(table: Record<number, bigint | "exited" | "inaccessible">): WindowsProcesses {
  return {
    pids: () => new Set(Object.keys(table).map(Number)),
    creationTime: (pid) => table[pid] ?? "inaccessible",
  };
}

Deno.test("WindowsProcessProbe: identity is the creation time; a missing pid is not running", async () => {
  const probe = new WindowsProcessProbe(processes({ 4242: 133_589_000_000_000_000n }));
  assert.equal(await probe.startTime(4242), "started:133589000000000000");
  assert.equal(await probe.startTime(4243), undefined);
});

Deno.test("WindowsProcessProbe: an exited process held open by a handle is not running", async () => {
  assert.equal(await new WindowsProcessProbe(processes({ 7: "exited" })).startTime(7), undefined);
});

Deno.test("WindowsProcessProbe: a running pid it cannot open, or no process list, is unknown", async () => {
  await assert.rejects(
    new WindowsProcessProbe(processes({ 7: "inaccessible" })).startTime(7),
    ProcessProbeError,
  );
  const broken: WindowsProcesses = {
    pids: () => {
      throw new Error("EnumProcesses failed");
    },
    creationTime: () => 1n,
  };
  await assert.rejects(new WindowsProcessProbe(broken).startTime(7), /cannot list processes/);
});

Deno.test("parseTasklist reads Windows CSV and Wine's bare list, matching the pid exactly", () => {
  const windows = '"deno.exe","4242","Console","1","61,460 K"\r\n';
  assert.equal(parseTasklist(windows, 4242), "deno.exe");
  assert.equal(parseTasklist("ktctl.exe,4242\nother.exe,42\n", 42), "other.exe");
  assert.equal(parseTasklist(windows, 424), undefined);
  assert.equal(
    parseTasklist("INFO: No tasks are running which match the criteria.\r\n", 4242),
    undefined,
  );
});
