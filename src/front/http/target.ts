/**
 * Reads what an HTTP proxy request is for (RFC 9112 §3.2): `CONNECT host:port` (authority form),
 * `GET http://host[:port]/path` (absolute form, what clients send to a proxy), or `GET /path`
 * (origin form: a request to ktctl itself, such as a browser fetching the PAC file). The path is
 * passed on exactly as the client wrote it: WHATWG `URL` would normalise dot segments and
 * percent-encoding, and a proxy must not change what the server sees.
 * @module
 */
import { normalizeHostname } from "../hostname.ts";
import { canonicalIp } from "../../net/ip.ts";

export type Target =
  | { form: "authority"; host: string; port: number }
  | {
    form: "absolute";
    scheme: "http" | "https" | "ws" | "wss";
    host: string;
    port: number;
    /** `host[:port]` as written, for a Host field when the client sent none (HTTP/1.0). */
    authority: string;
    /** Path and query as written ("/" when the URL had none); never a fragment. */
    path: string;
  }
  | { form: "origin"; path: string };

export type TargetParse = { ok: true; target: Target } | { ok: false; reason: string };

const DEFAULT_PORTS = { http: 80, ws: 80, https: 443, wss: 443 } as const;

/** Parses the request target of `method`. */
export function parseTarget(method: string, raw: string): TargetParse {
  if (method === "CONNECT") {
    const a = parseAuthority(raw, undefined);
    return a.ok ? { ok: true, target: { form: "authority", host: a.host, port: a.port } } : a;
  }
  if (raw.startsWith("/")) return { ok: true, target: { form: "origin", path: raw } };
  if (raw === "*") return { ok: false, reason: "OPTIONS * is for a server, not a proxy" };
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(raw);
  if (!m) return { ok: false, reason: `the request target ${short(raw)} is not an absolute URL` };
  const scheme = m[1].toLowerCase();
  if (!(scheme in DEFAULT_PORTS)) {
    return { ok: false, reason: `ktctl proxies http:// URLs (and CONNECT), not ${scheme}://` };
  }
  const s = scheme as keyof typeof DEFAULT_PORTS;
  // Credentials in the URL are the origin's business, never a proxy's: drop them.
  const authority = m[2].slice(m[2].lastIndexOf("@") + 1);
  const a = parseAuthority(authority, DEFAULT_PORTS[s]);
  if (!a.ok) return a;
  let path = m[3] === "" ? "/" : m[3];
  if (path.startsWith("?")) path = "/" + path;
  return {
    ok: true,
    target: { form: "absolute", scheme: s, host: a.host, port: a.port, authority, path },
  };
}

/** `host:port`, `[v6]:port`, or with `defaultPort` the port may be left out. */
export function parseAuthority(
  raw: string,
  defaultPort: number | undefined,
): { ok: true; host: string; port: number } | { ok: false; reason: string } {
  let host: string;
  let portText: string | undefined;
  if (raw.startsWith("[")) {
    const close = raw.indexOf("]");
    if (close < 0) return { ok: false, reason: `${short(raw)}: unclosed [` };
    host = raw.slice(1, close);
    const rest = raw.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) {
      return { ok: false, reason: `${short(raw)}: junk after ]` };
    }
    portText = rest === "" ? undefined : rest.slice(1);
    const ip = canonicalIp(host);
    if (!ip || !ip.includes(":")) {
      return { ok: false, reason: `${short(host)} is not an IPv6 address` };
    }
    host = ip;
  } else {
    const colon = raw.lastIndexOf(":");
    if (colon >= 0 && raw.indexOf(":") !== colon) {
      return { ok: false, reason: `${short(raw)}: an IPv6 address needs brackets` };
    }
    host = colon >= 0 ? raw.slice(0, colon) : raw;
    portText = colon >= 0 ? raw.slice(colon + 1) : undefined;
    const name = normalizeHostname(host);
    if (!name) return { ok: false, reason: `${short(host)} is not a host name` };
    host = name;
  }
  let port: number;
  if (portText === undefined || portText === "") {
    if (defaultPort === undefined) return { ok: false, reason: `${short(raw)} has no port` };
    port = defaultPort;
  } else {
    if (!/^[0-9]{1,5}$/.test(portText)) {
      return { ok: false, reason: `${short(portText)} is not a port` };
    }
    port = Number(portText);
  }
  if (port < 1 || port > 65535) return { ok: false, reason: `port ${port} is out of range` };
  return { ok: true, host, port };
}

/**
 * A request target as logs may show it: no query or fragment (they carry tokens and personal
 * data), no credentials, cut short.
 */
export function loggableTarget(raw: string): string {
  let t = raw.split(/[?#]/)[0];
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/]*@)/.exec(t);
  if (m) t = m[1] + t.slice(m[0].length);
  return t.length > 200 ? t.slice(0, 200) + "…" : t;
}

function short(s: string): string {
  return JSON.stringify(s.length > 60 ? s.slice(0, 60) + "…" : s);
}
