/**
 * macOS, best effort: macOS has no /proc, and its socket table with owners
 * (`net.inet.tcp.pcblist_n`) is an undocumented struct layout. `lsof` (part of macOS) lists
 * the sockets of the processes this user may inspect, with their pid and uid: the client's
 * socket is the one named `client->ktctl`. Another user's process is not listed to a non-root
 * user, so its connection is refused as "not found". Spawning lsof costs tens of milliseconds
 * per new connection; the same code runs on Linux wherever lsof is installed (that is how it is
 * tested).
 * @module
 */
import { type Endpoint, endpointOf } from "./address.ts";

/** `lsof -F pun` output: the uid of the process with a file named `name`. */
export function uidFromLsof(output: string, name: string): number | undefined {
  let uid: number | undefined;
  for (const line of output.split("\n")) {
    if (line.startsWith("p")) uid = undefined;
    else if (line.startsWith("u")) uid = Number(line.slice(1));
    else if (line.startsWith("n") && line.slice(1) === name && uid !== undefined) return uid;
  }
  return undefined;
}

/** lsof's name for a TCP socket: `local->remote`, IPv6 addresses in brackets. */
export function lsofName(from: Endpoint, to: Endpoint): string {
  const text = (e: Endpoint) => `${e.ip.includes(":") ? `[${e.ip}]` : e.ip}:${e.port}`;
  return `${text(from)}->${text(to)}`;
}

/** The uid owning the client's socket, according to lsof; undefined when it is not listed. */
export async function lsofClientUid(
  local: Deno.NetAddr,
  remote: Deno.NetAddr,
  timeoutMs = 2_000,
): Promise<number | undefined> {
  const [l, r] = [endpointOf(local), endpointOf(remote)];
  const host = r.ip.includes(":") ? `[${r.ip}]` : r.ip;
  const out = await new Deno.Command("lsof", {
    args: ["-nP", `-iTCP@${host}:${r.port}`, "-F", "pun"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  return uidFromLsof(new TextDecoder().decode(out.stdout), lsofName(r, l));
}
