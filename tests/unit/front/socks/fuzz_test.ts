/**
 * Property tests of the SOCKS parsers: thousands of random inputs and mutations of valid messages
 * from a seeded PRNG (so every run sees the same inputs). The checks live in fuzz/socks.ts;
 * fuzz/run_socks.ts runs them for longer: `deno run fuzz/run_socks.ts --iterations 1000000`.
 */
import assert from "node:assert/strict";
import {
  checkInput,
  describe,
  type Failure,
  generateValid,
  mutate,
  type Parser,
  type ParserName,
  PARSERS,
  Rng,
  runFuzz,
  sameResult,
  toHex,
} from "../../../../fuzz/socks.ts";
import type { Parse } from "../../../../src/front/socks/protocol.ts";

function report(failures: Failure[]): string {
  return failures.slice(0, 5).map((f) =>
    `${f.parser}: ${f.property}: ${f.detail}\n  input: ${toHex(f.input)}`
  ).join("\n");
}

Deno.test("fuzz: the PRNG is deterministic per seed and spreads its values", () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const seqA = Array.from({ length: 8 }, () => a.next());
  const seqB = Array.from({ length: 8 }, () => b.next());
  const seqC = Array.from({ length: 8 }, () => c.next());
  assert.deepEqual(seqA, seqB);
  assert.notDeepEqual(seqA, seqC);
  assert.ok(seqA.every((n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32));
  const rng = new Rng(7);
  const counts = new Array(4).fill(0);
  for (let i = 0; i < 4000; i++) counts[rng.int(4)]++;
  for (const n of counts) assert.ok(n > 850 && n < 1150, `bucket counts ${counts}`);
  for (let i = 0; i < 1000; i++) {
    const v = rng.range(3, 5);
    assert.ok(v >= 3 && v <= 5);
  }
});

Deno.test("fuzz: 4000 iterations of random and mutated input break no property", () => {
  const { iterations, failures } = runFuzz({ seed: 0x5eed, iterations: 4000 });
  assert.equal(iterations, 4000);
  assert.equal(failures.length, 0, report(failures));
});

Deno.test("fuzz: generated valid messages parse to exactly what was generated", () => {
  const rng = new Rng(1234);
  const seen = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const m = generateValid(rng);
    const r = PARSERS[m.parser](m.bytes);
    const expected = { status: "done", value: m.expected, consumed: m.bytes.length };
    assert.ok(sameResult(r, expected), `${describe(r)} != ${describe(expected)}`);
    const type = (m.expected as { destination?: { addressType: string } }).destination
      ?.addressType;
    seen.add(`${m.parser}/${type ?? "-"}`);
  }
  // The generator covers every message kind and address type.
  assert.deepEqual([...seen].sort(), [
    "socks4/domain",
    "socks4/ipv4",
    "socks5Greeting/-",
    "socks5Request/domain",
    "socks5Request/ipv4",
    "socks5Request/ipv6",
  ]);
});

Deno.test("fuzz: each valid message grown byte by byte gives the one-shot answer", () => {
  const rng = new Rng(99);
  for (let i = 0; i < 500; i++) {
    const m = generateValid(rng);
    const parse = PARSERS[m.parser];
    const oneShot = parse(m.bytes);
    let answer: Parse<unknown> = { status: "more" };
    for (let n = 0; n <= m.bytes.length && answer.status === "more"; n++) {
      answer = parse(m.bytes.subarray(0, n));
      if (answer.status === "more") continue;
      assert.equal(n, m.bytes.length, `answered before the message was complete: ${n}`);
    }
    assert.ok(sameResult(answer, oneShot), `${describe(answer)} vs ${describe(oneShot)}`);
  }
});

Deno.test("fuzz: mutations of valid messages never throw in any parser", () => {
  const rng = new Rng(2024);
  let invalid = 0, done = 0, more = 0;
  for (let i = 0; i < 3000; i++) {
    const mutated = mutate(rng, generateValid(rng).bytes);
    for (const name of Object.keys(PARSERS) as ParserName[]) {
      const failures = checkInput(name, PARSERS[name], mutated);
      assert.equal(failures.length, 0, report(failures));
      const status = PARSERS[name](mutated).status;
      if (status === "invalid") invalid++;
      else if (status === "done") done++;
      else more++;
    }
  }
  // The mutations reach every kind of answer, so all the checks above were exercised.
  assert.ok(invalid > 500 && done > 500 && more > 500, `${invalid}/${done}/${more}`);
});

Deno.test("fuzz: the checker reports a parser that breaks each property", () => {
  const input = new Uint8Array([5, 1, 0, 1, 10, 0, 0, 1, 0, 80]);
  const properties = (parser: Parser, name: ParserName = "socks5Request", bytes = input) =>
    [...new Set(checkInput(name, parser, bytes).map((f) => f.property))].sort();
  const value = {
    version: 5,
    command: "connect",
    destination: { host: "10.0.0.1", port: 80, addressType: "ipv4" },
  };

  assert.deepEqual(properties(PARSERS.socks5Request), []);
  assert.deepEqual(
    properties(() => {
      throw new RangeError("boom");
    }),
    ["never throws"],
  );
  // Consumes more than it was given.
  assert.deepEqual(
    properties((b) => b.length < 10 ? { status: "more" } : { status: "done", value, consumed: 11 }),
    ["well-formed answer"],
  );
  // "done" with consumed 0.
  assert.deepEqual(
    properties((b) => b.length < 10 ? { status: "more" } : { status: "done", value, consumed: 0 }),
    ["well-formed answer"],
  );
  // A SOCKS5 request refused with a reply of the wrong size, or none.
  assert.deepEqual(
    properties(() => ({ status: "invalid", reason: "x", reply: new Uint8Array([5, 1]) })),
    ["empty input needs more", "well-formed answer"],
  );
  assert.deepEqual(
    properties((b) => b.length === 0 ? { status: "more" } : { status: "invalid", reason: "x" }),
    ["well-formed answer"],
  );
  // Answers "done" early, then changes its mind as more bytes arrive.
  assert.deepEqual(
    properties((b) =>
      b.length < 4
        ? { status: "more" }
        : b.length < 10
        ? { status: "done", value, consumed: 4 }
        : PARSERS.socks5Request(b)
    ),
    ["byte-by-byte equals one-shot", "growing prefixes"],
  );
  // Claims fewer bytes than it needed to decide.
  assert.deepEqual(
    properties((b) => b.length < 10 ? { status: "more" } : { status: "done", value, consumed: 4 }),
    ["consumed bytes alone give the same answer"],
  );
  // Needs more after having answered.
  assert.deepEqual(
    properties((b) =>
      b.length === 5
        ? { status: "invalid", reason: "x", reply: new Uint8Array([5, 1, 0, 1, 0, 0, 0, 0, 0, 0]) }
        : b.length < 10
        ? { status: "more" }
        : PARSERS.socks5Request(b)
    ),
    ["byte-by-byte equals one-shot", "growing prefixes"],
  );
  // A malformed value: port out of range, a host that is not RFC 5952.
  assert.deepEqual(
    properties(() => ({
      status: "done",
      value: { ...value, destination: { host: "0:0::1", port: 0, addressType: "ipv6" } },
      consumed: 1,
    })),
    ["empty input needs more", "well-formed answer"],
  );
  // Asking for more beyond the longest message a protocol allows.
  assert.deepEqual(
    properties(() => ({ status: "more" }), "socks5Greeting", new Uint8Array(300).fill(5)),
    ["well-formed answer"],
  );
});
