/** src/front/log_limit.ts: one line per burst, and the next line counts what it stood for. */
import assert from "node:assert/strict";
import { LogLimit, moreSince } from "../../../src/front/log_limit.ts";

Deno.test("log_limit: the first event logs, the rest of the burst is counted into the next line", () => {
  let now = 1_000;
  const limit = new LogLimit(30_000, () => now);
  assert.equal(limit.hit(), 0);
  for (let i = 0; i < 11_738; i++) {
    now += 0.1;
    assert.equal(limit.hit(), undefined);
  }
  now += 30_000;
  assert.equal(limit.hit(), 11_738);
  assert.equal(limit.hit(), undefined);
  now += 60_000;
  assert.equal(limit.hit(), 1);
  assert.equal(moreSince(0), "");
  assert.equal(moreSince(3), " (and 3 more since the last such line)");
});
