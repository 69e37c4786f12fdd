/**
 * Linux: which process holds a socket, for the connection log and the live view. The socket
 * tables give the client socket's inode, not its process; the process is the one with an open
 * file descriptor that links to `socket:[inode]` under `/proc/PID/fd`. Only this user's
 * processes are searched (the lookup runs for admitted connections, whose owner is this user;
 * another user's descriptors are not readable anyway), and the processes that connected
 * recently are tried first: a browser opens many connections, so most lookups read one
 * process's descriptors. The search stops at a deadline; a program not found is left unnamed.
 * @module
 */

export interface Program {
  name: string;
  pid: number;
}

/** The pids that connected most recently, newest first (a small, bounded list). */
const recent: number[] = [];
const RECENT_MAX = 16;

function remember(pid: number): void {
  const at = recent.indexOf(pid);
  if (at >= 0) recent.splice(at, 1);
  recent.unshift(pid);
  if (recent.length > RECENT_MAX) recent.pop();
}

/** Whether `/proc/PID/fd` holds a descriptor for `socket:[inode]`. */
async function holds(pid: number, target: string): Promise<boolean> {
  try {
    for await (const fd of Deno.readDir(`/proc/${pid}/fd`)) {
      try {
        if (await Deno.readLink(`/proc/${pid}/fd/${fd.name}`) === target) return true;
      } catch { /* closed meanwhile */ }
    }
  } catch { /* exited, or not ours */ }
  return false;
}

async function ownerUid(pid: number): Promise<number | null | undefined> {
  try {
    return (await Deno.stat(`/proc/${pid}`)).uid;
  } catch {
    return undefined;
  }
}

/** The process name as the kernel keeps it (`comm`, at most 15 bytes). */
async function commOf(pid: number): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(`/proc/${pid}/comm`)).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The process of `uid` that holds the socket `inode`; undefined when none is found before
 * `deadlineMs` (the socket may also belong to a process that already passed it on or exited).
 */
export async function programOfSocket(
  inode: number,
  uid: number,
  deadlineMs = 200,
): Promise<Program | undefined> {
  if (!inode) return undefined;
  const target = `socket:[${inode}]`;
  const end = performance.now() + deadlineMs;
  const tried = new Set<number>();
  const found = async (pid: number): Promise<Program | undefined> => {
    remember(pid);
    const name = await commOf(pid);
    return name ? { name, pid } : undefined;
  };
  for (const pid of [...recent]) {
    tried.add(pid);
    if (await ownerUid(pid) === uid && await holds(pid, target)) return await found(pid);
  }
  try {
    for await (const entry of Deno.readDir("/proc")) {
      if (performance.now() > end) return undefined;
      if (!/^\d+$/.test(entry.name)) continue;
      const pid = Number(entry.name);
      if (pid === Deno.pid || tried.has(pid)) continue; // ktctl itself last: it holds many

      if (await ownerUid(pid) !== uid) continue;
      if (await holds(pid, target)) return await found(pid);
    }
  } catch { /* no /proc */ }
  // A client inside ktctl's own process: only tests do that.
  if (!tried.has(Deno.pid) && await holds(Deno.pid, target)) return await found(Deno.pid);
  return undefined;
}
