/**
 * Drives a SOCKS handshake on a fresh connection: reads until the message is complete (a handshake
 * longer than {@link MAX_HANDSHAKE} is refused), answers SOCKS5 method negotiation, and sends the
 * protocol's error reply for anything it cannot accept. The parsing itself is `protocol.ts`.
 * @module
 */
import {
  detectVersion,
  type Parse,
  parseSocks4Request,
  parseSocks5Greeting,
  parseSocks5Request,
  Socks5Method,
  socks5MethodReply,
  Socks5Reply,
  socks5Reply,
  type SocksRequest,
} from "./protocol.ts";
import { writeAll, writeQuietly } from "../../net/io.ts";
import type { BufferedReader } from "../../net/buffered_reader.ts";

/** No valid handshake is longer: SOCKS4a with a 255-byte user id and a 255-byte name is 520. */
export const MAX_HANDSHAKE = 1024;

export type Handshake =
  | { ok: true; request: SocksRequest; early: Uint8Array }
  | { ok: false; reason: string };

/**
 * Negotiates until the client's request is known; the listener has already read at least the
 * first byte into `reader`. The caller enforces the time limit by closing the connection, which
 * makes the pending read fail.
 */
export async function negotiate(conn: Deno.Conn, reader: BufferedReader): Promise<Handshake> {
  if (!(await reader.fill(1))) return { ok: false, reason: "closed before the handshake" };
  const version = detectVersion(reader.bytes[0]);
  if (version === undefined) {
    return { ok: false, reason: `not SOCKS (first byte 0x${reader.bytes[0].toString(16)})` };
  }
  if (version === 4) return await finish(conn, reader, await parse(reader, parseSocks4Request));

  const greeting = await parse(reader, parseSocks5Greeting);
  if (greeting.status !== "done") return await finish(conn, reader, greeting);
  reader.consume(greeting.consumed);
  if (!greeting.value.methods.includes(Socks5Method.noAuth)) {
    await writeQuietly(conn, socks5MethodReply(Socks5Method.noAcceptable));
    return {
      ok: false,
      reason: `SOCKS5 client offers only authentication methods ktctl does not support (${
        greeting.value.methods.join(", ")
      })`,
    };
  }
  await writeAll(conn, socks5MethodReply(Socks5Method.noAuth));
  return await finish(conn, reader, await parse(reader, parseSocks5Request));
}

async function finish(
  conn: Deno.Conn,
  reader: BufferedReader,
  result: Parse<SocksRequest> | { status: "closed" },
): Promise<Handshake> {
  if (result.status === "closed") return { ok: false, reason: "closed during the handshake" };
  if (result.status === "invalid") {
    if (result.reply) await writeQuietly(conn, result.reply);
    return { ok: false, reason: result.reason };
  }
  if (result.status === "more") {
    // parse() only returns "more" when the size limit was reached.
    if (reader.bytes[0] === 5) await writeQuietly(conn, socks5Reply(Socks5Reply.generalFailure));
    return { ok: false, reason: `handshake longer than ${MAX_HANDSHAKE} bytes` };
  }
  reader.consume(result.consumed);
  return { ok: true, request: result.value, early: reader.take() };
}

/** Reads until `parser` is satisfied, the message is invalid, the limit is hit, or EOF. */
async function parse<T>(
  reader: BufferedReader,
  parser: (b: Uint8Array) => Parse<T>,
): Promise<Parse<T> | { status: "closed" }> {
  while (true) {
    const r = parser(reader.bytes);
    if (r.status !== "more" || reader.length >= MAX_HANDSHAKE || reader.full) return r;
    if (!(await reader.readMore())) return { status: "closed" };
  }
}
