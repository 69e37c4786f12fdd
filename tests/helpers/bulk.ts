/**
 * Bulk transfers through ktctl, checked byte for byte: the bulk servers (testenv/cluster/
 * backends.ts) send and check the pseudo-random stream their request names
 * (testenv/bulk_stream.ts), so a download is compared with the stream as it arrives and an
 * upload is answered with the SHA-256 of what the server got, which must be the digest of what
 * was sent. Over a SOCKS connection, a CONNECT tunnel, or absolute-form HTTP requests.
 * @module
 */
import { closeQuietly, writeAll } from "../../src/net/io.ts";
import { freshToken, StreamCheck, streamChunks, streamDigest } from "../../testenv/bulk_stream.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Every transfer's deadline: the slowest path on a loaded machine moves ~1 MB/s, not less. */
const DEADLINE_MS = 120_000;

/** What an older bulk server (before seeded streams) answers, and what to do about it. */
const OLD_SERVER = "the bulk server does not know seeded transfers: the running backends " +
  "process predates testenv/bulk_stream.ts (`deno task cluster up` restarts backends that lack " +
  "ports, not older ones: stop it by its pid file and run `cluster up`). It said: ";

/**
 * Runs `body`, closing `conn` after the deadline (so a transfer that stalls fails instead of
 * hanging) and saying so in the error.
 */
async function withDeadline<T>(conn: Deno.Conn, what: string, body: () => Promise<T>): Promise<T> {
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    closeQuietly(conn);
  }, DEADLINE_MS);
  try {
    return await body();
  } catch (e) {
    if (expired) throw new Error(`${what}: not done within ${DEADLINE_MS} ms`, { cause: e });
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** What a transfer delivered: bytes, first byte that differed from the stream, digests. */
export interface BulkResult {
  bytes: number;
  firstDifference: number | undefined;
  sha256: string;
  want: string;
}

/** Reads a connection with a buffer, for the heads and lines in front of the bulk bytes. */
export class ConnReader {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    const merged = new Uint8Array(this.#buf.length + n);
    merged.set(this.#buf);
    merged.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = merged;
    return true;
  }

  /** Text up to and including `delim` (at most `max` bytes); throws on EOF first. */
  async until(delim: string, max = 64 * 1024): Promise<string> {
    for (;;) {
      const text = dec.decode(this.#buf);
      const i = text.indexOf(delim);
      if (i >= 0) {
        const out = text.slice(0, i + delim.length);
        this.#buf = this.#buf.subarray(enc.encode(out).length);
        return out;
      }
      if (this.#buf.length > max) throw new Error(`no ${JSON.stringify(delim)} in ${max} bytes`);
      if (!(await this.#fill())) {
        throw new Error(`closed before ${JSON.stringify(delim)}; got ${JSON.stringify(text)}`);
      }
    }
  }

  /** The next `n` bytes (fewer if the peer closes first), left to be read again. */
  async peek(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n && await this.#fill()) { /* more */ }
    return this.#buf.subarray(0, n);
  }

  /** Hands `n` bytes (fewer if the peer closes first) to `sink` piece by piece; returns the count. */
  async take(n: number, sink: (piece: Uint8Array) => Promise<void>): Promise<number> {
    let got = 0;
    while (got < n) {
      if (this.#buf.length === 0 && !(await this.#fill())) break;
      const piece = this.#buf.subarray(0, Math.min(n - got, this.#buf.length));
      await sink(piece);
      got += piece.length;
      this.#buf = this.#buf.subarray(piece.length);
    }
    return got;
  }
}

/** Throws, saying why, when an older bulk server answered `ERR ...` instead of the stream. */
async function refuseOldServer(r: ConnReader): Promise<void> {
  if (dec.decode(await r.peek(4)) === "ERR ") {
    throw new Error(OLD_SERVER + (await r.until("\n", 1024)).trim());
  }
}

async function download(r: ConnReader, seed: string, n: number): Promise<BulkResult> {
  await refuseOldServer(r);
  const check = new StreamCheck(seed);
  await r.take(n, (piece) => check.push(piece));
  const { bytes, firstDifference, sha256 } = check.result();
  return { bytes, firstDifference, sha256, want: await streamDigest(seed, n) };
}

async function sendStream(conn: Deno.Conn, seed: string, n: number): Promise<void> {
  for await (const chunk of streamChunks(seed, n)) await writeAll(conn, chunk);
}

/** `GET <n> <token>` on a connection to the bulk server (through SOCKS or CONNECT). */
export function rawDownload(conn: Deno.Conn, n: number): Promise<BulkResult> {
  return withDeadline(conn, `GET ${n}`, async () => {
    const line = `GET ${n} ${freshToken()}`;
    await writeAll(conn, enc.encode(`${line}\n`));
    return await download(new ConnReader(conn), line, n);
  });
}

/**
 * A checked download read in parts: `GET <n> <token>` is sent at once, and each `read(count)`
 * takes the next bytes and checks them. For a client that stops reading for a while (memory
 * tests): bytes must flow before the pause and arrive intact after it.
 */
export class PartedDownload {
  #reader: ConnReader;
  #check: StreamCheck;
  private constructor(conn: Deno.Conn, line: string) {
    this.#reader = new ConnReader(conn);
    this.#check = new StreamCheck(line);
  }

  static async start(conn: Deno.Conn, n: number): Promise<PartedDownload> {
    const line = `GET ${n} ${freshToken()}`;
    await writeAll(conn, enc.encode(`${line}\n`));
    return new PartedDownload(conn, line);
  }

  /** Reads the next `count` bytes; throws if they do not arrive or differ from the stream. */
  async read(count: number): Promise<void> {
    const before = this.#check.progress().bytes;
    const got = await withDeadline(
      this.#reader.conn,
      `${count} bytes after ${before}`,
      async () => {
        if (before === 0) await refuseOldServer(this.#reader);
        return await this.#reader.take(count, (piece) => this.#check.push(piece));
      },
    );
    const { firstDifference } = this.#check.progress();
    if (got !== count) throw new Error(`${got} of ${count} bytes after byte ${before}`);
    if (firstDifference !== undefined) throw new Error(`differs from byte ${firstDifference}`);
  }
}

/**
 * `PUT <n> <token>` and the stream it names; returns the server's answer and the line it must
 * be (`OK <n> sha256:<digest of what was sent>`).
 */
export function rawUpload(conn: Deno.Conn, n: number): Promise<{ answer: string; want: string }> {
  return withDeadline(conn, `PUT ${n}`, async () => {
    const line = `PUT ${n} ${freshToken()}`;
    await writeAll(conn, enc.encode(`${line}\n`));
    const answering = new ConnReader(conn).until("\n", 1024);
    // An older server answers at once and stops reading: its answer, not a stuck write.
    const sending = sendStream(conn, line, n);
    // Either may fail after the other has decided the outcome: never unhandled.
    answering.catch(() => {});
    sending.catch(() => {});
    const early = await Promise.race([answering, sending.then(() => undefined)]);
    if (early?.startsWith("ERR ")) throw new Error(OLD_SERVER + early.trim());
    await sending;
    const answer = (await answering).trim();
    return { answer, want: `OK ${n} sha256:${await streamDigest(line, n)}` };
  });
}

/** `CONNECT host:port` on a fresh connection to an HTTP proxy; throws unless it answers 200. */
export async function httpConnect(proxyPort: number, authority: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  await writeAll(conn, enc.encode(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
  // Read the head byte by byte: what follows it belongs to the tunnelled protocol.
  const head = await withDeadline(conn, `CONNECT ${authority}`, async () => {
    let head = "";
    const one = new Uint8Array(1);
    while (!head.endsWith("\r\n\r\n")) {
      if ((await conn.read(one)) === null || head.length > 16 * 1024) {
        throw new Error(`CONNECT ${authority}: no answer (${JSON.stringify(head)})`);
      }
      head += String.fromCharCode(one[0]);
    }
    return head;
  }).catch((e) => {
    closeQuietly(conn);
    throw e;
  });
  if (!/^HTTP\/1\.1 200 /.test(head)) {
    closeQuietly(conn);
    throw new Error(`CONNECT ${authority}: ${head.split("\r\n")[0]}`);
  }
  return conn;
}

/** An absolute-form `GET http://authority/<n>?<token>` through an HTTP proxy. */
export async function absoluteDownload(
  proxyPort: number,
  authority: string,
  n: number,
): Promise<BulkResult & { status: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  try {
    return await withDeadline(conn, `GET /${n}`, async () => {
      const target = `/${n}?${freshToken()}`;
      await writeAll(
        conn,
        enc.encode(`GET http://${authority}${target} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`),
      );
      const r = new ConnReader(conn);
      const head = await r.until("\r\n\r\n");
      const status = head.split("\r\n")[0];
      if (/^HTTP\/1\.1 400 /.test(status)) throw new Error(OLD_SERVER + status);
      return { status, ...await download(r, `GET ${target}`, n) };
    });
  } finally {
    closeQuietly(conn);
  }
}

/** An absolute-form `PUT http://authority/<n>?<token>` with the stream it names as its body. */
export async function absoluteUpload(
  proxyPort: number,
  authority: string,
  n: number,
): Promise<{ status: string; answer: string; want: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxyPort });
  try {
    return await withDeadline(conn, `PUT /${n}`, async () => {
      const target = `/${n}?${freshToken()}`;
      await writeAll(
        conn,
        enc.encode(
          `PUT http://${authority}${target} HTTP/1.1\r\nHost: ${authority}\r\n` +
            `Content-Length: ${n}\r\n\r\n`,
        ),
      );
      const r = new ConnReader(conn);
      const answering = r.until("\r\n\r\n");
      const seed = `PUT ${target}`;
      const sending = sendStream(conn, seed, n);
      answering.catch(() => {});
      sending.catch(() => {});
      const early = await Promise.race([answering, sending.then(() => undefined)]);
      if (early !== undefined && /^HTTP\/1\.1 400 /.test(early)) {
        throw new Error(OLD_SERVER + early.split("\r\n")[0]);
      }
      await sending;
      const head = await answering;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? "0");
      let body = "";
      await r.take(length, (piece) => Promise.resolve(void (body += dec.decode(piece))));
      return {
        status: head.split("\r\n")[0],
        answer: body.trim(),
        want: `OK ${n} sha256:${await streamDigest(seed, n)}`,
      };
    });
  } finally {
    closeQuietly(conn);
  }
}
