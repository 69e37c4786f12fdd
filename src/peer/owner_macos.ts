/**
 * macOS, best effort: macOS has no /proc, and its socket table with owners
 * (`net.inet.tcp.pcblist_n`) is an undocumented struct layout. `lsof` (part of macOS) lists
 * the sockets of the processes this user may inspect, with their pid and uid: the client's
 * socket is the one named `client->ktctl`, and its process (pid, command) names the client
 * program. Another user's process is not listed to a non-root user, so its connection is refused
 * as "not found". Spawning lsof costs tens of milliseconds per new connection, so at most a few
 * run at once (a {@link Limiter}: a burst waits, and past the queue is refused); the same code
 * runs on Linux wherever lsof is installed (that is how it is tested).
 * @module
 */
import { type Endpoint, endpointOf, type SocketOwner } from "./address.ts";
import { Limiter } from "./limiter.ts";

/** `lsof -F pcun` output: the owner (uid, pid, command) of the process with a file named `name`. */
export function ownerFromLsof(output: string, name: string): SocketOwner | undefined {
  let uid: number | undefined;
  let pid: number | undefined;
  let command = "";
  for (const line of output.split("\n")) {
    if (line.startsWith("p")) {
      uid = undefined;
      command = "";
      pid = /^p\d+$/.test(line) ? Number(line.slice(1)) : undefined;
    } else if (line.startsWith("c")) command = line.slice(1);
    else if (line.startsWith("u")) uid = /^u\d+$/.test(line) ? Number(line.slice(1)) : undefined;
    else if (line.startsWith("n") && line.slice(1) === name && uid !== undefined) {
      return pid !== undefined && command ? { uid, program: { name: command, pid } } : { uid };
    }
  }
  return undefined;
}

/** The uid alone (see {@link ownerFromLsof}). */
export function uidFromLsof(output: string, name: string): number | undefined {
  return ownerFromLsof(output, name)?.uid;
}

/** lsof's name for a TCP socket: `local->remote`, IPv6 addresses in brackets. */
export function lsofName(from: Endpoint, to: Endpoint): string {
  const text = (e: Endpoint) => `${e.ip.includes(":") ? `[${e.ip}]` : e.ip}:${e.port}`;
  return `${text(from)}->${text(to)}`;
}

/** At most 4 lsof at once and 64 waiting: a burst cannot start a process per connection. */
const lsofSlots = new Limiter(4, 64);

/** The owner of the client's socket, according to lsof; undefined when it is not listed. */
export function lsofClientOwner(
  local: Deno.NetAddr,
  remote: Deno.NetAddr,
  timeoutMs = 2_000,
  slots: Limiter = lsofSlots,
): Promise<SocketOwner | undefined> {
  const [l, r] = [endpointOf(local), endpointOf(remote)];
  const host = r.ip.includes(":") ? `[${r.ip}]` : r.ip;
  const queued = performance.now();
  return slots.run(async () => {
    // The check has refused the connection by now: do not start an lsof nobody waits for.
    if (performance.now() - queued >= timeoutMs) throw new Error("no lookup slot in time");
    const out = await new Deno.Command("lsof", {
      args: ["-nP", `-iTCP@${host}:${r.port}`, "-F", "pcun"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    return ownerFromLsof(new TextDecoder().decode(out.stdout), lsofName(r, l));
  });
}
