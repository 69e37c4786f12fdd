/**
 * The few Kubernetes API calls ktctl makes (GET, list, watch, one POST), with the kubeconfig's
 * credentials worked out per request (credentials.ts), so that exec plugins and expiring tokens
 * are refreshed. Deno's fetch carries them where it can; undici (undici_fetch.ts, loaded only
 * then) where it cannot. Failures become {@link ApiError}s whose kind tells the
 * caller what to say: unreachable, unauthorized (401), forbidden (403), gone (410), other.
 * @module
 */
import { credentialsFor, type KubeCredentials, type NativeCredentials } from "./credentials.ts";
import type { UndiciClient } from "./undici_fetch.ts";
import { STATUS_MESSAGE_MAX, statusMessage } from "./status.ts";
import { credentialsRejected } from "./credential_source.ts";
import { PROTOBUF, statusMessage as protobufStatusMessage } from "./protobuf.ts";
import { type ApiProxy, apiProxyFor, denoProxy, withoutEnvProxies } from "../net/api_proxy.ts";

export type ApiErrorKind =
  | "unreachable"
  | "unauthorized"
  | "forbidden"
  | "gone"
  | "not-found"
  | "other";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(readonly kind: ApiErrorKind, message: string, readonly status?: number) {
    super(message);
  }
}

/** A watch event as the API server sends it, one JSON object per line. */
export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: unknown;
}

export class KubeApi {
  #client: { key: string; client: Deno.HttpClient } | undefined;
  #undici: Promise<UndiciClient> | undefined;

  /**
   * The proxy API calls take, as kubectl decides it (net/api_proxy.ts): the kubeconfig's
   * `proxy-url`, else HTTPS_PROXY/NO_PROXY (never for loopback or localhost), else none.
   */
  readonly proxy: ApiProxy | undefined;

  constructor(
    readonly config: KubeCredentials,
    readonly server: string,
    env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  ) {
    this.proxy = apiProxyFor(server, config.proxyUrl, env);
  }

  /**
   * Sends a request with Deno's fetch and TLS when the credentials allow it (see
   * credentials.ts), else with undici (proxy-url, insecure-skip-tls-verify, ...).
   */
  async #send(url: string, init: {
    method: string;
    headers: Record<string, string>;
    body?: string;
    signal: AbortSignal;
  }, credentials: Awaited<ReturnType<typeof credentialsFor>>): Promise<Response> {
    const native = credentials.native;
    if (!native) {
      this.#undici ??= import("./undici_fetch.ts").then((m) =>
        new m.UndiciClient(this.config.proxyUrl, this.proxy)
      );
      return await (await this.#undici).fetch(url, init, credentials.options);
    }
    return await fetch(url, { ...init, client: this.#denoClient(native) });
  }

  /** Deno's HTTP client for these TLS settings, kept while they stay the same. */
  #denoClient(native: NativeCredentials): Deno.HttpClient {
    const key = JSON.stringify(native.tls);
    if (this.#client?.key !== key) {
      this.#client?.client.close();
      const { caCerts, cert, key: pem } = native.tls;
      const options: Deno.CreateHttpClientOptions = {
        caCerts,
        ...(cert && pem ? { cert, key: pem } : {}),
        // Deno's client would read the proxy variables by its own rules (loopback included).
        ...(this.proxy ? { proxy: denoProxy(this.proxy) } : {}),
      };
      this.#client = {
        key,
        client: withoutEnvProxies(
          new URL(this.server).hostname,
          () => Deno.createHttpClient(options),
        ),
      };
    }
    return this.#client.client;
  }

  /** Releases the HTTP clients' connections. */
  close(): void {
    this.#client?.client.close();
    this.#client = undefined;
    const undici = this.#undici;
    this.#undici = undefined;
    undici?.then((u) => u.close(), () => {});
  }

  async #request(
    path: string,
    init: {
      method?: "GET" | "POST";
      body?: unknown;
      signal?: AbortSignal;
      timeoutMs?: number;
      accept?: string;
    } = {},
    retried = false,
  ): Promise<Response> {
    const url = this.server + path;
    let credentials;
    try {
      credentials = await credentialsFor(this.config, this.server, {});
    } catch (e) {
      throw new ApiError("unauthorized", `cannot get credentials: ${(e as Error).message}`);
    }
    const headers: Record<string, string> = {
      ...credentials.connection.headers,
      Accept: init.accept ?? "application/json",
    };
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const signals = [init.signal, AbortSignal.timeout(init.timeoutMs ?? 30_000)];
    let response;
    try {
      response = await this.#send(url, {
        method: init.method ?? "GET",
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal: AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined)),
      }, credentials);
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new ApiError(
        "unreachable",
        this.proxy
          ? `cannot reach the API server at ${this.server} through the proxy ${this.proxy.display} ` +
            `(from ${this.proxy.source}): ${proxiedFailure(e)}`
          : `cannot reach the API server at ${this.server}: ${describeFetchError(e)}`,
      );
    }
    if (!response.ok) {
      const body = new Uint8Array(await response.arrayBuffer());
      // An expired or revoked token: get a new one and try once more (credential_source.ts).
      if (
        response.status === 401 && !retried &&
        credentialsRejected(this.config, headers["Authorization"])
      ) return await this.#request(path, init, true);
      const message = isProtobuf(response)
        ? protobufMessage(body)
        : statusMessage(new TextDecoder().decode(body));
      throw statusError(response.status, message, init.method ?? "GET", path);
    }
    return response;
  }

  /** GET a JSON document. */
  async get(path: string, signal?: AbortSignal): Promise<unknown> {
    return await (await this.#request(path, { signal })).json();
  }

  /**
   * GET offering protobuf first (what the API server encodes fastest), JSON second: the body as
   * it came, and whether it is protobuf. Aggregated APIs and some proxies answer JSON only.
   */
  async getProtobufOrJson(
    path: string,
    signal?: AbortSignal,
  ): Promise<{ protobuf: boolean; body: Uint8Array }> {
    const response = await this.#request(path, {
      signal,
      accept: `${PROTOBUF}, application/json`,
    });
    return { protobuf: isProtobuf(response), body: new Uint8Array(await response.arrayBuffer()) };
  }

  /** POST a JSON document and return the response document. */
  async post(path: string, body: unknown): Promise<unknown> {
    return await (await this.#request(path, { method: "POST", body })).json();
  }

  /**
   * Streams a watch until the server ends it (after `timeoutSeconds`, 20-25 s unless given), the
   * signal aborts, or nothing at all arrives for `silenceMs` (30 s unless given), the headers
   * included: a path that went silent (sleep, VPN drop) then fails within that time instead of
   * hanging until TCP gives up. Resolves on a clean end; throws ApiError otherwise.
   */
  async watch(
    path: string,
    resourceVersion: string,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
    opts: { silenceMs?: number; timeoutSeconds?: number } = {},
  ): Promise<void> {
    const silenceMs = opts.silenceMs ?? 30_000;
    const timeoutSeconds = opts.timeoutSeconds ??
      Math.max(1, Math.min(20 + Math.floor(Math.random() * 6), Math.floor(silenceMs / 1000) - 5));
    const sep = path.includes("?") ? "&" : "?";
    const query = `watch=true&allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}` +
      `&resourceVersion=${encodeURIComponent(resourceVersion)}`;
    const idle = new AbortController();
    const both = AbortSignal.any([signal, idle.signal]);
    let timer = setTimeout(() => idle.abort(), silenceMs);
    const silent = () => {
      // The pooled connections may all be dead (one HTTP/2 connection carries every request):
      // start afresh rather than queue the next request behind them.
      this.#forgetConnections();
      return new ApiError("unreachable", `watch went silent for ${silenceMs / 1000} s`);
    };
    let response;
    try {
      response = await this.#request(`${path}${sep}${query}`, { signal: both, timeoutMs: 1e9 });
    } catch (e) {
      clearTimeout(timer);
      if (idle.signal.aborted && !signal.aborted) throw silent();
      throw e;
    }
    // undici under Deno does not end a body stream when its fetch is aborted: cancel it here.
    const reader = response.body!.getReader();
    const cancel = () => reader.cancel().catch(() => {});
    both.addEventListener("abort", cancel, { once: true });
    const decoder = new TextDecoder();
    let pending = "";
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        if (both.aborted) break;
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), silenceMs);
        pending += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line.length === 0) continue;
          const event = JSON.parse(line) as WatchEvent;
          if (event.type === "ERROR") throw watchError(event.object);
          onEvent(event);
        }
      }
      if (idle.signal.aborted && !signal.aborted) throw silent();
    } catch (e) {
      if (signal.aborted || e instanceof ApiError) throw e;
      if (idle.signal.aborted) throw silent();
      throw new ApiError("unreachable", `watch broke: ${describeFetchError(e)}`);
    } finally {
      clearTimeout(timer);
      both.removeEventListener("abort", cancel);
    }
  }

  /** Drops the HTTP clients (and their pooled connections); the next request makes new ones. */
  #forgetConnections(): void {
    this.close();
  }
}

function watchError(status: unknown): ApiError {
  const s = (status ?? {}) as { code?: number; message?: string };
  return s.code === 410
    ? new ApiError("gone", s.message ?? "resource version too old", 410)
    : new ApiError("other", s.message ?? "watch error", s.code);
}

function isProtobuf(response: Response): boolean {
  return (response.headers.get("content-type") ?? "").startsWith(PROTOBUF);
}

/** The message of a Status answered in protobuf; a short note if it cannot be read. */
function protobufMessage(body: Uint8Array): string {
  try {
    return (protobufStatusMessage(body) || "(no message)").slice(0, STATUS_MESSAGE_MAX);
  } catch {
    return `(an unreadable protobuf Status of ${body.length} bytes)`;
  }
}

function statusError(status: number, message: string, method: string, path: string): ApiError {
  const kind: ApiErrorKind = status === 401
    ? "unauthorized"
    : status === 403
    ? "forbidden"
    : status === 404
    ? "not-found"
    : status === 410
    ? "gone"
    : "other";
  return new ApiError(kind, `${status} from ${method} ${path.split("?")[0]}: ${message}`, status);
}

/**
 * Which step of a proxied request failed: reaching the proxy, the proxy's answer to CONNECT, or
 * what came after (TLS with the API server through the tunnel).
 */
function proxiedFailure(e: unknown): string {
  const text = String((e as { cause?: unknown })?.cause ?? e);
  const short = describeFetchError(e);
  if (/ECONNREFUSED|connection refused|tcp connect error|ENOTFOUND|dns error/i.test(text + short)) {
    return `connecting to the proxy failed: ${short}`;
  }
  if (/407|proxy auth/i.test(text)) return `the proxy asks for credentials: ${short}`;
  if (/tunnel|CONNECT|unsuccessful|status code/i.test(text)) {
    return `the proxy refused the tunnel (CONNECT): ${short}`;
  }
  return `after the proxy: ${short}`;
}

/**
 * The part of a failed request worth showing: undici hides the socket error in `cause`; Deno's
 * fetch wraps it in "error sending request for url (...): client error (Connect): ...".
 */
function describeFetchError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  if (err?.cause?.code) {
    return `${err.cause.code}${err.cause.message ? ` (${err.cause.message})` : ""}`;
  }
  const message = err?.cause?.message ?? err?.message ?? String(e);
  const known: [RegExp, string][] = [
    [/connection refused/i, "ECONNREFUSED (connection refused)"],
    [
      /dns error|failed to lookup|name or service not known/i,
      "ENOTFOUND (the name does not resolve)",
    ],
    [/timed out/i, "ETIMEDOUT (no answer)"],
  ];
  for (const [pattern, short] of known) if (pattern.test(message)) return short;
  return message.replace(/^error sending request for url \([^)]*\): /, "");
}
