/**
 * Linux: which process holds a socket, for the connection log and the live view. The socket
 * tables give the client socket's inode, not its process; the process is the one with an open
 * file descriptor that links to `socket:[inode]` under `/proc/PID/fd`. Only this user's
 * processes are searched (the lookup runs for admitted connections, whose owner is this user;
 * another user's descriptors are not readable anyway). The processes that connected recently are
 * tried first (a browser opens many connections, so most lookups read one process's
 * descriptors), then the others newest first (a new client is mostly a process just started):
 * measured 1–2 ms per new program among 135 processes. The search yields between slices and
 * stops when its own work passes a budget, or at a longer wall-clock limit; a program not found
 * is left unnamed. The budget counts the scan's work, not the time spent waiting to run again:
 * on a loaded machine (a build, a browser) the waits between slices alone took longer than the
 * whole budget, and connections of programs found in the next slice were left unnamed.
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

/**
 * Whether `/proc/PID/fd` holds a descriptor for `socket:[inode]`. Synchronous on purpose: one
 * process's descriptors are a few hundred readlink calls of a microsecond or two each, where
 * an async op apiece would cost tens of microseconds (measured: 130 ms vs 9 ms for a scan of
 * 131 processes).
 */
function holds(pid: number, target: string): boolean {
  try {
    for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
      try {
        if (Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`) === target) return true;
      } catch { /* closed meanwhile */ }
    }
  } catch { /* exited, or not ours */ }
  return false;
}

function ownerUid(pid: number): number | null | undefined {
  try {
    return Deno.statSync(`/proc/${pid}`).uid;
  } catch {
    return undefined;
  }
}

/** The process name as the kernel keeps it (`comm`, at most 15 bytes). */
function commOf(pid: number): string | undefined {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** How long a lookup may work, and how long it may take in all (waits included). */
export interface SearchLimits {
  workMs: number;
  wallMs: number;
}

/**
 * Well under the admission check's own deadline (2 s, owner.ts): naming a program never makes a
 * connection late enough to be refused.
 */
const LIMITS: SearchLimits = { workMs: 100, wallMs: 1_000 };

/**
 * The process of `uid` that holds the socket `inode`; undefined when none is found within the
 * limits (the socket may also belong to a process that already passed it on or exited).
 */
export async function programOfSocket(
  inode: number,
  uid: number,
  limits: SearchLimits = LIMITS,
): Promise<Program | undefined> {
  if (!inode) return undefined;
  const target = `socket:[${inode}]`;
  const started = performance.now();
  let slice = started;
  let worked = 0;
  const found = (pid: number): Program | undefined => {
    remember(pid);
    const name = commOf(pid);
    return name ? { name, pid } : undefined;
  };
  for (const pid of recent) {
    if (ownerUid(pid) === uid && holds(pid, target)) return found(pid);
  }
  let pids: number[];
  try {
    pids = [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).map((e) =>
      Number(e.name)
    );
  } catch {
    return undefined; // no /proc
  }
  // Newest first: a client that was not seen before is most often a process just started
  // (curl, a build tool), and pids grow until they wrap. ktctl itself last: it holds many.
  pids.sort((a, b) => b - a);
  let checked = 0;
  for (const pid of pids) {
    if (pid === Deno.pid || recent.includes(pid) || ownerUid(pid) !== uid) continue;
    if (holds(pid, target)) return found(pid);
    // Let other connections run between slices of the scan, and stop past the limits.
    if (++checked % 16 === 0) {
      worked += performance.now() - slice;
      if (worked > limits.workMs) return undefined;
      await new Promise((r) => setTimeout(r, 0));
      slice = performance.now();
      if (slice - started > limits.wallMs) return undefined;
    }
  }
  // A client inside ktctl's own process: only tests do that.
  return holds(Deno.pid, target) ? found(Deno.pid) : undefined;
}
