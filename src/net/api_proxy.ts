/**
 * Which proxy ktctl's own API traffic takes, as kubectl (client-go) decides it: the kubeconfig
 * cluster's `proxy-url` first (`http://`, `https://`, `socks5://`), else `HTTPS_PROXY` (for an
 * `https://` server; `HTTP_PROXY` for `http://`) and `NO_PROXY` as Go's `httpproxy` reads them:
 * upper case first, then lower case; `localhost` and loopback addresses are never proxied. Pure.
 * @module
 */
import { canonicalIp, isLoopback } from "./ip.ts";
import { noProxyMatch, parseNoProxy } from "./no_proxy.ts";

export interface ApiProxy {
  /** The proxy URL, credentials included (never log it: use `display`). */
  url: string;
  /** `http://host:port` without credentials, for messages. */
  display: string;
  /** Where it came from: "kubeconfig proxy-url", "HTTPS_PROXY", "https_proxy", ... */
  source: string;
}

/** The proxy for requests to `server`, or undefined for a direct connection. */
export function apiProxyFor(
  server: string,
  kubeconfigProxyUrl: string | undefined,
  env: (name: string) => string | undefined,
): ApiProxy | undefined {
  if (kubeconfigProxyUrl) return describe(kubeconfigProxyUrl, "kubeconfig proxy-url");
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    return undefined;
  }
  const host = u.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const ip = canonicalIp(host);
  if (host === "localhost" || (ip !== undefined && isLoopback(ip))) return undefined;
  const secure = u.protocol === "https:" || u.protocol === "wss:";
  const names = secure ? ["HTTPS_PROXY", "https_proxy"] : ["HTTP_PROXY", "http_proxy"];
  const variable = names.find((n) => env(n));
  if (!variable) return undefined;
  const noProxy = env("NO_PROXY") || env("no_proxy") || "";
  const port = Number(u.port || (secure ? 443 : 80));
  if (noProxyMatch(parseNoProxy(noProxy), host, port)) return undefined;
  const value = env(variable)!.trim();
  return describe(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`, variable);
}

function describe(url: string, source: string): ApiProxy {
  try {
    const u = new URL(url);
    return { url, display: `${u.protocol}//${u.host}`, source };
  } catch {
    return { url, display: url.replace(/\/\/[^@/]*@/, "//"), source };
  }
}

/**
 * Runs `create` (a synchronous `Deno.createHttpClient`) with NO_PROXY naming `host`: Deno's own
 * client reads the proxy variables when it is created, and proxies loopback too, which Go never
 * does (Deno 2.9.6 does not read `*` there, so the host is named). Synchronous, so no other code
 * of this process sees the change; Workers get no env access.
 */
export function withoutEnvProxies<T>(host: string, create: () => T): T {
  const names = ["NO_PROXY", "no_proxy"];
  const saved = names.map((n) => [n, Deno.env.get(n)] as const);
  try {
    for (const n of names) Deno.env.set(n, host.replace(/^\[|\]$/g, ""));
    return create();
  } finally {
    for (const [n, v] of saved) v === undefined ? Deno.env.delete(n) : Deno.env.set(n, v);
  }
}

/** A Deno.Proxy for `p` (credentials as Basic auth, not in the URL). */
export function denoProxy(p: ApiProxy): Deno.Proxy {
  const u = new URL(p.url);
  const transport = u.protocol === "https:"
    ? "https"
    : u.protocol.startsWith("socks5")
    ? "socks5"
    : "http";
  const basicAuth = u.username
    ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }
    : undefined;
  u.username = "";
  u.password = "";
  return { transport, url: u.toString().replace(/\/$/, ""), ...(basicAuth ? { basicAuth } : {}) };
}
