/** The `ktctl` task runs with the V8 flags the executables are built with. */
import assert from "node:assert/strict";
import { KTCTL_V8_ARG } from "../../../scripts/v8_flags.ts";

Deno.test("deno.json's ktctl task passes KTCTL_V8_FLAGS", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../../../deno.json", import.meta.url)),
  );
  const task: string = config.tasks.ktctl;
  assert.ok(
    task.split(" ").includes(KTCTL_V8_ARG),
    `the ktctl task is "${task}"`,
  );
});
