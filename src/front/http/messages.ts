/**
 * The heads ktctl writes as an HTTP proxy: a client's request rewritten for the origin, the
 * origin's response rewritten for the client, and ktctl's own answers. Hop-by-hop fields
 * (RFC 9110 §7.6.1) belong to one connection and are dropped at each hop, along with every field
 * the Connection field names; `Proxy-*` fields were for ktctl. Host stays as the client sent it.
 * Pure.
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

const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "te",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
]);

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

/** The protocol a request asks to switch to (`Upgrade` named in `Connection`), if any. */
export function upgradeRequested(head: { fields: Field[] }): string | undefined {
  if (!fieldTokens(head.fields, "connection").includes("upgrade")) return undefined;
  return fieldValues(head.fields, "upgrade")[0];
}

/** The head sent to the origin: origin-form target, the client's fields less the hop-by-hop ones. */
export function originRequest(
  head: RequestHead,
  path: string,
  authority: string,
): Uint8Array {
  const upgrade = upgradeRequested(head);
  const fields = endToEnd(head.fields);
  if (!fields.some(([k]) => k.toLowerCase() === "host")) fields.unshift(["Host", authority]);
  if (upgrade !== undefined) fields.push(["Upgrade", upgrade], ["Connection", "Upgrade"]);
  return encodeHead(`${head.method} ${path} HTTP/1.${head.minor}`, fields);
}

/** The head sent to the client; `close` adds `Connection: close`. */
export function clientResponse(
  head: ResponseHead,
  opts: { close: boolean; minor: 0 | 1 },
): Uint8Array {
  const fields = endToEnd(head.fields);
  if (head.status === 101) {
    const upgrade = fieldValues(head.fields, "upgrade")[0];
    if (upgrade !== undefined) fields.push(["Upgrade", upgrade]);
    fields.push(["Connection", "Upgrade"]);
  } else if (opts.close) {
    fields.push(["Connection", "close"]);
  } else if (opts.minor === 0) {
    fields.push(["Connection", "keep-alive"]);
  }
  return encodeHead(`HTTP/1.1 ${head.status} ${head.reason}`, fields);
}

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
