/**
 * Whether a connection to the proxy comes from a program of the user who runs ktctl. On a shared
 * machine (a terminal server, a jump host) any local account can reach a loopback port, and
 * through ktctl the cluster, with this user's credentials. The check runs once per accepted
 * connection, before the handshake, never on the data path: the client's end of the connection
 * is looked up in the operating system's socket table (see the per-platform modules: Linux asks
 * sock_diag, else reads /proc/net/tcp{,6}), and its owner compared with this process's user. Anything that cannot be told (the socket is not
 * listed, the table cannot be read, the lookup takes too long) is refused: connections from
 * other machines are never listed, so a proxy bound beyond loopback needs the check turned off.
 * @module
 */
import { lookupClientUid } from "./owner_linux.ts";
import { netlinkUidLookup, type UidLookup } from "./owner_netlink.ts";
import { lsofClientUid } from "./owner_macos.ts";
import { windowsPeerCheck } from "./owner_windows.ts";

export interface PeerVerdict {
  allowed: boolean;
  /** Who the client is (uid, pid, SID) or why that is unknown, for the log line. */
  detail: string;
}

/**
 * `local` and `remote` are the accepted connection's own `localAddr` and `remoteAddr`. `close`
 * releases what the check holds (Linux: its netlink socket).
 */
export type PeerCheck = ((local: Deno.NetAddr, remote: Deno.NetAddr) => Promise<PeerVerdict>) & {
  close?(): void;
};

export interface PeerCheckOptions {
  os?: typeof Deno.build.os;
  /** The longest a lookup may take before the connection is refused. */
  timeoutMs?: number;
  /** Linux: sock_diag with /proc as the fallback (the default), or /proc alone. */
  linux?: "netlink" | "proc";
}

/** The check for this platform. Throws when the platform's own facts cannot be read at all. */
export function peerOwnerCheck(opts: PeerCheckOptions = {}): PeerCheck {
  const os = opts.os ?? Deno.build.os;
  if (os === "windows") return guarded(windowsPeerCheck(), opts.timeoutMs ?? 2_000);
  if (os === "darwin") return guarded(uidCheck(lsofClientUid), opts.timeoutMs ?? 2_000);
  const lookup: { lookup: UidLookup; close?(): void } = opts.linux === "proc"
    ? { lookup: lookupClientUid }
    : linuxLookup();
  return Object.assign(guarded(uidCheck(lookup.lookup), opts.timeoutMs ?? 2_000), {
    close: () => lookup.close?.(),
  });
}

/**
 * sock_diag over netlink (microseconds), else /proc/net/tcp (milliseconds on a busy machine);
 * a netlink failure on one connection falls back to /proc for that connection.
 */
function linuxLookup(): { lookup: UidLookup; close?(): void } {
  let netlink: ReturnType<typeof netlinkUidLookup>;
  try {
    netlink = netlinkUidLookup();
  } catch {
    return { lookup: lookupClientUid };
  }
  return {
    lookup: (local, remote) => netlink(local, remote).catch(() => lookupClientUid(local, remote)),
    close: () => netlink.close(),
  };
}

/** Compares the owning uid that `lookup` finds with this process's. */
export function uidCheck(
  lookup: (local: Deno.NetAddr, remote: Deno.NetAddr) => Promise<number | undefined>,
  own: number = Deno.uid() ?? -1,
): PeerCheck {
  return async (local, remote) => {
    const uid = await lookup(local, remote);
    if (uid === undefined) return { allowed: false, detail: "the client's socket is not listed" };
    return { allowed: uid === own, detail: `uid ${uid}` };
  };
}

/** Fails closed: an error or a lookup past its deadline refuses the connection. */
function guarded(check: PeerCheck, timeoutMs: number): PeerCheck {
  return async (local, remote) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<PeerVerdict>((resolve) => {
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
