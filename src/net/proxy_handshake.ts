/**
 * The client side of the handshakes that open a tunnel through another proxy: HTTP `CONNECT`
 * (RFC 9110 §9.3.6, Basic credentials per RFC 7617), SOCKS5 (RFC 1928, user/password per RFC
 * 1929) and SOCKS4a. Pure: encoders return bytes, parsers take the bytes received so far and
 * answer "more", a result, or a failure, so every byte is tested without a socket
 * (`proxy_dial.ts` drives them). Every byte a proxy sends is untrusted: heads are bounded.
 * @module
 */

/** The most a proxy's response head to CONNECT may take. */
export const MAX_CONNECT_HEAD = 16 * 1024;

const enc = new TextEncoder();

/** `host:port` as a request target (IPv6 in brackets). */
export function authority(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The CONNECT request for `host:port`, with Basic credentials when given. */
export function encodeConnect(
  host: string,
  port: number,
  credentials?: { username: string; password: string },
): Uint8Array {
  const target = authority(host, port);
  // deno-lint-ignore no-control-regex -- a destination must not smuggle a line break or NUL
  if (/[\s\x00-\x1f\x7f]/.test(target)) throw new Error(`not a valid destination: ${target}`);
  const auth = credentials
    ? `Proxy-Authorization: Basic ${basic(credentials.username, credentials.password)}\r\n`
    : "";
  return enc.encode(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
}

/** `user:pass` in Base64 over its UTF-8 bytes (RFC 7617 with charset UTF-8). */
function basic(username: string, password: string): string {
  const bytes = enc.encode(`${username}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

export interface ConnectResponse {
  status: number;
  /** The status line as sent, for error messages (bounded, control characters removed). */
  statusLine: string;
  /** The schemes `Proxy-Authenticate` fields offer, lower case (`basic`, `negotiate`, `ntlm`). */
  authSchemes: string[];
  /** Bytes of the head, CRLFCRLF included: what follows belongs to the tunnel. */
  headLength: number;
}

export type ParseResult<T> =
  | { kind: "more" }
  | { kind: "done"; value: T }
  | { kind: "invalid"; reason: string };

/** Parses the proxy's answer to CONNECT from the bytes received so far. */
export function parseConnectResponse(bytes: Uint8Array): ParseResult<ConnectResponse> {
  const end = indexOfHeadEnd(bytes);
  if (end < 0) {
    return bytes.length >= MAX_CONNECT_HEAD
      ? { kind: "invalid", reason: "the proxy's response head is too large" }
      : { kind: "more" };
  }
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, end));
  const [statusLine, ...fields] = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) {
    return { kind: "invalid", reason: `not an HTTP response: ${printable(statusLine)}` };
  }
  const challenges: string[] = [];
  for (const field of fields) {
    const colon = field.indexOf(":");
    if (colon <= 0) return { kind: "invalid", reason: "a malformed field in the proxy's answer" };
    if (field.slice(0, colon).trim().toLowerCase() !== "proxy-authenticate") continue;
    challenges.push(field.slice(colon + 1));
  }
  const authSchemes = authSchemesOf(challenges);
  return {
    kind: "done",
    value: {
      status: Number(m[1]),
      statusLine: printable(statusLine),
      authSchemes,
      headLength: end + 4,
    },
  };
}

/**
 * The schemes `Proxy-Authenticate` values offer, lower case, in order. One value may list several
 * challenges: `Negotiate, NTLM` or `Basic realm="x", NTLM`.
 */
export function authSchemesOf(values: readonly string[]): string[] {
  const schemes: string[] = [];
  for (const value of values) {
    for (const part of value.split(",")) {
      // A challenge starts with its scheme followed by a space or nothing; an auth-param of the
      // previous challenge (`realm="x"`) has `=` right after its name.
      const scheme = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?:\s+|$)(?!=)/.exec(part)?.[1];
      if (scheme && !/^\s*[^\s=]+\s*=/.test(part)) {
        const s = scheme.toLowerCase();
        if (!schemes.includes(s)) schemes.push(s);
      }
    }
  }
  return schemes;
}

function indexOfHeadEnd(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/** Untrusted text made safe for one log line: printable ASCII, at most 200 characters. */
export function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
}

// ---------------------------------------------------------------------------------------------
// SOCKS5 (RFC 1928) and its user/password authentication (RFC 1929)

/** The greeting: no authentication, plus user/password when credentials are at hand. */
export function socks5Greeting(withCredentials: boolean): Uint8Array {
  return withCredentials ? Uint8Array.of(5, 2, 0, 2) : Uint8Array.of(5, 1, 0);
}

/** The method the server chose: 0 none, 2 user/password, 0xff none acceptable. */
export function parseSocks5Method(bytes: Uint8Array): ParseResult<number> & { length?: number } {
  if (bytes.length < 2) return { kind: "more" };
  if (bytes[0] !== 5) return { kind: "invalid", reason: "not a SOCKS5 server" };
  return { kind: "done", value: bytes[1], length: 2 };
}

/** The RFC 1929 request; names and passwords are at most 255 bytes. */
export function socks5Credentials(username: string, password: string): Uint8Array {
  const u = enc.encode(username);
  const p = enc.encode(password);
  if (u.length > 255 || p.length > 255) throw new Error("SOCKS5 credentials longer than 255 bytes");
  return Uint8Array.of(1, u.length, ...u, p.length, ...p);
}

/** The RFC 1929 reply: true when accepted. */
export function parseSocks5CredentialsReply(bytes: Uint8Array): ParseResult<boolean> {
  if (bytes.length < 2) return { kind: "more" };
  if (bytes[0] !== 1) return { kind: "invalid", reason: "a malformed authentication reply" };
  return { kind: "done", value: bytes[1] === 0 };
}

/** CONNECT to `host:port`: IPv4 and IPv6 literals as addresses, anything else as a name. */
export function socks5Connect(host: string, port: number): Uint8Array {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  let address: number[];
  if (v4) address = [1, ...v4.slice(1).map(Number)];
  else if (host.includes(":")) address = [4, ...ipv6Bytes(host)];
  else {
    const name = enc.encode(host);
    if (name.length === 0 || name.length > 255) {
      throw new Error(`name too long for SOCKS5: ${host}`);
    }
    address = [3, name.length, ...name];
  }
  return Uint8Array.of(5, 1, 0, ...address, port >> 8, port & 0xff);
}

function ipv6Bytes(ip: string): number[] {
  const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  if (groups.length !== 8) throw new Error(`not an IPv6 address: ${ip}`);
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** SOCKS5 reply codes, as a person reads them. */
export const SOCKS5_REPLIES: Record<number, string> = {
  1: "general failure",
  2: "connection not allowed by ruleset",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

/** The reply to CONNECT: its code and how many bytes it took (the tunnel follows). */
export function parseSocks5Reply(
  bytes: Uint8Array,
): ParseResult<{ reply: number; length: number }> {
  if (bytes.length < 5) return { kind: "more" };
  if (bytes[0] !== 5 || bytes[2] !== 0) return { kind: "invalid", reason: "a malformed reply" };
  const atyp = bytes[3];
  const addrLength = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + bytes[4] : -1;
  if (addrLength < 0) return { kind: "invalid", reason: `unknown address type ${atyp}` };
  const length = 4 + addrLength + 2;
  if (bytes.length < length) return { kind: "more" };
  return { kind: "done", value: { reply: bytes[1], length } };
}

// ---------------------------------------------------------------------------------------------
// SOCKS4a (Windows' `socks=` proxies speak SOCKS4)

/** CONNECT to `host:port`: an IPv4 literal as SOCKS4, anything else as SOCKS4a. */
export function socks4Connect(host: string, port: number, user = ""): Uint8Array {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  const id = enc.encode(user);
  if (v4) return Uint8Array.of(4, 1, port >> 8, port & 0xff, ...v4.slice(1).map(Number), ...id, 0);
  if (host.includes(":")) throw new Error("SOCKS4 cannot carry an IPv6 address");
  return Uint8Array.of(4, 1, port >> 8, port & 0xff, 0, 0, 0, 1, ...id, 0, ...enc.encode(host), 0);
}

/** The 8-byte SOCKS4 reply: granted (90) or not. */
export function parseSocks4Reply(
  bytes: Uint8Array,
): ParseResult<{ granted: boolean; code: number }> {
  if (bytes.length < 8) return { kind: "more" };
  if (bytes[0] !== 0) return { kind: "invalid", reason: "not a SOCKS4 reply" };
  return { kind: "done", value: { granted: bytes[1] === 90, code: bytes[1] } };
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP through an HTTP proxy (RFC 9112 §3.2.2: absolute-form to a proxy)

/**
 * An origin-form request head (`GET /path HTTP/1.1` + fields + CRLFCRLF) rewritten for an HTTP
 * proxy: the request line carries `absoluteUrl`, and Basic credentials are added when given. The
 * fields are kept byte for byte.
 */
export function toProxyForm(
  originHead: Uint8Array,
  absoluteUrl: string,
  credentials?: { username: string; password: string },
): Uint8Array {
  let eol = -1;
  for (let i = 0; i + 1 < originHead.length; i++) {
    if (originHead[i] === 13 && originHead[i + 1] === 10) {
      eol = i;
      break;
    }
  }
  if (eol < 0) throw new Error("not a request head");
  const line = new TextDecoder("latin1").decode(originHead.subarray(0, eol));
  const m = /^(\S+) \S+ (HTTP\/1\.[01])$/.exec(line);
  // deno-lint-ignore no-control-regex -- the URL must not smuggle a line break or NUL
  if (!m || /[\s\x00-\x1f\x7f]/.test(absoluteUrl)) throw new Error("not a request line");
  const auth = credentials
    ? `Proxy-Authorization: Basic ${basic(credentials.username, credentials.password)}\r\n`
    : "";
  const first = enc.encode(`${m[1]} ${absoluteUrl} ${m[2]}\r\n${auth}`);
  const out = new Uint8Array(first.length + originHead.length - eol - 2);
  out.set(first);
  out.set(originHead.subarray(eol + 2), first.length);
  return out;
}
