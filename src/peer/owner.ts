/**
 * Whether a connection to the proxy comes from a program of the user who runs ktctl. On a shared
 * machine (a terminal server, a jump host) any local account can reach a loopback port, and
 * through ktctl the cluster, with this user's credentials. The check runs once per accepted
 * connection, before a byte of it is read, never on the data path: the client's end of the
 * connection is looked up in the operating system's socket table (see the per-platform modules:
 * Linux asks sock_diag, else reads /proc/net/tcp{,6}), and its owner compared with this
 * process's user. Anything that cannot be told (the socket is not listed, the table cannot be
 * read, the lookup takes too long) is refused. Connections from other machines are never listed:
 * those are decided by `--allowFrom` (policy.ts), not here. An admitted connection's verdict
 * names the client program where the platform tells it.
 * @module
 */
import type { OwnerLookup } from "./address.ts";
import { lookupClientOwner } from "./owner_linux.ts";
import { netlinkOwnerLookup } from "./owner_netlink.ts";
import { lsofClientOwner } from "./owner_macos.ts";
import { windowsPeerCheck } from "./owner_windows.ts";
import { type Program, programOfSocket } from "./program_linux.ts";
import type { Admission, AdmissionCheck } from "./verdict.ts";

export interface PeerCheckOptions {
  os?: typeof Deno.build.os;
  /** The longest a lookup may take before the connection is refused. */
  timeoutMs?: number;
  /** Linux: sock_diag with /proc as the fallback (the default), or /proc alone. */
  linux?: "netlink" | "proc";
  /**
   * Linux: name the client program of an admitted connection (default: yes). A function is
   * asked per connection: naming scans `/proc` (about a fifth of a millisecond of CPU per
   * connection), so ktctl names programs only while someone reads the names (the live view,
   * `ktctl status`, the `-d` log).
   */
  nameProgram?: boolean | (() => boolean);
}

/** The check for this platform. Throws when the platform's own facts cannot be read at all. */
export function peerOwnerCheck(opts: PeerCheckOptions = {}): AdmissionCheck {
  const os = opts.os ?? Deno.build.os;
  const timeoutMs = opts.timeoutMs ?? 2_000;
  if (os === "windows") return guarded(windowsPeerCheck(), timeoutMs);
  if (os === "darwin") return guarded(uidCheck(lsofClientOwner), timeoutMs);
  const lookup: { lookup: OwnerLookup; close?(): void } = opts.linux === "proc"
    ? { lookup: lookupClientOwner }
    : linuxLookup();
  return Object.assign(
    guarded(
      uidCheck(lookup.lookup, undefined, programNaming(opts.nameProgram)),
      timeoutMs,
    ),
    {
      close: () => lookup.close?.(),
    },
  );
}

/** Names the program holding a socket; undefined when no name is wanted now. */
type ProgramNaming = (inode: number, uid: number) => Promise<Program | undefined> | undefined;

/** `programOfSocket`, or nothing when naming is off (always, or for now). */
function programNaming(
  wanted: PeerCheckOptions["nameProgram"],
): ProgramNaming | undefined {
  if (wanted === false) return undefined;
  if (wanted === undefined || wanted === true) return programOfSocket;
  return (inode, uid) => wanted() ? programOfSocket(inode, uid) : undefined;
}

/**
 * sock_diag over netlink (microseconds), else /proc/net/tcp (milliseconds on a busy machine);
 * a netlink failure on one connection falls back to /proc for that connection.
 */
function linuxLookup(): { lookup: OwnerLookup; close?(): void } {
  let netlink: ReturnType<typeof netlinkOwnerLookup>;
  try {
    netlink = netlinkOwnerLookup();
  } catch {
    return { lookup: lookupClientOwner };
  }
  return {
    lookup: (local, remote) => netlink(local, remote).catch(() => lookupClientOwner(local, remote)),
    close: () => netlink.close(),
  };
}

/**
 * Compares the owning uid that `lookup` finds with this process's. For an admitted connection
 * whose lookup gave a socket inode but no program, `programOf` names the program (Linux), in the
 * verdict's `naming`, which the admission does not wait for.
 */
export function uidCheck(
  lookup: OwnerLookup,
  own: number = Deno.uid() ?? -1,
  programOf?: ProgramNaming,
): AdmissionCheck {
  return async (local, remote) => {
    const owner = await lookup(local, remote);
    if (owner === undefined) return { allowed: false, detail: "the client's socket is not listed" };
    if (owner.uid !== own) {
      return { allowed: false, detail: `its program runs as uid ${owner.uid}, not as this user` };
    }
    const program = owner.program;
    if (program) {
      return {
        allowed: true,
        detail: `uid ${owner.uid}, ${program.name} (${program.pid})`,
        program,
      };
    }
    // Naming the program is for the log and the live view: it never decides admission, and the
    // connection does not wait for it.
    const naming = owner.inode
      ? programOf?.(owner.inode, owner.uid)?.catch(() => undefined)
      : undefined;
    return { allowed: true, detail: `uid ${owner.uid}`, ...(naming ? { naming } : {}) };
  };
}

/** Fails closed: an error or a lookup past its deadline refuses the connection. */
function guarded(check: AdmissionCheck, timeoutMs: number): AdmissionCheck {
  return async (local, remote) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<Admission>((resolve) => {
      timer = setTimeout(
        () => resolve({ allowed: false, detail: `no owner found within ${timeoutMs} ms` }),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([
        check(local, remote).catch((e) => ({
          allowed: false,
          detail: `cannot tell who owns it: ${(e as Error).message}`,
        })),
        late,
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
}
