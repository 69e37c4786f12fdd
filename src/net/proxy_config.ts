/**
 * The proxy configuration a machine had before ktctl: what destinations outside the cluster must
 * keep using ("upstream"). It is only data, so the three places that meet it share it without
 * importing each other: the system-proxy side finds it (the Windows settings found before ktctl
 * changed anything), routing obeys it per destination, and the PAC file ktctl serves repeats it
 * for browsers.
 * @module
 */

/** One proxy server. */
export interface ProxyEndpoint {
  protocol: "http" | "socks5" | "socks4";
  host: string;
  port: number;
  /** Credentials: Basic for an HTTP proxy, user/password (RFC 1929) for SOCKS5. */
  username?: string;
  password?: string;
}

/** Evaluates a PAC-style answer ("PROXY a:1; SOCKS5 b:2; DIRECT") for one destination. */
export interface PacEvaluator {
  /** `url` as a browser would give it (`https://host/` for CONNECT or SOCKS to 443). */
  find(url: string, host: string): Promise<string>;
  close?(): void;
}

/** What the machine used for destinations outside the cluster before ktctl. */
export type UpstreamConfig =
  /** No proxy: destinations outside the cluster are dialled directly (within `--dialDirect`). */
  | { kind: "none" }
  /**
   * Fixed proxies, per kind of destination as Windows' `ProxyServer` (`http=a:1;https=b:2;socks=c:3`
   * or one `a:1` for all) and the `http_proxy`/`https_proxy`/`all_proxy` variables give them.
   * `bypass` is the list of destinations that go direct (Windows `ProxyOverride` entries or
   * `no_proxy` entries, kept as written); `bypassLocal` is Windows' `<local>` (names without a dot).
   */
  | {
    kind: "fixed";
    http?: ProxyEndpoint;
    https?: ProxyEndpoint;
    /** For everything else (and for http/https when those are not given). */
    other?: ProxyEndpoint;
    bypass: string[];
    bypassLocal: boolean;
    /**
     * How `bypass` reads (added for the environment's variables): `windows` (the default) as
     * `ProxyOverride` entries, wildcards such as `*.corp` and `10.*`; `no_proxy` as curl and Go
     * read `no_proxy` (domain suffixes, IP literals, CIDRs, `host:port`, `*`).
     */
    bypassStyle?: "windows" | "no_proxy";
  }
  /** A PAC file at this URL (Windows `AutoConfigURL`, `--upstreamProxy pac+http://...`). */
  | { kind: "pac"; url: string }
  /** "Automatically detect settings" (WPAD), optionally with a PAC URL and fixed proxies behind it. */
  | { kind: "auto-detect"; pacUrl?: string; fallback?: UpstreamConfig };

/** Where an UpstreamConfig was found, for the banner and the log. */
export interface UpstreamFound {
  config: UpstreamConfig;
  /** "--upstreamProxy", "Windows system proxy (LAN)", "environment (https_proxy)", ... */
  source: string;
}

/**
 * Makes the PAC evaluator for a PAC upstream: `url` the script's address; `autoDetect` when the
 * script is to be found by WPAD (only the Windows evaluator, through WinHttpGetProxyForUrl, can;
 * `url` is then the configured one, if any).
 */
export type PacEvaluatorFactory = (source: { url?: string; autoDetect?: boolean }) => PacEvaluator;
