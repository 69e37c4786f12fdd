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
import { type ByteStream, closeQuietly, writeAll } from "./io.ts";
import { nodeTls } from "./node_tls.ts";
import { DialError } from "./upstream.ts";

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
  /** An `http://` proxy to tunnel through with CONNECT (`proxy-url`). */
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
  t: ServerTransport,
  timeoutMs: number,
): () => Promise<ByteStream> {
  const u = new URL(url);
  const secure = u.protocol === "wss:" || u.protocol === "https:";
  const port = Number(u.port || (secure ? 443 : 80));
  const hostname = u.hostname.replace(/^\[|\]$/g, "");
  const engine = tlsEngine(url, t);
  const name = t.serverName ?? hostname;
  const alpnProtocols = ["http/1.1"];
  return async () => {
    if (engine === "deno" && !t.proxyUrl && !t.serverName) {
      // One call does TCP and TLS; the handshake is timed on its own to name the step.
      const conn = await withDeadline(
        `connecting to ${u.host}`,
        timeoutMs,
        () =>
          Deno.connectTls({
            hostname,
            port,
            caCerts: t.caCerts,
            alpnProtocols,
            ...(t.cert && t.key ? { cert: t.cert, key: t.key } : {}),
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

const MAX_PROXY_HEADER = 16 * 1024;

/** A TCP connection to `host:port` tunnelled through an HTTP proxy's CONNECT. */
export async function throughProxy(
  proxyUrl: string,
  host: string,
  port: number,
  ms: number,
): Promise<Deno.TcpConn> {
  const proxy = new URL(proxyUrl);
  if (proxy.protocol !== "http:") {
    throw new DialError(
      "unreachable",
      `proxy-url ${proxy.protocol}// is not supported for port-forwards (only http://)`,
    );
  }
  const conn = await tcpConnect(
    proxy.hostname.replace(/^\[|\]$/g, ""),
    Number(proxy.port || 80),
    ms,
  );
  const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const auth = proxy.username
    ? `Proxy-Authorization: Basic ${
      btoa(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`)
    }\r\n`
    : "";
  try {
    await withDeadline(`HTTP CONNECT through ${proxy.host}`, ms, async () => {
      const request = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`;
      await writeAll(conn, new TextEncoder().encode(request));
      const head = await readProxyHead(conn);
      const status = Number(head.split(" ")[1]);
      if (status !== 200) {
        throw new DialError(
          "unreachable",
          `the proxy ${proxy.host} refused CONNECT ${target}: ${head.split("\r\n")[0]}`,
        );
      }
    }, { onTimeout: () => closeQuietly(conn) });
  } catch (e) {
    closeQuietly(conn);
    throw e instanceof DialError ? e : new DialError(
      "unreachable",
      `CONNECT through ${proxy.host} failed: ${(e as Error).message}`,
      { cause: e },
    );
  }
  return conn;
}

/**
 * Reads the proxy's response head, byte by byte: the server behind it speaks only after our TLS
 * hello (or upgrade request), so nothing may be read past the head.
 */
async function readProxyHead(conn: Deno.Conn): Promise<string> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  while (bytes.length < MAX_PROXY_HEADER) {
    if ((await conn.read(one)) === null) throw new Error("the proxy closed the connection");
    bytes.push(one[0]);
    const n = bytes.length;
    if (
      n >= 4 && bytes[n - 4] === 13 && bytes[n - 3] === 10 && bytes[n - 2] === 13 && one[0] === 10
    ) {
      return new TextDecoder().decode(new Uint8Array(bytes));
    }
  }
  throw new Error("the proxy's response head is too large");
}
