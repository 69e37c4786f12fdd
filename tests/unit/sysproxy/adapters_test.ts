/** The real adapters, against this machine: Deno.Command, a temp folder, the environment. */
import assert from "node:assert/strict";
import { DenoCommandRunner, ExecutableNotFoundError } from "../../../src/os/command_runner.ts";
import { homeDir, processProbeFor } from "../../../src/sysproxy/default_deps.ts";
import { LinuxProcessProbe } from "../../../src/os/process_probe_unix.ts";
import { WindowsProcessProbe } from "../../../src/os/process_probe_windows.ts";
import { DenoStateFs, parseTempName, tempPath } from "../../../src/sysproxy/state_fs.ts";

Deno.test("DenoCommandRunner passes argv verbatim and returns code, stdout and stderr", async () => {
  const script = "console.log(JSON.stringify(Deno.args)); console.error('err'); Deno.exit(3)";
  const result = await new DenoCommandRunner().run(Deno.execPath(), [
    "eval",
    script,
    "a b",
    '"q"',
    "%PATH%",
  ]);
  assert.deepEqual(result, { code: 3, stdout: '["a b","\\"q\\"","%PATH%"]\n', stderr: "err\n" });
});

Deno.test("DenoCommandRunner throws ExecutableNotFoundError for a missing tool", async () => {
  await assert.rejects(
    new DenoCommandRunner().run("ktctl-no-such-tool", []),
    (error: Error) =>
      error instanceof ExecutableNotFoundError && error.executable === "ktctl-no-such-tool",
  );
});

Deno.test("DenoStateFs writes atomically, creates exclusively, and leaves no temp files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fs = new DenoStateFs(77);
    const path = `${dir}/sub/connect-127.0.0.1-2223.json`;
    await fs.ensureDir(`${dir}/sub`);
    assert.equal(await fs.read(path), undefined);
    assert.equal(await fs.createExclusive(path, "one"), true);
    assert.equal(await fs.createExclusive(path, "two"), false);
    assert.equal(await fs.read(path), "one");
    await fs.writeAtomic(path, "three");
    assert.equal(await fs.read(path), "three");
    assert.deepEqual(await fs.list(`${dir}/sub`), ["connect-127.0.0.1-2223.json"]);
    await fs.remove(path);
    await fs.remove(path);
    assert.deepEqual(await fs.list(`${dir}/sub`), []);
    assert.deepEqual(await fs.list(`${dir}/missing`), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("temp file names carry the writer's pid", () => {
  assert.equal(tempPath("/h/.ktctl/connect-a-1.json", 77), "/h/.ktctl/connect-a-1.json.77.tmp");
  assert.deepEqual(parseTempName("connect-a-1.json.77.tmp"), {
    target: "connect-a-1.json",
    pid: 77,
  });
  assert.equal(parseTempName("connect-a-1.json"), undefined);
});

Deno.test("homeDir: %USERPROFILE% on Windows (else HOMEDRIVE+HOMEPATH), $HOME elsewhere", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(
    homeDir("windows", env({ USERPROFILE: "C:\\Users\\dev", HOME: "/x" })),
    "C:\\Users\\dev",
  );
  assert.equal(homeDir("windows", env({ HOMEDRIVE: "D:", HOMEPATH: "\\me" })), "D:\\me");
  assert.equal(homeDir("linux", env({ HOME: "/home/dev", USERPROFILE: "C:\\x" })), "/home/dev");
  assert.throws(() => homeDir("windows", env({ HOME: "/home/dev" })), /%USERPROFILE%/);
});

Deno.test("processProbeFor picks the platform's probe", () => {
  const runner = new DenoCommandRunner();
  assert.ok(processProbeFor("windows", runner) instanceof WindowsProcessProbe);
  assert.ok(processProbeFor("linux", runner) instanceof LinuxProcessProbe);
});
