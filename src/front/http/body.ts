/**
 * Where an HTTP/1.x message body ends (RFC 9112 §6). ktctl passes bodies on as they came, chunked
 * or not, and only needs to know where each one stops: that is what lets one client connection
 * carry request after request, to different hosts. The rules are strict where a proxy and a
 * server could disagree (both Content-Length and Transfer-Encoding, repeated or listed
 * Content-Lengths, a request coding other than chunked, a malformed chunk size): such a message
 * is refused, never guessed at; where RFC 9112 and Node's llhttp differ, ktctl refuses what
 * either would refuse. The decision is the one description of the body that messages.ts writes
 * the framing fields from. Pure, fed bytes as they arrive.
 * @module
 */
import {
  type Field,
  fieldTokens,
  fieldValues,
  type RequestHead,
  type ResponseHead,
} from "./head.ts";

export type Framing =
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** The body runs until the sender closes (responses only). */
  | { kind: "close" };

export type FramingResult = { ok: true; framing: Framing } | { ok: false; reason: string };

/**
 * How a request's body is delimited; a request without either field has none. Only one exact
 * answer is taken: `Transfer-Encoding: chunked` alone (any other coding is one a server behind
 * may read differently), or one Content-Length; never both, never a list.
 */
export function requestFraming(head: RequestHead): FramingResult {
  if (hasField(head.fields, "transfer-encoding")) {
    const te = fieldTokens(head.fields, "transfer-encoding");
    if (head.minor === 0) return { ok: false, reason: "Transfer-Encoding in an HTTP/1.0 request" };
    if (hasField(head.fields, "content-length")) {
      return { ok: false, reason: "both Transfer-Encoding and Content-Length" };
    }
    if (te.length !== 1 || te[0] !== "chunked") {
      return { ok: false, reason: `Transfer-Encoding ${te.join(", ")} is not just chunked` };
    }
    return { ok: true, framing: { kind: "chunked" } };
  }
  const length = contentLength(head.fields);
  if (length === "invalid") return { ok: false, reason: "an invalid Content-Length" };
  return { ok: true, framing: { kind: "length", length: length ?? 0 } };
}

/**
 * How a response's body is delimited, given the request it answers. Both Transfer-Encoding and
 * Content-Length, an empty Transfer-Encoding or chunked applied twice are refused (RFC 9112 §6.3
 * lets a proxy refuse what it cannot relay unambiguously).
 */
export function responseFraming(head: ResponseHead, requestMethod: string): FramingResult {
  const hasTe = hasField(head.fields, "transfer-encoding");
  if (hasTe && hasField(head.fields, "content-length")) {
    return { ok: false, reason: "both Transfer-Encoding and Content-Length" };
  }
  if (
    requestMethod === "HEAD" || (head.status >= 100 && head.status < 200) || head.status === 204 ||
    head.status === 304
  ) {
    return { ok: true, framing: { kind: "length", length: 0 } };
  }
  if (hasTe) {
    const te = fieldTokens(head.fields, "transfer-encoding");
    if (te.length === 0) return { ok: false, reason: "an empty Transfer-Encoding" };
    const chunked = te.filter((t) => t === "chunked").length;
    if (chunked > 1) return { ok: false, reason: "chunked applied more than once" };
    // Not chunked last: only the close can end it (RFC 9112 §6.3 item 4).
    return {
      ok: true,
      framing: te[te.length - 1] === "chunked" ? { kind: "chunked" } : { kind: "close" },
    };
  }
  const length = contentLength(head.fields);
  if (length === "invalid") return { ok: false, reason: "an invalid Content-Length" };
  return {
    ok: true,
    framing: length === undefined ? { kind: "close" } : { kind: "length", length },
  };
}

/** The one Content-Length: exactly one field of 1-15 digits, none, or invalid. */
function contentLength(fields: readonly Field[]): number | undefined | "invalid" {
  const values = fieldValues(fields, "content-length");
  if (values.length === 0) return undefined;
  // Repeated or listed values, even identical ones, are refused: servers differ on them.
  if (values.length > 1 || !/^[0-9]{1,15}$/.test(values[0])) return "invalid";
  return Number(values[0]);
}

function hasField(fields: readonly Field[], name: string): boolean {
  return fields.some(([k]) => k.toLowerCase() === name);
}

/** Longest chunk-size line (size, extensions) and trailer section ktctl takes. */
export const MAX_CHUNK_LINE = 4096;
export const MAX_TRAILERS = 32 * 1024;

type ChunkState =
  /**
   * `after`: 0 in the digits, 2 in an extension. No whitespace between the size and an extension
   * (RFC 9112 would allow BWS before ";"; llhttp does not, and ktctl reads chunks as it does).
   */
  | { at: "size"; line: number; digits: number; size: number; after: 0 | 2; cr: boolean }
  | { at: "data"; left: number }
  | { at: "data-cr" }
  | { at: "data-lf" }
  | { at: "trailer"; line: number; total: number; cr: boolean }
  | { at: "done" };

export class FramingError extends Error {
  override name = "FramingError";
}

/**
 * Counts a body off as its bytes arrive. `feed` says how many of the bytes belong to the body and
 * whether it is complete; bytes after the end belong to the next message.
 */
export class BodyFramer {
  #left: number;
  #chunk: ChunkState | undefined;
  #closeDelimited: boolean;

  constructor(framing: Framing) {
    this.#left = framing.kind === "length" ? framing.length : 0;
    this.#chunk = framing.kind === "chunked"
      ? { at: "size", line: 0, digits: 0, size: 0, after: 0, cr: false }
      : undefined;
    this.#closeDelimited = framing.kind === "close";
  }

  /** True once the body has ended (a close-delimited body never does until its sender closes). */
  get done(): boolean {
    if (this.#closeDelimited) return false;
    return this.#chunk ? this.#chunk.at === "done" : this.#left === 0;
  }

  get closeDelimited(): boolean {
    return this.#closeDelimited;
  }

  /**
   * How many of the next bytes are body whatever they hold (the rest of a Content-Length body or
   * of the current chunk's data; unbounded for a close-delimited body, 0 inside chunk framing):
   * a relay can read that many straight into its upstream's buffer without reading past the end.
   */
  get certain(): number {
    if (this.#closeDelimited) return Infinity;
    if (!this.#chunk) return this.#left;
    return this.#chunk.at === "data" ? this.#chunk.left : 0;
  }

  /** How many leading bytes of `bytes` are body. Throws FramingError on a malformed chunk. */
  feed(bytes: Uint8Array): number {
    if (this.#closeDelimited) return bytes.length;
    if (!this.#chunk) {
      const n = Math.min(this.#left, bytes.length);
      this.#left -= n;
      return n;
    }
    let i = 0;
    while (i < bytes.length && this.#chunk.at !== "done") i = this.#step(bytes, i);
    return i;
  }

  /** Advances the chunked state machine from `bytes[i]`; returns the next index. */
  #step(bytes: Uint8Array, i: number): number {
    const s = this.#chunk!;
    switch (s.at) {
      case "data": {
        const n = Math.min(s.left, bytes.length - i);
        s.left -= n;
        if (s.left === 0) this.#chunk = { at: "data-cr" };
        return i + n;
      }
      case "data-cr":
        expect(bytes[i], 13, "chunk data not followed by CRLF");
        this.#chunk = { at: "data-lf" };
        return i + 1;
      case "data-lf":
        expect(bytes[i], 10, "chunk data not followed by CRLF");
        this.#chunk = { at: "size", line: 0, digits: 0, size: 0, after: 0, cr: false };
        return i + 1;
      case "size":
        return this.#sizeByte(s, bytes[i], i);
      case "trailer":
        return this.#trailerByte(s, bytes[i], i);
      case "done":
        return i;
    }
  }

  #sizeByte(s: Extract<ChunkState, { at: "size" }>, c: number, i: number): number {
    if (++s.line > MAX_CHUNK_LINE) throw new FramingError("chunk-size line too long");
    if (s.cr) {
      expect(c, 10, "CR without LF in a chunk-size line");
      if (s.digits === 0) throw new FramingError("chunk-size line without a size");
      this.#chunk = s.size === 0
        ? { at: "trailer", line: 0, total: 0, cr: false }
        : { at: "data", left: s.size };
      return i + 1;
    }
    if (c === 13) {
      s.cr = true;
      return i + 1;
    }
    if (s.after === 2) {
      // chunk-ext: only bounded and checked for controls; servers ignore unknown extensions.
      if ((c < 0x20 && c !== 9) || c === 0x7f) {
        throw new FramingError("control character in a chunk extension");
      }
      return i + 1;
    }
    const hex = hexValue(c);
    if (hex !== undefined && s.after === 0) {
      if (s.digits === 13) throw new FramingError("chunk size too large");
      s.size = s.size * 16 + hex;
      s.digits++;
      return i + 1;
    }
    if (s.digits > 0 && c === 0x3b) {
      s.after = 2;
      return i + 1;
    }
    throw new FramingError(`invalid byte 0x${c.toString(16)} in a chunk size`);
  }

  #trailerByte(s: Extract<ChunkState, { at: "trailer" }>, c: number, i: number): number {
    if (++s.total > MAX_TRAILERS) throw new FramingError("trailer section too large");
    if (s.cr) {
      expect(c, 10, "CR without LF in the trailer section");
      if (s.line === 0) {
        this.#chunk = { at: "done" };
      } else {
        s.line = 0;
        s.cr = false;
      }
      return i + 1;
    }
    if (c === 13) {
      s.cr = true;
      return i + 1;
    }
    if (c === 10 || c === 0) throw new FramingError("bare LF or NUL in the trailer section");
    s.line++;
    return i + 1;
  }
}

function expect(c: number, want: number, message: string): void {
  if (c !== want) throw new FramingError(message);
}

function hexValue(c: number): number | undefined {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return undefined;
}
