/**
 * Request bodies through ktctl's HTTP proxy (absolute-form): large uploads, Content-Length and
 * chunked, each followed at once by a pipelined request on the same client connection. ktctl
 * reads body bytes straight into the upstream's buffer when it can; this checks that every body
 * byte arrives, in order, and that not one byte of the next request is taken for body. The origin
 * is a loopback server, which ktctl dials directly.
 */
import assert from "node:assert/strict";
import { world } from "../helpers/fake_world.ts";
import { concat, writeAll } from "../../src/net/io.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const opts = {};

/** A buffered reader over a connection, for the test's own client and origin. */
class Lines {
  buf: Uint8Array = new Uint8Array(0);
  constructor(private conn: Deno.Conn) {}
  async more(): Promise<void> {
    const chunk = new Uint8Array(256 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) throw new Error(`closed with ${this.buf.length} bytes unread`);
    this.buf = concat([this.buf, chunk.subarray(0, n)]);
  }
  async until(delim: string): Promise<string> {
    for (;;) {
      const at = dec.decode(this.buf).indexOf(delim);
      if (at >= 0) {
        const out = dec.decode(this.buf.subarray(0, at));
        this.buf = this.buf.subarray(at + delim.length);
        return out;
      }
      await this.more();
    }
  }
  async bytes(n: number): Promise<Uint8Array> {
    while (this.buf.length < n) await this.more();
    const out = this.buf.slice(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

/** A checksum that notices a byte lost, added or moved. */
function digest(bytes: Uint8Array, seed = 0): number {
  let h = seed;
  for (const b of bytes) h = (Math.imul(h, 31) + b) >>> 0;
  return h;
}

/** The origin: answers each request with `<method> <path> <body bytes> <digest>`, keep-alive. */
function origin(): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const r = new Lines(conn);
        for (;;) {
          const head = await r.until("\r\n\r\n");
          const [method, path] = head.split(" ");
          let body: Uint8Array = new Uint8Array(0);
          const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
          if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
            for (;;) {
              const size = parseInt(await r.until("\r\n"), 16);
              if (size === 0) {
                await r.until("\r\n");
                break;
              }
              body = concat([body, await r.bytes(size)]);
              await r.until("\r\n");
            }
          } else if (length) {
            body = await r.bytes(Number(length));
          }
          const text = `${method} ${path} ${body.length} ${digest(body)}\n`;
          await writeAll(
            conn,
            enc.encode(`HTTP/1.1 200 OK\r\nContent-Length: ${text.length}\r\n\r\n${text}`),
          );
        }
      })().catch(() => {}).finally(() => conn.close());
    }
  })().catch(() => {});
  return { port: listener.addr.port, close: () => listener.close() };
}

async function withProxy(f: (proxyPort: number, originPort: number) => Promise<void>) {
  const w = await world();
  const o = origin();
  try {
    const session = await w.connect({ method: "http" });
    await f(session.server.addr.port, o.port);
  } finally {
    o.close();
    await w.close();
  }
}

/** Deterministic bytes of every value, so a shifted or lost byte changes the digest. */
function payload(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >> 9)) & 0xff;
  return out;
}

/** Writes `bytes` in pieces of varied sizes, as a client's socket would. */
async function writeInPieces(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  const sizes = [1, 700, 5000, 64 * 1024, 3, 200 * 1024];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.min(sizes[i % sizes.length], bytes.length - at);
    await writeAll(conn, bytes.subarray(at, at + n));
    at += n;
  }
}

/** A client connection to the proxy that is closed after 30 s whatever happens: no test hangs. */
async function client(port: number): Promise<{ conn: Deno.Conn; done(): void }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const close = () => {
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const timer = setTimeout(close, 30_000);
  return { conn, done: () => (clearTimeout(timer), close()) };
}

async function responses(r: Lines, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const head = await r.until("\r\n\r\n");
    assert.match(head, /^HTTP\/1\.1 200 /, head);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
    out.push(dec.decode(await r.bytes(length)).trim());
  }
  return out;
}

Deno.test(
  "absolute-form: a large Content-Length upload, then a pipelined request",
  opts,
  async () => {
    await withProxy(async (proxyPort, originPort) => {
      const { conn, done } = await client(proxyPort);
      try {
        const body = payload(8 * 1024 * 1024 + 17);
        const url = `http://127.0.0.1:${originPort}`;
        await writeAll(
          conn,
          enc.encode(
            `PUT ${url}/up HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n` +
              `Content-Length: ${body.length}\r\n\r\n`,
          ),
        );
        // The body's last bytes and the next request in one write.
        const next = enc.encode(
          `GET ${url}/next HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`,
        );
        await writeInPieces(conn, body.subarray(0, body.length - 5));
        await writeAll(conn, concat([body.subarray(body.length - 5), next]));
        assert.deepEqual(await responses(new Lines(conn), 2), [
          `PUT /up ${body.length} ${digest(body)}`,
          `GET /next 0 ${digest(new Uint8Array(0))}`,
        ]);
      } finally {
        done();
      }
    });
  },
);

Deno.test(
  "absolute-form: a chunked upload of large chunks, then a pipelined request",
  opts,
  async () => {
    await withProxy(async (proxyPort, originPort) => {
      const { conn, done } = await client(proxyPort);
      try {
        const chunks = [300 * 1024, 5, 70_000, 1, 2 * 1024 * 1024].map((n, i) =>
          payload(n + i).map((b) => b ^ i)
        );
        const url = `http://127.0.0.1:${originPort}`;
        const framed = concat([
          enc.encode(
            `POST ${url}/chunks HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n` +
              "Transfer-Encoding: chunked\r\n\r\n",
          ),
          ...chunks.flatMap((
            c,
          ) => [enc.encode(`${c.length.toString(16)}\r\n`), c, enc.encode("\r\n")]),
          enc.encode(`0\r\n\r\nGET ${url}/after HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`),
        ]);
        await writeInPieces(conn, framed);
        const all = concat(chunks);
        assert.deepEqual(await responses(new Lines(conn), 2), [
          `POST /chunks ${all.length} ${digest(all)}`,
          `GET /after 0 ${digest(new Uint8Array(0))}`,
        ]);
      } finally {
        done();
      }
    });
  },
);
