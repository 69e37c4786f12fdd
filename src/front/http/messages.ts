/**
 * The heads ktctl writes as an HTTP proxy: a client's request rewritten for the origin, the
 * origin's response rewritten for the client, and ktctl's own answers.
 *
 * Each forwarded message is planned here from one description of it: its framing is decided
 * first (body.ts), from the fields as received, and the framing fields ktctl writes
 * (`Content-Length`, `Transfer-Encoding`) are generated from that decision, never copied. Only
 * then are hop-by-hop fields (RFC 9110 §7.6.1) and the fields `Connection` names dropped, so a
 * peer that names a framing field in `Connection` cannot make the next hop read a body
 * differently from ktctl (the forged-second-response attack). A message whose framing is
 * ambiguous is refused, not guessed at: both `Content-Length` and `Transfer-Encoding` in a
 * response, `Connection` naming a framing field, a status outside 100-999, a `101` nobody asked
 * for, too many interim responses. `Host` is generated from the request target (RFC 9112
 * §3.2.2); `Proxy-*` fields were for ktctl. Pure.
 * @module
 */
import {
  type Field,
  fieldTokens,
  fieldValues,
  type RequestHead,
  type ResponseHead,
} from "./head.ts";
import type { HeadProblem } from "./head.ts";
import { type Framing, requestFraming, responseFraming } from "./body.ts";

const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
]);

/** Fields that say where a body ends: decided from, then generated, never passed through. */
const FRAMING_FIELDS = new Set(["content-length", "transfer-encoding"]);

/** How many interim (1xx) responses ktctl relays before a final one; more ends the exchange. */
export const MAX_INTERIM = 5;

const encoder = new TextEncoder();

/** Whether the client asked to keep its connection open after this exchange. */
export function clientKeepsAlive(head: RequestHead): boolean {
  const tokens = [
    ...fieldTokens(head.fields, "connection"),
    ...fieldTokens(head.fields, "proxy-connection"),
  ];
  if (tokens.includes("close")) return false;
  return head.minor === 1 || tokens.includes("keep-alive");
}

/** Whether the origin will keep its connection open after this response. */
export function originKeepsAlive(head: ResponseHead): boolean {
  const tokens = fieldTokens(head.fields, "connection");
  if (tokens.includes("close")) return false;
  return head.minor === 1 || tokens.includes("keep-alive");
}

/**
 * The protocol an HTTP/1.1 request asks to switch to (`Upgrade` named in `Connection`), if any;
 * an HTTP/1.0 request's Upgrade is ignored (RFC 9110 §7.8).
 */
export function upgradeRequested(head: RequestHead): string | undefined {
  if (head.minor !== 1) return undefined;
  if (!fieldTokens(head.fields, "connection").includes("upgrade")) return undefined;
  return fieldValues(head.fields, "upgrade")[0];
}

/** A request as it goes to the origin, or why it may not. */
export type RequestPlan =
  | {
    ok: true;
    /** Where the body ends: what ktctl counts and what the generated fields say. */
    framing: Framing;
    /** The head to send, origin-form. */
    head: Uint8Array;
    /** The protocol the client asked to switch to, if any. */
    upgrade: string | undefined;
  }
  | { ok: false; reason: string };

/**
 * The origin-form request for `head`: `Host` from the target's authority, the client's
 * end-to-end fields, the framing fields generated from the framing decided. Refused: more than
 * one Host, `Connection` naming a framing field, framing that is not exactly one thing.
 */
export function planRequest(head: RequestHead, path: string, authority: string): RequestPlan {
  if (fieldValues(head.fields, "host").length > 1) {
    return { ok: false, reason: "more than one Host field" };
  }
  const named = namedFraming(head.fields, ["connection", "proxy-connection"]);
  if (named) return { ok: false, reason: `Connection names ${named}, a framing field` };
  const framing = requestFraming(head);
  if (!framing.ok) return framing;
  const upgrade = upgradeRequested(head);
  const fields: Field[] = [["Host", authority]];
  for (const f of endToEnd(head.fields)) {
    const n = f[0].toLowerCase();
    if (n !== "host" && !FRAMING_FIELDS.has(n)) fields.push(f);
  }
  const f = framing.framing;
  if (f.kind === "chunked") {
    fields.push(["Transfer-Encoding", fieldTokens(head.fields, "transfer-encoding").join(", ")]);
  } else if (f.kind === "length" && (f.length > 0 || hasField(head.fields, "content-length"))) {
    fields.push(["Content-Length", String(f.length)]);
  }
  if (upgrade !== undefined) fields.push(["Upgrade", upgrade], ["Connection", "Upgrade"]);
  return {
    ok: true,
    framing: f,
    head: encodeHead(`${head.method} ${path} HTTP/1.${head.minor}`, fields),
    upgrade,
  };
}

/** What to do with one response head from the origin. */
export type ResponsePlan =
  /** A 1xx to pass on (`head`), or to drop (an HTTP/1.0 client knows none); a final one follows. */
  | { kind: "interim"; head: Uint8Array | undefined }
  /** The 101 the client asked for: pass it on, then the connection becomes a tunnel. */
  | { kind: "upgrade"; head: Uint8Array }
  | {
    kind: "final";
    head: Uint8Array;
    framing: Framing;
    /** Whether the client connection may carry another request after this response. */
    keepClient: boolean;
    /** Whether the origin connection may, once the body has ended cleanly. */
    keepOrigin: boolean;
  }
  /** Not a response ktctl can relay safely: the origin connection ends (502 if still possible). */
  | { kind: "refuse"; reason: string };

/**
 * Plans the relay of `head`, the answer to `request`; `interims` is how many 1xx responses came
 * before it in this exchange.
 */
export function planResponse(
  head: ResponseHead,
  request: RequestHead,
  interims: number,
): ResponsePlan {
  const refuse = (reason: string): ResponsePlan => ({ kind: "refuse", reason });
  if (head.status < 100 || head.status > 999) return refuse(`status ${head.status}`);
  const named = namedFraming(head.fields, ["connection"]);
  if (named) return refuse(`Connection names ${named}, a framing field`);
  const hasTe = hasField(head.fields, "transfer-encoding");
  const hasCl = hasField(head.fields, "content-length");
  if (hasTe && hasCl) return refuse("both Transfer-Encoding and Content-Length");
  if (head.status < 200) {
    if (head.status === 101) {
      const upgrade = fieldValues(head.fields, "upgrade")[0];
      if (upgradeRequested(request) === undefined) {
        return refuse("a 101 the client did not ask for");
      }
      if (upgrade === undefined) return refuse("a 101 without Upgrade");
      const fields = endToEnd(head.fields).filter(([k]) => !FRAMING_FIELDS.has(k.toLowerCase()));
      fields.push(["Upgrade", upgrade], ["Connection", "Upgrade"]);
      return { kind: "upgrade", head: encodeHead(`HTTP/1.1 101 ${head.reason}`, fields) };
    }
    if (interims >= MAX_INTERIM) return refuse(`more than ${MAX_INTERIM} interim responses`);
    // No 1xx to an HTTP/1.0 client (RFC 9110 §15.2); 1xx responses carry no framing fields.
    if (request.minor === 0) return { kind: "interim", head: undefined };
    const fields = endToEnd(head.fields).filter(([k]) => !FRAMING_FIELDS.has(k.toLowerCase()));
    return { kind: "interim", head: encodeHead(`HTTP/1.1 ${head.status} ${head.reason}`, fields) };
  }
  const decided = responseFraming(head, request.method);
  if (!decided.ok) return refuse(decided.reason);
  const framing = decided.framing;
  if (framing.kind === "chunked" && request.minor === 0) {
    return refuse("a chunked response to an HTTP/1.0 request");
  }
  const fields = endToEnd(head.fields).filter(([k]) => !FRAMING_FIELDS.has(k.toLowerCase()));
  const te = fieldTokens(head.fields, "transfer-encoding").join(", ");
  const bodiless = request.method === "HEAD" || head.status === 304;
  if (bodiless) {
    // No body follows whatever they say: the fields describe the body a GET would have had.
    const length = fieldValues(head.fields, "content-length")[0];
    if (hasTe && te !== "") fields.push(["Transfer-Encoding", te]);
    else if (length !== undefined && /^[0-9]{1,15}$/.test(length)) {
      fields.push(["Content-Length", length]);
    }
  } else if (framing.kind === "length" && head.status !== 204) {
    fields.push(["Content-Length", String(framing.length)]);
  } else if (framing.kind === "chunked" || (framing.kind === "close" && hasTe)) {
    fields.push(["Transfer-Encoding", te]);
  }
  const keepClient = framing.kind !== "close" && clientKeepsAlive(request);
  if (!keepClient) fields.push(["Connection", "close"]);
  else if (request.minor === 0) fields.push(["Connection", "keep-alive"]);
  return {
    kind: "final",
    head: encodeHead(`HTTP/1.1 ${head.status} ${head.reason}`, fields),
    framing,
    keepClient,
    keepOrigin: framing.kind !== "close" && originKeepsAlive(head),
  };
}

/** The first framing field that a `Connection` (or `Proxy-Connection`) field names. */
function namedFraming(fields: readonly Field[], connectionFields: string[]): string | undefined {
  for (const name of connectionFields) {
    for (const t of fieldTokens(fields, name)) if (FRAMING_FIELDS.has(t)) return t;
  }
  return undefined;
}

function hasField(fields: readonly Field[], name: string): boolean {
  const n = name.toLowerCase();
  return fields.some(([k]) => k.toLowerCase() === n);
}

/** The fields that are not hop-by-hop, nor named by `Connection`. */
function endToEnd(fields: readonly Field[]): Field[] {
  const named = new Set(fieldTokens(fields, "connection"));
  return fields.filter(([k]) => {
    const n = k.toLowerCase();
    return !HOP_BY_HOP.has(n) && !named.has(n);
  });
}

function encodeHead(startLine: string, fields: readonly Field[]): Uint8Array {
  let s = startLine + "\r\n";
  for (const [k, v] of fields) s += `${k}: ${v}\r\n`;
  return latin1(s + "\r\n");
}

/** Field values are bytes (obs-text included): encode each char code as one byte, not as UTF-8. */
function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

export const CONNECTED = encoder.encode("HTTP/1.1 200 Connection established\r\n\r\n");

/** A complete response from ktctl itself. HEAD requests get the head alone. */
export function localResponse(
  status: number,
  body: string,
  opts: { contentType?: string; close?: boolean; head?: boolean; extra?: Field[] } = {},
): Uint8Array {
  const bytes = encoder.encode(body);
  const fields: Field[] = [
    ["Content-Type", opts.contentType ?? "text/plain; charset=utf-8"],
    ["Content-Length", String(bytes.length)],
    ["Cache-Control", "no-store"],
    ...(opts.extra ?? []),
  ];
  if (opts.close) fields.push(["Connection", "close"]);
  const head = encodeHead(`HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}`, fields);
  if (opts.head) return head;
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}

/** The status for a head ktctl could not accept. */
export function statusForProblem(p: HeadProblem): number {
  switch (p) {
    case "bad-request":
      return 400;
    case "uri-too-long":
      return 414;
    case "head-too-large":
      return 431;
    case "version":
      return 505;
  }
}
