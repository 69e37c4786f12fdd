/**
 * TLS by node:tls, for what Deno's own TLS cannot do (measured on Deno 2.9.6): skip verification
 * for one connection (`insecure-skip-tls-verify`), or present a client certificate together with
 * a server name other than the address (`tls-server-name`) or over a proxy's tunnel
 * (`Deno.startTls` ignores `cert`/`key`), or a PKCS#12 bundle.
 *
 * Deno's node:tls keeps reading after `pause()` (a paused socket took in 200 MB that nobody read),
 * also over a custom Duplex. So node:tls runs here over a Duplex that reads from the TCP
 * connection only while this adapter holds less than `highWater` decrypted bytes: node:tls can
 * only decrypt what it was given, and the reader pulls as it would from a Deno.Conn. The result
 * is a {@link ByteStream}, which ktctl's WebSocket client takes like any Deno connection.
 * @module
 */
import tls from "node:tls";
import { Duplex } from "node:stream";
import { Buffer } from "node:buffer";
import { type ByteStream, writeAll } from "./io.ts";

export interface NodeTlsOptions {
  /** The name the certificate is checked against. */
  host: string;
  /** Sent as SNI (not for IP addresses). */
  servername?: string;
  ca?: string[];
  cert?: string;
  key?: string;
  pfx?: Uint8Array;
  passphrase?: string;
  rejectUnauthorized: boolean;
  /** Decrypted bytes held before reading from the network stops. */
  highWater?: number;
}

const READ_SIZE = 64 * 1024;

/** Runs the TLS handshake over `raw`; resolves with the decrypted stream. */
export async function nodeTls(raw: ByteStream, opts: NodeTlsOptions): Promise<ByteStream> {
  const adapter = new NodeTlsStream(raw, opts.highWater ?? 1024 * 1024);
  await adapter.handshake(opts);
  return adapter;
}

class NodeTlsStream implements ByteStream {
  #socket: tls.TLSSocket | undefined;
  #queue: Buffer[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  /** Set while the Duplex waits for room before its next network read. */
  #resumeReading: (() => void) | undefined;
  #closed = false;
  #inner: Duplex;

  constructor(readonly raw: ByteStream, readonly highWater: number) {
    const pull = (inner: Duplex) => this.#pullFromNetwork(inner);
    const closeRaw = () => this.#closeRaw();
    this.#inner = new Duplex({
      read() {
        pull(this);
      },
      write: (chunk: Buffer, _enc, done) => {
        writeAll(this.raw, chunk).then(() => done(), (e) => done(e));
      },
      final(done) {
        done();
      },
      destroy(e, done) {
        closeRaw();
        done(e);
      },
    });
  }

  /** One network read for node:tls, once the reader has made room. */
  async #pullFromNetwork(inner: Duplex): Promise<void> {
    while (this.#queued >= this.highWater && !this.#closed) {
      await new Promise<void>((r) => this.#resumeReading = r);
    }
    if (this.#closed) return void inner.push(null);
    const buf = new Uint8Array(READ_SIZE);
    let n: number | null;
    try {
      n = await this.raw.read(buf);
    } catch (e) {
      inner.destroy(e as Error);
      return;
    }
    inner.push(n === null ? null : Buffer.from(buf.buffer, 0, n));
  }

  handshake(opts: NodeTlsOptions): Promise<void> {
    const socket = tls.connect({
      socket: this.#inner,
      host: opts.host,
      servername: opts.servername,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      pfx: opts.pfx ? Buffer.from(opts.pfx) : undefined,
      passphrase: opts.passphrase,
      rejectUnauthorized: opts.rejectUnauthorized,
      ALPNProtocols: ["http/1.1"],
    });
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    return new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", () => resolve());
      socket.on("error", (e: Error) => {
        this.#error ??= e;
        this.#notify();
        reject(e);
      });
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#queue.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended || this.#closed) return null;
      await new Promise<void>((r) => this.#wake = r);
    }
    const head = this.#queue[0];
    const n = Math.min(p.length, head.length);
    p.set(head.subarray(0, n));
    if (n === head.length) this.#queue.shift();
    else this.#queue[0] = head.subarray(n);
    this.#queued -= n;
    if (this.#queued < this.highWater / 2) {
      const r = this.#resumeReading;
      this.#resumeReading = undefined;
      r?.();
    }
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    const socket = this.#socket;
    if (!socket || this.#closed) return Promise.reject(new Error("TLS connection is closed"));
    // node:tls may keep the chunk until it is encrypted: copy, since callers reuse buffers.
    const copy = Buffer.from(p);
    return new Promise((resolve, reject) =>
      socket.write(copy, (e) => e ? reject(e) : resolve(p.length))
    );
  }

  #closeRaw(): void {
    try {
      this.raw.close();
    } catch { /* closed */ }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket?.destroy();
    this.#inner.destroy();
    this.#closeRaw();
    this.#notify();
    this.#resumeReading?.();
  }
}
