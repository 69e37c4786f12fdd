/**
 * The fall-back transport: one `v4.channel.k8s.io` WebSocket per proxied connection, for API
 * servers that will not tunnel SPDY. It runs on ktctl's pull-based WebSocket client, whatever
 * the kubeconfig's TLS settings, so a slow reader slows the pod down here too.
 *
 * Port-forward has no half-close of its own: a local half-close keeps the WebSocket open so the
 * pod's answer still arrives, until the pod closes or stays silent for `halfCloseGraceMs`.
 * @module
 */
import { PORT_FORWARD_PROTOCOLS, PortForwardDecoder } from "./channel_frames.ts";
import type { PodTarget } from "./target.ts";
import type { UpstreamOpener } from "./fallback.ts";
import { httpFailure, setupFailure, streamFailure } from "./failures.ts";
import { podPath, type ServerSockets } from "./sockets.ts";
import { DialError } from "../net/upstream.ts";
import { UpstreamBase } from "../net/upstream_base.ts";
import { type WsClient, WsHttpError } from "../net/ws_client.ts";
import { withDeadline } from "../net/deadline.ts";

export interface PerConnectionOptions {
  openTimeoutMs: number;
  halfCloseGraceMs: number;
}

export class PerConnectionOpener implements UpstreamOpener {
  constructor(readonly sockets: ServerSockets, readonly opts: PerConnectionOptions) {}

  async open(target: PodTarget): Promise<V4Upstream> {
    const what = `${target.namespace}/${target.pod}:${target.port}`;
    let ws: WsClient;
    try {
      ws = await this.sockets.connect(
        podPath(target) + `?ports=${target.port}`,
        PORT_FORWARD_PROTOCOLS,
        what,
      );
    } catch (e) {
      throw e instanceof WsHttpError ? httpFailure(e.status, e.body, what) : e;
    }
    const upstream = new V4Upstream(ws, `pod ${what}`, this.opts.halfCloseGraceMs);
    try {
      // The server announces the port on each channel once the stream is set up. The kubelet
      // does so before it dials the pod; kwok only after a successful dial, and it closes
      // without a word when the dial fails. Waiting costs nothing on a kubelet (the prefixes
      // follow the upgrade at once) and turns kwok's silent close into a proper failure.
      for (const channel of [0, 1] as const) {
        const step = `the port prefix on the ${channel === 0 ? "data" : "error"} channel`;
        await withDeadline(step, this.opts.openTimeoutMs, () => upstream.announced(channel), {
          onTimeout: () => upstream.close(),
        });
      }
    } catch (e) {
      upstream.close();
      throw e instanceof DialError
        ? new DialError(e.kind, `port-forward to ${what}: ${e.message}`, { cause: e })
        : e;
    }
    return upstream;
  }
}

/** A port-forward over one WebSocket: reads from the socket only when asked to. */
export class V4Upstream extends UpstreamBase {
  #decoder = new PortForwardDecoder();
  #pending: Uint8Array[] = [];
  #announced = [false, false];
  #ended = false;
  #frame = new Uint8Array(0);
  readonly halfDuplexEnd = false;

  constructor(readonly ws: WsClient, description: string, graceMs: number) {
    super(description, graceMs);
  }

  /** Reads one message into #pending; false once the stream has ended. */
  async #pull(): Promise<boolean> {
    if (this.#ended) return false;
    let message;
    try {
      message = await this.ws.readMessage();
    } catch (e) {
      this.noteError((e as Error).message);
      message = null;
    }
    if (message === null) {
      this.#ended = true;
      this.close();
      return false;
    }
    let events;
    try {
      events = this.#decoder.push(message);
    } catch (e) {
      this.noteError((e as Error).message);
      this.close();
      return false;
    }
    for (const ev of events) {
      if (ev.kind === "port") this.#announced[ev.channel] = true;
      else if (ev.kind === "data") this.#pending.push(ev.bytes);
      else this.noteError(new TextDecoder().decode(ev.bytes));
    }
    return true;
  }

  /** Resolves once `channel`'s port prefix (or data) has come; throws if the stream ended. */
  async announced(channel: 0 | 1): Promise<void> {
    while (!this.#announced[channel] && this.#pending.length === 0) {
      if (!(await this.#pull())) throw setupFailure(this.errorText);
    }
  }

  async read(): Promise<Uint8Array | null> {
    while (this.#pending.length === 0) {
      if (this.errorText) throw streamFailure(this.errorText);
      if (!(await this.#pull())) {
        if (this.errorText) throw streamFailure(this.errorText);
        return null;
      }
    }
    this.grace?.touch();
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
    } catch (e) {
      throw this.failure(new Error("the WebSocket is closed", { cause: e }));
    }
  }

  endWrite(): Promise<void> {
    this.grace?.arm();
    return Promise.resolve();
  }

  close(): void {
    this.ws.close();
    this.markClosed();
  }
}
