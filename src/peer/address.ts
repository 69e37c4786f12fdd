/**
 * Addresses as the operating systems' socket tables hold them (raw bytes), in the canonical text
 * `net/ip.ts` gives Deno's addresses, so a table row and a `Deno.NetAddr` compare as strings.
 * @module
 */
import ipaddr from "ipaddr.js";
import { canonicalIp } from "../net/ip.ts";

/** 4 or 16 address bytes in network order as canonical text (IPv4-mapped IPv6 as IPv4). */
export function ipFromBytes(bytes: ArrayLike<number>): string | undefined {
  if (bytes.length !== 4 && bytes.length !== 16) return undefined;
  return canonicalIp(ipaddr.fromByteArray(Array.from(bytes)).toString());
}

/** One socket as a table lists it: its own address, its peer's, and its owner (uid or pid). */
export interface SocketRow {
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
}

/** The client's endpoint, seen from ktctl's accepted socket, in canonical form. */
export interface Endpoint {
  ip: string;
  port: number;
}

export function endpointOf(addr: Deno.NetAddr): Endpoint {
  return { ip: canonicalIp(addr.hostname) ?? addr.hostname, port: addr.port };
}

/**
 * Whether `row` is the client's socket of the connection ktctl sees as (`local`, `remote`): its
 * own address is ktctl's remote one and its peer is ktctl's local one.
 */
export function isClientSide(row: SocketRow, local: Endpoint, remote: Endpoint): boolean {
  return row.localPort === remote.port && row.remotePort === local.port &&
    row.localIp === remote.ip && row.remoteIp === local.ip;
}

/** Who holds the client's socket: its owner's uid, and what else the table says about it. */
export interface SocketOwner {
  uid: number;
  /** Linux: the socket's inode, which leads to the process holding it. */
  inode?: number;
  /** The client program, where the table names it (macOS lsof). */
  program?: { name: string; pid: number };
}

/** Finds the owner of the client's end of the connection ktctl sees as (`local`, `remote`). */
export type OwnerLookup = (
  local: Deno.NetAddr,
  remote: Deno.NetAddr,
) => Promise<SocketOwner | undefined>;
