/**
 * undici's `connect` for a SOCKS `proxy-url` (socks5://, socks5h://, socks4://, socks4a://) on
 * the API path: a node:net socket to the proxy, the handshake from net/proxy_handshake.ts (pure,
 * tested byte by byte there), then node:tls over the tunnel for an https:// server.
 *
 * client-node 2.0.1's connector (which ktctl used before) named an IP address as the TLS server
 * name, which Deno's node:tls refuses with an exception thrown from a socket callback: the whole
 * process ended for any `https://<IP>` API server behind a SOCKS `proxy-url`. Here an address is
 * never sent as a server name, as TLS (RFC 6066 §3) and client-go have it.
 * @module
 */
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { ParsingReader, socksSteps } from "../net/proxy_dial.ts";
import { concat } from "../net/io.ts";
import type { ProxyEndpoint } from "../net/proxy_config.ts";

/** What undici hands a custom connector (the fields used here). */
interface ConnectOptions {
  hostname: string;
  port: string;
  protocol: string;
  servername?: string | null;
}

type Callback = (err: Error | null, socket: Socket | null) => void;

/** Reads a socket's bytes into parsers, one handshake step after another. */
class StepReader extends ParsingReader {
  #wake: (() => void) | undefined;
  #failed: Error | undefined;

  constructor(readonly socket: Socket) {
    super();
    socket.on("data", (chunk: Uint8Array) => {
      this.pending = concat([this.pending, chunk]);
      this.#wake?.();
    });
    const fail = (e: Error) => {
      this.#failed ??= e;
      this.#wake?.();
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("the proxy closed the connection")));
  }

  protected async more(): Promise<void> {
    if (this.#failed) throw this.#failed;
    await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#wake = undefined;
  }

  /** Stops reading for the handshake; whatever came early goes back to the stream. */
  release(): void {
    this.socket.removeAllListeners("data");
    this.socket.removeAllListeners("error");
    this.socket.removeAllListeners("close");
    this.socket.pause();
    if (this.pending.length > 0) this.socket.unshift(this.pending);
  }
}

/** Opens a tunnel to `host:port` through `proxy` on `socket` (connected). */
export async function socksHandshake(
  socket: Socket,
  proxy: ProxyEndpoint,
  host: string,
  port: number,
): Promise<void> {
  const reader = new StepReader(socket);
  const io = {
    write: (bytes: Uint8Array) =>
      new Promise<void>((resolve) => socket.write(bytes, () => resolve())),
    until: reader.until.bind(reader),
  };
  try {
    await socksSteps(io, proxy, host, port, `the SOCKS proxy ${proxy.host}:${proxy.port}`);
  } finally {
    reader.release();
  }
}

/**
 * A SOCKS `proxy-url` as an endpoint (net/upstream_source.ts has the general parser; it is not
 * imported here so that the code-split bundle keeps it, and net/ip.ts with ipaddr.js, in the
 * chunk every command loads instead of a chunk of their own).
 */
export function socksEndpoint(proxyUrl: string): ProxyEndpoint {
  const url = new URL(proxyUrl);
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!/^socks(4a?|5h?)?$/.test(scheme) || !host) {
    throw new Error(`proxy-url ${url.protocol}//${url.host} is not a SOCKS proxy URL`);
  }
  return {
    protocol: scheme.startsWith("socks4") ? "socks4" : "socks5",
    host,
    port: Number(url.port || 1080),
    ...(url.username
      ? {
        username: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
      }
      : {}),
  };
}

/** An undici connector through `proxy`, with `tls` (ca, cert, key, ...) for https:// servers. */
export function socksConnector(
  proxy: ProxyEndpoint,
  tls: Record<string, unknown>,
  timeoutMs = 30_000,
): (opts: ConnectOptions, callback: Callback) => void {
  return (opts, callback) => {
    const host = opts.hostname.replace(/^\[|\]$/g, "");
    const port = Number(opts.port) || (opts.protocol === "https:" ? 443 : 80);
    const socket = netConnect({ host: proxy.host, port: proxy.port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error("the SOCKS proxy did not answer")));
    let done = false;
    const finish = (err: Error | null, s: Socket | null) => {
      if (done) return;
      done = true;
      socket.setTimeout(0);
      callback(err, s);
    };
    socket.once("connect", () => {
      socket.setKeepAlive(true, 30_000);
      socksHandshake(socket, proxy, host, port).then(() => {
        if (opts.protocol !== "https:") return finish(null, socket.resume());
        const name = (tls.servername as string | undefined) || opts.servername || host;
        finish(
          null,
          tlsConnect({
            ...tls,
            socket,
            // The name the certificate is checked against (node:tls takes "localhost" without
            // it), and, unless an address, the SNI.
            host: name,
            servername: isIP(name) ? undefined : name,
            ALPNProtocols: ["http/1.1"],
          }),
        );
      }, (e) => {
        socket.destroy();
        finish(e as Error, null);
      });
    });
    socket.once("error", (e) => finish(e, null));
  };
}
