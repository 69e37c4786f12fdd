/**
 * Connections to the API server for ktctl's own WebSocket client, for every kubeconfig kind:
 * TCP (or an HTTP CONNECT through the kubeconfig's `proxy-url`, done by hand), then TLS by Deno
 * wherever Deno 2.9 can, else by node:tls through the pull-based adapter (`node_tls.ts`). Either
 * way the result is read only when asked, so multiplexing and bounded memory hold for all.
 *
 * What Deno 2.9.6 can do (measured): custom CAs and client certificates on `connectTls`; a
 * server name other than the address, and TLS over an existing connection (after a proxy's
 * CONNECT), with `startTls`, which however ignores `cert`/`key`. It cannot skip verification for
 * one connection (`--unsafely-ignore-certificate-errors` is a process flag; pinning the server's
 * certificate fails for a leaf whose CA the server does not send: UnknownIssuer).
 *
 * Each step has its own deadline and names itself when it passes (see `deadline.ts`).
 * @module
 */
import { withDeadline } from "./deadline.ts";
import { type ByteStream, closeQuietly } from "./io.ts";
import { DialError } from "./upstream.ts";
import { dialThroughProxy, type ProxyWording } from "./proxy_dial.ts";
import { parseProxyEndpoint } from "./upstream_source.ts";
import { apiProxyFor } from "./api_proxy.ts";

/** How to reach the API server: the transport side of a kubeconfig's cluster and user. */
export interface ServerTransport {
  /** Extra roots (PEM). */
  caCerts?: string[];
  /** Client certificate and key (PEM). */
  cert?: string;
  key?: string;
  /** A PKCS#12 client bundle instead (node:tls only). */
  pfx?: Uint8Array;
  passphrase?: string;
  /** The name the certificate is checked against and sent as SNI (`tls-server-name`). */
  serverName?: string;
  /** `insecure-skip-tls-verify`: no verification, for these connections only. */
  insecure?: boolean;
  /**
   * The kubeconfig's `proxy-url` (`http://` CONNECT or `socks5://`); without it, HTTPS_PROXY and
   * NO_PROXY as kubectl reads them (net/api_proxy.ts).
   */
  proxyUrl?: string;
}

/** Which TLS does the work for these settings (none over plain HTTP). */
export type TlsEngine = "none" | "deno" | "node";

export function tlsEngine(url: string, t: ServerTransport = {}): TlsEngine {
  if (!url.startsWith("wss:") && !url.startsWith("https:")) return "none";
  if (t.insecure || t.pfx) return "node";
  // startTls (needed for a server name or a proxy tunnel) cannot present a client certificate.
  if (t.cert && (t.serverName || t.proxyUrl)) return "node";
  return "deno";
}

/** A dialer for `url`'s server; every connection it makes has passed TLS (if any). */
export function serverDialer(
  url: string,
  transport: ServerTransport,
  timeoutMs: number,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): () => Promise<ByteStream> {
  const t = { ...transport, proxyUrl: apiProxyFor(url, transport.proxyUrl, env)?.url };
  const u = new URL(url);
  const secure = u.protocol === "wss:" || u.protocol === "https:";
  const port = Number(u.port || (secure ? 443 : 80));
  const hostname = u.hostname.replace(/^\[|\]$/g, "");
  const engine = tlsEngine(url, t);
  const name = t.serverName ?? hostname;
  const alpnProtocols = ["http/1.1"];
  return async () => {
    if (engine === "deno" && t.cert && t.key && !t.proxyUrl && !t.serverName) {
      // A client certificate needs connectTls, one call for TCP and TLS, whose socket keeps
      // Nagle's algorithm on (denoland/deno#13617): against a Go 1.24+ API server, which asks
      // for a post-quantum key share again (HelloRetryRequest), Deno writes the second
      // ClientHello after a 6-byte record and waits ~40 ms for the server's delayed ACK (43-48
      // ms handshakes here against 2-3 ms with TCP_NODELAY). Everything else takes the path
      // below. The handshake is timed on its own to name the step.
      const conn = await withDeadline(
        `connecting to ${u.host}`,
        timeoutMs,
        () =>
          Deno.connectTls({
            hostname,
            port,
            caCerts: t.caCerts,
            alpnProtocols,
            cert: t.cert,
            key: t.key,
          }),
        { dispose: closeQuietly },
      );
      await tlsStep(u.host, timeoutMs, conn, () => conn.handshake());
      return conn;
    }
    const tcp = t.proxyUrl
      ? await throughProxy(t.proxyUrl, hostname, port, timeoutMs)
      : await tcpConnect(hostname, port, timeoutMs);
    // A TCP connection of our own can turn Nagle's algorithm off (a TlsConn from connectTls
    // cannot: see ws_client.ts), and the option stays with the socket under TLS.
    tcp.setNoDelay(true);
    if (engine === "none") return Object.assign(tcp, { noDelay: true });
    if (engine === "deno") {
      const conn = await tlsStep(
        u.host,
        timeoutMs,
        tcp,
        () => Deno.startTls(tcp, { hostname: name, caCerts: t.caCerts, alpnProtocols }),
      );
      await tlsStep(u.host, timeoutMs, conn, () => conn.handshake());
      return Object.assign(conn, { noDelay: true });
    }
    // Loaded only for the kubeconfigs that need it: node:tls and node:stream cost every other
    // `connect` ~1.5 MB of memory (a chunk of its own in the bundle).
    const { nodeTls } = await import("./node_tls.ts");
    const tls = await tlsStep(u.host, timeoutMs, tcp, () =>
      nodeTls(tcp, {
        host: name,
        servername: /^[\d.]+$|:/.test(name) ? undefined : name,
        ca: t.caCerts,
        cert: t.cert,
        key: t.key,
        pfx: t.pfx,
        passphrase: t.passphrase,
        rejectUnauthorized: !t.insecure,
      }));
    return Object.assign(tls, { noDelay: true });
  };
}

async function tlsStep<T>(
  host: string,
  ms: number,
  conn: { close(): void },
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await withDeadline(`TLS handshake with ${host}`, ms, work, {
      onTimeout: () => closeQuietly(conn),
    });
  } catch (e) {
    closeQuietly(conn);
    if (e instanceof DialError) throw e;
    throw new DialError(
      "unreachable",
      `TLS handshake with ${host} failed: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

async function tcpConnect(hostname: string, port: number, ms: number): Promise<Deno.TcpConn> {
  try {
    return await withDeadline(
      `connecting to ${hostname}:${port}`,
      ms,
      (signal) => Deno.connect({ hostname, port, signal }),
      { dispose: closeQuietly },
    );
  } catch (e) {
    if (e instanceof DialError) throw e;
    throw new DialError(
      "unreachable",
      `cannot connect to ${hostname}:${port}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** How API-traffic failures name the proxy. */
const API_WORDING: ProxyWording = {
  label: "the proxy",
  credentialsHint: "the proxy URL (http://user:pass@host:port)",
};

/**
 * A TCP connection to `host:port` tunnelled through a proxy (`http://` CONNECT or `socks5://`,
 * credentials from the URL), for the kubeconfig's `proxy-url` or HTTPS_PROXY.
 */
export async function throughProxy(
  proxyUrl: string,
  host: string,
  port: number,
  ms: number,
): Promise<Deno.TcpConn> {
  let proxy;
  try {
    proxy = parseProxyEndpoint(proxyUrl);
  } catch (e) {
    throw new DialError("unreachable", `proxy ${(e as Error).message}`);
  }
  if (proxy.protocol === "socks4") {
    throw new DialError("unreachable", "socks4 proxies are not supported for the API server");
  }
  const tunnel = await dialThroughProxy(proxy, host, port, ms, API_WORDING);
  // TLS (or the upgrade request) goes first: a server that spoke before it is not the API server.
  if (tunnel.early.length > 0) {
    closeQuietly(tunnel.conn);
    throw new DialError(
      "unreachable",
      `${host}:${port} through the proxy ${proxy.host}:${proxy.port} spoke before TLS`,
    );
  }
  return tunnel.conn;
}
