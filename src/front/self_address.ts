/**
 * Whether a destination is the listener itself. Proxying to ktctl's own port would loop a
 * connection through ktctl (and, for HTTP, answer a browser's request for the PAC file with a
 * proxied copy of itself), so the fronts serve or refuse such requests locally instead.
 * @module
 */
import { canonicalIp, isLoopback } from "../net/ip.ts";

export function isSelfAddress(host: string, port: number, listening: Deno.NetAddr): boolean {
  if (port !== listening.port) return false;
  const bound = canonicalIp(listening.hostname) ?? listening.hostname;
  const unspecified = bound === "0.0.0.0" || bound === "::";
  if (host === "localhost" || host.endsWith(".localhost")) return unspecified || isLoopback(bound);
  const ip = canonicalIp(host);
  if (!ip) return false;
  if (ip === bound) return true;
  if (!unspecified) return false;
  if (isLoopback(ip) || ip === "0.0.0.0" || ip === "::") return true;
  return localAddresses().has(ip);
}

let cached: Set<string> | undefined;

/** This machine's interface addresses (looked up once: they matter only for a 0.0.0.0 bind). */
function localAddresses(): Set<string> {
  if (!cached) {
    cached = new Set();
    try {
      for (const i of Deno.networkInterfaces()) {
        const ip = canonicalIp(i.address.split("%")[0]);
        if (ip) cached.add(ip);
      }
    } catch { /* no permission: loopback and the bound address still count */ }
  }
  return cached;
}
