import assert from "node:assert/strict";
import { ExecutableNotFoundError } from "../../../src/sysproxy/command_runner.ts";
import { ProcessProbeError } from "../../../src/sysproxy/process_probe.ts";
import {
  DarwinProcessProbe,
  LinuxProcessProbe,
  parseProcStat,
} from "../../../src/sysproxy/process_probe_unix.ts";
import {
  parseTasklist,
  parseWmicCreationDate,
  WindowsProcessProbe,
} from "../../../src/sysproxy/process_probe_windows.ts";
import { ok, RecordingRunner } from "./fakes.ts";

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

// tasklist /FO CSV /NH on Windows; Wine's older tasklist ignores /FO and prints name,pid.
const TASKLIST_WINDOWS = '"deno.exe","4242","Console","1","61,460 K"\r\n';
const TASKLIST_NONE = "INFO: No tasks are running which match the specified criteria.\r\n";
const WMIC = "\r\r\n\r\r\nCreationDate=20240501093000.123456+120\r\r\n\r\r\n\r\r\n";

Deno.test("parseTasklist reads Windows CSV and Wine's bare list, matching the pid exactly", () => {
  assert.equal(parseTasklist(TASKLIST_WINDOWS, 4242), "deno.exe");
  assert.equal(parseTasklist("ktctl.exe,4242\nother.exe,42\n", 42), "other.exe");
  assert.equal(parseTasklist(TASKLIST_WINDOWS, 424), undefined);
  assert.equal(parseTasklist(TASKLIST_NONE, 4242), undefined);
});

Deno.test("parseWmicCreationDate wants exactly one non-empty CreationDate", () => {
  assert.equal(parseWmicCreationDate(WMIC), "20240501093000.123456+120");
  assert.equal(parseWmicCreationDate(""), undefined);
  assert.equal(parseWmicCreationDate("CreationDate=\r\n"), undefined);
  assert.equal(parseWmicCreationDate(WMIC + WMIC.replace("0930", "1010")), undefined);
});

Deno.test("WindowsProcessProbe: tasklist for liveness, wmic for the start time", async () => {
  const runner = new RecordingRunner((cmd) => ok(cmd === "tasklist" ? TASKLIST_WINDOWS : WMIC));
  const probe = new WindowsProcessProbe(runner);
  assert.equal(await probe.startTime(4242), "created:20240501093000.123456+120");
  assert.deepEqual(runner.calls, [
    ["tasklist", "/FI", "PID eq 4242", "/FO", "CSV", "/NH"],
    ["wmic", "process", "where", "ProcessId=4242", "get", "CreationDate", "/value"],
  ]);
});

Deno.test("WindowsProcessProbe: not in tasklist means gone, without asking wmic", async () => {
  const runner = new RecordingRunner(() => ok(TASKLIST_NONE));
  assert.equal(await new WindowsProcessProbe(runner).startTime(4242), undefined);
  assert.equal(runner.calls.length, 1);
});

Deno.test("WindowsProcessProbe: without wmic the image name is the identity", async () => {
  const runner = new RecordingRunner((cmd) => {
    if (cmd === "wmic") throw new ExecutableNotFoundError(cmd);
    return ok(TASKLIST_WINDOWS);
  });
  assert.equal(await new WindowsProcessProbe(runner).startTime(4242), "image:deno.exe");
});

Deno.test("WindowsProcessProbe: without tasklist, wmic alone can only prove life", async () => {
  const wmicOnly = (wmic: string) =>
    new RecordingRunner((cmd) => {
      if (cmd === "tasklist") throw new ExecutableNotFoundError(cmd);
      return ok(wmic);
    });
  assert.equal(
    await new WindowsProcessProbe(wmicOnly(WMIC)).startTime(4242),
    "created:20240501093000.123456+120",
  );
  await assert.rejects(
    new WindowsProcessProbe(wmicOnly("")).startTime(4242),
    ProcessProbeError,
  );
});
