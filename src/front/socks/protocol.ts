/**
 * SOCKS4, SOCKS4a and SOCKS5 (RFC 1928) handshake parsing and replies.
 *
 * Pure functions over byte arrays, with no I/O, so that every byte a client can send is testable
 * and fuzzable. Every parser takes the bytes received so far and answers one of: "more" (a valid
 * prefix; read again), "done" (a complete message and how many bytes it used), or "invalid"
 * (with the reply the protocol defines for it, when there is one). Parsers never read past the
 * buffer, never allocate more than the input, and reject lengths the protocols do not allow.
 *
 * @example
 * ```ts
 * const r = parseSocks4Request(new Uint8Array([4, 1, 0, 80, 127, 0, 0, 1, 0]));
 * // r = { status: "done", consumed: 9, value: { command: "connect", host: "127.0.0.1", ... } }
 * ```
 * @module
 */
import { normalizeHostname } from "../hostname.ts";

/** Where the client wants to go. `host` is a dotted IPv4, an RFC 5952 IPv6, or a hostname. */
export interface Destination {
  host: string;
  port: number;
  addressType: "ipv4" | "ipv6" | "domain";
}

export type SocksVersion = 4 | 5;
export type SocksCommand = "connect" | "bind" | "udp-associate";

export interface SocksRequest {
  version: SocksVersion;
  command: SocksCommand;
  destination: Destination;
  /** SOCKS4 user id; ignored by ktctl but logged at debug level. */
  userId?: string;
}

/** The outcome of parsing a (possibly partial) message. */
export type Parse<T> =
  | { status: "more" }
  | { status: "done"; value: T; consumed: number }
  | { status: "invalid"; reason: string; reply?: Uint8Array };

/** Longest user id or hostname a SOCKS4/4a request may carry, excluding the NUL. */
export const SOCKS4_MAX_FIELD = 255;

/** SOCKS4 reply codes (the CD field). */
export const Socks4Reply = { granted: 90, rejected: 91 } as const;

/** SOCKS5 reply codes (the REP field, RFC 1928 section 6). */
export const Socks5Reply = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;
export type Socks5ReplyCode = typeof Socks5Reply[keyof typeof Socks5Reply];

/** SOCKS5 authentication method numbers. ktctl offers only "no authentication". */
export const Socks5Method = { noAuth: 0x00, noAcceptable: 0xff } as const;

/** The protocol version announced by the first byte, or undefined when it is not SOCKS. */
export function detectVersion(firstByte: number): SocksVersion | undefined {
  return firstByte === 4 || firstByte === 5 ? firstByte : undefined;
}

/** Encodes a SOCKS4 reply: VN=0, CD, then port and address fields that clients ignore. */
export function socks4Reply(code: number): Uint8Array {
  return new Uint8Array([0, code, 0, 0, 0, 0, 0, 0]);
}

/** Encodes a SOCKS5 reply with an all-zero IPv4 bound address, which clients accept. */
export function socks5Reply(code: Socks5ReplyCode): Uint8Array {
  return new Uint8Array([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}

/** Encodes the server's method selection message. */
export function socks5MethodReply(method: number): Uint8Array {
  return new Uint8Array([5, method]);
}

const COMMANDS: Record<number, SocksCommand> = { 1: "connect", 2: "bind", 3: "udp-associate" };

/** Parses a SOCKS4 or SOCKS4a request (the whole first message of a SOCKS4 client). */
export function parseSocks4Request(buf: Uint8Array): Parse<SocksRequest> {
  if (buf.length < 1) return { status: "more" };
  if (buf[0] !== 4) return { status: "invalid", reason: `not SOCKS4 (version ${buf[0]})` };
  if (buf.length < 8) return { status: "more" };
  const reject = socks4Reply(Socks4Reply.rejected);
  const command = COMMANDS[buf[1]];
  if (command === undefined || command === "udp-associate") {
    return { status: "invalid", reason: `unknown SOCKS4 command ${buf[1]}`, reply: reject };
  }
  const port = (buf[2] << 8) | buf[3];
  const userId = readCString(buf, 8, SOCKS4_MAX_FIELD);
  if (userId.status !== "done") return userIdProblem(userId, reject);
  let offset = 8 + userId.consumed;
  // SOCKS4a: an address of 0.0.0.x with x != 0 means "a hostname follows the user id".
  const is4a = buf[4] === 0 && buf[5] === 0 && buf[6] === 0 && buf[7] !== 0;
  let destination: Destination;
  if (is4a) {
    const name = readCString(buf, offset, SOCKS4_MAX_FIELD);
    if (name.status === "more") return name;
    if (name.status === "invalid") {
      return { status: "invalid", reason: `SOCKS4a hostname ${name.reason}`, reply: reject };
    }
    offset += name.consumed;
    const host = normalizeHostname(name.value);
    if (host === undefined) {
      return { status: "invalid", reason: "SOCKS4a hostname is not a valid name", reply: reject };
    }
    destination = { host, port, addressType: "domain" };
  } else {
    destination = { host: buf.subarray(4, 8).join("."), port, addressType: "ipv4" };
  }
  if (port === 0) return { status: "invalid", reason: "destination port 0", reply: reject };
  return {
    status: "done",
    consumed: offset,
    value: { version: 4, command, destination, userId: userId.value },
  };
}

function userIdProblem(
  r: { status: "more" } | { status: "invalid"; reason: string },
  reply: Uint8Array,
): Parse<SocksRequest> {
  return r.status === "more"
    ? r
    : { status: "invalid", reason: `SOCKS4 user id ${r.reason}`, reply };
}

/** A SOCKS5 client's opening message: the authentication methods it offers. */
export interface Socks5Greeting {
  methods: number[];
}

/** Parses the SOCKS5 greeting: VER, NMETHODS, METHODS. */
export function parseSocks5Greeting(buf: Uint8Array): Parse<Socks5Greeting> {
  if (buf.length < 1) return { status: "more" };
  if (buf[0] !== 5) return { status: "invalid", reason: `not SOCKS5 (version ${buf[0]})` };
  if (buf.length < 2) return { status: "more" };
  const count = buf[1];
  if (count === 0) {
    return {
      status: "invalid",
      reason: "SOCKS5 greeting offers no methods",
      reply: socks5MethodReply(Socks5Method.noAcceptable),
    };
  }
  if (buf.length < 2 + count) return { status: "more" };
  return {
    status: "done",
    consumed: 2 + count,
    value: { methods: [...buf.subarray(2, 2 + count)] },
  };
}

/** Parses the SOCKS5 request: VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT. */
export function parseSocks5Request(buf: Uint8Array): Parse<SocksRequest> {
  if (buf.length < 1) return { status: "more" };
  const fail = (reason: string, code: Socks5ReplyCode): Parse<SocksRequest> => ({
    status: "invalid",
    reason,
    reply: socks5Reply(code),
  });
  if (buf[0] !== 5) return fail(`not SOCKS5 (version ${buf[0]})`, Socks5Reply.generalFailure);
  if (buf.length < 4) return { status: "more" };
  const command = COMMANDS[buf[1]];
  if (command === undefined) {
    return fail(`unknown SOCKS5 command ${buf[1]}`, Socks5Reply.commandNotSupported);
  }
  if (buf[2] !== 0) return fail("SOCKS5 reserved byte is not zero", Socks5Reply.generalFailure);
  const atyp = buf[3];
  let addressEnd: number;
  let destination: Omit<Destination, "port">;
  if (atyp === 1) {
    addressEnd = 8;
    if (buf.length < addressEnd + 2) return { status: "more" };
    destination = { host: buf.subarray(4, 8).join("."), addressType: "ipv4" };
  } else if (atyp === 4) {
    addressEnd = 20;
    if (buf.length < addressEnd + 2) return { status: "more" };
    destination = { host: formatIpv6(buf.subarray(4, 20)), addressType: "ipv6" };
  } else if (atyp === 3) {
    if (buf.length < 5) return { status: "more" };
    const length = buf[4];
    if (length === 0) return fail("SOCKS5 empty hostname", Socks5Reply.hostUnreachable);
    addressEnd = 5 + length;
    if (buf.length < addressEnd + 2) return { status: "more" };
    const host = normalizeHostname(latin1(buf.subarray(5, addressEnd)));
    if (host === undefined) {
      return fail("SOCKS5 hostname is not a valid name", Socks5Reply.hostUnreachable);
    }
    destination = { host, addressType: "domain" };
  } else {
    return fail(`unknown SOCKS5 address type ${atyp}`, Socks5Reply.addressTypeNotSupported);
  }
  const port = (buf[addressEnd] << 8) | buf[addressEnd + 1];
  if (port === 0) {
    // RFC 1928 §7: a UDP ASSOCIATE (or BIND) client that does not know its address sends zeros;
    // it gets the same "command not supported" as any other command ktctl does not serve.
    return command === "connect"
      ? fail("destination port 0", Socks5Reply.generalFailure)
      : fail(`SOCKS5 ${command} is not supported`, Socks5Reply.commandNotSupported);
  }
  return {
    status: "done",
    consumed: addressEnd + 2,
    value: { version: 5, command, destination: { ...destination, port } },
  };
}

/** Reads a NUL-terminated string of at most `max` bytes starting at `offset`. */
function readCString(
  buf: Uint8Array,
  offset: number,
  max: number,
):
  | { status: "more" }
  | { status: "invalid"; reason: string }
  | { status: "done"; value: string; consumed: number } {
  const end = buf.indexOf(0, offset);
  if (end === -1) {
    return buf.length - offset > max
      ? { status: "invalid", reason: `is longer than ${max} bytes` }
      : { status: "more" };
  }
  if (end - offset > max) return { status: "invalid", reason: `is longer than ${max} bytes` };
  return { status: "done", value: latin1(buf.subarray(offset, end)), consumed: end - offset + 1 };
}

function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/** Formats 16 bytes as an RFC 5952 IPv6 address (lower case, longest zero run compressed). */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}
