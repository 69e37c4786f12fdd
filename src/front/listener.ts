/**
 * The SOCKS listener: accepts connections, runs each handshake under a deadline, asks the
 * connector for an upstream, replies, and pipes. Tracks every live connection so that closing
 * the server closes them all.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { negotiate } from "./socks/handshake.ts";
import {
  Socks4Reply,
  socks4Reply,
  Socks5Reply,
  socks5Reply,
  type Socks5ReplyCode,
  type SocksRequest,
} from "./socks/protocol.ts";
import type { Connector } from "../dial/connector.ts";
import { pipe } from "../net/pipe.ts";
import { DialError, type Upstream } from "../net/upstream.ts";
import { closeQuietly, writeQuietly } from "../net/io.ts";
import { UserError } from "../errors.ts";

const log = getLogger(["ktctl", "socks"]);

export interface SocksServerOptions {
  hostname: string;
  port: number;
  handshakeTimeoutMs?: number;
}

export class SocksServer {
  #listener: Deno.TcpListener;
  #live = new Set<Deno.Conn>();
  #upstreams = new Set<Upstream>();
  #serving: Promise<void> | undefined;
  #closed = false;
  #nextId = 1;
  #connector: Connector | undefined;

  private constructor(listener: Deno.TcpListener, readonly opts: SocksServerOptions) {
    this.#listener = listener;
  }

  /** Binds the port; a port in use or an unusable address is a UserError naming the flag. */
  static listen(opts: SocksServerOptions): SocksServer {
    try {
      return new SocksServer(Deno.listen({ hostname: opts.hostname, port: opts.port }), opts);
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) {
        throw new UserError(
          `${opts.hostname}:${opts.port} is already in use: stop what listens there or pick ` +
            `another port with --proxyPort`,
        );
      }
      if (e instanceof Deno.errors.AddrNotAvailable || e instanceof Deno.errors.PermissionDenied) {
        throw new UserError(
          `cannot listen on ${opts.hostname}:${opts.port} (${(e as Error).message}): ` +
            `check --proxyAddr and --proxyPort`,
        );
      }
      throw e;
    }
  }

  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /** Number of connections currently open. */
  get connections(): number {
    return this.#live.size;
  }

  /** Accepts until closed, opening upstreams with `connector`. */
  serve(connector: Connector): Promise<void> {
    this.#connector = connector;
    this.#serving ??= (async () => {
      while (!this.#closed) {
        let conn: Deno.Conn;
        try {
          conn = await this.#listener.accept();
        } catch (e) {
          if (this.#closed) return;
          log.warn("Accept failed: {error}", { error: String(e) });
          continue;
        }
        this.#live.add(conn);
        this.#handle(conn, this.#nextId++).finally(() => {
          this.#live.delete(conn);
          closeQuietly(conn);
        });
      }
    })();
    return this.#serving;
  }

  /** Stops accepting and closes every open connection. */
  async close(): Promise<void> {
    this.#closed = true;
    closeQuietly(this.#listener);
    for (const conn of this.#live) closeQuietly(conn);
    for (const upstream of this.#upstreams) upstream.close();
    await this.#serving;
  }

  async #handle(conn: Deno.Conn, id: number): Promise<void> {
    const started = performance.now();
    const client = formatAddr(conn.remoteAddr as Deno.NetAddr);
    const deadline = setTimeout(() => {
      log.debug("#{id} {client}: handshake timed out", { id, client });
      closeQuietly(conn);
    }, this.opts.handshakeTimeoutMs ?? 10_000);
    let hs;
    try {
      hs = await negotiate(conn);
    } catch (e) {
      hs = { ok: false as const, reason: String(e) };
    } finally {
      clearTimeout(deadline);
    }
    if (!hs.ok) {
      log.debug("#{id} {client}: handshake failed: {reason}", { id, client, reason: hs.reason });
      return;
    }
    const { request } = hs;
    const dest = `${formatHost(request.destination.host)}:${request.destination.port}`;
    if (request.command !== "connect") {
      await writeQuietly(conn, failureReply(request, Socks5Reply.commandNotSupported));
      log.debug("#{id} {client} → {dest}: {command} is not supported", {
        id,
        client,
        dest,
        command: request.command.toUpperCase(),
      });
      return;
    }

    let connected;
    try {
      connected = await this.#connector!.connect(
        request.destination.host,
        request.destination.port,
      );
    } catch (e) {
      await writeQuietly(conn, failureReply(request, replyCodeFor(e)));
      const level = e instanceof DialError && e.kind === "forbidden" ? "warn" : "debug";
      log[level]("#{id} {client} → {dest}: {error}", { id, client, dest, error: messageOf(e) });
      return;
    }
    const { upstream, via } = connected;
    if (this.#closed) {
      upstream.close();
      return;
    }
    await writeQuietly(conn, successReply(request));
    this.#upstreams.add(upstream);
    const stats = await pipe(conn, upstream, hs.early).finally(() =>
      this.#upstreams.delete(upstream)
    );
    const ms = Math.round(performance.now() - started);
    const outcome = stats.error === undefined
      ? "closed"
      : `${stats.failedSide === "client" ? "client" : "upstream"} failed: ${
        messageOf(stats.error)
      }`;
    log.debug(
      "#{id} {client} → {dest} via {via} → {upstream}: sent {sent} B, received {received} B in {ms} ms, {outcome}",
      {
        id,
        client,
        dest,
        via,
        upstream: upstream.description,
        sent: stats.sent,
        received: stats.received,
        ms,
        outcome,
      },
    );
  }
}

function successReply(r: SocksRequest): Uint8Array {
  return r.version === 4 ? socks4Reply(Socks4Reply.granted) : socks5Reply(Socks5Reply.succeeded);
}

function failureReply(r: SocksRequest, code: Socks5ReplyCode): Uint8Array {
  return r.version === 4 ? socks4Reply(Socks4Reply.rejected) : socks5Reply(code);
}

/** The SOCKS5 reply code that best tells the client why. */
export function replyCodeFor(e: unknown): Socks5ReplyCode {
  if (e instanceof DialError) {
    switch (e.kind) {
      case "refused":
      case "no-port":
        return Socks5Reply.connectionRefused;
      case "not-found":
      case "unknown-host":
      case "no-endpoints":
        return Socks5Reply.hostUnreachable;
      case "forbidden":
      case "policy":
        return Socks5Reply.notAllowed;
      case "timeout":
        return Socks5Reply.ttlExpired;
      case "unreachable":
        return Socks5Reply.networkUnreachable;
      default:
        return Socks5Reply.generalFailure;
    }
  }
  return Socks5Reply.generalFailure;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function formatHost(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function formatAddr(a: Deno.NetAddr): string {
  return `${formatHost(a.hostname)}:${a.port}`;
}
