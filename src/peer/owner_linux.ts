/**
 * Linux: who owns the client's end of a loopback connection, from `/proc/net/tcp` and
 * `/proc/net/tcp6`. The client's socket is the row whose local address is ktctl's remote one and
 * whose remote address is ktctl's local one (ktctl's own accepted socket is the mirror row, and
 * always ours). The `uid` column is the socket's owner. The parser is pure; the reader stops at
 * the first match, so the kernel does not render the rest of a long table.
 * @module
 */
import {
  type Endpoint,
  endpointOf,
  ipFromBytes,
  isClientSide,
  type SocketOwner,
  type SocketRow,
} from "./address.ts";

/** One socket row: addresses canonical (IPv4-mapped IPv6 as plain IPv4), ports as numbers. */
export interface ProcTcpRow extends SocketRow {
  /** The kernel's TCP state (1 ESTABLISHED, 6 TIME_WAIT, 10 LISTEN, ...). */
  state: number;
  uid: number;
  inode: number;
}

/** TIME_WAIT rows belong to no process any more (the kernel shows uid 0 and inode 0 for them). */
const TCP_TIME_WAIT = 6;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes the kernel's hex address: 8 digits (IPv4) or 32 (IPv6), each 32-bit group printed
 * as a native-order word, so on little-endian machines every group's bytes are reversed.
 */
export function decodeProcAddress(hex: string, littleEndian = LITTLE_ENDIAN): string | undefined {
  if ((hex.length !== 8 && hex.length !== 32) || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  const bytes: number[] = [];
  for (let g = 0; g < hex.length; g += 8) {
    const word = [0, 2, 4, 6].map((i) => parseInt(hex.slice(g + i, g + i + 2), 16));
    bytes.push(...(littleEndian ? word.reverse() : word));
  }
  return ipFromBytes(bytes);
}

/** Parses one table line; undefined for the header and anything malformed. */
export function parseProcTcpLine(
  line: string,
  littleEndian = LITTLE_ENDIAN,
): ProcTcpRow | undefined {
  const f = line.trim().split(/\s+/);
  if (f.length < 10 || !/^\d+:$/.test(f[0])) return undefined;
  const [local, remote] = [f[1], f[2]].map((a) => a.split(":"));
  if (local.length !== 2 || remote.length !== 2) return undefined;
  const localIp = decodeProcAddress(local[0], littleEndian);
  const remoteIp = decodeProcAddress(remote[0], littleEndian);
  const nums = [local[1], remote[1], f[3]].map((h) =>
    /^[0-9A-Fa-f]{1,4}$/.test(h) ? parseInt(h, 16) : NaN
  );
  const uid = /^\d+$/.test(f[7]) ? Number(f[7]) : NaN;
  const inode = /^\d+$/.test(f[9]) ? Number(f[9]) : NaN;
  if (!localIp || !remoteIp || [...nums, uid, inode].some(Number.isNaN)) return undefined;
  return {
    localIp,
    localPort: nums[0],
    remoteIp,
    remotePort: nums[1],
    state: nums[2],
    uid,
    inode,
  };
}

/** The row of the client's socket among `lines`, given ktctl's view of the connection. */
export function findClientRow(
  lines: Iterable<string>,
  local: Endpoint,
  remote: Endpoint,
): ProcTcpRow | undefined {
  for (const line of lines) {
    const row = parseProcTcpLine(line);
    if (row && row.state !== TCP_TIME_WAIT && isClientSide(row, local, remote)) return row;
  }
  return undefined;
}

/** Reads `path` line by line, stopping as soon as the consumer stops. */
async function* lines(path: string): AsyncGenerator<string> {
  using file = await Deno.open(path);
  const decoder = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  let pending = "";
  while (true) {
    const n = await file.read(buf);
    if (n === null) break;
    pending += decoder.decode(buf.subarray(0, n), { stream: true });
    const parts = pending.split("\n");
    pending = parts.pop()!;
    yield* parts;
  }
  if (pending) yield pending;
}

/** The uid owning the client's socket (see {@link lookupClientOwner}). */
export async function lookupClientUid(
  local: Deno.NetAddr,
  remote: Deno.NetAddr,
  tables = ["/proc/net/tcp", "/proc/net/tcp6"],
): Promise<number | undefined> {
  return (await lookupClientOwner(local, remote, tables))?.uid;
}

/** Finds the client's row in tcp, then tcp6 (a dual-stack client socket appears there). */
export async function lookupClientOwner(
  local: Deno.NetAddr,
  remote: Deno.NetAddr,
  tables = ["/proc/net/tcp", "/proc/net/tcp6"],
): Promise<SocketOwner | undefined> {
  const [l, r] = [endpointOf(local), endpointOf(remote)];
  // The client's port as the table spells it: most rows are skipped without being parsed.
  const needle = `:${r.port.toString(16).toUpperCase().padStart(4, "0")} `;
  for (const table of tables) {
    let found: ProcTcpRow | undefined;
    try {
      for await (const line of lines(table)) {
        if (!line.includes(needle)) continue;
        found = findClientRow([line], l, r);
        if (found) break; // ends the generator, which closes the file
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // no IPv6 in this kernel
      throw e;
    }
    if (found) return { uid: found.uid, inode: found.inode };
  }
  return undefined;
}
