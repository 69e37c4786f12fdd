/**
 * In-memory stand-ins for the far end of a SPDY port-forward session, for fault injection the
 * real API server cannot be made to produce (held replies, resets, GOAWAY, a stalled or silent
 * server). The real thing is exercised by tests/e2e against the local control plane.
 * @module
 */
import { constants, inflateSync } from "node:zlib";
import type { MessageTransport } from "../src/net/spdy_session.ts";
import { encodeData, encodePing, encodeRstStream } from "../src/net/spdy_frames.ts";
import { concat } from "../src/net/io.ts";

/** Messages in both directions between a session (the client) and a test (the server). */
export class MemoryTransport implements MessageTransport {
  #inbox: (Uint8Array | null)[] = [];
  #wake: (() => void) | undefined;
  #shared: Uint8Array | undefined;

  /**
   * With `reuse`, every message is handed over in one buffer that the next read overwrites
   * (with 0xee first), as the WebSocket client does: a session that keeps a view too long reads
   * garbage.
   */
  constructor(readonly reuse = false) {}
  /** Every message the client sent. */
  readonly sent: Uint8Array[] = [];
  /** How many times the client asked for a message. */
  reads = 0;
  closed = false;
  /** Called with each message the client sends. */
  onSend: (message: Uint8Array) => void = () => {};

  readMessage(): Promise<Uint8Array | null> {
    this.reads++;
    return (async () => {
      while (this.#inbox.length === 0 && !this.closed) {
        await new Promise<void>((r) => this.#wake = r);
      }
      const message = this.#inbox.length > 0 ? this.#inbox.shift()! : null;
      if (!this.reuse || message === null) return message;
      this.#shared?.fill(0xee);
      if ((this.#shared?.length ?? 0) < message.length) {
        this.#shared = new Uint8Array(message.length);
      }
      this.#shared!.set(message);
      return this.#shared!.subarray(0, message.length);
    })();
  }

  send(...parts: Uint8Array[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error("transport closed"));
    const copy = concat(parts);
    this.sent.push(copy);
    this.onSend(copy);
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.#wake?.();
  }

  /** Server to client. `null` ends the connection. */
  deliver(message: Uint8Array | null): void {
    this.#inbox.push(message);
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Messages waiting for the client to read them. */
  get pending(): number {
    return this.#inbox.length;
  }
}

/** A frame the client sent, with a SYN_STREAM's headers decoded. */
export type ClientFrame =
  | { kind: "syn"; streamId: number; fin: boolean; headers: Record<string, string> }
  | { kind: "data"; streamId: number; fin: boolean; data: Uint8Array }
  | { kind: "rst"; streamId: number; status: number }
  | { kind: "ping"; id: number }
  | { kind: "other"; type: number };

/**
 * Splits the client's messages into frames. The client never splits a frame across messages, so
 * each message is parsed on its own; header blocks are inflated as one zlib stream, as a real
 * server does.
 */
export class ClientFrameParser {
  #zlib = new Uint8Array(0);
  #inflated = 0;

  parse(message: Uint8Array): ClientFrame[] {
    const frames: ClientFrame[] = [];
    const view = new DataView(message.buffer, message.byteOffset, message.length);
    for (let off = 0; off < message.length;) {
      const length = view.getUint32(off + 4) & 0xffffff;
      const flags = message[off + 4];
      const body = message.subarray(off + 8, off + 8 + length);
      if ((message[off] & 0x80) === 0) {
        frames.push({
          kind: "data",
          streamId: view.getUint32(off) & 0x7fffffff,
          fin: (flags & 1) !== 0,
          data: body,
        });
      } else {
        const type = view.getUint16(off + 2);
        const bodyView = new DataView(body.buffer, body.byteOffset, body.length);
        if (type === 1) {
          frames.push({
            kind: "syn",
            streamId: bodyView.getUint32(0) & 0x7fffffff,
            fin: (flags & 1) !== 0,
            headers: this.#headers(body.subarray(10)),
          });
        } else if (type === 3) {
          frames.push({
            kind: "rst",
            streamId: bodyView.getUint32(0),
            status: bodyView.getUint32(4),
          });
        } else if (type === 6) {
          frames.push({ kind: "ping", id: bodyView.getUint32(0) });
        } else {
          frames.push({ kind: "other", type });
        }
      }
      off += 8 + length;
    }
    return frames;
  }

  #headers(block: Uint8Array): Record<string, string> {
    this.#zlib = new Uint8Array([...this.#zlib, ...block]);
    const all = inflateSync(this.#zlib, { finishFlush: constants.Z_SYNC_FLUSH });
    const raw = all.subarray(this.#inflated);
    this.#inflated = all.length;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
    const dec = new TextDecoder();
    const headers: Record<string, string> = {};
    let off = 4;
    for (let i = view.getUint32(0); i > 0; i--) {
      const n = view.getUint32(off);
      const name = dec.decode(raw.subarray(off + 4, off + 4 + n));
      off += 4 + n;
      const v = view.getUint32(off);
      headers[name] = dec.decode(raw.subarray(off + 4, off + 4 + v));
      off += 4 + v;
    }
    return headers;
  }
}

/** A SYN_REPLY from the server (empty header block: it is never read by the client). */
export function synReply(streamId: number, fin = false): Uint8Array {
  return new Uint8Array([
    0x80,
    3,
    0,
    2,
    fin ? 1 : 0,
    0,
    0,
    4,
    (streamId >>> 24) & 0x7f,
    (streamId >> 16) & 0xff,
    (streamId >> 8) & 0xff,
    streamId & 0xff,
  ]);
}

export type PodBehaviour = "echo" | "refuse" | "silent";

/**
 * A kubelet's port-forward, as far as the client can tell: it replies to every stream, pairs
 * error and data streams by request id, and then, per `behaviour(port)`, echoes data back
 * (and ends when the client does), refuses (as a kubelet does: FIN on data, text on the error
 * stream, then resets), or never answers at all.
 */
export class FakeKubelet {
  readonly parser = new ClientFrameParser();
  readonly frames: ClientFrame[] = [];
  #pairs = new Map<string, { error?: number; data?: number; port: number }>();
  #dataStreams = new Map<number, { errorId: number; port: number; mode: PodBehaviour }>();
  /** While true, SYN_REPLYs and ping echoes are held back (a slow or silent server). */
  holdReplies = false;
  #held: Uint8Array[] = [];
  /**
   * How long after a refused pair is complete its refusal is sent (a kubelet whose dial of the
   * pod port is slow to fail); 0: at once, as a local dial fails.
   */
  refuseDelayMs = 0;

  constructor(
    readonly transport: MemoryTransport,
    readonly behaviour: (port: number) => PodBehaviour = () => "echo",
  ) {
    transport.onSend = (m) => this.#receive(m);
  }

  releaseReplies(): void {
    this.holdReplies = false;
    for (const m of this.#held.splice(0)) this.transport.deliver(m);
  }

  #reply(m: Uint8Array): void {
    if (this.holdReplies) this.#held.push(m);
    else this.transport.deliver(m);
  }

  #receive(message: Uint8Array): void {
    for (const f of this.parser.parse(message)) {
      this.frames.push(f);
      if (f.kind === "syn") {
        const port = Number(f.headers.port);
        const mode = this.behaviour(port);
        if (mode === "silent") continue;
        this.#reply(synReply(f.streamId));
        const key = f.headers.requestid;
        const pair = this.#pairs.get(key) ?? { port };
        if (f.headers.streamtype === "error") pair.error = f.streamId;
        else pair.data = f.streamId;
        this.#pairs.set(key, pair);
        if (pair.error !== undefined && pair.data !== undefined) {
          this.#pairs.delete(key);
          if (mode === "refuse") {
            const { data, error } = pair;
            const refuse = () => {
              this.transport.deliver(encodeData(data, new Uint8Array(0), true));
              this.transport.deliver(
                encodeData(
                  error,
                  new TextEncoder().encode(`dial tcp :${port}: connection refused`),
                ),
              );
              this.transport.deliver(encodeRstStream(data, 5));
              this.transport.deliver(encodeRstStream(error, 5));
            };
            if (this.refuseDelayMs > 0) setTimeout(refuse, this.refuseDelayMs);
            else refuse();
          } else {
            this.#dataStreams.set(pair.data, { errorId: pair.error, port, mode });
          }
        }
      } else if (f.kind === "ping") {
        // As moby/spdystream does: a ping of the other side's parity is echoed.
        this.#reply(encodePing(f.id));
      } else if (f.kind === "data" && this.#dataStreams.has(f.streamId)) {
        const { errorId } = this.#dataStreams.get(f.streamId)!;
        if (f.data.length > 0) this.transport.deliver(encodeData(f.streamId, f.data));
        if (f.fin) {
          // The pod answered and closed: both streams end, as the kubelet ends them.
          this.transport.deliver(encodeData(f.streamId, new Uint8Array(0), true));
          this.transport.deliver(encodeData(errorId, new Uint8Array(0), true));
          this.#dataStreams.delete(f.streamId);
        }
      }
    }
  }
}

/**
 * A GOAWAY frame, as a server sends it (a client never does, so only tests need it): control
 * bit and version 3, type 7, no flags, length 8, then the last stream id and the status.
 */
export function encodeGoAway(lastStreamId: number, status = 0): Uint8Array {
  const out = new Uint8Array(16);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x80030007);
  view.setUint32(4, 8);
  view.setUint32(8, lastStreamId & 0x7fffffff);
  view.setUint32(12, status);
  return out;
}
