/** src/peer/name_demand.ts: when client programs are named (a clock of the test's own). */
import assert from "node:assert/strict";
import { NameDemand, NAMES_WANTED_FOR_MS } from "../../../src/peer/name_demand.ts";

Deno.test("name_demand: not wanted until read, then for the window, then not again", () => {
  let now = 1_000;
  const names = new NameDemand(() => false, NAMES_WANTED_FOR_MS, () => now);
  assert.equal(names.wanted(), false, "nobody has read anything yet");
  names.read();
  assert.equal(names.wanted(), true);
  now += NAMES_WANTED_FOR_MS - 1;
  assert.equal(names.wanted(), true, "still within the window");
  now += 1;
  assert.equal(names.wanted(), false, "the window has passed");
  names.read();
  assert.equal(names.wanted(), true, "a new read opens it again");
});

Deno.test("name_demand: always wanted while the -d log is on, read or not", () => {
  let debug = true;
  const names = new NameDemand(() => debug, 10, () => 0);
  assert.equal(names.wanted(), true);
  debug = false;
  assert.equal(names.wanted(), false);
});

Deno.test("name_demand: the window is longer than the live view's refresh", () => {
  assert.ok(NAMES_WANTED_FOR_MS >= 60_000);
});
