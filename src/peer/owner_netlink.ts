/**
 * Linux, the fast way: one NETLINK_SOCK_DIAG query (libc through FFI) asks the kernel for the
 * one socket with the client's address tuple, instead of rendering the whole /proc/net/tcp
 * table (which costs milliseconds of kernel time on a machine with thousands of sockets). The
 * kernel answers an exact lookup (no NLM_F_DUMP) with one inet_diag_msg, whose `idiag_uid` is the
 * socket's owner, or with ENOENT. Message building and parsing are pure; owner.ts falls
 * back to /proc/net/tcp when libc or netlink is not available.
 * @module
 */
import ipaddr from "ipaddr.js";
import { type Endpoint, endpointOf, type OwnerLookup, type SocketOwner } from "./address.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 1;
const NLMSG_ERROR = 2;
const IPPROTO_TCP = 6;
const NLMSG_HEADER = 16;
const REQUEST_LENGTH = NLMSG_HEADER + 56;

/** The 16 address bytes of `ip` as `family` holds them (IPv4 first, or IPv4-mapped IPv6). */
function addressBytes(ip: string, family: number): number[] {
  const parsed = ipaddr.parse(ip);
  if (family === AF_INET) {
    return [...(parsed as ipaddr.IPv4).toByteArray(), ...Array(12).fill(0)];
  }
  const v6 = parsed.kind() === "ipv4" ? (parsed as ipaddr.IPv4).toIPv4MappedAddress() : parsed;
  return (v6 as ipaddr.IPv6).toByteArray();
}

/**
 * A sock_diag request for the TCP socket whose own end is `self` and whose peer is `peer`
 * (nlmsghdr + inet_diag_req_v2, all states, no cookie).
 */
export function diagRequest(
  family: number,
  self: Endpoint,
  peer: Endpoint,
  seq: number,
): Uint8Array {
  const b = new Uint8Array(REQUEST_LENGTH);
  const v = new DataView(b.buffer);
  v.setUint32(0, REQUEST_LENGTH, true);
  v.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
  v.setUint16(6, NLM_F_REQUEST, true);
  v.setUint32(8, seq, true);
  const r = NLMSG_HEADER;
  b[r] = family;
  b[r + 1] = IPPROTO_TCP;
  v.setUint32(r + 4, 0xffffffff, true); // every TCP state
  const id = r + 8;
  v.setUint16(id, self.port, false);
  v.setUint16(id + 2, peer.port, false);
  b.set(addressBytes(self.ip, family), id + 4);
  b.set(addressBytes(peer.ip, family), id + 20);
  v.setUint32(id + 36, 0, true); // any interface
  v.setUint32(id + 40, 0xffffffff, true); // INET_DIAG_NOCOOKIE
  v.setUint32(id + 44, 0xffffffff, true);
  return b;
}

/**
 * The answer: the socket's owner uid and inode (inet_diag_msg's idiag_uid, idiag_inode),
 * "absent" (ENOENT), or an error for anything else.
 */
export function parseDiagReply(b: Uint8Array): SocketOwner | "absent" {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < NLMSG_HEADER) throw new Error(`short netlink reply (${b.length} bytes)`);
  const type = v.getUint16(4, true);
  if (type === NLMSG_ERROR) {
    const errno = b.length >= NLMSG_HEADER + 4 ? -v.getInt32(NLMSG_HEADER, true) : NaN;
    if (errno === 2) return "absent"; // ENOENT
    throw new Error(`sock_diag failed (errno ${errno})`);
  }
  if (type !== SOCK_DIAG_BY_FAMILY || b.length < NLMSG_HEADER + 72) {
    throw new Error(`unexpected netlink reply (type ${type}, ${b.length} bytes)`);
  }
  return { uid: v.getUint32(NLMSG_HEADER + 64, true), inode: v.getUint32(NLMSG_HEADER + 68, true) };
}

const LIBC = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;

/**
 * A lookup over one netlink socket, kept open until `close()` (the listener's close); throws at
 * once when libc or NETLINK_SOCK_DIAG is not there (so the caller can pick /proc instead).
 */
export function netlinkOwnerLookup(): OwnerLookup & { close(): void } {
  const lib = Deno.dlopen("libc.so.6", LIBC);
  const libc = lib.symbols;
  const fd = libc.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) {
    lib.close();
    throw new Error("cannot open a NETLINK_SOCK_DIAG socket");
  }
  // The kernel answers at once; should it not, recv gives up after 200 ms (struct timeval).
  const timeout = new BigInt64Array([0n, 200_000n]);
  libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, new Uint8Array(timeout.buffer), 16);
  const reply = new Uint8Array(8192);
  const view = new DataView(reply.buffer);
  let seq = 0;
  const ask = (family: number, self: Endpoint, peer: Endpoint): SocketOwner | "absent" => {
    const request = diagRequest(family, self, peer, ++seq);
    if (Number(libc.send(fd, request, BigInt(request.length), 0)) !== request.length) {
      throw new Error("sock_diag request not sent");
    }
    // A reply to an earlier request that timed out may come first: skip it.
    for (let i = 0; i < 4; i++) {
      const n = Number(libc.recv(fd, reply, BigInt(reply.length), 0));
      if (n < 0) throw new Error("no sock_diag reply within 200 ms");
      if (n >= NLMSG_HEADER && view.getUint32(8, true) !== seq) continue;
      return parseDiagReply(reply.subarray(0, n));
    }
    throw new Error("sock_diag replies out of step");
  };
  const lookup = (local: Deno.NetAddr, remote: Deno.NetAddr) => {
    const [l, r] = [endpointOf(local), endpointOf(remote)];
    // The client's socket: its own end is ktctl's remote address, its peer ktctl's local one.
    // An IPv4 connection may come from a dual-stack (IPv6) client socket.
    const families = r.ip.includes(":") ? [AF_INET6] : [AF_INET, AF_INET6];
    for (const family of families) {
      const found = ask(family, r, l);
      if (found !== "absent") return Promise.resolve(found);
    }
    return Promise.resolve(undefined);
  };
  let closed = false;
  return Object.assign(lookup, {
    close() {
      if (closed) return;
      closed = true;
      libc.close(fd);
      lib.close();
    },
  });
}
