/** The half-close silence timer shared by both port-forward transports. */
import assert from "node:assert/strict";
import { SilenceTimer } from "../../../src/net/upstream_base.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("silence timer: touch restarts only a running countdown, and stop ends it for good", async () => {
  let fired = 0;
  const t = new SilenceTimer(20, () => fired++);
  t.touch();
  await sleep(40);
  assert.equal(fired, 0, "not armed yet: the pod speaking starts nothing");
  t.arm();
  await sleep(40);
  assert.equal(fired, 1);
  t.arm();
  t.stop();
  t.touch();
  await sleep(40);
  assert.equal(fired, 1, "a touch after stop() does not bring the countdown back");
});
