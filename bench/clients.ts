/**
 * The benchmark's clients: how each side is dialled (straight to a loopback port, or through a
 * SOCKS5 / SOCKS4a handshake with ktctl) and the three workloads (bulk GET, bulk PUT, one small
 * HTTP GET). Every operation runs under a deadline that closes its connection, so nothing waits
 * for ever.
 *
 * The local cluster's kwok does not pass a pod-side close on promptly (testenv/cluster/README.md),
 * so clients never wait for the server to close: they read exactly what the protocol says and
 * then close themselves.
 * @module
 */
import { writeAll } from "../src/net/io.ts";
import { readExactly } from "../testenv/bytes.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** How to reach one destination: a loopback port, and an optional proxy handshake on it. */
export interface Dialer {
  /** Loopback port to connect to (127.0.0.1 only). */
  port: number;
  /** Runs a proxy handshake on the fresh connection (none when connecting straight). */
  handshake?: (conn: Deno.TcpConn) => Promise<void>;
}

/** Connects straight to 127.0.0.1:port. */
export function direct(port: number): Dialer {
  return { port };
}

/** Through a SOCKS5 proxy on 127.0.0.1:proxyPort, sending `host` as a name (socks5h). */
export function socks5(proxyPort: number, host: string, port: number): Dialer {
  const name = enc.encode(host);
  if (name.length > 255) throw new Error(`host name too long for SOCKS5: ${host}`);
  const request = new Uint8Array([5, 1, 0, 3, name.length, ...name, port >> 8, port & 0xff]);
  return {
    port: proxyPort,
    async handshake(conn) {
      await writeAll(conn, new Uint8Array([5, 1, 0]));
      const method = await readExactly(conn, 2);
      if (method[0] !== 5 || method[1] !== 0) {
        throw new Error(`SOCKS5 method reply ${method[0]} ${method[1]}`);
      }
      await writeAll(conn, request);
      const head = await readExactly(conn, 4);
      if (head[1] !== 0) throw new Error(`SOCKS5 reply code ${head[1]} for ${host}:${port}`);
      // The rest of the reply: the bound address (its length depends on its type) and port.
      const rest = head[3] === 1 ? 6 : head[3] === 4 ? 18 : (await readExactly(conn, 1))[0] + 2;
      await readExactly(conn, rest);
    },
  };
}

/** Through a SOCKS4a proxy on 127.0.0.1:proxyPort, sending `host` as a name. */
export function socks4a(proxyPort: number, host: string, port: number): Dialer {
  const request = new Uint8Array([
    4,
    1,
    port >> 8,
    port & 0xff,
    0,
    0,
    0,
    1,
    ...enc.encode("bench"),
    0,
    ...enc.encode(host),
    0,
  ]);
  return {
    port: proxyPort,
    async handshake(conn) {
      await writeAll(conn, request);
      const reply = await readExactly(conn, 8);
      if (reply[1] !== 90) throw new Error(`SOCKS4 reply code ${reply[1]} for ${host}:${port}`);
    },
  };
}

/**
 * Through an HTTP proxy on 127.0.0.1:proxyPort with `CONNECT host:port`: a tunnel like SOCKS.
 * The answer must come alone (nothing after its head): these destinations speak only when
 * spoken to.
 */
export function httpConnect(proxyPort: number, host: string, port: number): Dialer {
  const request = enc.encode(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
  return {
    port: proxyPort,
    async handshake(conn) {
      await writeAll(conn, request);
      const { status, extra } = await readHead(conn, new Uint8Array(4096));
      if (!status.startsWith("HTTP/1.1 200")) {
        throw new Error(`CONNECT ${host}:${port}: ${JSON.stringify(status)}`);
      }
      if (extra.length) throw new Error(`CONNECT ${host}:${port}: bytes after the 200`);
    },
  };
}

/** Thrown when an operation ran out of time. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/**
 * Connects with `dialer`, runs `body` on the connection and closes it, all within `timeoutMs`
 * (the deadline closes the connection, which fails whatever read or write is pending).
 */
export async function withConn<T>(
  dialer: Dialer,
  timeoutMs: number,
  body: (conn: Deno.TcpConn) => Promise<T>,
): Promise<T> {
  let conn: Deno.TcpConn | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port: dialer.port });
    if (timedOut) throw new TimeoutError(`connect took more than ${timeoutMs} ms`);
    conn.setNoDelay(true);
    if (dialer.handshake) await dialer.handshake(conn);
    return await body(conn);
  } catch (e) {
    if (timedOut) throw new TimeoutError(`timed out after ${timeoutMs} ms (${messageOf(e)})`);
    throw e;
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
}

/** Shared read buffer for bulk reads (the data is discarded; JS is single-threaded). */
const SINK = new Uint8Array(256 * 1024);
/** Shared source buffer for bulk writes. */
const SOURCE = new Uint8Array(256 * 1024).fill(0x79);

export interface Transfer {
  bytes: number;
  ms: number;
}

/** Reads and discards up to n bytes; returns how many came before the end of the stream. */
async function sink(conn: Deno.Conn, n: number): Promise<number> {
  let left = n;
  while (left > 0) {
    const r = await conn.read(left >= SINK.length ? SINK : SINK.subarray(0, left));
    if (r === null) break;
    left -= r;
  }
  return n - left;
}

/** `GET <n>`: reads exactly n bytes. Time runs from connecting to the last byte. */
export async function bulkGet(dialer: Dialer, n: number, timeoutMs: number): Promise<Transfer> {
  const t0 = performance.now();
  const got = await withConn(dialer, timeoutMs, async (conn) => {
    await writeAll(conn, enc.encode(`GET ${n}\n`));
    return await sink(conn, n);
  });
  const ms = performance.now() - t0;
  if (got !== n) throw new Error(`GET ${n}: connection ended after ${got} bytes`);
  return { bytes: n, ms };
}

/** `PUT <n>`: writes n bytes, then reads `OK <n>`. Time runs from connecting to the answer. */
export async function bulkPut(dialer: Dialer, n: number, timeoutMs: number): Promise<Transfer> {
  const t0 = performance.now();
  const answer = await withConn(dialer, timeoutMs, async (conn) => {
    await writeAll(conn, enc.encode(`PUT ${n}\n`));
    let left = n;
    while (left > 0) {
      const w = await conn.write(left >= SOURCE.length ? SOURCE : SOURCE.subarray(0, left));
      left -= w;
    }
    return await readLine(conn, 64);
  });
  const ms = performance.now() - t0;
  if (answer !== `OK ${n}`) {
    throw new Error(`PUT ${n}: unexpected answer ${JSON.stringify(answer)}`);
  }
  return { bytes: n, ms };
}

/**
 * One fresh connection, one HTTP/1.1 GET, the whole response read (by Content-Length). Returns
 * the milliseconds from connecting to the last byte of the response.
 */
export async function httpGet(
  dialer: Dialer,
  hostHeader: string,
  timeoutMs: number,
  /** The request target: `/bench`, or an absolute URL for an HTTP proxy. */
  target = "/bench",
): Promise<number> {
  const t0 = performance.now();
  const request = enc.encode(
    `GET ${target} HTTP/1.1\r\nHost: ${hostHeader}\r\nConnection: close\r\n\r\n`,
  );
  await withConn(dialer, timeoutMs, async (conn) => {
    await writeAll(conn, request);
    await readResponse(conn, new Uint8Array(16 * 1024));
  });
  return performance.now() - t0;
}

/**
 * `count` request/response exchanges on one open (keep-alive) connection, each request written
 * in two parts `gapMs` apart (request line, then the headers), as many clients do. Returns the
 * milliseconds of each exchange, from the first write to the last byte of the response. A proxy
 * whose upstream socket runs with Nagle's algorithm on holds the second part until the first is
 * acknowledged, and delayed ACKs make that ~40 ms.
 */
export async function httpExchanges(
  dialer: Dialer,
  hostHeader: string,
  count: number,
  gapMs: number,
  timeoutMs: number,
): Promise<number[]> {
  const line = enc.encode("GET /bench HTTP/1.1\r\n");
  const rest = enc.encode(`Host: ${hostHeader}\r\n\r\n`);
  return await withConn(dialer, timeoutMs, async (conn) => {
    const buf = new Uint8Array(16 * 1024);
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await writeAll(conn, line);
      await new Promise((r) => setTimeout(r, gapMs));
      await writeAll(conn, rest);
      await readResponse(conn, buf);
      times.push(performance.now() - t0);
    }
    return times;
  });
}

/**
 * `GET <url>/<n>` on the bulk-over-HTTP server (`url`: the absolute URL of its root, sent to an
 * HTTP proxy, or "" straight to the server): reads the 200's head and exactly n bytes of body.
 */
export async function httpBulkGet(
  dialer: Dialer,
  url: string,
  n: number,
  timeoutMs: number,
): Promise<Transfer> {
  const t0 = performance.now();
  const got = await withConn(dialer, timeoutMs, async (conn) => {
    await writeAll(conn, enc.encode(`GET ${url}/${n} HTTP/1.1\r\nHost: bulk\r\n\r\n`));
    const { status, extra } = await readHead(conn, new Uint8Array(4096));
    if (!status.startsWith("HTTP/1.1 200")) throw new Error(`GET ${n}: ${status}`);
    return extra.length + await sink(conn, n - extra.length);
  });
  const ms = performance.now() - t0;
  if (got !== n) throw new Error(`GET ${n}: connection ended after ${got} bytes`);
  return { bytes: n, ms };
}

/** `PUT <url>/<n>` with an n-byte body; reads the 200 `OK <n>` answer. */
export async function httpBulkPut(
  dialer: Dialer,
  url: string,
  n: number,
  timeoutMs: number,
): Promise<Transfer> {
  const t0 = performance.now();
  const answer = await withConn(dialer, timeoutMs, async (conn) => {
    await writeAll(
      conn,
      enc.encode(`PUT ${url}/${n} HTTP/1.1\r\nHost: bulk\r\nContent-Length: ${n}\r\n\r\n`),
    );
    let left = n;
    while (left > 0) {
      left -= await conn.write(left >= SOURCE.length ? SOURCE : SOURCE.subarray(0, left));
    }
    const buf = new Uint8Array(4096);
    const { status, extra } = await readHead(conn, buf);
    if (!status.startsWith("HTTP/1.1 200")) return status;
    let body = dec.decode(extra);
    while (!body.endsWith("\n")) {
      const r = await conn.read(buf);
      if (r === null) break;
      body += dec.decode(buf.subarray(0, r));
    }
    return body.trim();
  });
  const ms = performance.now() - t0;
  if (answer !== `OK ${n}`) {
    throw new Error(`PUT ${n}: unexpected answer ${JSON.stringify(answer)}`);
  }
  return { bytes: n, ms };
}

/** Reads a response head into `buf`: its status line and the bytes read after it. */
async function readHead(
  conn: Deno.Conn,
  buf: Uint8Array,
): Promise<{ status: string; extra: Uint8Array }> {
  let have = 0;
  for (;;) {
    const r = await conn.read(buf.subarray(have));
    if (r === null) throw new Error(`HTTP response cut after ${have} bytes`);
    have += r;
    const end = dec.decode(buf.subarray(0, have)).indexOf("\r\n\r\n");
    if (end >= 0) {
      const status = dec.decode(buf.subarray(0, have)).split("\r\n")[0];
      return { status, extra: buf.slice(end + 4, have) };
    }
    if (have === buf.length) throw new Error("HTTP response head too long");
  }
}

/** Reads one HTTP/1.1 200 response (head and Content-Length body) that fits in `buf`. */
async function readResponse(conn: Deno.Conn, buf: Uint8Array): Promise<void> {
  let have = 0;
  for (;;) {
    const r = await conn.read(buf.subarray(have));
    if (r === null) throw new Error(`HTTP response cut after ${have} bytes`);
    have += r;
    const text = dec.decode(buf.subarray(0, have));
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) {
      if (have === buf.length) throw new Error("HTTP response head too long");
      continue;
    }
    if (!text.startsWith("HTTP/1.1 200")) {
      throw new Error(`HTTP status line ${JSON.stringify(text.split("\r\n")[0])}`);
    }
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end))?.[1]);
    if (!Number.isFinite(length)) throw new Error("HTTP response without Content-Length");
    // Byte counts: the head is ASCII, so string and byte offsets agree.
    if (have > end + 4 + length) throw new Error("more bytes than one response");
    if (have === end + 4 + length) return;
    if (end + 4 + length > buf.length) throw new Error("HTTP response too long");
  }
}

/** Reads one `\n`-terminated line (without it), at most `max` bytes, byte by byte. */
async function readLine(conn: Deno.Conn, max: number): Promise<string> {
  const out: number[] = [];
  const one = new Uint8Array(1);
  while (out.length < max) {
    const r = await conn.read(one);
    if (r === null) break;
    if (one[0] === 0x0a) return dec.decode(new Uint8Array(out));
    out.push(one[0]);
  }
  return dec.decode(new Uint8Array(out));
}

export function closeQuietly(c: { close(): void } | undefined): void {
  try {
    c?.close();
  } catch { /* already closed */ }
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
