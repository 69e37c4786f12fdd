/**
 * The loopback servers behind the fixture pods (see fixture.ts `backends()`), in one long-running
 * process. `up` starts it detached; `down` stops it through the pid file.
 *
 *   deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-env \
 *     testenv/cluster/backends.ts [--pid-file FILE] [--tls-dir DIR]
 *
 * Listens on 127.0.0.1 only. Kinds:
 *   http  any request -> 200, body `pod=<ns>/<pod>\n<request line>\nHost: <host>\n`
 *         (HTTP/1.x, keep-alive honoured, request bodies with Content-Length or chunked drained)
 *   echo  writes `pod=<ns>/<pod>\n`, echoes bytes until the client half-closes, then closes
 *   bulk  one line `GET <n>[ <token>]\n` -> n bytes then close; `PUT <n>\n` -> reads n bytes,
 *         `OK <n>\n`; `PUT <n> <token>\n` -> reads n bytes and checks them, `OK <n> sha256:<hex>\n`
 *         or `BAD <n> sha256:<hex> first difference at <offset>\n`
 *   bulk-http  `GET /<n>[?<token>]` -> 200 with n bytes; `PUT /<n>[?<token>]` with an n-byte
 *         body -> 200 `OK <n>\n` (with a token: checked, answered as `bulk` answers)
 *   https the `http` server over TLS, with DIR/server.crt and DIR/server.key (made by `up`)
 *
 * The bulk servers' bytes are the pseudo-random stream (testenv/bulk_stream.ts) seeded by the
 * request: the line `GET <n> <token>` (bulk) or `GET /<n>?<token>` (bulk-http, method and
 * target), so a client regenerates and checks every byte, and an upload is checked against the
 * stream its own request names. Without a token (older clients, and the benchmarks, which time
 * rather than check) a download is the byte `x` repeated and an upload is only counted.
 */
import { type Backend, backends } from "./fixture.ts";
import { writeAll } from "../../src/net/io.ts";
import { StreamCheck, streamChunks, streamDigest } from "../bulk_stream.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Buffered reader over a connection. */
class Reader {
  buf = new Uint8Array(0);
  eof = false;
  constructor(private conn: Deno.Conn) {}
  async fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) {
      this.eof = true;
      return false;
    }
    const merged = new Uint8Array(this.buf.length + n);
    merged.set(this.buf);
    merged.set(chunk.subarray(0, n), this.buf.length);
    this.buf = merged;
    return true;
  }
  /** Reads up to and including `delim`; null on EOF before it or past `max` bytes. */
  async readUntil(delim: string, max: number): Promise<string | null> {
    const d = enc.encode(delim);
    for (;;) {
      const idx = indexOf(this.buf, d);
      if (idx >= 0) {
        const out = dec.decode(this.buf.subarray(0, idx + d.length));
        this.buf = this.buf.subarray(idx + d.length);
        return out;
      }
      if (this.buf.length > max || !(await this.fill())) return null;
    }
  }
  /** Consumes exactly n bytes (each piece to `sink`, if given); false on early EOF. */
  async skip(n: number, sink?: (piece: Uint8Array) => Promise<void>): Promise<boolean> {
    while (n > 0) {
      if (this.buf.length === 0 && !(await this.fill())) return false;
      const take = Math.min(n, this.buf.length);
      await sink?.(this.buf.subarray(0, take));
      this.buf = this.buf.subarray(take);
      n -= take;
    }
    return true;
  }
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

async function serveHttp(b: Backend, conn: Deno.Conn): Promise<void> {
  const r = new Reader(conn);
  for (;;) {
    const head = await r.readUntil("\r\n\r\n", 64 * 1024);
    if (head === null) return;
    const lines = head.split("\r\n");
    const requestLine = lines[0];
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    const version = requestLine.split(" ")[2] ?? "HTTP/1.0";
    const te = headers.get("transfer-encoding")?.toLowerCase();
    if (te === "chunked") {
      for (;;) {
        const sizeLine = await r.readUntil("\r\n", 4096);
        if (sizeLine === null) return;
        const size = parseInt(sizeLine, 16);
        if (!(size >= 0)) return;
        if (size === 0) {
          // trailers until an empty line
          for (;;) {
            const t = await r.readUntil("\r\n", 64 * 1024);
            if (t === null) return;
            if (t === "\r\n") break;
          }
          break;
        }
        if (!(await r.skip(size + 2))) return;
      }
    } else {
      const len = Number(headers.get("content-length") ?? "0");
      if (len > 0 && !(await r.skip(len))) return;
    }
    const body = `pod=${b.namespace}/${b.pod}\n${requestLine}\nHost: ${
      headers.get("host") ?? ""
    }\n`;
    const connHeader = headers.get("connection")?.toLowerCase() ?? "";
    const close = connHeader.includes("close") ||
      (version === "HTTP/1.0" && !connHeader.includes("keep-alive"));
    const bodyBytes = enc.encode(body);
    const resp = `${version === "HTTP/1.0" ? "HTTP/1.0" : "HTTP/1.1"} 200 OK\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${bodyBytes.length}\r\n` +
      `X-Ktctl-Pod: ${b.namespace}/${b.pod}\r\n` +
      (close
        ? "Connection: close\r\n"
        : version === "HTTP/1.0"
        ? "Connection: keep-alive\r\n"
        : "") +
      "\r\n";
    const isHead = requestLine.startsWith("HEAD ");
    const out = new Uint8Array(enc.encode(resp).length + (isHead ? 0 : bodyBytes.length));
    out.set(enc.encode(resp));
    if (!isHead) out.set(bodyBytes, enc.encode(resp).length);
    await writeAll(conn, out);
    if (close) return;
  }
}

async function serveEcho(b: Backend, conn: Deno.Conn): Promise<void> {
  await writeAll(conn, enc.encode(`pod=${b.namespace}/${b.pod}\n`));
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    await writeAll(conn, buf.subarray(0, n));
  }
}

export async function serveBulk(_b: Backend, conn: Deno.Conn): Promise<void> {
  const r = new Reader(conn);
  const line = await r.readUntil("\n", 128);
  if (line === null) return;
  const m = /^(GET|PUT) (\d+)( [0-9A-Za-z_-]{1,64})?\r?\n$/.exec(line);
  if (!m) {
    await writeAll(conn, enc.encode("ERR expected `GET <n>[ <token>]` or `PUT <n>[ <token>]`\n"));
    return;
  }
  const n = Number(m[2]);
  const seed = line.trimEnd();
  if (m[1] === "GET") {
    await writeBulk(conn, m[3] === undefined ? undefined : seed, n);
  } else {
    const answer = await readUpload(r, seed, n, m[3] !== undefined);
    if (answer !== null) await writeAll(conn, enc.encode(answer));
  }
}

/** Writes the first n bytes of the stream of `seed` (the bulk source); without one, "x"s. */
async function writeBulk(conn: Deno.Conn, seed: string | undefined, n: number): Promise<void> {
  if (seed !== undefined) {
    for await (const chunk of streamChunks(seed, n)) await writeAll(conn, chunk);
    return;
  }
  const chunk = new Uint8Array(64 * 1024).fill(0x78); // "x"
  for (let left = n; left > 0; left -= chunk.length) {
    await writeAll(conn, chunk.subarray(0, Math.min(left, chunk.length)));
  }
}

/**
 * Reads an n-byte upload; checked against the stream of `seed` when `checked`. The answer line,
 * or null when the client went away first.
 */
async function readUpload(
  r: Reader,
  seed: string,
  n: number,
  checked: boolean,
): Promise<string | null> {
  if (!checked) return (await r.skip(n)) ? `OK ${n}\n` : null;
  const check = new StreamCheck(seed);
  if (!(await r.skip(n, (piece) => check.push(piece)))) return null;
  const { firstDifference, sha256 } = check.result();
  return firstDifference === undefined
    ? `OK ${n} sha256:${sha256}\n`
    : `BAD ${n} sha256:${sha256} want sha256:${await streamDigest(seed, n)} ` +
      `first difference at ${firstDifference}\n`;
}

/** Bulk over HTTP/1.1, for HTTP proxies' absolute-form requests (keep-alive honoured). */
export async function serveBulkHttp(_b: Backend, conn: Deno.Conn): Promise<void> {
  const r = new Reader(conn);
  for (;;) {
    const head = await r.readUntil("\r\n\r\n", 64 * 1024);
    if (head === null) return;
    const m = /^(GET|PUT) (\/(\d+)(\?[0-9A-Za-z_-]{1,64})?) HTTP\/1\.[01]\r\n/.exec(head);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? "0");
    if (!m || (m[1] === "PUT" && length !== Number(m[3]))) {
      const body = "expected `GET /<n>` or `PUT /<n>` with an n-byte body\n";
      await writeAll(
        conn,
        enc.encode(
          `HTTP/1.1 400 Bad Request\r\nContent-Length: ${body.length}\r\n` +
            `Connection: close\r\n\r\n${body}`,
        ),
      );
      return;
    }
    const n = Number(m[3]);
    const seed = `${m[1]} ${m[2]}`;
    if (m[1] === "GET") {
      await writeAll(conn, enc.encode(`HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\n\r\n`));
      await writeBulk(conn, m[4] === undefined ? undefined : seed, n);
    } else {
      const body = await readUpload(r, seed, n, m[4] !== undefined);
      if (body === null) return;
      await writeAll(
        conn,
        enc.encode(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
      );
    }
  }
}

const handlers = {
  http: serveHttp,
  echo: serveEcho,
  bulk: serveBulk,
  https: serveHttp,
  "bulk-http": serveBulkHttp,
} as const;

/** Errors that only say the client went away or never spoke TLS: not worth a log line. */
function quiet(e: unknown): boolean {
  return e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe ||
    e instanceof Deno.errors.BadResource || e instanceof Deno.errors.InvalidData ||
    e instanceof Deno.errors.UnexpectedEof;
}

async function serve(b: Backend, listener: Deno.Listener): Promise<void> {
  for await (const conn of listener) {
    (async () => {
      try {
        await handlers[b.kind](b, conn);
      } catch (e) {
        if (!quiet(e)) console.error(`${b.namespace}/${b.pod}:${b.podPort}: ${e}`);
      } finally {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    })();
  }
}

if (import.meta.main) {
  const pidIdx = Deno.args.indexOf("--pid-file");
  const pidFile = pidIdx >= 0 ? Deno.args[pidIdx + 1] : undefined;
  const tlsIdx = Deno.args.indexOf("--tls-dir");
  const tlsDir = tlsIdx >= 0 ? Deno.args[tlsIdx + 1] : undefined;
  const list = backends();
  const listeners = list.map((b): Deno.Listener => {
    if (b.kind !== "https") {
      return Deno.listen({ hostname: "127.0.0.1", port: b.loopbackPort, transport: "tcp" });
    }
    if (!tlsDir) throw new Error("an https backend needs --tls-dir");
    return Deno.listenTls({
      hostname: "127.0.0.1",
      port: b.loopbackPort,
      cert: Deno.readTextFileSync(`${tlsDir}/server.crt`),
      key: Deno.readTextFileSync(`${tlsDir}/server.key`),
    });
  });
  if (pidFile) await Deno.writeTextFile(pidFile, `${Deno.pid}\n`);
  const stop = () => {
    if (pidFile) {
      try {
        const cur = Deno.readTextFileSync(pidFile).trim();
        if (cur === String(Deno.pid)) Deno.removeSync(pidFile);
      } catch { /* gone */ }
    }
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  console.error(
    `backends: pid ${Deno.pid}, ${list.length} servers on 127.0.0.1:` +
      `${list[0].loopbackPort}-${list[list.length - 1].loopbackPort}`,
  );
  await Promise.all(list.map((b, i) => serve(b, listeners[i])));
}
