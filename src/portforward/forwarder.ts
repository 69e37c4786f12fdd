/**
 * Opens one pod port as an {@link Upstream}, carrying the kubeconfig's credentials
 * (client-node works out certificates, tokens, exec plugins and the CA). Two transports:
 * multiplexed SPDY streams in one WebSocket per pod (`portforward_tunnel.ts`, the default where
 * the API server offers it), or one `v4.channel.k8s.io` WebSocket per connection (below).
 *
 * Per-connection WebSockets have flow control both ways: incoming messages are queued and the
 * socket is paused once the queue holds `highWaterMark` bytes; writes wait for the socket to
 * drain past the same mark. A local half-close keeps the WebSocket open (port-forward has no
 * half-close of its own) so the pod's answer still arrives, until the pod closes or stays silent
 * for `halfCloseGraceMs`. (A client that closed fully looks the same as one that half-closed,
 * so the pod's silence is the only sign that nobody waits any more; an answer that keeps flowing
 * is never cut.)
 * @module
 */
import { Buffer } from "node:buffer";
// @ts-types="@types/ws"
import WebSocket from "ws";
import type { KubeConfig } from "@kubernetes/client-node";
import { PORT_FORWARD_PROTOCOLS, PortForwardDecoder } from "./channel_frames.ts";
import type { PodTarget } from "./target.ts";
import { DialError, type Upstream } from "../net/upstream.ts";
import { ConnectionPool, dialerFor, WsClient, WsHttpError } from "../net/ws_client.ts";
import { credentialsFor, type NativeCredentials } from "../cluster/credentials.ts";
import { credentialsRejected } from "../cluster/credential_source.ts";
import { httpFailure, setupFailure, SilenceTimer, streamFailure } from "./failures.ts";
import {
  defaultTunnelOptions,
  TUNNEL_PROTOCOL,
  TunnelSessions,
  TunnelUnsupported,
} from "./multiplexed.ts";
import { getLogger } from "@logtape/logtape";

const log = getLogger(["ktctl", "connect"]);

export interface PortForwardOptions {
  openTimeoutMs: number;
  halfCloseGraceMs: number;
  highWaterMark: number;
  /**
   * "multiplexed": one SPDY-over-WebSocket connection per pod when the API server offers it
   * (see portforward_tunnel.ts), else as "websocket": one v4 WebSocket per proxied connection.
   */
  mode: "multiplexed" | "websocket";
}

export const defaultPortForwardOptions: PortForwardOptions = {
  openTimeoutMs: 15_000,
  halfCloseGraceMs: 10_000,
  highWaterMark: 1024 * 1024,
  mode: "multiplexed",
};

/** Opens port-forwards to pods of one cluster. */
export class PortForwarder {
  /** Whether the API server tunnels SPDY: unknown until a per-connection fallback worked. */
  #tunnelOffered: boolean | undefined;
  #tunnels: TunnelSessions;

  constructor(
    readonly config: KubeConfig,
    readonly server: string,
    readonly opts: PortForwardOptions = defaultPortForwardOptions,
  ) {
    this.#tunnels = new TunnelSessions((target) => this.#dialTunnel(target), {
      ...defaultTunnelOptions,
      openTimeoutMs: opts.openTimeoutMs,
      halfCloseGraceMs: opts.halfCloseGraceMs,
    });
  }

  async open(target: PodTarget): Promise<Upstream> {
    if (this.opts.mode !== "multiplexed" || this.#tunnelOffered === false) {
      return await this.#openPerConnection(target);
    }
    // Credentials are worked out when a session is dialled (see #dialTunnel), not for every
    // connection: a stream on an open session needs none.
    try {
      return await this.#tunnels.open(target);
    } catch (e) {
      if (!(e instanceof TunnelUnsupported)) throw e;
      const upstream = await this.#openPerConnection(target);
      if (this.#tunnelOffered === undefined) {
        this.#tunnelOffered = false;
        if (e.serverSide) {
          log.info(
            "The API server does not tunnel SPDY port-forwards ({reason}; Kubernetes 1.30+): " +
              "using one WebSocket per connection",
            { reason: e.message },
          );
        }
      }
      return upstream;
    }
  }

  /** Closes the multiplexed sessions of a deleted pod. */
  podGone(namespace: string, pod: string): void {
    this.#tunnels.podGone(namespace, pod);
  }

  /** The credentials, with the options npm `ws` takes should only node:tls do. */
  #credentials(): Promise<{ options: WebSocket.ClientOptions; native?: NativeCredentials }> {
    return credentialsFor<WebSocket.ClientOptions>(this.config, this.server, {
      handshakeTimeout: this.opts.openTimeoutMs,
      perMessageDeflate: false,
      followRedirects: false,
    });
  }

  /** The WebSocket for one pod's multiplexed session. */
  async #dialTunnel(target: PodTarget, retried = false): Promise<WsClient> {
    const what = `${target.namespace}/${target.pod}`;
    const url = this.server.replace(/^http/, "ws") + podPath(target);
    const { native } = await this.#credentials();
    if (!native) throw new TunnelUnsupported("credentials need the node:tls path", false);
    let ws: WsClient;
    try {
      ws = await WsClient.connect({
        url,
        protocols: [TUNNEL_PROTOCOL],
        headers: native.headers,
        tls: native.tls,
        timeoutMs: this.opts.openTimeoutMs,
        pool: this.#poolFor(url, native),
      });
    } catch (e) {
      if (e instanceof WsHttpError) {
        // An expired or revoked token: once more with a new one (credential_source.ts).
        if (
          e.status === 401 && !retried &&
          credentialsRejected(this.config, native.headers["Authorization"])
        ) return await this.#dialTunnel(target, true);
        // 401 and 404 mean the same for either transport; anything else may be a server that
        // does not know the tunnel (a 403 too: the per-connection try will tell).
        if (e.status === 401 || e.status === 404) throw httpFailure(e.status, e.body, what);
        throw new TunnelUnsupported(`HTTP ${e.status}`);
      }
      throw openFailure(e, what);
    }
    if (ws.protocol !== TUNNEL_PROTOCOL) {
      ws.close();
      throw new TunnelUnsupported(`it chose the subprotocol "${ws.protocol}"`);
    }
    return ws;
  }

  /** One v4 WebSocket for this connection alone. */
  async #openPerConnection(target: PodTarget): Promise<Upstream> {
    const url = this.server.replace(/^http/, "ws") + podPath(target) + `?ports=${target.port}`;
    const { options, native } = await this.#credentials();
    const what = `${target.namespace}/${target.pod}:${target.port}`;
    const upstream = native
      ? await this.#openNative(url, native, what)
      : await this.#openWs(url, options, what);
    // The server announces the port on the data channel once the stream is set up. The kubelet
    // does so before it dials the pod; kwok only after a successful dial, and it closes without
    // a word when the dial fails. Waiting for it costs nothing extra on a kubelet (it follows the
    // upgrade at once) and turns kwok's silent close into a proper failure.
    const timer = setTimeout(() => upstream.close(), this.opts.openTimeoutMs);
    try {
      await upstream.ready();
    } catch (e) {
      upstream.close();
      throw e instanceof DialError
        ? new DialError(e.kind, `port-forward to ${what}: ${e.message}`)
        : e;
    } finally {
      clearTimeout(timer);
    }
    return upstream;
  }

  /** Upgrades through the npm `ws` package (the fallback; see credentials.ts). */
  async #openWs(
    url: string,
    options: WebSocket.ClientOptions,
    what: string,
  ): Promise<PortForwardUpstream> {
    const ws = new WebSocket(url, PORT_FORWARD_PROTOCOLS, options);
    // Listen before anything is awaited: ws emits the first messages synchronously after "open"
    // when they arrive with the upgrade response, and a listener attached later misses them.
    const upstream = new PortForwardUpstream(ws, `pod ${what}`, this.opts);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => body.length < 4096 && (body += c));
        res.on("end", () => {
          if (res.statusCode === 401) {
            credentialsRejected(this.config, options.headers?.["Authorization"] as string);
          }
          reject(httpFailure(res.statusCode ?? 0, body, what));
        });
        res.on("error", () => reject(httpFailure(res.statusCode ?? 0, body, what)));
      });
      ws.once("error", (e: Error & { code?: string }) => {
        const timeout = /timed out/i.test(e.message);
        reject(
          new DialError(
            timeout ? "timeout" : "unreachable",
            `port-forward to ${what} failed: ${e.code ?? e.message}`,
          ),
        );
      });
    }).catch((e) => {
      ws.terminate();
      throw e;
    });
    return upstream;
  }

  #pool: { key: string; pool: ConnectionPool } | undefined;

  /** Warm connections for these credentials (a rotated certificate gets a new pool). */
  #poolFor(url: string, native: NativeCredentials): ConnectionPool {
    const key = JSON.stringify([new URL(url).origin, native.tls]);
    if (this.#pool?.key !== key) {
      this.#pool?.pool.close();
      this.#pool = { key, pool: new ConnectionPool(dialerFor({ url, tls: native.tls })) };
    }
    return this.#pool.pool;
  }

  /** Closes the multiplexed sessions and drops the warm connections. */
  close(): void {
    this.#tunnels.close();
    this.#pool?.pool.close();
    this.#pool = undefined;
  }

  /** The same over ktctl's own pull-based WebSocket client (see `net/ws_client.ts`). */
  async #openNative(
    url: string,
    native: NativeCredentials,
    what: string,
    retried = false,
  ): Promise<NativePortForwardUpstream> {
    let ws: WsClient;
    try {
      ws = await WsClient.connect({
        url,
        protocols: PORT_FORWARD_PROTOCOLS,
        headers: native.headers,
        tls: native.tls,
        timeoutMs: this.opts.openTimeoutMs,
        pool: this.#poolFor(url, native),
      });
    } catch (e) {
      if (e instanceof WsHttpError) {
        // An expired or revoked token: once more with a new one (credential_source.ts).
        if (
          e.status === 401 && !retried &&
          credentialsRejected(this.config, native.headers["Authorization"])
        ) {
          const { native: fresh } = await this.#credentials();
          if (fresh) return await this.#openNative(url, fresh, what, true);
        }
        throw httpFailure(e.status, e.body, what);
      }
      throw openFailure(e, what);
    }
    return new NativePortForwardUpstream(ws, `pod ${what}`, this.opts);
  }
}

function podPath(target: PodTarget): string {
  return `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/` +
    `${encodeURIComponent(target.pod)}/portforward`;
}

/** A connection or upgrade that failed before the server answered. */
function openFailure(e: unknown, what: string): DialError {
  const message = (e as Error).message;
  return new DialError(
    /timed out/.test(message) ? "timeout" : "unreachable",
    `port-forward to ${what} failed: ${message}`,
  );
}

export class PortForwardUpstream implements Upstream {
  #decoder = new PortForwardDecoder();
  #queue: Uint8Array[] = [];
  #queued = 0;
  #waiter: (() => void) | undefined;
  #ended = false;
  #errorText = "";
  #received = 0;
  #frame: Buffer = Buffer.alloc(0);
  #grace: SilenceTimer;
  readonly halfDuplexEnd = false;

  #markClosed = () => {};
  readonly closed = new Promise<void>((r) => this.#markClosed = r);
  #ready: Promise<void>;
  #settleReady: (error?: DialError) => void = () => {};

  constructor(
    readonly ws: WebSocket,
    readonly description: string,
    readonly opts: PortForwardOptions,
  ) {
    this.#grace = new SilenceTimer(opts.halfCloseGraceMs, () => this.close());
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#settleReady = (error) => {
        this.#settleReady = () => {};
        if (error) reject(error);
        else resolve();
      };
    });
    this.#ready.catch(() => {}); // observed by open(); never an unhandled rejection
    ws.on("message", (data: Buffer) => this.#onMessage(data));
    ws.on("close", () => this.#end());
    ws.on("error", (e: Error) => {
      this.#errorText ||= e.message;
      this.#end();
    });
  }

  /** Settles when the data channel's port prefix (or data) arrives, or the stream fails first. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Bytes received from the pod so far. */
  get received(): number {
    return this.#received;
  }

  #onMessage(data: Buffer): void {
    let events;
    try {
      events = this.#decoder.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    } catch (e) {
      this.#errorText ||= (e as Error).message;
      this.close();
      return;
    }
    for (const ev of events) {
      if (ev.kind === "port" && ev.channel === 0) this.#settleReady();
      if (ev.kind === "data") {
        this.#settleReady();
        this.#grace.touch();
        this.#received += ev.bytes.length;
        this.#queue.push(ev.bytes);
        this.#queued += ev.bytes.length;
      } else if (ev.kind === "error") {
        if (this.#errorText.length < 4096) this.#errorText += new TextDecoder().decode(ev.bytes);
      }
    }
    if (this.#queued >= this.opts.highWaterMark && !this.ws.isPaused) this.ws.pause();
    this.#wake();
  }

  #end(): void {
    this.#settleReady(setupFailure(this.#errorText));
    this.#ended = true;
    this.#markClosed();
    this.#grace.stop();
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  async read(): Promise<Uint8Array | null> {
    while (this.#queue.length === 0) {
      if (this.#ended || this.#errorText) {
        if (this.#errorText) throw streamFailure(this.#errorText);
        return null;
      }
      await new Promise<void>((r) => this.#waiter = r);
    }
    const chunk = this.#queue.shift()!;
    this.#queued -= chunk.length;
    if (this.ws.isPaused && this.#queued < this.opts.highWaterMark / 2) this.ws.resume();
    return chunk;
  }

  buffer(size: number): Uint8Array {
    // A fresh frame each time: ws masks outgoing frames in place, and holds them until sent.
    this.#frame = Buffer.allocUnsafe(size + 1);
    this.#frame[0] = 0;
    return this.#frame.subarray(1);
  }

  write(length: number): Promise<void> {
    if (this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new DialError("failed", `${this.description} is closed`));
    }
    const frame = this.#frame.subarray(0, length + 1);
    if (this.ws.bufferedAmount + length < this.opts.highWaterMark) {
      this.ws.send(frame, { binary: true });
      return Promise.resolve();
    }
    return new Promise((resolve, reject) =>
      this.ws.send(frame, { binary: true }, (err) => err ? reject(err) : resolve())
    );
  }

  endWrite(): Promise<void> {
    this.#grace.arm();
    return Promise.resolve();
  }

  close(): void {
    this.#grace.stop();
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.terminate();
    this.#end();
  }
}

/** A port-forward over {@link WsClient}: reads from the socket only when asked to. */
export class NativePortForwardUpstream implements Upstream {
  #decoder = new PortForwardDecoder();
  #pending: Uint8Array[] = [];
  #errorText = "";
  #announced = false;
  #ended = false;
  #frame = new Uint8Array(0);
  #grace: SilenceTimer;
  #markClosed = () => {};
  readonly closed = new Promise<void>((r) => this.#markClosed = r);
  readonly halfDuplexEnd = false;

  constructor(
    readonly ws: WsClient,
    readonly description: string,
    readonly opts: PortForwardOptions,
  ) {
    this.#grace = new SilenceTimer(opts.halfCloseGraceMs, () => this.close());
  }

  /** Reads one message into #pending; false once the stream has ended. */
  async #pull(): Promise<boolean> {
    if (this.#ended) return false;
    let message;
    try {
      message = await this.ws.readMessage();
    } catch (e) {
      this.#errorText ||= (e as Error).message;
      message = null;
    }
    if (message === null) {
      this.#ended = true;
      this.close();
      return false;
    }
    for (const ev of this.#decoder.push(message)) {
      if (ev.kind === "port" && ev.channel === 0) this.#announced = true;
      else if (ev.kind === "data") this.#pending.push(ev.bytes);
      else if (ev.kind === "error" && this.#errorText.length < 4096) {
        this.#errorText += new TextDecoder().decode(ev.bytes);
      }
    }
    return true;
  }

  /** Resolves once the data channel is announced (see PortForwarder.open). */
  async ready(): Promise<void> {
    while (!this.#announced && this.#pending.length === 0) {
      if (!(await this.#pull())) throw setupFailure(this.#errorText);
    }
  }

  async read(): Promise<Uint8Array | null> {
    while (this.#pending.length === 0) {
      if (this.#errorText) throw streamFailure(this.#errorText);
      if (!(await this.#pull())) {
        if (this.#errorText) throw streamFailure(this.#errorText);
        return null;
      }
    }
    this.#grace.touch();
    return this.#pending.shift()!;
  }

  buffer(size: number): Uint8Array {
    if (this.#frame.length < size + 1) this.#frame = new Uint8Array(size + 1);
    return this.#frame.subarray(1, size + 1);
  }

  async write(length: number): Promise<void> {
    // send() resolves once the frame has been written: only then is the buffer reused.
    try {
      await this.ws.send(this.#frame.subarray(0, length + 1));
    } catch {
      throw new DialError("failed", `${this.description} is closed`);
    }
  }

  endWrite(): Promise<void> {
    this.#grace.arm();
    return Promise.resolve();
  }

  close(): void {
    this.#grace.stop();
    this.ws.close();
    this.#markClosed();
  }
}
