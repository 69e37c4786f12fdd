/**
 * API requests over undici, for the kubeconfigs Deno's fetch cannot serve (credentials.ts
 * `nativeCredentials`: a `proxy-url`, `insecure-skip-tls-verify`, a `tls-server-name`). Loaded
 * with `import()` from api.ts only then: undici is 1.4 MB of JavaScript (~0.02 s CPU to
 * evaluate and ~10 MB on every start otherwise).
 *
 * The dispatchers are the ones client-node 2.0.1's `createDispatcherOptions` made (ktctl used
 * them before), but over HTTP/1.1: undici 8 speaks HTTP/2 to servers that offer it, through
 * Deno's node:http2, whose nghttp2 binding aborted the whole process on a GOAWAY (seen when the
 * API server shut down, which Kubernetes API servers do on every restart). A SOCKS `proxy-url`
 * takes undici_socks.ts's connector (HTTP/1.1 as well).
 * @module
 */
import { Agent, type Dispatcher, fetch as undiciFetch, ProxyAgent } from "undici";
import type { NodeTlsOptions } from "./credentials.ts";
import type { ApiProxy } from "../net/api_proxy.ts";
import { socksConnector, socksEndpoint } from "./undici_socks.ts";

/** undici's TLS options for these credentials (only the fields that are set). */
function tlsOptions(o: NodeTlsOptions): Record<string, unknown> {
  const tls: Record<string, unknown> = {};
  for (const k of ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"]) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined) tls[k] = v;
  }
  return tls;
}

/** keepAlive as client-go and client-node set it (undici's 60 s races cloud load balancers). */
const KEEP_ALIVE = { keepAlive: true, keepAliveInitialDelay: 30_000 };

export class UndiciClient {
  #dispatcher: { key: string; dispatcher: Dispatcher } | undefined;

  /**
   * `proxyUrl` is the kubeconfig's; `envProxy` the proxy API calls take (net/api_proxy.ts), an
   * HTTPS_PROXY from the environment when the kubeconfig names none.
   */
  constructor(readonly proxyUrl: string | undefined, readonly envProxy: ApiProxy | undefined) {}

  async fetch(
    url: string,
    init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
    options: NodeTlsOptions,
  ): Promise<Response> {
    const dispatcher = this.#dispatcherFor(tlsOptions(options));
    return await undiciFetch(url, { ...init, dispatcher }) as unknown as Response;
  }

  /** A dispatcher for these TLS settings, kept while they stay the same. */
  #dispatcherFor(tls: Record<string, unknown>): Dispatcher {
    const key = JSON.stringify([tls, this.proxyUrl]);
    if (this.#dispatcher?.key === key) return this.#dispatcher.dispatcher;
    this.#dispatcher?.dispatcher.close().catch(() => {});
    let dispatcher: Dispatcher;
    if (this.proxyUrl?.startsWith("socks")) {
      dispatcher = new Agent({
        connect: socksConnector(socksEndpoint(this.proxyUrl), tls) as never,
        allowH2: false,
      });
    } else if (this.proxyUrl) {
      dispatcher = new ProxyAgent({
        uri: this.proxyUrl,
        requestTls: tls,
        connect: KEEP_ALIVE,
        allowH2: false,
      });
    } else if (this.envProxy && /^https?:/.test(this.envProxy.url)) {
      // No proxy-url: an HTTP(S)_PROXY from the environment, as kubectl would take it.
      dispatcher = new ProxyAgent({
        uri: this.envProxy.url,
        requestTls: { ...tls, ...KEEP_ALIVE },
        allowH2: false,
      });
    } else {
      dispatcher = new Agent({ connect: { ...tls, ...KEEP_ALIVE }, allowH2: false });
    }
    this.#dispatcher = { key, dispatcher };
    return dispatcher;
  }

  close(): void {
    this.#dispatcher?.dispatcher.close().catch(() => {});
    this.#dispatcher = undefined;
  }
}
