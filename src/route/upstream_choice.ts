/**
 * What the machine's own proxy configuration (the "upstream", see net/proxy_config.ts) says for
 * one destination outside the cluster: an ordered list of hops, each a proxy or DIRECT, tried in
 * turn. Fixed proxies pick by port (443: the HTTPS proxy; 80: the HTTP one; else `all_proxy`)
 * and honour the bypass list; a PAC file is asked through a {@link PacEvaluator} (the Windows
 * side gives one backed by WinHttpGetProxyForUrl, `net/pac_sandbox.ts` the portable one), and
 * its answers are cached per host and port for a minute.
 * @module
 */
import type {
  PacEvaluator,
  PacEvaluatorFactory,
  ProxyEndpoint,
  UpstreamConfig,
} from "../net/proxy_config.ts";
import { noProxyMatch, parseNoProxy, windowsBypassMatch } from "../net/no_proxy.ts";
import { authority } from "../net/proxy_handshake.ts";

/** One way out for a destination: through a proxy, or dialled from this machine. */
export type Hop = { kind: "proxy"; proxy: ProxyEndpoint } | { kind: "direct" };

export interface Choice {
  hops: Hop[];
  /** Why, for the debug log: "no_proxy entry .corp", "PAC: PROXY a:1; DIRECT". */
  why: string;
}

const DIRECT: Hop = { kind: "direct" };
const CACHE_MS = 60_000;
const CACHE_MAX = 2_000;

/**
 * A PAC answer (`PROXY a:1; SOCKS5 b:2; DIRECT`) as hops; unknown entries are skipped, an empty
 * or unusable answer is DIRECT (as browsers do).
 */
export function parsePacAnswer(text: string): Hop[] {
  const hops: Hop[] = [];
  for (const part of String(text).split(";")) {
    const [word, where] = part.trim().split(/\s+/);
    const kind = (word ?? "").toUpperCase();
    if (kind === "DIRECT") {
      hops.push(DIRECT);
      continue;
    }
    const protocol = kind === "PROXY" || kind === "HTTP"
      ? "http"
      : kind === "SOCKS5"
      ? "socks5"
      : kind === "SOCKS" || kind === "SOCKS4"
      ? "socks4"
      : undefined;
    if (!protocol || !where) continue;
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(where);
    const port = m ? Number(m[2]) : protocol === "http" ? 80 : 1080;
    if (port < 1 || port > 65535) continue;
    const host = (m ? m[1] : where).replace(/^\[|\]$/g, "").toLowerCase();
    hops.push({ kind: "proxy", proxy: { protocol, host, port } });
  }
  return hops.length > 0 ? hops : [DIRECT];
}

/**
 * The URL a browser would hand a PAC for a connection to `host:port` (`http` when the request is
 * known to be plain HTTP, whatever the port).
 */
export function pacUrlFor(host: string, port: number, http = false): string {
  const h = host.includes(":") ? `[${host}]` : host;
  if (port === 443 && !http) return `https://${h}/`;
  if (port === 80) return `http://${h}/`;
  return `http://${h}:${port}/`;
}

export class UpstreamChooser {
  #pac: PacEvaluator | undefined;
  #cache = new Map<string, { at: number; choice: Choice }>();
  readonly #noProxy;

  constructor(
    readonly config: UpstreamConfig,
    readonly pacFactory?: PacEvaluatorFactory,
    readonly now: () => number = Date.now,
  ) {
    this.#noProxy = config.kind === "fixed" && config.bypassStyle === "no_proxy"
      ? parseNoProxy(config.bypass.join(","))
      : [];
  }

  /** Whether anything but DIRECT can ever come out. */
  get active(): boolean {
    return this.config.kind !== "none";
  }

  /** `http`: the connection carries plain HTTP requests (an `http://` URL), whatever the port. */
  async choose(host: string, port: number, http = false): Promise<Choice> {
    const c = this.config;
    switch (c.kind) {
      case "none":
        return { hops: [DIRECT], why: "no upstream proxy" };
      case "fixed":
        return fixedChoice(c, this.#noProxy, host, port, http);
      case "pac":
        return await this.#askPac({ url: c.url }, host, port, http);
      case "auto-detect":
        if (this.pacFactory) {
          return await this.#askPac({ url: c.pacUrl, autoDetect: true }, host, port, http);
        }
        return c.fallback
          ? await new UpstreamChooser(c.fallback).choose(host, port, http)
          : { hops: [DIRECT], why: "auto-detect is not available here" };
    }
  }

  async #askPac(
    source: { url?: string; autoDetect?: boolean },
    host: string,
    port: number,
    http: boolean,
  ): Promise<Choice> {
    const key = `${http ? "http " : ""}${host}:${port}`;
    const hit = this.#cache.get(key);
    if (hit && this.now() - hit.at < CACHE_MS) return hit.choice;
    if (!this.pacFactory) return { hops: [DIRECT], why: "no PAC evaluator" };
    this.#pac ??= this.pacFactory(source);
    const answer = await this.#pac.find(pacUrlFor(host, port, http), host);
    const choice = { hops: parsePacAnswer(answer), why: `PAC: ${answer.slice(0, 200)}` };
    if (this.#cache.size >= CACHE_MAX) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, { at: this.now(), choice });
    return choice;
  }

  close(): void {
    this.#pac?.close?.();
  }
}

function fixedChoice(
  c: Extract<UpstreamConfig, { kind: "fixed" }>,
  noProxy: ReturnType<typeof parseNoProxy>,
  host: string,
  port: number,
  http: boolean,
): Choice {
  if (c.bypassStyle === "no_proxy") {
    const hit = noProxyMatch(noProxy, host, port);
    if (hit) return { hops: [DIRECT], why: `no_proxy entry ${hit.text}` };
  } else {
    const hit = windowsBypassMatch(c.bypass, c.bypassLocal, host, port);
    if (hit) return { hops: [DIRECT], why: `bypass entry ${hit}` };
  }
  // Plain HTTP (an http:// URL, or port 80) is http_proxy's, as curl reads it; port 443 is
  // https_proxy's; other tunnels, whose scheme ktctl cannot know, all_proxy's.
  const proxy = http || port === 80
    ? c.http ?? c.other ?? c.https
    : port === 443
    ? c.https ?? c.other ?? c.http
    : c.other ?? c.https ?? c.http;
  if (!proxy) return { hops: [DIRECT], why: "no proxy for this port" };
  return {
    hops: [{ kind: "proxy", proxy }],
    why: `proxy ${authority(proxy.host, proxy.port)} for port ${port}`,
  };
}
