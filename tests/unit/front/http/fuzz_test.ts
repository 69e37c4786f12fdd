/**
 * Property tests of the HTTP front's parsers: seeded random heads, bodies and targets and their
 * mutations, and the forwarder's framing decisions (so every run sees the same inputs);
 * fuzz/run_http.ts runs them for longer.
 */
import assert from "node:assert/strict";
import { type HttpFailure, runHttpFuzz } from "../../../../fuzz/http.ts";
import { toHex } from "../../../../fuzz/socks.ts";

function report(failures: HttpFailure[]): string {
  return failures.slice(0, 5).map((f) =>
    `${f.parser}: ${f.property}: ${f.detail}\n  input: ${toHex(f.input)}`
  ).join("\n");
}

for (const seed of [1, 2, 3]) {
  Deno.test(`http fuzz: 2000 iterations with seed ${seed} break no property`, () => {
    const { iterations, failures } = runHttpFuzz({ iterations: 2000, seed });
    assert.equal(iterations, 2000);
    assert.deepEqual(failures, [], report(failures));
  });
}
