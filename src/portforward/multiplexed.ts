/**
 * Port-forwards multiplexed over one connection per pod: a WebSocket with the subprotocol
 * `SPDY/3.1+portforward.k8s.io`, which the API server (1.30+, on by default from 1.31) bridges
 * to the kubelet's SPDY port-forward, as kubectl does. Each proxied connection is then a pair of
 * SPDY streams (`error` and `data`, tied by a `requestID`) instead of a TLS connection and an
 * upgrade: measured on the local control plane, this is what makes a new connection as cheap as
 * kubectl's.
 *
 * SPDY port-forward says nothing when the pod accepts a connection, only when it does not (text
 * on the error stream, then resets). So the first connection to a pod port waits for such news
 * before the SOCKS client is told it is connected; once a pod port has answered, later
 * connections to it are reported connected as soon as their streams are sent.
 *
 * How long that wait is ({@link probeWaitMs}) follows from how the kubelet handles a stream pair
 * (pkg/kubelet/cri/streaming/portforward/httpstream.go, which kwok uses too): each SYN_STREAM is
 * answered with SYN_REPLY as soon as it is accepted, and only once both streams of a pair are in
 * does the kubelet dial the pod port; a refusal is written on the error stream when that dial
 * fails. Both travel the same path back, so the refusal trails the replies by the kubelet's dial
 * (on a node, a loopback connect in the pod's network namespace: well under a millisecond) plus
 * whatever the path adds under load. The wait is therefore a multiple of this pair's own round
 * trip (SYN_STREAM to both SYN_REPLYs), between a floor and `probeMs`: a few milliseconds on a
 * fast path instead of a fixed 100 ms on every first connection.
 * @module
 */
import type { PodTarget } from "./target.ts";
import { DialError, type Upstream } from "../net/upstream.ts";
import { UpstreamBase } from "../net/upstream_base.ts";
import { raceTimeout } from "../net/deadline.ts";
import { SpdySession, type SpdyStream } from "../net/spdy_session.ts";
import type { MessageTransport } from "../net/spdy_session.ts";
import { sharedBlocks } from "../net/byte_queue.ts";
import { setupFailure, streamFailure } from "./failures.ts";
import type { UpstreamOpener } from "./fallback.ts";

export const TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io";
/** How long the end of a data stream waits for the error stream to say why. */
const ERROR_WAIT_MS = 1000;

export interface TunnelOptions {
  openTimeoutMs: number;
  halfCloseGraceMs: number;
  /**
   * The longest a first connection to a pod port waits for a refusal after the replies to its
   * streams came (see {@link probeWaitMs}).
   */
  probeMs: number;
  /** The shortest such wait, whatever the round trip. */
  probeFloorMs: number;
  /** The wait, in round trips of the stream pair (SYN_STREAM to both SYN_REPLYs). */
  probeRoundTrips: number;
  /** A session without streams is closed after this long. */
  idleMs: number;
  /** Streams per session before another session to the same pod is opened. */
  maxStreamsPerSession: number;
  /** A session quiet for longer than this is not trusted without a reply first. */
  quietMs: number;
  /**
   * A session quiet for longer than this gets a PING before it takes a new connection, and is
   * passed over for a fresh one when no answer comes within `livenessMs`: a connection must not
   * be sent into a path that went silent.
   */
  checkAfterMs: number;
  livenessMs: number;
}

export const defaultTunnelOptions: TunnelOptions = {
  openTimeoutMs: 15_000,
  halfCloseGraceMs: 10_000,
  probeMs: 100,
  probeFloorMs: 5,
  probeRoundTrips: 3,
  idleMs: 30_000,
  maxStreamsPerSession: 250,
  quietMs: 5_000,
  checkAfterMs: 1_000,
  livenessMs: 2_000,
};

/**
 * How long a first connection waits for a refusal once both its streams were answered, given the
 * round trip those answers took: `probeRoundTrips` of it, at least `probeFloorMs`, at most
 * `probeMs`. A refusal that comes later than this (a kubelet whose dial takes longer than a few
 * round trips) is reported as the connection ending with the refusal's text, after the client was
 * told it was connected.
 */
export function probeWaitMs(roundTripMs: number, opts: TunnelOptions): number {
  return Math.min(opts.probeMs, Math.max(opts.probeFloorMs, opts.probeRoundTrips * roundTripMs));
}

/** No tunnel here: the API server would not tunnel SPDY (an older cluster, or it is off). */
export class TunnelUnsupported extends Error {
  override name = "TunnelUnsupported";
}

/** The session under a connection being set up ended first: worth one more try. */
class SessionLost extends Error {
  override name = "SessionLost";
}

/** Opens the WebSocket for one pod's session; throws DialError or TunnelUnsupported. */
export type SessionDialer = (target: PodTarget) => Promise<MessageTransport>;

interface PodSessions {
  sessions: Set<SpdySession>;
  opening?: Promise<SpdySession>;
}

/** Sessions per pod, and which pod ports have been seen answering. */
export class TunnelSessions implements UpstreamOpener {
  #pods = new Map<string, PodSessions>();
  #answered = new Set<string>();
  #requestId = 0;
  #closed = false;

  constructor(
    readonly dial: SessionDialer,
    readonly opts: TunnelOptions = defaultTunnelOptions,
  ) {}

  async open(target: PodTarget): Promise<Upstream> {
    const what = `${target.namespace}/${target.pod}:${target.port}`;
    try {
      return await this.#openOn(await this.#session(target), target, what);
    } catch (e) {
      if (!(e instanceof SessionLost)) throw e;
      // The far side ended the session (idle, or the kubelet went away) before it had taken
      // this connection: once more on a fresh session, so no client sees that.
      try {
        return await this.#openOn(await this.#session(target), target, what);
      } catch (again) {
        if (!(again instanceof SessionLost)) throw again;
        throw new DialError("unreachable", `port-forward to ${what}: ${again.message}`, {
          cause: again,
        });
      }
    }
  }

  async #openOn(session: SpdySession, target: PodTarget, what: string): Promise<Upstream> {
    const requestId = String(this.#requestId++);
    const base: [string, string][] = [["port", String(target.port)], ["requestid", requestId]];
    let error: SpdyStream, data: SpdyStream;
    try {
      error = session.openStream([["streamtype", "error"], ...base]);
      data = session.openStream([["streamtype", "data"], ...base]);
    } catch (e) {
      throw new SessionLost((e as Error).message, { cause: e });
    }
    error.end().catch(() => {}); // nothing is ever written on the error stream
    const upstream = new TunnelUpstream(data, error, `pod ${what}`, this.opts, () => {
      if (this.#answered.size > 10_000) this.#answered.clear();
      this.#answered.add(what);
    });
    const trusted = this.#answered.has(what) &&
      Date.now() - session.lastHeard < this.opts.quietMs;
    try {
      await upstream.ready(trusted ? "none" : "probe");
    } catch (e) {
      upstream.close();
      this.#answered.delete(what);
      if (session.closed && data.received === 0) {
        throw new SessionLost(`the session ended: ${(e as Error).message}`, { cause: e });
      }
      if (e instanceof DialError && e.kind === "timeout") {
        // A session that does not answer is dead, whatever TCP thinks: drop it.
        session.close("the server stopped answering");
      }
      throw e instanceof DialError
        ? new DialError(e.kind, `port-forward to ${what}: ${e.message}`, { cause: e })
        : e;
    }
    return upstream;
  }

  /** A session to the pod with room for two more streams; opened if there is none. */
  async #session(target: PodTarget): Promise<SpdySession> {
    const key = `${target.namespace}/${target.pod}`;
    while (!this.#closed) {
      let pod = this.#pods.get(key);
      if (!pod) this.#pods.set(key, pod = { sessions: new Set() });
      for (const s of pod.sessions) {
        if (s.paused || s.suspect || !this.#hasRoom(s)) continue;
        if (await s.alive(this.opts.livenessMs, this.opts.checkAfterMs)) return s;
      }
      const entry = pod;
      const opening = entry.opening ??= this.#openSession(target, entry).finally(() => {
        entry.opening = undefined;
      });
      const opened = await opening;
      if (this.#hasRoom(opened)) return opened;
    }
    throw new DialError("failed", "port-forwarding has stopped");
  }

  /** Whether a connection's two streams may still be opened on `s`. */
  #hasRoom(s: SpdySession): boolean {
    return s.accepting && s.streamCount + 2 <= this.opts.maxStreamsPerSession;
  }

  async #openSession(target: PodTarget, pod: PodSessions): Promise<SpdySession> {
    const transport = await this.dial(target);
    const session = new SpdySession(transport);
    if (this.#closed) session.close("port-forwarding has stopped");
    pod.sessions.add(session);
    let idle: ReturnType<typeof setTimeout> | undefined;
    session.onIdle = () => {
      clearTimeout(idle);
      if (session.closed) return;
      idle = setTimeout(() => session.streamCount === 0 && session.close("idle"), this.opts.idleMs);
    };
    session.onIdle();
    session.done.then(() => {
      clearTimeout(idle);
      pod.sessions.delete(session);
      const key = `${target.namespace}/${target.pod}`;
      if (pod.sessions.size === 0 && !pod.opening && this.#pods.get(key) === pod) {
        this.#pods.delete(key);
        // Nothing is queued anywhere now: the blocks kept for reuse can go.
        if (this.#pods.size === 0) sharedBlocks.trim();
      }
    });
    return session;
  }

  /** Per pod: its multiplexed sessions and the connections open on them (for the live view). */
  snapshot(): { pod: string; sessions: number; connections: number }[] {
    return [...this.#pods].map(([pod, p]) => ({
      pod,
      sessions: p.sessions.size,
      // Each connection is two streams (error and data).
      connections: [...p.sessions].reduce((n, s) => n + Math.floor(s.streamCount / 2), 0),
    }));
  }

  /** Closes the sessions of a pod that no longer exists. */
  podGone(namespace: string, pod: string): void {
    const key = `${namespace}/${pod}`;
    for (const s of this.#pods.get(key)?.sessions ?? []) s.close(`pod ${key} is gone`);
    this.#pods.delete(key);
  }

  close(): void {
    this.#closed = true;
    for (const pod of this.#pods.values()) {
      for (const s of pod.sessions) s.close("port-forwarding has stopped");
    }
    this.#pods.clear();
  }
}

/** One proxied connection: the data stream carries it, the error stream reports failures. */
export class TunnelUpstream extends UpstreamBase {
  #answered = false;
  readonly halfDuplexEnd = false;
  /** The stream pair's round trip, once a probe saw both replies (for the probe and tests). */
  roundTripMs: number | undefined;

  constructor(
    readonly data: SpdyStream,
    readonly error: SpdyStream,
    description: string,
    readonly opts: TunnelOptions,
    readonly onAnswer: () => void,
  ) {
    super(description, opts.halfCloseGraceMs);
  }

  /** Collects what the error stream holds (bounded). */
  #collectError(): string {
    const text = this.error.takeQueued();
    if (text.length > 0) this.noteError(new TextDecoder().decode(text));
    return this.errorText;
  }

  /**
   * Whether the forward failed: the error stream spoke, or both streams ended without data (the
   * server ends the data stream and then writes on the error stream, in either order).
   */
  #failed(): boolean {
    return this.#collectError() !== "" ||
      (this.data.remoteDone && this.data.received === 0 && this.error.remoteDone);
  }

  /** After the data stream ended: the error text, once the error stream has ended too. */
  async #finalError(): Promise<string> {
    const deadline = Date.now() + ERROR_WAIT_MS;
    while (!this.error.remoteDone && this.#collectError() === "" && Date.now() < deadline) {
      await raceTimeout(deadline - Date.now(), this.error.changed());
    }
    return this.#collectError();
  }

  /**
   * Resolves when the connection may be reported as made. "none": at once. "probe": after both
   * streams were accepted and the pod has sent data, or {@link probeWaitMs} passed without a
   * refusal.
   */
  async ready(wait: "none" | "probe"): Promise<void> {
    if (wait === "none") return;
    const opts = this.opts;
    const start = performance.now();
    let probeUntil: number | undefined;
    while (true) {
      if (this.data.received > 0) return;
      if (this.#failed()) throw setupFailure(this.errorText);
      const now = performance.now();
      if (probeUntil === undefined && this.data.replied && this.error.replied) {
        this.roundTripMs = now - start;
        probeUntil = now + probeWaitMs(this.roundTripMs, opts);
      }
      const left = probeUntil === undefined ? start + opts.openTimeoutMs - now : probeUntil - now;
      if (left <= 0) {
        if (probeUntil !== undefined) return;
        throw new DialError(
          "timeout",
          `the replies to the stream pair: no answer within ${opts.openTimeoutMs} ms`,
        );
      }
      await raceTimeout(left, this.data.changed(), this.error.changed());
    }
  }

  async read(): Promise<Uint8Array | null> {
    let chunk;
    try {
      chunk = await this.data.read();
    } catch (e) {
      const text = await this.#finalError();
      throw text ? streamFailure(text) : this.failure(e);
    }
    if (chunk === null) {
      const text = await this.#finalError();
      if (text) throw streamFailure(text);
      return null;
    }
    if (!this.#answered) {
      this.#answered = true;
      this.onAnswer();
    }
    this.grace?.touch();
    return chunk;
  }

  buffer(size: number): Uint8Array {
    return this.data.buffer(size);
  }

  async write(length: number): Promise<void> {
    try {
      await this.data.writeBuffered(length);
    } catch (e) {
      const text = this.#collectError();
      throw text ? new DialError("failed", text, { cause: e }) : this.failure(e);
    }
  }

  async endWrite(): Promise<void> {
    // SPDY can pass the half-close on; whether the pod sees it is up to the kubelet, so the
    // silence timer still ends a stream nobody reads any more.
    this.grace?.arm();
    await this.data.end().catch(() => {});
  }

  close(): void {
    this.data.reset();
    this.error.reset();
    this.markClosed();
  }
}
