/**
 * Opens one pod port as an {@link Upstream}, carrying the kubeconfig's credentials
 * (kube/credentials.ts works out certificates, tokens, exec plugins and the CA). One path for every kubeconfig kind:
 * a multiplexed SPDY session per pod (`multiplexed.ts`), and, only where the API server refuses
 * to tunnel, one `v4.channel.k8s.io` WebSocket per connection (`per_connection.ts`), composed by
 * a {@link FallbackOpener}. Both run on ktctl's pull-based WebSocket client (`net/ws_client.ts`)
 * over Deno's TLS or the node:tls adapter (`net/server_dial.ts`).
 * @module
 */
import type { KubeCredentials } from "../kube/credentials.ts";
import { getLogger } from "@logtape/logtape";
import type { PodTarget } from "./target.ts";
import type { Upstream } from "../net/upstream.ts";
import { WsClient, WsHttpError } from "../net/ws_client.ts";
import { httpFailure } from "./failures.ts";
import { FallbackOpener, type UpstreamOpener } from "./fallback.ts";
import { PerConnectionOpener } from "./per_connection.ts";
import { ApiServerSockets, podPath } from "./sockets.ts";
import {
  defaultTunnelOptions,
  TUNNEL_PROTOCOL,
  TunnelSessions,
  TunnelUnsupported,
} from "./multiplexed.ts";

const log = getLogger(["ktctl", "connect"]);

export interface PortForwardOptions {
  /** The deadline of each step of opening a port-forward. */
  openTimeoutMs: number;
  halfCloseGraceMs: number;
  /**
   * "multiplexed": one SPDY-over-WebSocket connection per pod when the API server offers it,
   * else as "websocket": one v4 WebSocket per proxied connection.
   */
  mode: "multiplexed" | "websocket";
}

export const defaultPortForwardOptions: PortForwardOptions = {
  openTimeoutMs: 15_000,
  halfCloseGraceMs: 10_000,
  mode: "multiplexed",
};

/** Opens port-forwards to pods of one cluster. */
export class PortForwarder implements UpstreamOpener {
  #sockets: ApiServerSockets;
  #tunnels: TunnelSessions;
  #opener: UpstreamOpener;
  /** Why connections use one WebSocket each, once the API server refused the tunnel. */
  #fellBack: string | null = null;

  constructor(
    readonly config: KubeCredentials,
    readonly server: string,
    readonly opts: PortForwardOptions = defaultPortForwardOptions,
  ) {
    this.#sockets = new ApiServerSockets(config, server, opts.openTimeoutMs);
    this.#tunnels = new TunnelSessions((target) => this.#dialTunnel(target), {
      ...defaultTunnelOptions,
      openTimeoutMs: opts.openTimeoutMs,
      halfCloseGraceMs: opts.halfCloseGraceMs,
    });
    const perConnection = new PerConnectionOpener(this.#sockets, opts);
    this.#opener = opts.mode === "websocket" ? perConnection : new FallbackOpener(
      this.#tunnels,
      perConnection,
      (e) => e instanceof TunnelUnsupported,
      (e) => {
        this.#fellBack = (e as Error).message;
        log.info(
          "The API server does not tunnel SPDY port-forwards ({reason}; Kubernetes 1.30+): " +
            "using one WebSocket per connection",
          { reason: (e as Error).message },
        );
      },
    );
  }

  open(target: PodTarget): Promise<Upstream> {
    return this.#opener.open(target);
  }

  /**
   * What the live view shows of the tunnels: the transport in use (and why, after a fall-back),
   * and per pod the multiplexed sessions and the connections on them.
   */
  tunnels(): {
    mode: "multiplexed" | "websocket";
    fellBack: string | null;
    pods: { pod: string; sessions: number; connections: number }[];
  } {
    return { mode: this.opts.mode, fellBack: this.#fellBack, pods: this.#tunnels.snapshot() };
  }

  /**
   * Opens a connection to the API server for the first port-forward ahead of it (TCP and TLS:
   * most of what a first connection to a pod would otherwise wait for after start-up).
   */
  warm(): void {
    this.#sockets.warm();
  }

  /** Closes the multiplexed sessions of a deleted pod. */
  podGone(namespace: string, pod: string): void {
    this.#tunnels.podGone(namespace, pod);
  }

  /** Closes the multiplexed sessions and drops the warm connections. */
  close(): void {
    this.#tunnels.close();
    this.#sockets.close();
  }

  /** The WebSocket for one pod's multiplexed session. */
  async #dialTunnel(target: PodTarget): Promise<WsClient> {
    const what = `${target.namespace}/${target.pod}`;
    let ws: WsClient;
    try {
      ws = await this.#sockets.connect(podPath(target), [TUNNEL_PROTOCOL], what);
    } catch (e) {
      if (!(e instanceof WsHttpError)) throw e;
      // 401 and 404 mean the same for either transport; anything else may be a server that
      // does not know the tunnel (a 403 too: the per-connection try will tell).
      if (e.status === 401 || e.status === 404) throw httpFailure(e.status, e.body, what);
      throw new TunnelUnsupported(`HTTP ${e.status}`);
    }
    if (ws.protocol !== TUNNEL_PROTOCOL) {
      ws.close();
      throw new TunnelUnsupported(`it chose the subprotocol "${ws.protocol}"`);
    }
    return ws;
  }
}
