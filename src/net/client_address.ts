/**
 * The address programs should use to reach ktctl. A listener on the unspecified address
 * (`0.0.0.0`, `::`) is reached through loopback, so every value ktctl prints or writes (the
 * banner, `http_proxy`, the system proxy, the PAC file) uses one rule and they always agree.
 * @module
 */

export function clientHost(listenAddress: string): string {
  if (listenAddress === "0.0.0.0") return "127.0.0.1";
  if (listenAddress === "::") return "::1";
  return listenAddress;
}

/** `host:port`, with IPv6 hosts in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}
