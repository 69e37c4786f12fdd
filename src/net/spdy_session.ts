/**
 * A SPDY/3.1 client session over any message transport (for ktctl: a WebSocket to the API
 * server that tunnels SPDY). Many streams share the one connection, so opening a stream costs a
 * few bytes instead of a TLS connection and an upgrade.
 *
 * Flow control: Kubernetes' SPDY peers (moby/spdystream) neither send nor honour WINDOW_UPDATE,
 * so the only brake is TCP. The session reads the next message only while every stream has less
 * than `streamHighWater` unread bytes and all together less than `sessionHighWater`: memory stays
 * bounded, and a client that stops reading stalls its own session, as it would under kubectl.
 * @module
 */
import {
  encodeData,
  encodeHeaderBlock,
  encodePing,
  encodeRstStream,
  encodeSynStream,
  RstStatus,
  type SpdyFrame,
  SpdyFrameReader,
  StoredZlib,
  writeDataHeader,
} from "./spdy_frames.ts";
import { type BlockPool, ByteQueue } from "./byte_queue.ts";

/** What the session needs from the connection under it. */
export interface MessageTransport {
  /**
   * The next message, or null once the connection has ended. It may be a view into a reused
   * buffer, valid until the next call.
   */
  readMessage(): Promise<Uint8Array | null>;
  /**
   * Sends one message made of `parts`, in order (no need to join them first); resolves once the
   * connection took the bytes. The parts must stay as they are until then.
   */
  send(...parts: Uint8Array[]): Promise<void>;
  close(): void;
}

export interface SpdySessionOptions {
  streamHighWater: number;
  sessionHighWater: number;
  /** Where streams keep unread bytes; a read returns at most one block. */
  blocks?: BlockPool;
  /**
   * Keepalive: after this long without a frame from the server, send a PING; no pings when
   * unset. A TCP path that went silent (a sleeping laptop, a dropped VPN, a NAT that forgot the
   * connection) gives no error of its own.
   */
  pingIntervalMs?: number;
  /** A PING unanswered (nothing heard at all) for this long ends the session. */
  pingTimeoutMs?: number;
}

/**
 * The read limits. A session carries up to 125 connections (multiplexed.ts), so its limit, not
 * the streams', is what many busy streams fill: under 200 downloads at once (two sessions) each
 * session sat at its limit, and at 8 MiB those queued blocks were ~16 MB of the peak RSS. 2 MiB
 * still lets one stream queue its full 1 MiB; measured on the bundle (200 x 4 MiB, alternating):
 * peak RSS 4-15 MB lower, for ~2 % more CPU per MiB under that load (docs/performance.md).
 */
export const defaultSessionOptions: SpdySessionOptions = {
  streamHighWater: 1024 * 1024,
  sessionHighWater: 2 * 1024 * 1024,
  // Silence is noticed within 10 + 20 s.
  pingIntervalMs: 10_000,
  pingTimeoutMs: 20_000,
};

/** A stream ended by a reset, or by its session ending first. */
export class SpdyStreamError extends Error {
  override name = "SpdyStreamError";
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

const LAST_STREAM_ID = 0x7fffffff;
/** Frames are joined into messages of up to this many bytes. */
const MAX_MESSAGE = 1024 * 1024;

/** Frames that leave together as one message. */
interface Batch {
  frames: Uint8Array[];
  bytes: number;
  sent: Promise<void>;
}

export class SpdySession {
  #streams = new Map<number, SpdyStream>();
  #nextId = 1;
  #reader = new SpdyFrameReader();
  #zlib = new StoredZlib();
  /** The batch that frames queued now join; it leaves at the end of the turn. */
  #batch: Batch | undefined;
  #buffered = 0;
  #overfull = new Set<SpdyStream>();
  #resume: (() => void) | undefined;
  #closed = false;
  #goingAway = false;
  #closeReason = "";
  /** When the server last sent anything. */
  lastHeard = Date.now();
  /** When our unanswered PING left; undefined when none is outstanding. */
  #pingSentAt: number | undefined;
  #nextPingId = 1;
  #keepalive: ReturnType<typeof setTimeout> | undefined;
  /** Woken by every frame from the server. */
  #heard: (() => void)[] = [];
  #suspect = false;
  /** Called whenever the last open stream goes away. */
  onIdle: () => void = () => {};
  /** Settles when the session has ended, however it ended. */
  readonly done: Promise<void>;

  constructor(
    readonly transport: MessageTransport,
    readonly opts: SpdySessionOptions = defaultSessionOptions,
  ) {
    this.done = this.#readLoop();
    this.#scheduleKeepalive();
  }

  /** Whether a liveness check went unanswered: new streams should go elsewhere. */
  get suspect(): boolean {
    return this.#suspect;
  }

  #scheduleKeepalive(): void {
    const { pingIntervalMs: interval, pingTimeoutMs: timeout } = this.opts;
    if (!interval || !timeout || this.#closed) return;
    const tick = Math.max(100, Math.min(interval, timeout) / 4);
    this.#keepalive = setTimeout(() => {
      const now = Date.now();
      if (this.#pingSentAt !== undefined && now - this.#pingSentAt >= timeout) {
        this.close(`the server answered no ping for ${timeout} ms`);
        return;
      }
      if (this.#pingSentAt === undefined && now - this.lastHeard >= interval) this.#ping();
      this.#scheduleKeepalive();
    }, tick);
  }

  /** Sends a PING unless one is outstanding; any frame from the server answers it. */
  #ping(): void {
    if (this.#pingSentAt !== undefined || this.#closed) return;
    this.#pingSentAt = Date.now();
    const id = this.#nextPingId;
    this.#nextPingId = (this.#nextPingId + 2) % 0x7fffffff || 1;
    this.send(encodePing(id)).catch(() => {});
  }

  /**
   * Whether the server answers within `ms`: true at once if it was heard from in the last
   * `recentMs`, else after a PING. A session that does not answer is marked suspect (new streams
   * go to a fresh one) until it is heard from again; its own ping timeout may still end it.
   */
  async alive(ms: number, recentMs: number): Promise<boolean> {
    if (this.#closed) return false;
    const asked = Date.now();
    if (asked - this.lastHeard < recentMs) return true;
    this.#ping();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((r) => this.#heard.push(r)),
      new Promise<void>((r) => timer = setTimeout(r, ms)),
      this.done,
    ]);
    clearTimeout(timer);
    const answered = !this.#closed && this.lastHeard >= asked;
    if (!answered) this.#suspect = true;
    return answered;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether new streams may be opened here. */
  get accepting(): boolean {
    return !this.#closed && !this.#goingAway && this.#nextId < LAST_STREAM_ID - 4;
  }

  /** Whether reading is held back for a consumer that does not keep up. */
  get paused(): boolean {
    return this.#resume !== undefined;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /** Opens a stream: the SYN_STREAM leaves with the next batch of frames. */
  openStream(headers: [string, string][]): SpdyStream {
    if (!this.accepting) throw new SpdyStreamError(this.#closeReason || "session is going away");
    const id = this.#nextId;
    this.#nextId += 2;
    const stream = new SpdyStream(this, id);
    this.#streams.set(id, stream);
    this.send(encodeSynStream(id, this.#zlib.compress(encodeHeaderBlock(headers)))).catch(() => {
      // Ends the session; the stream learns of it from close().
    });
    return stream;
  }

  /**
   * Queues a frame. Frames queued in the same turn go out as one message (a stream pair's two
   * SYN_STREAMs and a FIN, say), in the order queued: stream ids must reach the server rising.
   * A message holds at most `MAX_MESSAGE` bytes (beyond one frame); more starts the next one, so
   * 200 streams uploading at once do not make multi-megabyte messages. Resolves once the frame
   * was written: the caller may then reuse its bytes.
   */
  send(frame: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new SpdyStreamError(this.#closeReason));
    let batch = this.#batch;
    if (!batch || (batch.bytes > 0 && batch.bytes + frame.length > MAX_MESSAGE)) {
      const next: Batch = { frames: [], bytes: 0, sent: Promise.resolve() };
      next.sent = Promise.resolve().then(() => {
        if (this.#batch === next) this.#batch = undefined;
        return this.transport.send(...next.frames);
      }).catch((e) => {
        this.close(`sending to the server failed: ${(e as Error).message}`);
        throw e;
      });
      this.#batch = batch = next;
    }
    batch.frames.push(frame);
    batch.bytes += frame.length;
    return batch.sent;
  }

  /** Ends the session and every stream in it. Idempotent. */
  close(reason = "session closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    clearTimeout(this.#keepalive);
    this.transport.close();
    for (const w of this.#heard.splice(0)) w();
    for (const stream of this.#streams.values()) stream.fail(new SpdyStreamError(reason));
    this.#streams.clear();
    this.#wakeReader();
    this.onIdle();
  }

  async #readLoop(): Promise<void> {
    let reason = "the server closed the connection";
    try {
      while (!this.#closed) {
        if (this.#mustPause()) {
          await new Promise<void>((r) => this.#resume = r);
          continue;
        }
        const message = await this.transport.readMessage();
        if (message === null) break;
        this.lastHeard = Date.now();
        this.#pingSentAt = undefined;
        this.#suspect = false;
        for (const w of this.#heard.splice(0)) w();
        for (const frame of this.#reader.push(message)) this.#dispatch(frame);
      }
    } catch (e) {
      reason = `connection to the server failed: ${(e as Error).message}`;
    }
    this.close(reason);
  }

  #dispatch(frame: SpdyFrame): void {
    switch (frame.kind) {
      case "data":
        this.#streams.get(frame.streamId)?.onData(frame.data, frame.fin);
        break;
      case "synReply":
        this.#streams.get(frame.streamId)?.onReply(frame.fin);
        break;
      case "headers":
        if (frame.fin) this.#streams.get(frame.streamId)?.onData(new Uint8Array(0), true);
        break;
      case "rstStream": {
        const stream = this.#streams.get(frame.streamId);
        stream?.fail(
          new SpdyStreamError(`reset by the server (status ${frame.status})`, frame.status),
        );
        if (stream) this.forget(stream);
        break;
      }
      case "ping":
        // Odd ids are ours (an echo, which any frame already counted as an answer); even ones
        // are the server's, to be echoed.
        if (frame.id % 2 === 0) this.send(encodePing(frame.id)).catch(() => {});
        break;
      case "goAway":
        this.#goingAway = true;
        for (const [id, stream] of this.#streams) {
          if (id > frame.lastStreamId) {
            stream.fail(new SpdyStreamError("the server is going away", RstStatus.refusedStream));
            this.forget(stream);
          }
        }
        break;
      case "synStream":
        // Servers push nothing in port-forward.
        this.send(encodeRstStream(frame.streamId, RstStatus.refusedStream)).catch(() => {});
        break;
      case "ignored":
        break;
    }
  }

  /** Accounts for bytes queued on a stream (positive) or read from it (negative). */
  account(stream: SpdyStream, delta: number): void {
    this.#buffered += delta;
    if (stream.buffered >= this.opts.streamHighWater) this.#overfull.add(stream);
    else if (stream.buffered <= this.opts.streamHighWater / 2) this.#overfull.delete(stream);
    if (this.#resume && !this.#mustPause() && this.#buffered <= this.opts.sessionHighWater / 2) {
      this.#wakeReader();
    }
  }

  #mustPause(): boolean {
    return this.#overfull.size > 0 || this.#buffered >= this.opts.sessionHighWater;
  }

  #wakeReader(): void {
    const r = this.#resume;
    this.#resume = undefined;
    r?.();
  }

  /** Drops a finished stream's bookkeeping. */
  forget(stream: SpdyStream): void {
    if (!this.#streams.delete(stream.id)) return;
    if (this.#streams.size === 0) this.onIdle();
  }
}

/**
 * Where a stream is in its life, as hashicorp/yamux's stream.go keeps it: every change goes
 * through {@link SpdyStream}'s one transition table, instead of flags set here and there.
 * Whether the server has replied (SYN_REPLY) is kept apart: it does not change what may flow.
 */
export enum StreamState {
  /** Data may flow both ways. */
  Open = "open",
  /** We sent FIN; the server may still send. */
  LocalClosed = "local-closed",
  /** The server sent FIN; we may still send. */
  RemoteClosed = "remote-closed",
  /** Both sides sent FIN. */
  Closed = "closed",
  /** Reset by either side, or its session ended: nothing flows any more. */
  Reset = "reset",
}

type StreamEvent = "localFin" | "remoteFin" | "reset";

const TRANSITIONS: Record<StreamState, Partial<Record<StreamEvent, StreamState>>> = {
  [StreamState.Open]: {
    localFin: StreamState.LocalClosed,
    remoteFin: StreamState.RemoteClosed,
    reset: StreamState.Reset,
  },
  [StreamState.LocalClosed]: { remoteFin: StreamState.Closed, reset: StreamState.Reset },
  [StreamState.RemoteClosed]: { localFin: StreamState.Closed, reset: StreamState.Reset },
  [StreamState.Closed]: { reset: StreamState.Reset },
  [StreamState.Reset]: {},
};

/** One stream: read what the server sends, write DATA frames, end or reset it. */
export class SpdyStream {
  /** What the server sent and nobody read yet; DATA arrives as views into a reused buffer. */
  #queue: ByteQueue;
  #state = StreamState.Open;
  #failure: SpdyStreamError | undefined;
  #waiters: (() => void)[] = [];
  #replied = false;
  #frame = new Uint8Array(0);
  /** Bytes received so far. */
  received = 0;

  constructor(readonly session: SpdySession, readonly id: number) {
    this.#queue = new ByteQueue(session.opts.blocks);
  }

  get buffered(): number {
    return this.#queue.length;
  }

  get replied(): boolean {
    return this.#replied;
  }

  get state(): StreamState {
    return this.#state;
  }

  /**
   * Applies `event`; false (and no change) when the state does not allow it. The session
   * forgets a stream once it is closed both ways.
   */
  #transition(event: StreamEvent): boolean {
    const next = TRANSITIONS[this.#state][event];
    if (next === undefined) return false;
    this.#state = next;
    if (next === StreamState.Closed) this.session.forget(this);
    return true;
  }

  /** Whether the server will send nothing more here. */
  #remoteEnded(): boolean {
    return this.#state !== StreamState.Open && this.#state !== StreamState.LocalClosed;
  }

  /** Whether the server's side has ended (FIN), failed or been reset. */
  get remoteDone(): boolean {
    return this.#remoteEnded();
  }

  get failure(): SpdyStreamError | undefined {
    return this.#failure;
  }

  /** The session saw SYN_REPLY (with FIN: the server will send nothing). */
  onReply(fin: boolean): void {
    this.#replied = true;
    if (fin) this.#transition("remoteFin");
    this.#settle();
  }

  /** The session saw DATA (or HEADERS with FIN). */
  onData(data: Uint8Array, fin: boolean): void {
    if (this.#remoteEnded()) return;
    if (data.length > 0) {
      this.#queue.push(data);
      this.received += data.length;
      this.session.account(this, data.length);
    }
    if (fin) this.#transition("remoteFin");
    this.#settle();
  }

  /** Reset by the server, or the session ended: the first error is kept. */
  fail(error: SpdyStreamError): void {
    if (this.#state === StreamState.Reset) return;
    this.#failure = error;
    this.#transition("reset");
    this.#settle();
  }

  #settle(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves at the next change: a reply, data, the end or a failure. */
  changed(): Promise<void> {
    return new Promise((r) => this.#waiters.push(r));
  }

  /**
   * The next chunk from the server; null after its FIN. Throws after a reset. The chunk is lent:
   * it is valid until the next read(), which reuses its memory.
   */
  async read(): Promise<Uint8Array | null> {
    this.#queue.release();
    while (this.#queue.length === 0) {
      if (this.#failure) throw this.#failure;
      if (this.#remoteEnded()) return null;
      await this.changed();
    }
    const chunk = this.#queue.shift()!;
    this.session.account(this, -chunk.length);
    return chunk;
  }

  /** Space for `size` bytes of DATA, framed in place by {@link writeBuffered}. */
  buffer(size: number): Uint8Array {
    if (this.#frame.length < size + 8) this.#frame = new Uint8Array(size + 8);
    return this.#frame.subarray(8, size + 8);
  }

  /** Sends the first `length` bytes of the last {@link buffer} as one DATA frame. */
  writeBuffered(length: number): Promise<void> {
    const problem = this.#writeProblem();
    if (problem) return Promise.reject(problem);
    writeDataHeader(this.#frame, 0, this.id, length);
    return this.session.send(this.#frame.subarray(0, length + 8));
  }

  write(data: Uint8Array): Promise<void> {
    const problem = this.#writeProblem();
    if (problem) return Promise.reject(problem);
    return this.session.send(encodeData(this.id, data));
  }

  #writeProblem(): SpdyStreamError | undefined {
    if (this.#failure) return this.#failure;
    if (this.#state !== StreamState.Open && this.#state !== StreamState.RemoteClosed) {
      return new SpdyStreamError("stream already ended");
    }
    return undefined;
  }

  /** Sends FIN: no more data from this side. */
  end(): Promise<void> {
    const state = this.#state;
    if (state !== StreamState.Open && state !== StreamState.RemoteClosed) {
      return Promise.resolve();
    }
    const sent = this.session.send(encodeData(this.id, new Uint8Array(0), true));
    this.#transition("localFin");
    return sent;
  }

  /** Abandons the stream (RST_STREAM CANCEL) unless it already finished both ways. */
  reset(): void {
    const finished = this.#state === StreamState.Closed || this.#state === StreamState.Reset;
    if (!finished && !this.session.closed) {
      this.session.send(encodeRstStream(this.id, RstStatus.cancel)).catch(() => {});
    }
    this.fail(new SpdyStreamError("stream reset"));
    const n = this.#queue.length;
    this.#queue.clear();
    if (n > 0) this.session.account(this, -n);
    this.session.forget(this);
  }

  /** Everything received and not yet read, copied out at once (for an error stream's text). */
  takeQueued(): Uint8Array {
    const n = this.#queue.length;
    const all = this.#queue.drain();
    if (n > 0) this.session.account(this, -n);
    return all;
  }
}
