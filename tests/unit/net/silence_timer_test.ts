/** The half-close silence timer shared by both port-forward transports. */
import assert from "node:assert/strict";
import { SilenceTimer } from "../../../src/net/upstream_base.ts";
import { waitFor } from "../../helpers/wait.ts";

/**
 * Resolves once a timer due after the countdown's own deadline has fired. Timers fire in the
 * order of their deadlines, so by then a countdown that was running has fired: a check that
 * something did not happen, without guessing how long it takes.
 */
const pastDeadline = (ms: number) => new Promise((r) => setTimeout(r, ms + 1));

Deno.test("silence timer: touch restarts only a running countdown, and stop ends it for good", async () => {
  let fired = 0;
  const t = new SilenceTimer(20, () => fired++);
  t.touch();
  await pastDeadline(20);
  assert.equal(fired, 0, "not armed yet: the pod speaking starts nothing");
  t.arm();
  await waitFor(() => fired === 1, 5000, "the countdown to fire", 5);
  t.arm();
  t.stop();
  t.touch();
  await pastDeadline(20);
  assert.equal(fired, 1, "a touch after stop() does not bring the countdown back");
});
