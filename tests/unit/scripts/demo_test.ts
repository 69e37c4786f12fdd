/** scripts/demo.ts takes down only a cluster it brought up itself. */
import assert from "node:assert/strict";
import { demoEnding } from "../../../scripts/demo.ts";

Deno.test("demo: a cluster that was running before the demo stays up", () => {
  assert.equal(demoEnding(true).tearDown, false);
  assert.match(demoEnding(true).words, /leaves the cluster up/);
  assert.equal(demoEnding(false).tearDown, true);
});
