/**
 * The HTTP front's fuzzer: generators and property checks for its parsers (`src/front/http/`:
 * request and response heads, whole and fed in pieces; request targets; body framing) and for
 * the forwarder's framing decisions (messages.ts `planRequest`, `planResponse`). Shared by
 * `fuzz/run_http.ts` (long runs) and `tests/unit/front/http/fuzz_test.ts` (a few thousand
 * iterations with fixed seeds).
 *
 * Properties:
 * - heads: never throws; "done" consumed bytes are within the input and the limit, parsing just
 *   those bytes gives the same head, every field name is a token and no value holds CR, LF or
 *   NUL; "more" only below the head limit; fed as growing prefixes, the first answer that is not
 *   "more" is the answer for every longer input; one incremental parser fed the input in random
 *   pieces answers as one parse of the whole; a generated head parses to what was generated;
 * - targets: never throws; an accepted one has a port in 1..65535 and a host without
 *   whitespace, slashes or `@`;
 * - body framing: only FramingError is thrown; the bytes used and the end found do not depend on
 *   how the input is split; a generated chunked body ends exactly where it was made to end;
 * - forwarded requests: never throws; refused whenever the framing is ambiguous (Content-Length
 *   and Transfer-Encoding, `Connection` naming either, more than one Host); an accepted one is
 *   written as a head that parses, carries one Host (the target's authority), no hop-by-hop
 *   field and no field `Connection` named, and whose framing, read back, is the framing ktctl
 *   counts; planning that head again gives the same bytes;
 * - relayed responses: never throws; ambiguous framing, a 101 not asked for and a sixth 1xx are
 *   refused; a final head written to the client parses, and its framing read back as the client
 *   will read it is the framing ktctl counts; a response delimited by the close, or one the
 *   client will not reuse, says `Connection: close`; no 1xx goes to an HTTP/1.0 client.
 * @module
 */
import { Rng } from "./socks.ts";
import {
  type Field,
  fieldTokens,
  fieldValues,
  type HeadParse,
  isToken,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  requestHeadParser,
  responseHeadParser,
} from "../src/front/http/head.ts";
import { MAX_INTERIM, planRequest, planResponse } from "../src/front/http/messages.ts";
import { parseTarget } from "../src/front/http/target.ts";
import {
  BodyFramer,
  FramingError,
  requestFraming,
  responseFraming,
} from "../src/front/http/body.ts";

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
const INCREMENTAL = {
  request: () => requestHeadParser(LIMITS),
  response: () => responseHeadParser(LIMITS),
};

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Checks one input against one head parser. */
export function checkHead(name: string, input: Uint8Array, rng?: Rng): HttpFailure[] {
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
  // One incremental parser fed the input in random pieces answers as one parse of the whole.
  if (rng) {
    const parser = INCREMENTAL[name as keyof typeof INCREMENTAL]();
    let got;
    try {
      for (let at = 0;;) {
        at = Math.min(input.length, at + rng.range(1, 9));
        got = parser.parse(input.subarray(0, at));
        if (got.status !== "more" || at === input.length) break;
      }
    } catch (e) {
      return fail("never throws", `incremental: ${e}`);
    }
    if (!same(got, r)) {
      return fail("incremental = whole", `${JSON.stringify(got)} vs ${JSON.stringify(r)}`);
    }
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
  failures.push(...checkHead(head.name, mutate(rng, head.bytes), rng));
  failures.push(...checkHead(rng.pick(["request", "response"]), rng.bytes(rng.range(0, 40))));
  const body = generateChunked(rng);
  failures.push(...checkChunked(rng, body.bytes, body.length));
  failures.push(...checkChunked(rng, mutate(rng, body.bytes)));
  failures.push(
    ...checkTarget(mutate(rng, enc(rng.pick(["http://web.demo:8080/x", "[::1]:443", "a.b:1"])))),
  );
  const req = generateFramingRequest(rng);
  failures.push(...checkRequestPlan(req));
  failures.push(...checkRequestPlan(mutate(rng, req)));
  const resp = generateFramingResponse(rng);
  failures.push(...checkResponsePlan(rng, resp));
  failures.push(...checkResponsePlan(rng, mutate(rng, resp)));
  return failures;
}

/** Field names with their case shuffled: framing must not depend on it. */
function anyCase(rng: Rng, name: string): string {
  return [...name].map((c) => (rng.chance(0.3) ? c.toUpperCase() : c)).join("");
}

/** Fields that decide or disturb framing, in random mixes. */
function framingFields(rng: Rng, response: boolean): string {
  const menu: (() => string)[] = [
    () => `Content-Length: ${rng.pick(["0", "3", "12", "3, 3", "+3", "03", "", "x", "3 3"])}`,
    () =>
      `Transfer-Encoding: ${
        rng.pick([
          "chunked",
          "Chunked",
          "gzip, chunked",
          "chunked, gzip",
          "identity",
          "",
          "chunked, chunked",
        ])
      }`,
    () =>
      `Connection: ${
        rng.pick([
          "close",
          "keep-alive",
          "Upgrade",
          "content-length",
          "transfer-encoding",
          "x-hop",
          "close, x-hop",
          "host",
        ])
      }`,
    () => `Proxy-Connection: ${rng.pick(["keep-alive", "close", "content-length"])}`,
    () => `Upgrade: ${rng.pick(["websocket", "h2c"])}`,
    () => `X-Hop: 1`,
    () => `Keep-Alive: timeout=5`,
    () => (response ? `Set-Cookie: a=b` : `Host: ${rng.pick(["a.example", "b.example:8080"])}`),
    () => `TE: trailers`,
  ];
  return Array.from({ length: rng.int(6) }, () => {
    const f = rng.pick(menu)();
    const colon = f.indexOf(":");
    return anyCase(rng, f.slice(0, colon)) + f.slice(colon) + "\r\n";
  }).join("");
}

export function generateFramingRequest(rng: Rng): Uint8Array {
  const method = rng.pick(["GET", "POST", "PUT", "HEAD"]);
  const minor = rng.int(2);
  return latin1(
    `${method} http://web.demo${rng.pick(["", ":8080"])}/p?q=1 HTTP/1.${minor}\r\n` +
      framingFields(rng, false) + "\r\n",
  );
}

export function generateFramingResponse(rng: Rng): Uint8Array {
  const status = rng.pick([100, 101, 102, 103, 200, 204, 206, 304, 404, 502, 999]);
  return latin1(`HTTP/1.${rng.int(2)} ${status} X\r\n` + framingFields(rng, true) + "\r\n");
}

const HOP_BY_HOP = ["connection", "proxy-connection", "keep-alive", "te", "proxy-authorization"];

function has(fields: readonly Field[], name: string): boolean {
  return fieldValues(fields, name).length > 0;
}

/** The framing fields of a head written by ktctl: at most one, once. */
function framingCount(fields: readonly Field[]): number {
  return fieldValues(fields, "content-length").length +
    fieldValues(fields, "transfer-encoding").length;
}

/** Checks the forwarder's plan for a request head (if it parses and is absolute-form). */
export function checkRequestPlan(input: Uint8Array): HttpFailure[] {
  const fail = (property: string, detail: string) => [{
    parser: "planRequest",
    property,
    detail,
    input,
  }];
  const r = parseRequestHead(input);
  if (r.status !== "done") return [];
  const t = parseTarget(r.head.method, r.head.target);
  if (!t.ok || t.target.form !== "absolute") return [];
  const { path, authority } = t.target;
  let plan;
  try {
    plan = planRequest(r.head, path, authority);
  } catch (e) {
    return fail("never throws", String(e));
  }
  const fields = r.head.fields;
  const named = [
    ...fieldTokens(fields, "connection"),
    ...fieldTokens(fields, "proxy-connection"),
  ];
  const ambiguous = (has(fields, "content-length") && has(fields, "transfer-encoding")) ||
    named.includes("content-length") || named.includes("transfer-encoding") ||
    fieldValues(fields, "host").length > 1;
  if (ambiguous && plan.ok) return fail("ambiguous framing is refused", "");
  if (!plan.ok) return [];
  const out = parseRequestHead(plan.head);
  if (out.status !== "done" || out.consumed !== plan.head.length) {
    return fail("the head written parses", JSON.stringify(out));
  }
  const written = out.head.fields;
  if (!same(fieldValues(written, "host"), [authority])) {
    return fail("one Host, the target's authority", JSON.stringify(written));
  }
  if (framingCount(written) > 1) return fail("one framing field", JSON.stringify(written));
  const upgrading = plan.upgrade !== undefined;
  for (const [k] of written) {
    const n = k.toLowerCase();
    if (HOP_BY_HOP.includes(n) && !(upgrading && n === "connection")) {
      return fail("no hop-by-hop field", k);
    }
    if (
      named.includes(n) && !["host", "upgrade", "connection"].includes(n)
    ) return fail("no field Connection named", k);
  }
  const readBack = requestFraming(out.head);
  if (!readBack.ok || !same(readBack.framing, plan.framing)) {
    return fail("framing read back is the framing counted", JSON.stringify([readBack, plan]));
  }
  const again = planRequest(out.head, path, authority);
  if (!again.ok || !same([...again.head], [...plan.head])) {
    return fail("planning the written head again gives the same bytes", "");
  }
  return [];
}

/** Checks the forwarder's plan for a response head, answering a random request. */
export function checkResponsePlan(rng: Rng, input: Uint8Array): HttpFailure[] {
  const r = parseResponseHead(input);
  if (r.status !== "done") return [];
  const request: RequestHead = {
    method: rng.pick(["GET", "HEAD", "POST"]),
    target: "http://web.demo/",
    minor: rng.int(2) as 0 | 1,
    fields: rng.chance(0.3) ? [["Connection", "Upgrade"], ["Upgrade", "websocket"]] : [],
  };
  const interims = rng.int(MAX_INTERIM + 2);
  const fail = (property: string, detail: string) => [{
    parser: `planResponse ${request.method} 1.${request.minor} after ${interims}`,
    property,
    detail,
    input,
  }];
  let plan;
  try {
    plan = planResponse(r.head, request, interims);
  } catch (e) {
    return fail("never throws", String(e));
  }
  const fields = r.head.fields;
  const named = fieldTokens(fields, "connection");
  const status = r.head.status;
  const asked = request.minor === 1 && request.fields.length > 0;
  const mustRefuse = (has(fields, "content-length") && has(fields, "transfer-encoding")) ||
    named.includes("content-length") || named.includes("transfer-encoding") ||
    (status === 101 && !asked) ||
    (status >= 100 && status < 200 && status !== 101 && interims >= MAX_INTERIM);
  if (mustRefuse && plan.kind !== "refuse") {
    return fail("ambiguous responses are refused", plan.kind);
  }
  if (plan.kind === "refuse") return [];
  if (plan.kind === "interim") {
    if (request.minor === 0 && plan.head) return fail("no 1xx to HTTP/1.0", "");
    if (plan.head) {
      const out = parseResponseHead(plan.head);
      if (out.status !== "done" || out.head.status >= 200 || framingCount(out.head.fields) > 0) {
        return fail("an interim head is a clean 1xx", JSON.stringify(out));
      }
    }
    return [];
  }
  const out = parseResponseHead(plan.head);
  if (out.status !== "done" || out.consumed !== plan.head.length) {
    return fail("the head written parses", JSON.stringify(out));
  }
  if (plan.kind === "upgrade") {
    return asked && out.head.status === 101 ? [] : fail("101 only when asked", "");
  }
  const written = out.head.fields;
  if (framingCount(written) > 1) return fail("one framing field", JSON.stringify(written));
  for (const [k] of written) {
    const n = k.toLowerCase();
    if (HOP_BY_HOP.includes(n) && n !== "connection") return fail("no hop-by-hop field", k);
    if (named.includes(n) && n !== "connection") return fail("no field Connection named", k);
  }
  const readBack = responseFraming(out.head, request.method);
  if (!readBack.ok || !same(readBack.framing, plan.framing)) {
    return fail("framing read back is the framing counted", JSON.stringify([readBack, plan]));
  }
  const closes = fieldTokens(written, "connection").includes("close");
  if ((plan.framing.kind === "close" || !plan.keepClient) && !closes) {
    return fail("Connection: close when the client connection ends", "");
  }
  if (plan.framing.kind === "chunked" && request.minor === 0) {
    return fail("no chunked response to HTTP/1.0", "");
  }
  return [];
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
