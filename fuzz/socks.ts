/**
 * The SOCKS parser fuzzer's generators and property checks, shared by `fuzz/run_socks.ts` (long
 * runs) and `tests/unit/front/socks/fuzz_test.ts` (a few thousand iterations with a fixed seed). The
 * properties are listed in fuzz/run_socks.ts.
 * @module
 */
import ipaddr from "ipaddr.js";
import {
  type Parse,
  parseSocks4Request,
  parseSocks5Greeting,
  parseSocks5Request,
  Socks4Reply,
  socks4Reply,
  type SocksRequest,
} from "../src/front/socks/protocol.ts";
import { Rng } from "./rng.ts";

// The seeded PRNG moved to fuzz/rng.ts; re-exported for the fuzzers that still import it here.
export { Rng } from "./rng.ts";

export type ParserName = "socks4" | "socks5Greeting" | "socks5Request";
export type Parser = (buf: Uint8Array) => Parse<unknown>;

export const PARSERS: Record<ParserName, Parser> = {
  socks4: parseSocks4Request,
  socks5Greeting: parseSocks5Greeting,
  socks5Request: parseSocks5Request,
};

/**
 * The longest message of each kind: SOCKS4a with a 255-byte user id and a 255-byte name (plus
 * NULs); a greeting with 255 methods; a SOCKS5 request with a 255-byte name.
 */
export const LONGEST: Record<ParserName, number> = {
  socks4: 8 + 256 + 256,
  socks5Greeting: 2 + 255,
  socks5Request: 4 + 1 + 255 + 2,
};

export interface Failure {
  parser: ParserName;
  property: string;
  input: Uint8Array;
  detail: string;
}

export function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** A failed property of one input, as the SPDY and protobuf fuzzers report it. */
export interface PropertyFailure {
  property: string;
  detail: string;
  input: Uint8Array;
}

/**
 * The command line of fuzz/run_spdy.ts and fuzz/run_protobuf.ts: `--seed` (1) and
 * `--iterations` (100,000) for `run`; prints the failures, each input cut to 240 hex characters,
 * and exits 1 if there were any.
 */
export function fuzzCommand(
  run: (seed: number, iterations: number) => { iterations: number; failures: PropertyFailure[] },
): never {
  const arg = (flag: string, def: number) => {
    const i = Deno.args.indexOf(flag);
    return i >= 0 ? Number(Deno.args[i + 1]) : def;
  };
  const seed = arg("--seed", 1);
  const started = performance.now();
  const { iterations, failures } = run(seed, arg("--iterations", 100_000));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`iterations: ${iterations} in ${seconds} s (seed ${seed})`);
  for (const f of failures) {
    const hex = toHex(f.input);
    console.log(
      `FAIL ${f.property} (${f.detail})\n  input (${f.input.length} bytes): ${hex.slice(0, 240)}${
        hex.length > 240 ? " ..." : ""
      }`,
    );
  }
  console.log(failures.length === 0 ? "no failures" : `${failures.length} failure(s)`);
  Deno.exit(failures.length === 0 ? 0 : 1);
}

/**
 * A stable text form of a parse result, for comparing and printing: keys sorted, Uint8Arrays as
 * hex, `undefined` properties kept (so `{ userId: undefined }` differs from `{}`).
 */
export function describe(result: unknown): string {
  return JSON.stringify(result, (_k, v: unknown) => {
    if (v instanceof Uint8Array) return `<${toHex(v)}>`;
    if (v === undefined) return "<undefined>";
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      return Object.fromEntries(entries.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
    }
    return v;
  });
}

/** Structural equality of parse results (plain objects, arrays, Uint8Arrays, primitives). */
export function sameResult(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length &&
      a.every((x, i) => x === b[i]);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length &&
      a.every((x, i) => sameResult(x, b[i]));
  }
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) =>
    Object.hasOwn(b, k) &&
    sameResult((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}

type Outcome = { ok: true; result: Parse<unknown> } | { ok: false; error: unknown };

function run(parser: Parser, input: Uint8Array): Outcome {
  try {
    return { ok: true, result: parser(input) };
  } catch (error) {
    return { ok: false, error };
  }
}

const SOCKS4_REJECT = toHex(socks4Reply(Socks4Reply.rejected));

/** Checks a value a request parser returned as "done". */
function requestProblems(name: ParserName, value: unknown): string[] {
  const problems: string[] = [];
  const v = value as Partial<SocksRequest>;
  const d = v.destination;
  if (v.version !== (name === "socks4" ? 4 : 5)) problems.push(`version ${v.version}`);
  const commands = name === "socks4" ? ["connect", "bind"] : ["connect", "bind", "udp-associate"];
  if (!commands.includes(v.command as string)) problems.push(`command ${v.command}`);
  if (!d) return [...problems, "no destination"];
  if (!Number.isInteger(d.port) || d.port < 1 || d.port > 65535) problems.push(`port ${d.port}`);
  if (typeof d.host !== "string" || d.host.length === 0) problems.push("empty host");
  else if (d.addressType === "ipv4") {
    if (!/^(\d{1,3})(\.\d{1,3}){3}$/.test(d.host) || d.host.split(".").some((o) => +o > 255)) {
      problems.push(`bad IPv4 ${d.host}`);
    }
  } else if (d.addressType === "ipv6") {
    const canonical = ipaddr.IPv6.isValid(d.host) ? ipaddr.IPv6.parse(d.host).toString() : "";
    if (canonical !== d.host) problems.push(`IPv6 ${d.host} is not in RFC 5952 form`);
  } else if (d.addressType === "domain") {
    if (d.host !== d.host.toLowerCase() || d.host.endsWith(".") || d.host.length > 253) {
      problems.push(`hostname ${JSON.stringify(d.host)} is not normalized`);
    }
    if (/[\0-\x20/\x7f-\xff]/.test(d.host)) problems.push(`hostname ${JSON.stringify(d.host)}`);
  } else problems.push(`address type ${d.addressType}`);
  if (name === "socks4" && typeof v.userId !== "string") problems.push("no user id");
  if (name !== "socks4" && "userId" in v) problems.push("SOCKS5 request with a user id");
  return problems;
}

/** Checks one answer of `parser` for `input` (not looking at other inputs). */
function answerProblems(name: ParserName, input: Uint8Array, r: Parse<unknown>): string[] {
  switch (r.status) {
    case "more":
      return input.length >= LONGEST[name]
        ? [`"more" for ${input.length} bytes (no message is longer than ${LONGEST[name]})`]
        : [];
    case "done": {
      const problems: string[] = [];
      if (!Number.isInteger(r.consumed) || r.consumed <= 0 || r.consumed > input.length) {
        return [`consumed ${r.consumed} of ${input.length} bytes`];
      }
      if (name === "socks5Greeting") {
        const methods = (r.value as { methods?: unknown }).methods;
        if (
          !Array.isArray(methods) || methods.length === 0 || methods.length !== r.consumed - 2 ||
          methods.some((m, i) => m !== input[2 + i])
        ) problems.push(`methods ${describe(methods)}`);
      } else {
        problems.push(...requestProblems(name, r.value));
      }
      return problems;
    }
    case "invalid": {
      const problems: string[] = [];
      if (typeof r.reason !== "string" || r.reason.length === 0) problems.push("no reason");
      const reply = r.reply;
      if (name === "socks5Request") {
        if (!(reply instanceof Uint8Array) || reply.length !== 10 || reply[0] !== 5) {
          problems.push(`SOCKS5 request rejected with reply ${describe(reply)}`);
        } else if (reply[1] === 0 || toHex(reply.subarray(2)) !== "00 01 00 00 00 00 00 00") {
          problems.push(`SOCKS5 failure reply ${toHex(reply)}`);
        }
      } else if (name === "socks4") {
        if (input[0] === 4 && (!reply || toHex(reply) !== SOCKS4_REJECT)) {
          problems.push(`SOCKS4 request rejected with reply ${describe(reply)}`);
        }
        if (input[0] !== 4 && reply !== undefined) problems.push("reply to a non-SOCKS4 client");
      } else {
        if (input[0] === 5 && (!reply || toHex(reply) !== "05 ff")) {
          problems.push(`greeting rejected with reply ${describe(reply)}`);
        }
        if (input[0] !== 5 && reply !== undefined) problems.push("reply to a non-SOCKS5 client");
      }
      return problems;
    }
    default:
      return [`unknown status ${describe(r)}`];
  }
}

/**
 * Checks every property for one parser and input, including the byte-by-byte growing feed
 * (inputs longer than `maxGrow` bytes skip that part, which costs one parse per byte).
 */
export function checkInput(
  name: ParserName,
  parser: Parser,
  input: Uint8Array,
  maxGrow = 1024,
): Failure[] {
  const failures: Failure[] = [];
  const fail = (property: string, detail: string) =>
    failures.push({ parser: name, property, input, detail });
  const whole = run(parser, input);
  if (!whole.ok) {
    fail("never throws", String(whole.error));
    return failures;
  }
  for (const p of answerProblems(name, input, whole.result)) fail("well-formed answer", p);
  const consumed = whole.result.status === "done" ? whole.result.consumed : 0;
  if (whole.result.status === "done" && consumed > 0 && consumed <= input.length) {
    const exact = run(parser, input.subarray(0, whole.result.consumed));
    if (!exact.ok || !sameResult(exact.result, whole.result)) {
      fail(
        "consumed bytes alone give the same answer",
        `${describe(whole.result)} vs ${exact.ok ? describe(exact.result) : String(exact.error)}`,
      );
    }
  }
  if (input.length > maxGrow) return failures;
  // Feed the input byte by byte, as a reader that reads one byte at a time would.
  let first: { at: number; result: Parse<unknown> } | undefined;
  for (let n = 0; n <= input.length; n++) {
    const grown = run(parser, input.subarray(0, n));
    if (!grown.ok) {
      fail("never throws", `on the first ${n} bytes: ${String(grown.error)}`);
      return failures;
    }
    if (n === 0 && grown.result.status !== "more") {
      fail("empty input needs more", describe(grown.result));
    }
    if (!first) {
      if (grown.result.status !== "more") first = { at: n, result: grown.result };
    } else if (!sameResult(grown.result, first.result)) {
      const was = describe(first.result);
      fail(
        "growing prefixes",
        `${was} at ${first.at} bytes, then ${describe(grown.result)} at ${n}`,
      );
      break;
    }
  }
  if (first && !sameResult(first.result, whole.result)) {
    const text = `${describe(first.result)} vs ${describe(whole.result)}`;
    fail("byte-by-byte equals one-shot", text);
  }
  return failures;
}

/** A valid message, what its parser must return for it, and which parser that is. */
export interface ValidMessage {
  parser: ParserName;
  bytes: Uint8Array;
  expected: unknown;
}

const LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_-";

function randomLabel(rng: Rng): string {
  const length = rng.chance(0.9) ? rng.range(1, 12) : rng.range(1, 63);
  let label = "";
  for (let i = 0; i < length; i++) {
    const edge = i === 0 || i === length - 1;
    label += rng.pick([...(edge ? LABEL_CHARS.slice(0, -1) : LABEL_CHARS)]);
  }
  return label;
}

/** A normalized hostname of at most `max` characters, and how a client might spell it. */
function randomHostname(rng: Rng, max: number): { sent: string; normalized: string } {
  const labels = [randomLabel(rng)];
  const count = rng.chance(0.05) ? 60 : rng.range(1, 5);
  while (labels.length < count) {
    const next = randomLabel(rng);
    if (labels.join(".").length + 1 + next.length > max) break;
    labels.push(next);
  }
  const normalized = labels.join(".");
  let sent = [...normalized].map((c) => rng.chance(0.3) ? c.toUpperCase() : c).join("");
  if (rng.chance(0.2) && sent.length < max) sent += ".";
  return { sent, normalized };
}

function latin1Bytes(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

function randomPort(rng: Rng): number {
  return rng.pick([1, 80, 443, 8080, 65535, rng.range(1, 65535)]);
}

/** A random valid SOCKS4/4a request, SOCKS5 greeting or SOCKS5 request. */
export function generateValid(rng: Rng): ValidMessage {
  const kind = rng.int(3);
  const port = randomPort(rng);
  const portBytes = [port >> 8, port & 0xff];
  if (kind === 0) {
    const command = rng.pick(["connect", "bind"] as const);
    const idLength = rng.chance(0.1) ? rng.range(0, 255) : rng.range(0, 8);
    const userId = String.fromCharCode(
      ...Array.from({ length: idLength }, () => rng.range(1, 255)),
    );
    const head = [4, command === "connect" ? 1 : 2, ...portBytes];
    if (rng.chance(0.5)) {
      const ip = rng.chance(0.1) ? [0, 0, 0, rng.int(2)] : [...rng.bytes(4)];
      // 0.0.0.x with x != 0 announces SOCKS4a; 0.0.0.0 is a plain (if useless) address.
      if (ip[0] === 0 && ip[1] === 0 && ip[2] === 0) ip[3] = 0;
      return {
        parser: "socks4",
        bytes: new Uint8Array([...head, ...ip, ...latin1Bytes(userId), 0]),
        expected: {
          version: 4,
          command,
          destination: { host: ip.join("."), port, addressType: "ipv4" },
          userId,
        },
      };
    }
    const name = randomHostname(rng, 253);
    return {
      parser: "socks4",
      bytes: new Uint8Array([
        ...head,
        0,
        0,
        0,
        rng.range(1, 255),
        ...latin1Bytes(userId),
        0,
        ...latin1Bytes(name.sent),
        0,
      ]),
      expected: {
        version: 4,
        command,
        destination: { host: name.normalized, port, addressType: "domain" },
        userId,
      },
    };
  }
  if (kind === 1) {
    const methods = Array.from(
      { length: rng.chance(0.1) ? rng.range(1, 255) : rng.range(1, 4) },
      () => rng.chance(0.5) ? rng.int(4) : rng.int(256),
    );
    return {
      parser: "socks5Greeting",
      bytes: new Uint8Array([5, methods.length, ...methods]),
      expected: { methods },
    };
  }
  const command = rng.pick(["connect", "bind", "udp-associate"] as const);
  const head = [5, { connect: 1, bind: 2, "udp-associate": 3 }[command], 0];
  let address: number[];
  let destination: { host: string; port: number; addressType: string };
  const atyp = rng.int(3);
  if (atyp === 0) {
    const ip = [rng.int(256), rng.int(256), rng.int(256), rng.int(256)];
    address = [1, ...ip];
    destination = { host: ip.join("."), port, addressType: "ipv4" };
  } else if (atyp === 1) {
    // Mostly zero groups, so that every compression rule is exercised.
    const ip: number[] = [];
    for (let g = 0; g < 8; g++) {
      const group = rng.chance(0.5) ? 0 : rng.chance(0.5) ? rng.range(1, 0xff) : rng.int(0x10000);
      ip.push(group >> 8, group & 0xff);
    }
    address = [4, ...ip];
    destination = { host: ipaddr.fromByteArray(ip).toString(), port, addressType: "ipv6" };
  } else {
    const name = randomHostname(rng, 253);
    address = [3, name.sent.length, ...latin1Bytes(name.sent)];
    destination = { host: name.normalized, port, addressType: "domain" };
  }
  return {
    parser: "socks5Request",
    bytes: new Uint8Array([...head, ...address, ...portBytes]),
    expected: { version: 5, command, destination },
  };
}

const INTERESTING = [0, 1, 2, 3, 4, 5, 0x2e, 0x3a, 0x41, 0x5b, 0x7f, 0x80, 0xfe, 0xff];

/** Applies one to four random edits: bit flips, overwrites, inserts, deletes, cuts, appends. */
export function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  const bytes = [...input];
  const edits = rng.range(1, 4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(bytes.length + 1);
    switch (rng.int(8)) {
      case 0:
        if (at < bytes.length) bytes[at] ^= 1 << rng.int(8);
        break;
      case 1:
        if (at < bytes.length) bytes[at] = rng.pick(INTERESTING);
        break;
      case 2:
        if (at < bytes.length) bytes[at] = rng.int(256);
        break;
      case 3:
        bytes.splice(at, 0, rng.chance(0.5) ? rng.pick(INTERESTING) : rng.int(256));
        break;
      case 4:
        bytes.splice(at, rng.range(1, 4));
        break;
      case 5:
        bytes.length = Math.min(bytes.length, at);
        break;
      case 6:
        bytes.push(...rng.bytes(rng.range(1, 16)));
        break;
      case 7: {
        // A length or address-type byte is where parsers usually go wrong.
        const field = rng.pick([1, 3, 4]);
        if (field < bytes.length) {
          bytes[field] = rng.chance(0.5) ? rng.pick(INTERESTING) : rng.int(256);
        }
        break;
      }
    }
  }
  return new Uint8Array(bytes);
}

/** Random bytes, usually short and usually starting like a SOCKS message. */
export function randomInput(rng: Rng): Uint8Array {
  const length = rng.chance(0.9) ? rng.range(0, 24) : rng.range(0, 700);
  const bytes = rng.chance(0.3)
    ? rng.bytes(length)
    : Uint8Array.from({ length }, () => rng.chance(0.4) ? rng.pick(INTERESTING) : rng.int(256));
  if (length > 0 && rng.chance(0.7)) bytes[0] = rng.pick([4, 5]);
  if (length > 2 && rng.chance(0.5)) bytes[2] = 0;
  return bytes;
}

/** One fuzz iteration: random bytes to every parser, and a valid message and a mutation of it. */
export function fuzzIteration(rng: Rng, maxGrow = 1024): Failure[] {
  const failures: Failure[] = [];
  const random = randomInput(rng);
  for (const name of Object.keys(PARSERS) as ParserName[]) {
    failures.push(...checkInput(name, PARSERS[name], random, maxGrow));
  }
  const valid = generateValid(rng);
  const parse = PARSERS[valid.parser];
  const expected = {
    status: "done",
    value: valid.expected,
    consumed: valid.bytes.length,
  };
  const tail = rng.chance(0.5) ? rng.bytes(rng.range(1, 32)) : new Uint8Array(0);
  const pipelined = new Uint8Array([...valid.bytes, ...tail]);
  const got = run(parse, pipelined);
  if (!got.ok || !sameResult(got.result, expected)) {
    failures.push({
      parser: valid.parser,
      property: "valid message round trip",
      input: pipelined,
      detail: `expected ${describe(expected)}, got ${
        got.ok ? describe(got.result) : String(got.error)
      }`,
    });
  }
  failures.push(...checkInput(valid.parser, parse, valid.bytes, maxGrow));
  const mutated = mutate(rng, valid.bytes);
  for (const name of Object.keys(PARSERS) as ParserName[]) {
    failures.push(...checkInput(name, PARSERS[name], mutated, maxGrow));
  }
  return failures;
}

export interface FuzzOptions {
  seed: number;
  iterations?: number;
  seconds?: number;
  /** Stop after this many failures (default 20). */
  maxFailures?: number;
  /** Called every ~2^14 iterations with the count so far. */
  progress?: (iterations: number) => void;
}

export function runFuzz(opts: FuzzOptions): { iterations: number; failures: Failure[] } {
  const rng = new Rng(opts.seed);
  const failures: Failure[] = [];
  const deadline = opts.seconds === undefined ? Infinity : Date.now() + opts.seconds * 1000;
  const limit = opts.iterations ?? Infinity;
  let i = 0;
  while (i < limit && failures.length < (opts.maxFailures ?? 20)) {
    if ((i & 0x3fff) === 0 && i > 0) {
      opts.progress?.(i);
      if (Date.now() >= deadline) break;
    }
    if (i === 0 && Date.now() >= deadline) break;
    failures.push(...fuzzIteration(rng));
    i++;
  }
  return { iterations: i, failures };
}
