/**
 * Who may read ktctl's own pages (`/`, `/api/status`, `/proxy.pac`): only requests addressed to
 * ktctl's own authority (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`, or the address the
 * connection came in on) and not sent by another site's page. This stops a web page from reading
 * them: through DNS rebinding (its own name, now pointing at 127.0.0.1, arrives in `Host`) and
 * cross-origin (`<script src>`, `fetch` and the like carry `Sec-Fetch-Site` and often `Origin`).
 * A PAC fetch by a browser or WinINet sends neither field, so it keeps working. Pure.
 * @module
 */
import { canonicalIp } from "../../net/ip.ts";
import { type Field, fieldValues } from "./head.ts";

export type OwnPageVerdict =
  | { serve: true }
  /** 421 for another authority, 403 for another site's page; answered with no content. */
  | { serve: false; status: 421 | 403; reason: string };

/** Fields on every answer to an own-page request, refusals included. */
export const OWN_PAGE_FIELDS: Field[] = [
  ["X-Content-Type-Options", "nosniff"],
  ["Cross-Origin-Resource-Policy", "same-origin"],
  ["Referrer-Policy", "no-referrer"],
  ["X-Frame-Options", "DENY"],
];

/** The page's own fields: its script and style are inline, it fetches only from itself. */
export const PAGE_CSP: Field = [
  "Content-Security-Policy",
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
  "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
];

/**
 * Decides whether to serve an own-page request. `absoluteAuthority` is the `host[:port]` of an
 * absolute-form target (which takes the place of `Host`, RFC 9112 §3.2.2); `local` is the
 * address and port the connection was accepted on.
 */
export function ownPageVerdict(
  req: { fields: readonly Field[]; absoluteAuthority?: string },
  local: { hostname: string; port: number },
): OwnPageVerdict {
  const hosts = fieldValues(req.fields, "host");
  const authority = req.absoluteAuthority ?? (hosts.length === 1 ? hosts[0] : undefined);
  if (authority === undefined) {
    return refuse(421, hosts.length === 0 ? "no Host field" : "more than one Host field");
  }
  if (!isOwnAuthority(authority, local)) return refuse(421, `not ktctl's address: ${authority}`);
  const sites = fieldValues(req.fields, "sec-fetch-site");
  if (sites.some((v) => v.toLowerCase() !== "same-origin" && v.toLowerCase() !== "none")) {
    return refuse(403, `sent by another site's page (Sec-Fetch-Site: ${sites.join(", ")})`);
  }
  for (const origin of fieldValues(req.fields, "origin")) {
    const m = /^http:\/\/(.+)$/i.exec(origin);
    if (!m || !isOwnAuthority(m[1], local)) return refuse(403, `from another origin: ${origin}`);
  }
  return { serve: true };
}

/** Whether `authority` (`host[:port]` as in `Host`) names ktctl itself on `local.port`. */
export function isOwnAuthority(
  authority: string,
  local: { hostname: string; port: number },
): boolean {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return false;
  const port = m[3] === undefined ? 80 : Number(m[3]);
  if (port !== local.port) return false;
  const name = (m[1] ?? m[2]).toLowerCase();
  if (name === "localhost") return true;
  const ip = canonicalIp(name);
  if (ip === undefined) return false;
  return ip === "127.0.0.1" || ip === "::1" || ip === canonicalIp(local.hostname);
}

function refuse(status: 421 | 403, reason: string): OwnPageVerdict {
  return { serve: false, status, reason };
}
