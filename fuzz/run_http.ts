/**
 * Fuzzes the HTTP front's parsers (`src/front/http/`: heads, request targets, body framing) with
 * random bytes and mutations of valid messages, checking properties every answer must have.
 *
 * ```sh
 * deno run fuzz/run_http.ts --iterations 200000
 * deno run fuzz/run_http.ts --seconds 60 --seed 7
 * ```
 *
 * Prints the iterations run and each failure (parser, property, input in hex); exits 1 when
 * anything failed. `tests/unit/front/http/fuzz_test.ts` runs the same checks for a few thousand
 * iterations with fixed seeds.
 *
 * Properties:
 * - heads: never throws; "done" consumed bytes are within the input and the limit, parsing just
 *   those bytes gives the same head, every field name is a token and no value holds CR, LF or
 *   NUL; "more" only below the head limit; fed as growing prefixes, the first answer that is not
 *   "more" is the answer for every longer input; a generated head parses to what was generated;
 * - targets: never throws; an accepted one has a port in 1..65535 and a host without
 *   whitespace, slashes or `@`;
 * - body framing: only FramingError is thrown; the bytes used and the end found do not depend on
 *   how the input is split; a generated chunked body ends exactly where it was made to end.
 * @module
 */
import { Rng, toHex } from "./socks.ts";
import {
  type HeadParse,
  isToken,
  parseRequestHead,
  parseResponseHead,
} from "../src/front/http/head.ts";
import { parseTarget } from "../src/front/http/target.ts";
import { BodyFramer, FramingError } from "../src/front/http/body.ts";

export interface HttpFailure {
  parser: string;
  property: string;
  detail: string;
  input: Uint8Array;
}

const LIMITS = { maxStartLine: 200, maxHead: 600, maxFields: 12 };
const enc = (s: string) => new TextEncoder().encode(s);

type HeadParser = (b: Uint8Array) => HeadParse<{ fields: (readonly [string, string])[] }>;
const HEADS: Record<string, HeadParser> = {
  request: (b) => parseRequestHead(b, LIMITS),
  response: (b) => parseResponseHead(b, LIMITS),
};

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Checks one input against one head parser. */
export function checkHead(name: string, input: Uint8Array): HttpFailure[] {
  const parse = HEADS[name];
  const fail = (property: string, detail: string) => [{ parser: name, property, detail, input }];
  let r;
  try {
    r = parse(input);
  } catch (e) {
    return fail("never throws", String(e));
  }
  if (r.status === "done") {
    if (r.consumed <= 0 || r.consumed > input.length || r.consumed > LIMITS.maxHead) {
      return fail("consumed within input and limit", String(r.consumed));
    }
    if (!same(parse(input.subarray(0, r.consumed)), r)) {
      return fail("consumed bytes alone give the same head", "");
    }
    for (const [k, v] of r.head.fields) {
      if (!isToken(k) || /[\r\n\0]/.test(v)) {
        return fail("fields are clean", JSON.stringify([k, v]));
      }
    }
  }
  if (r.status === "more" && input.length > LIMITS.maxHead) {
    return fail("more only below the limit", String(input.length));
  }
  // Growing prefixes: the first decided answer stays.
  let decided: unknown;
  for (let n = 0; n <= input.length; n++) {
    const p = parse(input.subarray(0, n));
    if (p.status === "more") {
      if (decided !== undefined) return fail("decided answers stay decided", `prefix ${n}`);
      continue;
    }
    const key = p.status === "done" ? { s: "done", head: p.head, consumed: p.consumed } : {
      s: "invalid",
      problem: p.problem,
    };
    if (decided === undefined) decided = key;
    else if (!same(decided, key)) {
      return fail(
        "decided answers stay decided",
        `${JSON.stringify(decided)} then ${JSON.stringify(key)} at ${n}`,
      );
    }
  }
  return [];
}

export function checkTarget(input: Uint8Array): HttpFailure[] {
  const text = String.fromCharCode(...input);
  for (const method of ["GET", "CONNECT"]) {
    let r;
    try {
      r = parseTarget(method, text);
    } catch (e) {
      return [{ parser: `target ${method}`, property: "never throws", detail: String(e), input }];
    }
    if (r.ok && r.target.form !== "origin") {
      const { host, port } = r.target;
      if (!(port >= 1 && port <= 65535) || host === "" || /[\s/@?#]/.test(host)) {
        return [{
          parser: `target ${method}`,
          property: "accepted targets are sane",
          detail: JSON.stringify(r),
          input,
        }];
      }
    }
  }
  return [];
}

/** Feeds `input` in pieces at `cuts`; what was used, whether it ended, or the error. */
function frameChunked(input: Uint8Array, cuts: number[]): string {
  const f = new BodyFramer({ kind: "chunked" });
  let used = 0;
  let at = 0;
  try {
    for (const cut of [...cuts, input.length]) {
      if (f.done || cut <= at) continue;
      const piece = input.subarray(at, cut);
      const n = f.feed(piece);
      used += n;
      at = cut;
      if (n < piece.length) break;
    }
    return `used=${used} done=${f.done}`;
  } catch (e) {
    if (!(e instanceof FramingError)) throw e;
    return `error after ${used}`;
  }
}

export function checkChunked(rng: Rng, input: Uint8Array, expectedEnd?: number): HttpFailure[] {
  const fail = (
    property: string,
    detail: string,
  ) => [{ parser: "chunked", property, detail, input }];
  let whole;
  try {
    whole = frameChunked(input, []);
  } catch (e) {
    return fail("only FramingError", String(e));
  }
  const cuts = Array.from({ length: rng.range(1, 6) }, () => rng.int(input.length + 1)).sort((
    a,
    b,
  ) => a - b);
  let split;
  try {
    split = frameChunked(input, cuts);
  } catch (e) {
    return fail("only FramingError", String(e));
  }
  if (
    whole.startsWith("used") !== split.startsWith("used") ||
    (whole.startsWith("used") && whole !== split)
  ) {
    return fail("split invariance", `${whole} vs ${split} (cuts ${cuts})`);
  }
  if (expectedEnd !== undefined && whole !== `used=${expectedEnd} done=true`) {
    return fail("generated body ends where made", `${whole}, expected ${expectedEnd}`);
  }
  return [];
}

function token(rng: Rng): string {
  const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~";
  return Array.from({ length: rng.range(1, 10) }, () => rng.pick([...chars])).join("");
}

function value(rng: Rng): string {
  const chars = ' \tabcXYZ019:;/=,"()\x80\xe9\xff';
  const v = Array.from({ length: rng.range(0, 20) }, () => rng.pick([...chars])).join("");
  return v.replace(/^[ \t]+|[ \t]+$/g, "");
}

/** A valid request or response head and the head it must parse to. */
export function generateHead(rng: Rng): { name: string; bytes: Uint8Array; expected: unknown } {
  const fields: [string, string][] = Array.from(
    { length: rng.int(6) },
    () => [token(rng), value(rng)],
  );
  const lines = fields.map(([k, v]) =>
    `${k}:${rng.pick(["", " ", "\t "])}${v}${rng.pick(["", " "])}\r\n`
  ).join("");
  if (rng.chance(0.5)) {
    const method = token(rng);
    const target = rng.pick(["/", "http://web.demo/x?y=1", "web.demo:443", "*", `/${token(rng)}`]);
    const minor = rng.int(2) as 0 | 1;
    return {
      name: "request",
      bytes: latin1(`${method} ${target} HTTP/1.${minor}\r\n${lines}\r\n`),
      expected: { method, target, minor, fields },
    };
  }
  const status = rng.range(100, 599);
  const reason = rng.pick(["OK", "", "Not Found", "x y z"]);
  const minor = rng.int(2) as 0 | 1;
  return {
    name: "response",
    bytes: latin1(
      `HTTP/1.${minor} ${status}${reason ? " " + reason : rng.pick(["", " "])}\r\n${lines}\r\n`,
    ),
    expected: { minor, status, reason, fields },
  };
}

/** A valid chunked body, sometimes with extensions and trailers, and its length. */
export function generateChunked(rng: Rng): { bytes: Uint8Array; length: number } {
  let s = "";
  for (let i = rng.int(4); i > 0; i--) {
    const size = rng.range(1, 40);
    s += size.toString(rng.chance(0.5) ? 16 : 16).toUpperCase() +
      rng.pick(["", ";a=b", ";x", ';q="1 2"']) + "\r\n";
    s += "d".repeat(size) + "\r\n";
  }
  s += "0" + rng.pick(["", ";last"]) + "\r\n" + rng.pick(["", "T: v\r\n", "A: 1\r\nB: 2\r\n"]) +
    "\r\n";
  return { bytes: latin1(s + rng.pick(["", "GET / HTTP/1.1\r\n"])), length: s.length };
}

function latin1(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

const INTERESTING = [0, 9, 10, 13, 32, 0x3a, 0x3b, 0x30, 0x46, 0x7f, 0x80, 0xff];

function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  const bytes = [...input];
  for (let e = rng.range(1, 3); e > 0; e--) {
    const at = rng.int(bytes.length + 1);
    switch (rng.int(5)) {
      case 0:
        if (at < bytes.length) bytes[at] = rng.pick(INTERESTING);
        break;
      case 1:
        if (at < bytes.length) bytes[at] = rng.int(256);
        break;
      case 2:
        bytes.splice(at, 0, rng.pick(INTERESTING));
        break;
      case 3:
        bytes.splice(at, rng.range(1, 3));
        break;
      case 4:
        bytes.length = Math.min(bytes.length, at);
        break;
    }
  }
  return new Uint8Array(bytes);
}

/** One iteration: a generated head, body and target, mutations of them, and random bytes. */
export function fuzzHttpIteration(rng: Rng): HttpFailure[] {
  const failures: HttpFailure[] = [];
  const head = generateHead(rng);
  const r = HEADS[head.name](head.bytes);
  if (r.status !== "done" || !same(r.head, head.expected) || r.consumed !== head.bytes.length) {
    failures.push({
      parser: head.name,
      property: "generated heads parse as made",
      detail: JSON.stringify(r),
      input: head.bytes,
    });
  }
  failures.push(...checkHead(head.name, mutate(rng, head.bytes)));
  failures.push(...checkHead(rng.pick(["request", "response"]), rng.bytes(rng.range(0, 40))));
  const body = generateChunked(rng);
  failures.push(...checkChunked(rng, body.bytes, body.length));
  failures.push(...checkChunked(rng, mutate(rng, body.bytes)));
  failures.push(
    ...checkTarget(mutate(rng, enc(rng.pick(["http://web.demo:8080/x", "[::1]:443", "a.b:1"])))),
  );
  return failures;
}

export function runHttpFuzz(opts: { iterations?: number; seconds?: number; seed: number }) {
  const rng = new Rng(opts.seed);
  const failures: HttpFailure[] = [];
  const until = opts.seconds ? performance.now() + opts.seconds * 1000 : Infinity;
  let i = 0;
  for (; i < (opts.iterations ?? Infinity) && performance.now() < until; i++) {
    failures.push(...fuzzHttpIteration(rng));
  }
  return { iterations: i, failures };
}

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Number(Deno.args[i + 1]) : undefined;
  };
  const seconds = arg("seconds");
  const result = runHttpFuzz({
    iterations: arg("iterations") ?? (seconds ? undefined : 100_000),
    seconds,
    seed: arg("seed") ?? Date.now() % 2 ** 31,
  });
  console.log(`${result.iterations} iterations, ${result.failures.length} failures`);
  for (const f of result.failures.slice(0, 20)) {
    console.log(`${f.parser}: ${f.property}: ${f.detail}\n  input: ${toHex(f.input)}`);
  }
  Deno.exit(result.failures.length > 0 ? 1 : 0);
}
