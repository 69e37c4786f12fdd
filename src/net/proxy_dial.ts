/**
 * Opens a TCP tunnel to `host:port` through one proxy (HTTP CONNECT, SOCKS5 or SOCKS4a): the thin
 * I/O driver over the pure handshakes of `proxy_handshake.ts`. Connecting and the handshake each
 * have a deadline; every failure is a DialError that names the proxy and the step, so a client's
 * 502 or SOCKS reply says which upstream failed and how.
 * @module
 */
import { withDeadline } from "./deadline.ts";
import { closeQuietly, concat, writeAll } from "./io.ts";
import type { ProxyEndpoint } from "./proxy_config.ts";
import {
  authority,
  encodeConnect,
  parseConnectResponse,
  type ParseResult,
  parseSocks4Reply,
  parseSocks5CredentialsReply,
  parseSocks5Method,
  parseSocks5Reply,
  printable,
  socks4Connect,
  SOCKS5_REPLIES,
  socks5Connect,
  socks5Credentials,
  socks5Greeting,
} from "./proxy_handshake.ts";
import { DialError, type DialFailure } from "./upstream.ts";

/** A tunnel: the connection, and bytes the far side already sent past the proxy's answer. */
export interface Tunnel {
  conn: Deno.TcpConn;
  early: Uint8Array;
}

/** `protocol://host:port` of a proxy, for messages (never its credentials). */
export function describeProxy(p: ProxyEndpoint): string {
  return `${p.protocol}://${authority(p.host, p.port)}`;
}

/** How messages name the proxy and where its credentials go. */
export interface ProxyWording {
  /** "the upstream proxy" (routing), "the proxy" (API traffic). */
  label: string;
  /** Where a user gives credentials, for a 407. */
  credentialsHint: string;
}

export const UPSTREAM_WORDING: ProxyWording = {
  label: "the upstream proxy",
  credentialsHint: "--upstreamProxy http://user:pass@host:port",
};

/**
 * Connects to `proxy` and asks it for `host:port`. `timeoutMs` bounds each step (connecting, then
 * the handshake). `connect` is the TCP dial (tests pass their own).
 */
export async function dialThroughProxy(
  proxy: ProxyEndpoint,
  host: string,
  port: number,
  timeoutMs: number,
  wording: ProxyWording = UPSTREAM_WORDING,
  connect: (o: Deno.ConnectOptions & { signal?: AbortSignal }) => Promise<Deno.TcpConn> = (o) =>
    Deno.connect(o),
): Promise<Tunnel> {
  const name = `${wording.label} ${describeProxy(proxy)}`;
  const conn = await withDeadline(
    `connecting to ${name}`,
    timeoutMs,
    (signal) => connect({ hostname: proxy.host, port: proxy.port, signal }),
    { dispose: closeQuietly },
  ).catch((e) => {
    if (e instanceof DialError) throw e;
    throw new DialError(
      "unreachable",
      `cannot connect to ${name}: ${(e as Error).message}`,
      { cause: e },
    );
  });
  const step = proxy.protocol === "http"
    ? `CONNECT ${authority(host, port)} through ${name}`
    : `${proxy.protocol.toUpperCase()} connect to ${authority(host, port)} through ${name}`;
  try {
    const reader = new HandshakeReader(conn);
    const early = await withDeadline(step, timeoutMs, async () => {
      switch (proxy.protocol) {
        case "http":
          return await httpConnect(conn, reader, proxy, host, port, step, wording);
        case "socks5":
        case "socks4": {
          const io = {
            write: (b: Uint8Array) => writeAll(conn, b),
            until: reader.until.bind(reader),
          };
          await socksSteps(io, proxy, host, port, step);
          return reader.rest();
        }
      }
    }, { onTimeout: () => closeQuietly(conn) });
    return { conn, early };
  } catch (e) {
    closeQuietly(conn);
    if (e instanceof DialError) throw e;
    throw new DialError("unreachable", `${step} failed: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Bytes gathered for a handshake's parsers, one step after another: each step takes what its
 * parser used, and what came after stays for the next. Subclasses say how more bytes arrive:
 * pulled from a Deno connection (below), or pushed by a node:net socket (kube/undici_socks.ts).
 */
export abstract class ParsingReader {
  protected pending: Uint8Array = new Uint8Array(0);

  /** Waits until `pending` has grown; throws when no more will come. */
  protected abstract more(): Promise<void>;

  async until<T>(
    parse: (b: Uint8Array) => ParseResult<T>,
    used: (value: T) => number,
  ): Promise<T> {
    while (true) {
      const r = parse(this.pending);
      if (r.kind === "done") {
        this.pending = this.pending.slice(used(r.value));
        return r.value;
      }
      if (r.kind === "invalid") throw new Error(r.reason);
      await this.more();
    }
  }
}

/** Reads a Deno connection until each parser is satisfied. */
class HandshakeReader extends ParsingReader {
  #chunk = new Uint8Array(4096);
  constructor(readonly conn: Deno.Conn) {
    super();
  }

  protected async more(): Promise<void> {
    const n = await this.conn.read(this.#chunk);
    if (n === null) throw new Error("the proxy closed the connection");
    this.pending = concat([this.pending, this.#chunk.subarray(0, n)]);
  }

  /** What arrived past the handshake. */
  rest(): Uint8Array {
    return this.pending;
  }
}

async function httpConnect(
  conn: Deno.Conn,
  reader: HandshakeReader,
  proxy: ProxyEndpoint,
  host: string,
  port: number,
  step: string,
  wording: ProxyWording,
): Promise<Uint8Array> {
  const credentials = proxy.username !== undefined
    ? { username: proxy.username, password: proxy.password ?? "" }
    : undefined;
  await writeAll(conn, encodeConnect(host, port, credentials));
  const head = await reader.until(parseConnectResponse, (v) => v.headLength);
  if (head.status >= 200 && head.status < 300) return reader.rest();
  throw new DialError(
    connectFailure(head.status),
    connectMessage(step, head, credentials, wording.credentialsHint),
  );
}

/** The DialError kind for a proxy's CONNECT status. */
export function connectFailure(status: number): DialFailure {
  if (status === 407 || status === 403) return "forbidden";
  if (status === 504) return "timeout";
  return "unreachable";
}

/** The sentence for a CONNECT that was not granted; a 407 says which schemes were offered. */
export function connectMessage(
  step: string,
  head: { status: number; statusLine: string; authSchemes: string[] },
  credentials?: { username: string },
  credentialsHint = UPSTREAM_WORDING.credentialsHint,
): string {
  if (head.status !== 407) return `${step}: the proxy answered ${head.statusLine}`;
  const offered = head.authSchemes;
  if (!offered.includes("basic") && offered.some((s) => s === "negotiate" || s === "ntlm")) {
    return `${step}: the proxy asks for ${
      offered.map((s) => s === "ntlm" ? "NTLM" : s === "negotiate" ? "Negotiate" : s).join(" or ")
    } authentication (Windows sign-in), which ktctl does not do; ask for a proxy that accepts ` +
      `Basic credentials (${credentialsHint}) or an exception for these destinations`;
  }
  return credentials
    ? `${step}: the proxy refused the credentials for user ${printable(credentials.username)} (407)`
    : `${step}: the proxy asks for credentials (407${
      offered.length ? `, ${offered.join(", ")}` : ""
    }): give them as ${credentialsHint}`;
}

/**
 * One side of a proxy handshake: bytes out, and parsers fed with the bytes that come in. The
 * proxy upstream drives it over a Deno connection (below); the API path's undici connector over a
 * node:net socket (kube/undici_socks.ts). The steps themselves are written once, here.
 */
export interface HandshakeIO {
  write(bytes: Uint8Array): Promise<void>;
  until<T>(parse: (b: Uint8Array) => ParseResult<T>, used: (value: T) => number): Promise<T>;
}

/**
 * The SOCKS5 (greeting, optional user/password, CONNECT) or SOCKS4a exchange for `host:port`;
 * a refusal is a DialError whose kind follows the proxy's reply and whose message starts with
 * `step`.
 */
export async function socksSteps(
  io: HandshakeIO,
  proxy: ProxyEndpoint,
  host: string,
  port: number,
  step: string,
): Promise<void> {
  if (proxy.protocol === "socks4") {
    await io.write(socks4Connect(host, port, proxy.username ?? ""));
    const r = await io.until(parseSocks4Reply, () => 8);
    if (!r.granted) throw new DialError("unreachable", `${step}: refused (code ${r.code})`);
    return;
  }
  const withCredentials = proxy.username !== undefined;
  await io.write(socks5Greeting(withCredentials));
  const method = await io.until(parseSocks5Method, () => 2);
  if (method === 2 && withCredentials) {
    await io.write(socks5Credentials(proxy.username!, proxy.password ?? ""));
    const ok = await io.until(parseSocks5CredentialsReply, () => 2);
    if (!ok) throw new DialError("forbidden", `${step}: the proxy refused the credentials`);
  } else if (method !== 0) {
    throw new DialError(
      "forbidden",
      method === 0xff
        ? `${step}: the proxy accepts none of the offered authentication methods${
          withCredentials ? "" : " (it may want a user and password)"
        }`
        : `${step}: the proxy chose an unknown method ${method}`,
    );
  }
  await io.write(socks5Connect(host, port));
  const { reply } = await io.until(parseSocks5Reply, (v) => v.length);
  if (reply !== 0) {
    const kind: DialFailure = reply === 5
      ? "refused"
      : reply === 2
      ? "forbidden"
      : reply === 6
      ? "timeout"
      : "unreachable";
    throw new DialError(kind, `${step}: ${SOCKS5_REPLIES[reply] ?? `reply ${reply}`}`);
  }
}
