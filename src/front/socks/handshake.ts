/**
 * Drives a SOCKS handshake on a fresh connection: reads only as many bytes as the message needs
 * (never more than {@link MAX_HANDSHAKE} in all), answers SOCKS5 method negotiation, and sends the
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

/** No valid handshake is longer: SOCKS4a with a 255-byte user id and a 255-byte name is 520. */
export const MAX_HANDSHAKE = 1024;

export type Handshake =
  | { ok: true; request: SocksRequest; early: Uint8Array }
  | { ok: false; reason: string };

const HTTP_HINT = new TextEncoder().encode(
  "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" +
    "This is ktctl's SOCKS proxy, not an HTTP proxy: use a socks4a:// or socks5h:// proxy URL.\n",
);

/**
 * Negotiates until the client's request is known. The caller enforces the time limit by closing
 * the connection, which makes the pending read fail.
 */
export async function negotiate(conn: Deno.Conn): Promise<Handshake> {
  const reader = new Accumulator(conn);
  if (!(await reader.fill(1))) return { ok: false, reason: "closed before the handshake" };
  const version = detectVersion(reader.bytes[0]);
  if (version === undefined) {
    if (/[A-Za-z]/.test(String.fromCharCode(reader.bytes[0]))) {
      await writeQuietly(conn, HTTP_HINT);
      await drain(conn);
      return { ok: false, reason: "an HTTP request (the client treats ktctl as an HTTP proxy)" };
    }
    return { ok: false, reason: `not SOCKS (first byte 0x${reader.bytes[0].toString(16)})` };
  }
  if (version === 4) return await finish(conn, reader, await reader.parse(parseSocks4Request));

  const greeting = await reader.parse(parseSocks5Greeting);
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
  return await finish(conn, reader, await reader.parse(parseSocks5Request));
}

async function finish(
  conn: Deno.Conn,
  reader: Accumulator,
  result: Parse<SocksRequest> | { status: "closed" },
): Promise<Handshake> {
  if (result.status === "closed") return { ok: false, reason: "closed during the handshake" };
  if (result.status === "invalid") {
    if (result.reply) await writeQuietly(conn, result.reply);
    return { ok: false, reason: result.reason };
  }
  if (result.status === "more") {
    // Accumulator.parse only returns "more" when the size limit was reached.
    if (reader.bytes[0] === 5) await writeQuietly(conn, socks5Reply(Socks5Reply.generalFailure));
    return { ok: false, reason: `handshake longer than ${MAX_HANDSHAKE} bytes` };
  }
  reader.consume(result.consumed);
  return { ok: true, request: result.value, early: reader.bytes.slice() };
}

/** Bytes read so far, grown on demand up to MAX_HANDSHAKE. */
class Accumulator {
  #buf = new Uint8Array(MAX_HANDSHAKE);
  #start = 0;
  #end = 0;
  constructor(readonly conn: Deno.Conn) {}

  get bytes(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  consume(n: number): void {
    this.#start += n;
  }

  /** Reads until at least `n` bytes are held; false if the client closed first. */
  async fill(n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (this.#end === this.#buf.length) return false;
      const got = await this.conn.read(this.#buf.subarray(this.#end));
      if (got === null) return false;
      this.#end += got;
    }
    return true;
  }

  /** Reads until `parser` is satisfied, the message is invalid, the limit is hit, or EOF. */
  async parse<T>(parser: (b: Uint8Array) => Parse<T>): Promise<Parse<T> | { status: "closed" }> {
    while (true) {
      const r = parser(this.bytes);
      if (r.status !== "more" || this.#end === this.#buf.length) return r;
      const got = await this.conn.read(this.#buf.subarray(this.#end));
      if (got === null) return { status: "closed" };
      this.#end += got;
    }
  }
}

/**
 * Half-closes and reads what the client still sends, so that closing does not reset the
 * connection and lose the hint. Bounded by the handshake deadline, which closes the socket.
 */
async function drain(conn: Deno.Conn): Promise<void> {
  try {
    await conn.closeWrite();
    const sink = new Uint8Array(4096);
    while (await conn.read(sink) !== null) { /* discard */ }
  } catch { /* closed */ }
}
