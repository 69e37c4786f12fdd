/**
 * WebSockets to the API server for port-forwards, with the kubeconfig's credentials worked out
 * afresh for each (exec plugins and token files rotate) and a few connections kept warm: the
 * TLS handshake is most of the cost of opening one (about 80 % on the local control plane).
 * @module
 */
import type { KubeCredentials } from "../kube/credentials.ts";
import { getLogger } from "@logtape/logtape";
import { credentialsFor } from "../kube/credentials.ts";
import { credentialsRejected } from "../kube/credential_source.ts";
import { DialError } from "../net/upstream.ts";
import { ConnectionPool, WsClient, WsHttpError } from "../net/ws_client.ts";
import { serverDialer, type ServerTransport, tlsEngine } from "../net/server_dial.ts";
import type { PodTarget } from "./target.ts";

const log = getLogger(["ktctl", "connect"]);

/** What the port-forward openers need: a WebSocket to a path, or a typed failure. */
export interface ServerSockets {
  /**
   * Throws WsHttpError when the server answered the upgrade with another status, DialError
   * otherwise (a step that timed out names itself).
   */
  connect(path: string, protocols: string[], what: string): Promise<WsClient>;
}

export class ApiServerSockets implements ServerSockets {
  #pool: { key: string; pool: ConnectionPool } | undefined;
  /** Set by close(): a warm() still working out credentials then opens nothing. */
  #closed = false;

  constructor(
    readonly config: KubeCredentials,
    readonly server: string,
    readonly timeoutMs: number,
  ) {}

  async connect(
    path: string,
    protocols: string[],
    what: string,
    retried = false,
  ): Promise<WsClient> {
    const { connection } = await credentialsFor(this.config, this.server, {});
    const url = this.server.replace(/^http/, "ws") + path;
    try {
      return await WsClient.connect({
        url,
        protocols,
        headers: connection.headers,
        transport: connection.transport,
        timeoutMs: this.timeoutMs,
        pool: this.#poolFor(url, connection.transport),
      });
    } catch (e) {
      if (e instanceof WsHttpError) {
        // An expired or revoked token: once more with a fresh one (credential_source.ts), for
        // either transport, since both open their WebSockets here.
        if (
          e.status === 401 && !retried &&
          credentialsRejected(this.config, connection.headers["Authorization"])
        ) return await this.connect(path, protocols, what, true);
        throw e;
      }
      const message = (e as Error).message;
      throw new DialError(
        e instanceof DialError ? e.kind : "unreachable",
        `port-forward to ${what} failed: ${message}`,
        { cause: e },
      );
    }
  }

  /**
   * Opens one connection to the API server ahead of the first port-forward (called while the
   * start-up lists run). A failure is left for the first connect() to meet and report.
   */
  async warm(): Promise<void> {
    try {
      const { connection } = await credentialsFor(this.config, this.server, {});
      if (this.#closed) return;
      const url = this.server.replace(/^http/, "ws") + "/";
      this.#poolFor(url, connection.transport).warm(1);
    } catch {
      // The first connect() works the credentials out again and says what is wrong.
    }
  }

  /** Warm connections for these settings (a rotated certificate gets a new pool). */
  #poolFor(url: string, transport: ServerTransport): ConnectionPool {
    const key = JSON.stringify([new URL(url).origin, transport]);
    if (this.#pool?.key !== key) {
      if (!this.#pool) {
        const engine = tlsEngine(url, transport);
        log.debug("Port-forwards go to the API server at {origin} ({tls}){proxy}", {
          origin: new URL(url).origin.replace(/^ws/, "http"),
          tls: engine === "none" ? "no TLS" : engine === "deno" ? "TLS by Deno" : "TLS by node:tls",
          proxy: transport.proxyUrl ? ` through the proxy ${new URL(transport.proxyUrl).host}` : "",
        });
      }
      this.#pool?.pool.close();
      this.#pool = {
        key,
        pool: new ConnectionPool(serverDialer(url, transport, this.timeoutMs)),
      };
    }
    return this.#pool.pool;
  }

  close(): void {
    this.#closed = true;
    this.#pool?.pool.close();
    this.#pool = undefined;
  }
}

export function podPath(target: PodTarget): string {
  return `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/` +
    `${encodeURIComponent(target.pod)}/portforward`;
}
