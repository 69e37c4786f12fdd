// `ktctl connect -- COMMAND` (the shipped bundle, run by the Windows deno.exe under Wine): the command is started by
// Deno.Command, which on Windows joins the arguments into one command line quoted as the C
// runtime parses it back. Checked: `cmd /c` gets its words back as typed (quoted words keep
// their quotes, `&` separates commands), its exit code is ktctl's, the proxy variables are in
// its environment, and a program that parses its command line as the C runtime does gets every
// argument back exactly (spaces, quotes, backslashes, empty).
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster, WEB } from "../../testenv/cluster/mod.ts";
import { createPrefix, type RunResult, type WinePrefix } from "./wine.ts";
import { ktctlArgs, SAFE, START_TIMEOUT_MS, started } from "./sysproxy_helpers.ts";

async function connectRun(wp: WinePrefix, command: string[]): Promise<RunResult> {
  await ensureCluster();
  const info = await clusterInfo();
  const argv = await ktctlArgs(wp, [
    "connect",
    "-c",
    wp.toWinPath(info.kubeconfigs.admin),
    "-n",
    WEB.namespace,
    ...SAFE,
    "--proxyPort",
    "0",
    "--",
    ...command,
  ]);
  // When wineserver kills the process after it ended (wine.ts, `killedAfterExit`), its exit code
  // is lost: run it again (the commands change nothing) so that the code is always checked.
  for (let attempt = 1;; attempt++) {
    const r = await started(() => wp.runWinDeno(argv, { timeoutMs: START_TIMEOUT_MS }));
    assert.equal(r.timedOut, false, `timed out:\n${r.stdout}${r.stderr}`);
    if (!r.killedAfterExit) return r;
    assert.ok(attempt < 4, `exit code lost ${attempt} times (killed by wineserver after exit)`);
    console.error("[wine] exit code lost: killed by wineserver after the program ended; again");
  }
}

function assertCode(r: RunResult, code: number): void {
  assert.equal(r.code, code, r.stdout + r.stderr);
}

Deno.test("connect -- cmd /c under Wine: quoting, variables and the exit code", async () => {
  const wp = await createPrefix();
  try {
    const r = await connectRun(wp, [
      "cmd",
      "/c",
      "echo",
      "two words",
      "&",
      "echo",
      "proxy=%http_proxy%",
      "&",
      "exit",
      "3",
    ]);
    assertCode(r, 3);
    const lines = r.stdout.split(/\r?\n/).map((l) => l.trim()).filter((l) => l);
    assert.ok(lines.includes('"two words"'), r.stdout);
    assert.ok(lines.some((l) => /^proxy=http:\/\/127\.0\.0\.1:\d+$/.test(l)), r.stdout);
    assert.doesNotMatch(r.stdout, / INF /, "ktctl's own lines go to stderr");

    // A program that parses its command line as the C runtime does gets every argument back.
    const script = await wp.writeScript(
      "args.ts",
      `console.log("ARGS " + JSON.stringify(Deno.args));`,
    );
    const args = ["two words", 'a "quoted" word', "trailing\\", "back\\\\slash", "", "%PATH%x"];
    const deno = wp.toWinPath(wp.manifest.denoExe);
    const echoed = await connectRun(wp, [deno, "run", "--no-lock", script, ...args]);
    assertCode(echoed, 0);
    const line = echoed.stdout.match(/ARGS (.*)/)?.[1];
    assert.ok(line, echoed.stdout + echoed.stderr);
    assert.deepEqual(JSON.parse(line), args);
  } finally {
    await wp.destroy();
  }
});
