/**
 * The one rule for "the address clients should use" to reach a listener: the banner, the
 * `http_proxy`/`https_proxy` values, the Windows system proxy and the PAC file all derive from
 * it, so they can never disagree. A wildcard listen address (`0.0.0.0`, `::`) is not an address
 * a client can dial on every OS (Windows refuses to connect to 0.0.0.0), but the listener also
 * answers on loopback, so clients use loopback of the same family. Any other address is used as
 * it is.
 *
 * @module
 */
import { canonicalIp } from "./ip.ts";

/** The host a client dials to reach a listener on `listenAddress` (no brackets). */
export function clientHost(listenAddress: string): string {
  const bare = listenAddress.startsWith("[") && listenAddress.endsWith("]")
    ? listenAddress.slice(1, -1)
    : listenAddress;
  if (bare === "") return "127.0.0.1";
  const canonical = canonicalIp(bare);
  if (canonical === "0.0.0.0") return "127.0.0.1";
  if (canonical === "::") return "::1";
  return bare;
}

/** `host:port`, with an IPv6 host in brackets (`[::1]:2223`). */
export function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** `host:port` for clients of a listener on `listenAddress`. */
export function clientHostPort(listenAddress: string, port: number): string {
  return hostPort(clientHost(listenAddress), port);
}

/** `scheme://host:port` for clients, e.g. `clientUrl("http", "0.0.0.0", 2223)`. */
export function clientUrl(scheme: string, listenAddress: string, port: number): string {
  return `${scheme}://${clientHostPort(listenAddress, port)}`;
}
