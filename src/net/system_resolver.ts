/**
 * Name lookups with the system resolver (getaddrinfo, through node:dns), so /etc/hosts, the
 * hosts file on Windows and the OS's DNS settings apply as they would without ktctl. Deno's own
 * `Deno.resolveDns` asks DNS servers directly and skips all of that.
 *
 * node:dns is imported on the first lookup, not at start: the first `node:` module loads Deno's
 * Node compatibility layer (~5 MB and ~10 ms), which a `connect` that only reaches the cluster
 * never needs.
 * @module
 */

type Dns = typeof import("node:dns/promises");
let dns: Promise<Dns> | undefined;

function loaded(): Promise<Dns> {
  return dns ??= import("node:dns/promises");
}

/** Every address of `host`, in the resolver's order. */
export async function lookupAll(host: string): Promise<string[]> {
  const found = await (await loaded()).lookup(host, { all: true, verbatim: true });
  return found.map((a) => a.address);
}

/** The first IPv4 address of `host`. */
export async function lookupV4(host: string): Promise<string> {
  return (await (await loaded()).lookup(host, { family: 4 })).address;
}
