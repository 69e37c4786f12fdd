/**
 * Windows: who owns the client's end of a loopback connection. `GetExtendedTcpTable`
 * (iphlpapi, TCP_TABLE_OWNER_PID_ALL) gives the pid that owns each socket; that process's token
 * (kernel32 OpenProcess, advapi32 OpenProcessToken + GetTokenInformation(TokenUser)) gives its
 * user's SID, which is compared with ktctl's own. A process of another user cannot be opened
 * without Administrator rights: that, too, means "not ours". The table and SID decoders are
 * pure; the FFI part is loaded only on Windows.
 * @module
 */
import {
  type Kernel32,
  openKernel32,
  PROCESS_QUERY_LIMITED_INFORMATION,
  processImageName,
} from "../os/kernel32.ts";
import { type Endpoint, endpointOf, ipFromBytes, isClientSide, type SocketRow } from "./address.ts";
import type { AdmissionCheck } from "./verdict.ts";

export const AF_INET = 2;
export const AF_INET6 = 23;
const TCP_TABLE_OWNER_PID_ALL = 5;
const ERROR_INSUFFICIENT_BUFFER = 122;
const MIB_TCP_STATE_TIME_WAIT = 11;
const TOKEN_QUERY = 0x0008;
const TOKEN_USER = 1;

export interface OwnerPidRow extends SocketRow {
  state: number;
  pid: number;
}

/** A port as the table holds it: a DWORD whose first two bytes are the port in network order. */
function portAt(view: DataView, offset: number): number {
  return view.getUint16(offset, false);
}

/**
 * Decodes a MIB_TCPTABLE_OWNER_PID (AF_INET: 24-byte rows of state, local address, local port,
 * remote address, remote port, pid) or MIB_TCP6TABLE_OWNER_PID (AF_INET6: 56-byte rows of local
 * address[16], scope, port, remote address[16], scope, port, state, pid). Rows that would run
 * past the buffer are dropped.
 */
export function parseTcpTable(bytes: Uint8Array, family: number): OwnerPidRow[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) return [];
  const count = view.getUint32(0, true);
  const size = family === AF_INET ? 24 : 56;
  const rows: OwnerPidRow[] = [];
  for (let i = 0, at = 4; i < count && at + size <= bytes.length; i++, at += size) {
    const row = family === AF_INET
      ? {
        state: view.getUint32(at, true),
        localIp: ipFromBytes(bytes.subarray(at + 4, at + 8)),
        localPort: portAt(view, at + 8),
        remoteIp: ipFromBytes(bytes.subarray(at + 12, at + 16)),
        remotePort: portAt(view, at + 16),
        pid: view.getUint32(at + 20, true),
      }
      : {
        localIp: ipFromBytes(bytes.subarray(at, at + 16)),
        localPort: portAt(view, at + 20),
        remoteIp: ipFromBytes(bytes.subarray(at + 24, at + 40)),
        remotePort: portAt(view, at + 44),
        state: view.getUint32(at + 48, true),
        pid: view.getUint32(at + 52, true),
      };
    if (row.localIp && row.remoteIp) rows.push(row as OwnerPidRow);
  }
  return rows;
}

/** The pid owning the client's socket, if the table lists it (and it is not in TIME_WAIT). */
export function findClientPid(
  rows: OwnerPidRow[],
  local: Endpoint,
  remote: Endpoint,
): number | undefined {
  return rows.find((r) => r.state !== MIB_TCP_STATE_TIME_WAIT && isClientSide(r, local, remote))
    ?.pid;
}

/** The length of the SID at the start of `bytes` (8 + 4 per sub-authority), if it fits. */
export function sidLength(bytes: Uint8Array): number | undefined {
  if (bytes.length < 8) return undefined;
  const length = 8 + 4 * bytes[1];
  return bytes[1] <= 15 && length <= bytes.length ? length : undefined;
}

/** "S-1-5-21-...": revision, 48-bit big-endian authority, then the sub-authorities. */
export function sidToString(bytes: Uint8Array): string {
  const length = sidLength(bytes);
  if (length === undefined) return "S-?";
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  let authority = 0;
  for (let i = 2; i < 8; i++) authority = authority * 256 + bytes[i];
  const subs = [];
  for (let at = 8; at < length; at += 4) subs.push(view.getUint32(at, true));
  return ["S", bytes[0], authority, ...subs].join("-");
}

const SYMBOLS = {
  iphlpapi: {
    GetExtendedTcpTable: {
      parameters: ["buffer", "buffer", "i32", "u32", "u32", "u32"],
      result: "u32",
      nonblocking: true,
    },
  },
  advapi32: {
    OpenProcessToken: { parameters: ["pointer", "u32", "buffer"], result: "i32" },
    GetTokenInformation: {
      parameters: ["pointer", "u32", "buffer", "u32", "buffer"],
      result: "i32",
    },
  },
} as const;

/** iphlpapi and advapi32 are this module's own; kernel32 is shared (`os/kernel32.ts`). */
type Libraries = {
  iphlpapi: Deno.DynamicLibrary<typeof SYMBOLS.iphlpapi>["symbols"];
  kernel32: Kernel32["symbols"];
  advapi32: Deno.DynamicLibrary<typeof SYMBOLS.advapi32>["symbols"];
};

let libraries: Libraries | undefined;

function load(): Libraries {
  libraries ??= {
    iphlpapi: Deno.dlopen("iphlpapi.dll", SYMBOLS.iphlpapi).symbols,
    kernel32: openKernel32().symbols,
    advapi32: Deno.dlopen("advapi32.dll", SYMBOLS.advapi32).symbols,
  };
  return libraries;
}

/** The whole owner-pid table of one address family (the buffer grows as the table does). */
async function tcpTable(lib: Libraries, family: number): Promise<OwnerPidRow[]> {
  const size = new Uint32Array(1);
  let buf = new Uint8Array(16 * 1024);
  for (let attempt = 0; attempt < 4; attempt++) {
    size[0] = buf.length;
    const rc = await lib.iphlpapi.GetExtendedTcpTable(
      buf,
      new Uint8Array(size.buffer),
      0,
      family,
      TCP_TABLE_OWNER_PID_ALL,
      0,
    );
    if (rc === 0) return parseTcpTable(buf.subarray(0, size[0]), family);
    if (rc !== ERROR_INSUFFICIENT_BUFFER) throw new Error(`GetExtendedTcpTable failed (${rc})`);
    buf = new Uint8Array(size[0] + 4096); // it may grow again before the next call
  }
  throw new Error("GetExtendedTcpTable: the table kept growing");
}

/** The user SID of a process handle's token; undefined when the token cannot be read. */
function tokenUserSid(lib: Libraries, process: Deno.PointerValue): Uint8Array | undefined {
  const out = new BigUint64Array(1);
  if (!lib.advapi32.OpenProcessToken(process, TOKEN_QUERY, new Uint8Array(out.buffer))) {
    return undefined;
  }
  const token = Deno.UnsafePointer.create(out[0]);
  try {
    const info = new Uint8Array(256);
    const needed = new Uint32Array(1);
    const ok = lib.advapi32.GetTokenInformation(
      token,
      TOKEN_USER,
      info,
      info.length,
      new Uint8Array(needed.buffer),
    );
    if (!ok) return undefined;
    // TOKEN_USER starts with a pointer to the SID, which lies inside `info`.
    const sid = Deno.UnsafePointer.create(new BigUint64Array(info.buffer, 0, 1)[0]);
    if (!sid) return undefined;
    const head = new Uint8Array(new Deno.UnsafePointerView(sid).getArrayBuffer(8));
    const length = 8 + 4 * head[1];
    return new Uint8Array(new Deno.UnsafePointerView(sid).getArrayBuffer(length)).slice();
  } finally {
    lib.kernel32.CloseHandle(token);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * A check that compares the client process's user SID with ktctl's own; an allowed verdict names
 * the client program (image name and pid).
 */
export function windowsPeerCheck(): AdmissionCheck {
  const lib = load();
  const own = tokenUserSid(lib, lib.kernel32.GetCurrentProcess());
  if (!own) throw new Error("cannot read this process's own user SID");
  return async (local, remote) => {
    const [l, r] = [endpointOf(local), endpointOf(remote)];
    const family = r.ip.includes(":") ? AF_INET6 : AF_INET;
    let pid = findClientPid(await tcpTable(lib, family), l, r);
    // A dual-stack client socket lists an IPv4 peer in the IPv6 table.
    if (pid === undefined && family === AF_INET) {
      pid = findClientPid(await tcpTable(lib, AF_INET6), l, r);
    }
    if (pid === undefined) return { allowed: false, detail: "the client's socket is not listed" };
    // pid 0 is the idle process: a socket no process owns (Wine lists non-Wine processes so).
    if (pid === 0) return { allowed: false, detail: "the client's socket has no owning process" };
    const handle = lib.kernel32.OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
    if (!handle) {
      return { allowed: false, detail: `process ${pid} cannot be opened (another user's?)` };
    }
    try {
      const sid = tokenUserSid(lib, handle);
      if (!sid) return { allowed: false, detail: `process ${pid}'s user cannot be read` };
      const allowed = sameBytes(sid, own);
      const name = allowed ? processImageName(handle) : undefined;
      return {
        allowed,
        detail: `process ${pid}${name ? ` (${name})` : ""}, user ${sidToString(sid)}`,
        ...(name ? { program: { name, pid } } : {}),
      };
    } finally {
      lib.kernel32.CloseHandle(handle);
    }
  };
}
