/**
 * A small WebSocket client over Deno's own TCP and TLS, pull-based: bytes are read from the
 * socket only when the caller asks for the next message, so a slow consumer stops the sender
 * through TCP flow control. (npm `ws` over Deno's node:tls keeps reading after `pause()`, which
 * made ktctl buffer a whole download for a client that was not reading.)
 * @module
 */
import { clientFrameSize, decodeFrame, FrameError, Opcode, writeClientFrame } from "./ws_frames.ts";
import { type ByteStream, closeQuietly, writeAll } from "./io.ts";
import { withDeadline } from "./deadline.ts";
import { serverDialer, type ServerTransport } from "./server_dial.ts";

export interface WsConnectOptions {
  /** `wss://host:port/path?query` or `ws://...`. */
  url: string;
  protocols: string[];
  headers: Record<string, string>;
  /** How to reach the server (TLS material, server name, proxy). */
  transport?: ServerTransport;
  /** The deadline of each step: connecting, TLS, the upgrade. */
  timeoutMs: number;
  maxPayload?: number;
  /** Where connections come from; by default a fresh one is dialled each time. */
  pool?: ConnectionPool;
}

/** The server answered the upgrade with something other than 101. */
export class WsHttpError extends Error {
  override name = "WsHttpError";
  constructor(readonly status: number, readonly body: string) {
    super(`HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Data frames below this size get a ping alongside (see #send). */
const SMALL_FRAME = 16 * 1024;
const MAX_HEADER = 16 * 1024;
/** The join and encoding buffers are kept between messages up to this size. */
const KEEP_BUFFER = 2 * 1024 * 1024;
const EMPTY = new Uint8Array(0);
/** The upgrade deadline on a warm connection, before a fresh one is tried. */
const WARM_MS = 3_000;

export class WsClient {
  #buf = new Uint8Array(128 * 1024);
  /** Where fragmented messages are joined. */
  #joined = new Uint8Array(0);
  /** Where outgoing frames are encoded. */
  #out = new Uint8Array(0);
  #mask = new Uint8Array(4);
  #start = 0;
  #end = 0;
  #closed = false;
  #writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly conn: ByteStream,
    readonly protocol: string,
    readonly maxPayload: number,
  ) {}

  static async connect(opts: WsConnectOptions): Promise<WsClient> {
    const pool = opts.pool ??
      new ConnectionPool(serverDialer(opts.url, opts.transport ?? {}, opts.timeoutMs), 0);
    const { conn, warm } = await pool.take();
    try {
      // A warm connection may have died silently while it waited (a NAT forgot it): it gets a
      // short deadline, and a fresh connection the full one.
      return await WsClient.#upgrade(
        conn,
        opts,
        warm ? Math.min(opts.timeoutMs, WARM_MS) : undefined,
      );
    } catch (e) {
      // A warm connection the server dropped while idle fails here: once more on a fresh one.
      if (!warm || e instanceof WsHttpError) throw e;
      return await WsClient.#upgrade(await pool.dial(), opts);
    }
  }

  static async #upgrade(
    conn: ByteStream,
    opts: WsConnectOptions,
    timeoutMs = opts.timeoutMs,
  ): Promise<WsClient> {
    const client = new WsClient(conn, "", opts.maxPayload ?? 32 * 1024 * 1024);
    const url = new URL(opts.url);
    try {
      // A stalled upgrade is cut by closing the socket.
      return await withDeadline(
        `WebSocket upgrade at ${url.host}`,
        timeoutMs,
        () => client.#handshake(url, opts),
        { onTimeout: () => client.close() },
      );
    } catch (e) {
      client.close();
      throw e;
    }
  }

  async #handshake(url: URL, opts: WsConnectOptions): Promise<WsClient> {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const lines = [
      `GET ${url.pathname}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      `Sec-WebSocket-Protocol: ${opts.protocols.join(", ")}`,
      ...Object.entries(opts.headers).map(([k, v]) => `${k}: ${v}`),
    ];
    await writeAll(this.conn, new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    let headerEnd: number;
    while ((headerEnd = indexOfCrlfCrlf(this.#view())) < 0) {
      if (this.#end - this.#start > MAX_HEADER) throw new Error("upgrade response too large");
      if (!(await this.#fill())) throw new Error("connection closed during the upgrade");
    }
    const head = new TextDecoder().decode(this.#view().subarray(0, headerEnd));
    this.#start += headerEnd + 4;
    const [statusLine, ...headerLines] = head.split("\r\n");
    const status = Number(statusLine.split(" ")[1]);
    const headers = new Map(headerLines.map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as const;
    }));
    if (status !== 101) throw new WsHttpError(status, await this.#body(headers));
    const expected = btoa(String.fromCharCode(
      ...new Uint8Array(await crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + GUID))),
    ));
    if (headers.get("sec-websocket-accept") !== expected) {
      throw new Error("bad Sec-WebSocket-Accept in the upgrade response");
    }
    const upgraded = new WsClient(
      this.conn,
      headers.get("sec-websocket-protocol") ?? "",
      this.maxPayload,
    );
    upgraded.#buf = this.#buf;
    upgraded.#start = this.#start;
    upgraded.#end = this.#end;
    return upgraded;
  }

  /** Reads an error response body (bounded), for the message shown to the user. */
  async #body(headers: Map<string, string>): Promise<string> {
    const length = Math.min(Number(headers.get("content-length") ?? 0) || 0, 4096);
    while (this.#end - this.#start < length && await this.#fill()) { /* read on */ }
    return new TextDecoder().decode(this.#view().subarray(0, length));
  }

  #view(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Reads more bytes from the socket; false at EOF. */
  async #fill(): Promise<boolean> {
    if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      const size = this.#end - this.#start;
      const target = size * 2 > this.#buf.length ? new Uint8Array(this.#buf.length * 2) : this.#buf;
      target.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = target;
      this.#start = 0;
      this.#end = size;
    }
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  /**
   * The next data message (channel framing is the caller's), or null once the connection has
   * ended. Answers pings; joins fragments. The message is a view into a buffer of the client's:
   * valid until the next readMessage(), so that a download allocates nothing per message.
   * (Go's WebSocket servers write a message as frames of a few KiB, so joining is the rule.)
   */
  async readMessage(): Promise<Uint8Array | null> {
    // One odd large message should not pin its size for the connection's life.
    if (this.#joined.length > KEEP_BUFFER) this.#joined = new Uint8Array(0);
    let joined = 0;
    while (true) {
      let decoded;
      try {
        decoded = decodeFrame(this.#view(), this.maxPayload);
      } catch (e) {
        this.close();
        throw e;
      }
      if (!decoded) {
        if (this.#closed) return null;
        let more;
        try {
          more = await this.#fill();
        } catch {
          more = false;
        }
        if (!more) {
          this.close();
          return null;
        }
        continue;
      }
      const { frame, size } = decoded;
      this.#start += size;
      if (frame.opcode === Opcode.close) {
        this.close();
        return null;
      }
      if (frame.opcode === Opcode.ping) {
        await this.#send(Opcode.pong, frame.payload.slice()).catch(() => {});
        continue;
      }
      if (frame.opcode === Opcode.pong) continue;
      if (frame.fin && joined === 0) return frame.payload;
      // A fragment: copied out, since the next #fill() may overwrite it.
      if (joined + frame.payload.length > this.maxPayload) {
        this.close();
        throw new FrameError("message too large");
      }
      this.#join(joined, frame.payload);
      joined += frame.payload.length;
      if (frame.fin) return this.#joined.subarray(0, joined);
    }
  }

  /** Appends a fragment to the message being joined, growing the (reused) buffer as needed. */
  #join(at: number, fragment: Uint8Array): void {
    if (this.#joined.length < at + fragment.length) {
      const grown = new Uint8Array(Math.max(at + fragment.length, this.#joined.length * 2));
      grown.set(this.#joined.subarray(0, at));
      this.#joined = grown;
    }
    this.#joined.set(fragment, at);
  }

  /**
   * Sends one binary message made of `parts`; resolves once the socket took it (TCP flow
   * control). The parts must stay as they are until then: they are copied when written.
   */
  send(...parts: Uint8Array[]): Promise<void> {
    return this.#send(Opcode.binary, parts);
  }

  /**
   * Frames are encoded when their turn to be written comes, into one buffer reused for every
   * frame (an upload allocated a new one per chunk before): `data` must stay as it is until the
   * returned promise settles.
   */
  #send(opcode: number, data: Uint8Array | Uint8Array[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("WebSocket is closed"));
    // Frames must not interleave: each write starts after the previous one finished.
    const next = this.#writing.then(() => writeAll(this.conn, this.#encode(opcode, data)));
    this.#writing = next.catch(() => {});
    return next;
  }

  #encode(opcode: number, data: Uint8Array | Uint8Array[]): Uint8Array {
    // Deno's TLS sockets keep Nagle's algorithm on and offer no setNoDelay (denoland/deno
    // #13617): a small write then waits ~40 ms for the server's delayed ACK. An empty ping in
    // the same write makes the server answer (pong) at once, which carries the ACK.
    // Measured: request written in two pieces, 44 -> 4 ms per round trip. Connections whose TCP
    // socket ktctl made itself have TCP_NODELAY and need no such help.
    const length = data instanceof Uint8Array
      ? data.length
      : data.reduce((sum, p) => sum + p.length, 0);
    const ping = opcode === Opcode.binary && length < SMALL_FRAME && !this.conn.noDelay;
    const size = clientFrameSize(length) + (ping ? clientFrameSize(0) : 0);
    if (this.#out.length < size || this.#out.length > KEEP_BUFFER) {
      this.#out = new Uint8Array(Math.max(size, 64 * 1024 + 16));
    }
    let n = writeClientFrame(this.#out, opcode, data, crypto.getRandomValues(this.#mask));
    if (ping) {
      n += writeClientFrame(
        this.#out.subarray(n),
        Opcode.ping,
        EMPTY,
        crypto.getRandomValues(this.#mask),
      );
    }
    return this.#out.subarray(0, n);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the socket (no close handshake: port-forward streams end with the connection). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/**
 * Keeps a few connections to the API server dialled and TLS-handshaken ahead of need, so that
 * a new port-forward pays for the upgrade only: the TLS handshake is most of the cost of opening
 * one (about 80 % on the local control plane). Idle connections are dropped after `maxIdleMs`,
 * before servers close them.
 */
export class ConnectionPool {
  #idle: { conn: ByteStream; at: number }[] = [];
  #filling = 0;
  /** take() calls waiting for a dial already under way; each dial serves at most one. */
  #waiting: ((conn: ByteStream | undefined) => void)[] = [];
  #closed = false;

  constructor(
    readonly dial: () => Promise<ByteStream>,
    readonly size = 2,
    readonly maxIdleMs = 15_000,
  ) {}

  /**
   * A warm connection if one is ready; else the one a dial under way (the start-up's warm-up)
   * brings, which is nearer ready than a new one would be (a new one would also pay its own
   * handshake); else a fresh one. Refills in the background.
   */
  async take(): Promise<{ conn: ByteStream; warm: boolean }> {
    const now = Date.now();
    while (this.#idle.length > 0) {
      const { conn, at } = this.#idle.shift()!;
      if (now - at < this.maxIdleMs) {
        this.#refill();
        return { conn, warm: true };
      }
      closeQuietly(conn);
    }
    if (!this.#closed && this.#filling > this.#waiting.length) {
      // That dial has its own deadlines; undefined if it failed (then this one dials itself).
      const conn = await new Promise<ByteStream | undefined>((r) => this.#waiting.push(r));
      if (conn) {
        this.#refill();
        return { conn, warm: false };
      }
    }
    this.#refill();
    return { conn: await this.dial(), warm: false };
  }

  /**
   * Opens up to `count` connections ahead of the first take() (at start-up, while other work
   * runs), so the first one does not wait for its TCP and TLS handshakes.
   */
  warm(count = 1): void {
    this.#refill(Math.min(count, this.size));
  }

  #refill(size = this.size): void {
    while (!this.#closed && this.#idle.length + this.#filling < size) {
      this.#filling++;
      this.dial().then((conn) => {
        this.#filling--;
        if (this.#closed) closeQuietly(conn);
        else if (this.#waiting.length > 0) this.#waiting.shift()!(conn);
        else this.#idle.push({ conn, at: Date.now() });
      }, () => {
        this.#filling--;
        this.#waiting.shift()?.(undefined); // the next take() dials and reports
      });
    }
  }

  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiting.splice(0)) waiter(undefined);
    for (const { conn } of this.#idle.splice(0)) closeQuietly(conn);
  }
}
