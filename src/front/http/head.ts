/**
 * Parses HTTP/1.x message heads (request line or status line, then header fields) from raw
 * bytes, strictly (RFC 9112): CRLF line ends, token field names, no whitespace before the colon,
 * no obsolete line folding, no control characters. Anything a lenient parser would guess at is
 * refused instead, because a proxy that reads a head differently from the server behind it is how
 * requests get smuggled. Pure: it sees a byte array and returns what it found, so it can be tested
 * and fuzzed byte by byte. A `HeadParser` keeps where it stopped, so a head that arrives in
 * pieces (a byte at a time, from a hostile peer) costs work linear in its length; the drivers
 * (http/session.ts, http/forward.ts) only read and hand it the bytes.
 *
 * ```ts
 * const r = parseRequestHead(new TextEncoder().encode("GET http://web.demo/ HTTP/1.1\r\nHost: web.demo\r\n\r\n"));
 * // r.status === "done", r.head.method === "GET", r.consumed === the head's length
 * ```
 * @module
 */

/** One header field as it came, name case kept (servers may care), value trimmed of OWS. */
export type Field = readonly [name: string, value: string];

export interface RequestHead {
  method: string;
  target: string;
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  fields: Field[];
}

export interface ResponseHead {
  minor: 0 | 1;
  status: number;
  reason: string;
  fields: Field[];
}

/** What to answer a head that cannot be accepted. */
export type HeadProblem =
  | "bad-request" // 400
  | "uri-too-long" // 414
  | "head-too-large" // 431
  | "version"; // 505

export type HeadParse<T> =
  | { status: "more" }
  | { status: "invalid"; problem: HeadProblem; reason: string }
  | { status: "done"; head: T; consumed: number };

export interface HeadLimits {
  /** Longest request or status line, CRLF excluded. */
  maxStartLine: number;
  /** Longest head in all, start line and the empty line included. */
  maxHead: number;
  maxFields: number;
}

export const DEFAULT_LIMITS: HeadLimits = {
  maxStartLine: 8192,
  maxHead: 32 * 1024,
  maxFields: 100,
};

const CR = 13;
const LF = 10;

/** tchar from RFC 9110 §5.6.2, as a lookup table. */
const TCHAR = (() => {
  const t = new Uint8Array(128);
  for (const c of "!#$%&'*+-.^_`|~") t[c.charCodeAt(0)] = 1;
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  return t;
})();

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** Parses a request head; the request line may be preceded by empty lines (RFC 9112 §2.2). */
export function parseRequestHead(
  buf: Uint8Array,
  limits: HeadLimits = DEFAULT_LIMITS,
): HeadParse<RequestHead> {
  return requestHeadParser(limits).parse(buf);
}

/** Parses a response head (status line, then fields). */
export function parseResponseHead(
  buf: Uint8Array,
  limits: HeadLimits = DEFAULT_LIMITS,
): HeadParse<ResponseHead> {
  return responseHeadParser(limits).parse(buf);
}

/** An incremental parser of one request head: see HeadParser. */
export function requestHeadParser(limits: HeadLimits = DEFAULT_LIMITS): HeadParser<RequestHead> {
  return new HeadParser<RequestHead>(limits, true, (line) => {
    const parts = line.split(" ");
    if (parts.length !== 3) return "request line is not METHOD SP TARGET SP VERSION";
    const [method, target, version] = parts;
    if (!isToken(method)) return "the method is not a token";
    if (target.length === 0 || !isVisible(target)) return "the request target is not visible ASCII";
    const minor = versionMinor(version);
    if (minor === undefined) {
      return { problem: "version", reason: `${safe(version)} is not HTTP/1.x` };
    }
    return { method, target, minor, fields: [] };
  });
}

/** An incremental parser of one response head: see HeadParser. */
export function responseHeadParser(limits: HeadLimits = DEFAULT_LIMITS): HeadParser<ResponseHead> {
  return new HeadParser<ResponseHead>(limits, false, (line) => {
    const m = /^HTTP\/1\.([01]) ([0-9]{3})(?: (.*))?$/.exec(line);
    if (!m) return "the status line is not HTTP/1.x SP CODE SP REASON";
    const status = Number(m[2]);
    if (status < 100) return `status ${m[2]} is not 100-999`;
    const reason = m[3] ?? "";
    if (!isFieldValue(reason)) return "the reason phrase has control characters";
    return { minor: m[1] === "1" ? 1 : 0, status, reason, fields: [] };
  });
}

type StartLine<T> = (line: string) => T | string | { problem: HeadProblem; reason: string };

/**
 * Parses one head from bytes that arrive in pieces, in work linear in their number: each call
 * gets every byte received so far (the previous call's bytes and then more, as a connection's
 * read buffer holds them) and goes on from where the last one stopped, so a head sent one byte
 * at a time is not parsed again from its start on every read. Lines are decoded once, when
 * complete. Once decided ("done" or "invalid"), the answer stays. Pure apart from that state.
 */
export class HeadParser<T extends { fields: Field[] }> {
  /** Start of the next line not yet taken. */
  #pos = 0;
  /** How far the line at #pos has been scanned for its end. */
  #scan = 0;
  #empties = 0;
  #head: T | undefined;
  #decided: HeadParse<T> | undefined;
  /** Bytes examined in all: a measure of the work done, linear in the head's length. */
  work = 0;

  constructor(
    readonly limits: HeadLimits,
    readonly skipEmptyLines: boolean,
    readonly startLine: StartLine<T>,
  ) {}

  /** Goes on with `buf`, which must begin with every byte given before. */
  parse(buf: Uint8Array): HeadParse<T> {
    if (this.#decided) return this.#decided;
    const r = this.#run(buf);
    if (r.status !== "more") this.#decided = r;
    else if (buf.length > this.limits.maxHead) return this.#decided = tooLarge(this.limits);
    return r;
  }

  #run(buf: Uint8Array): HeadParse<T> {
    const limits = this.limits;
    if (this.#head === undefined) {
      if (this.skipEmptyLines) {
        // At most a few empty lines, so that a stream of CRLFs cannot hold a connection for free.
        while (true) {
          const pos = this.#pos;
          if (pos >= buf.length) return MORE;
          if (buf[pos] !== CR) break;
          if (pos + 1 >= buf.length) return MORE;
          if (buf[pos + 1] !== LF) break;
          if (this.#empties === 4) return invalid("too many empty lines");
          this.#empties++;
          this.#pos = this.#scan = pos + 2;
          this.work += 2;
        }
      }
      const lineEnd = this.#lineEnd(buf, limits.maxStartLine);
      if (typeof lineEnd === "string") {
        return lineEnd === "more" ? MORE : lineEnd === "long"
          ? {
            status: "invalid",
            problem: this.skipEmptyLines ? "uri-too-long" : "head-too-large",
            reason: `start line longer than ${limits.maxStartLine} bytes`,
          }
          : invalid(lineEnd);
      }
      const first = this.startLine(latin1(buf, this.#pos, lineEnd));
      if (typeof first === "string") return invalid(first);
      if ("problem" in first) return { status: "invalid", ...first };
      this.#head = first as T;
      this.#pos = this.#scan = lineEnd + 2;
    }
    const head = this.#head;
    while (true) {
      const pos = this.#pos;
      if (pos > limits.maxHead) return tooLarge(limits);
      if (pos >= buf.length) return MORE;
      if (buf[pos] === CR) {
        if (pos + 1 >= buf.length) return MORE;
        if (buf[pos + 1] !== LF) return invalid("CR without LF");
        if (pos + 2 > limits.maxHead) return tooLarge(limits);
        return { status: "done", head, consumed: pos + 2 };
      }
      if (buf[pos] === 32 || buf[pos] === 9) return invalid("obsolete line folding");
      const end = this.#lineEnd(buf, limits.maxHead - pos);
      if (end === "more") return MORE;
      if (end === "long") return tooLarge(limits);
      if (typeof end === "string") return invalid(end);
      const line = latin1(buf, pos, end);
      const colon = line.indexOf(":");
      if (colon <= 0) return invalid("a header line without a field name and colon");
      const name = line.slice(0, colon);
      if (!isToken(name)) return invalid(`field name ${safe(name)} is not a token`);
      const raw = line.slice(colon + 1);
      const value = raw.replace(/^[ \t]+|[ \t]+$/g, "");
      if (!isFieldValue(value)) return invalid(`field ${name} has control characters`);
      // llhttp refuses a tab after a framing field's value: so does ktctl, to read it alike.
      if (/\t[ \t]*$/.test(raw) && FRAMING_NAMES.has(name.toLowerCase())) {
        return invalid(`a tab after the value of ${name}`);
      }
      if (head.fields.length >= limits.maxFields) {
        return {
          status: "invalid",
          problem: "head-too-large",
          reason: `more than ${limits.maxFields} header fields`,
        };
      }
      head.fields.push([name, value]);
      this.#pos = this.#scan = end + 2;
    }
  }

  /**
   * Index of the CR of the CRLF ending the line at #pos, or why there is none yet; the scan goes
   * on from where the last call left it.
   */
  #lineEnd(buf: Uint8Array, maxLength: number): number | "more" | "long" | string {
    const from = this.#pos;
    const limit = Math.min(buf.length, from + maxLength + 1);
    let i = Math.max(this.#scan, from);
    for (; i < limit; i++) {
      this.work++;
      const c = buf[i];
      if (c === CR) {
        if (i + 1 >= buf.length) {
          this.#scan = i;
          return "more";
        }
        return buf[i + 1] === LF ? i : "CR without LF";
      }
      if (c === LF) return "LF without CR";
      if (c === 0) return "NUL in the head";
    }
    this.#scan = i;
    return buf.length - from > maxLength ? "long" : "more";
  }
}

const MORE = { status: "more" } as const;

const FRAMING_NAMES = new Set(["content-length", "transfer-encoding"]);

function tooLarge<T>(limits: HeadLimits): HeadParse<T> {
  return {
    status: "invalid",
    problem: "head-too-large",
    reason: `head longer than ${limits.maxHead} bytes`,
  };
}

function invalid<T>(reason: string): HeadParse<T> {
  return { status: "invalid", problem: "bad-request", reason };
}

function versionMinor(v: string): 0 | 1 | undefined {
  return v === "HTTP/1.1" ? 1 : v === "HTTP/1.0" ? 0 : undefined;
}

function isVisible(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** field-value: VCHAR, obs-text, SP and HTAB; nothing else (no CR, LF, NUL or other controls). */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f) return false;
  }
  return true;
}

function latin1(buf: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i += 4096) {
    s += String.fromCharCode(...buf.subarray(i, Math.min(to, i + 4096)));
  }
  return s;
}

/** A value quoted for a reason text, cut short and with controls escaped. */
function safe(s: string): string {
  return JSON.stringify(s.length > 40 ? s.slice(0, 40) + "…" : s);
}

/** The values of every field named `name` (case-insensitive). */
export function fieldValues(fields: readonly Field[], name: string): string[] {
  const n = name.toLowerCase();
  return fields.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

/** The comma-separated tokens of every `name` field, lower-cased (Connection, Transfer-Encoding). */
export function fieldTokens(fields: readonly Field[], name: string): string[] {
  return fieldValues(fields, name).flatMap((v) => v.split(",")).map((t) => t.trim().toLowerCase())
    .filter((t) => t.length > 0);
}
