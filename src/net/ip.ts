/**
 * IP address and CIDR helpers over ipaddr.js, so that every part of ktctl compares addresses in
 * one canonical form (dotted IPv4; RFC 5952 IPv6; IPv4-mapped IPv6 folded to IPv4).
 * @module
 */
import ipaddr from "ipaddr.js";

export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * Recent answers of the pure functions below, by their text: every connection parses its
 * destination and the client's address (ipaddr.js's parse, ~tens of microseconds), mostly the
 * same few. Bounded: emptied when full, so hostile text cannot grow it.
 */
class Memo<T> {
  #map = new Map<string, T>();
  constructor(readonly max = 1024) {}
  get(key: string, compute: (key: string) => T): T {
    const hit = this.#map.get(key);
    if (hit !== undefined || this.#map.has(key)) return hit as T;
    const value = compute(key);
    if (this.#map.size >= this.max) this.#map.clear();
    this.#map.set(key, value);
    return value;
  }
}

const canonical = new Memo<string | undefined>();
const parsed = new Memo<ipaddr.IPv4 | ipaddr.IPv6>();

/** The canonical text of an IP literal, or undefined when `text` is not one. */
export function canonicalIp(text: string): string | undefined {
  return canonical.get(text, computeCanonicalIp);
}

function computeCanonicalIp(text: string): string | undefined {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  if (!ipaddr.isValid(bare)) return undefined;
  // ipaddr.isValid accepts legacy forms such as "10.1" or "0x0a.0.0.1"; names like that are
  // hostnames to a resolver, so only the four-part decimal form counts as IPv4 here.
  if (!bare.includes(":") && !ipaddr.IPv4.isValidFourPartDecimal(bare)) return undefined;
  const addr = ipaddr.parse(bare);
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (addr as ipaddr.IPv6).toIPv4Address().toString();
  }
  return addr.toString();
}

/** Parses "10.0.0.0/8" or "::1/128"; a bare address means a single host. Throws on bad input. */
export function parseCidr(text: string): Cidr {
  const t = text.trim();
  // As in canonicalIp: ipaddr.js reads legacy forms, so "10.96/12" would mean 10.0.0.96/12.
  const address = t.split("/")[0];
  if (!address.includes(":") && !ipaddr.IPv4.isValidFourPartDecimal(address)) {
    throw new Error(`"${address}" is not an IPv4 address in a.b.c.d form`);
  }
  if (!t.includes("/")) {
    const addr = ipaddr.parse(t);
    return [addr, addr.kind() === "ipv4" ? 32 : 128];
  }
  return ipaddr.parseCIDR(t);
}

/** Whether the canonical address `ip` lies in any of `ranges`. */
export function inRanges(ip: string, ranges: readonly Cidr[]): boolean {
  return rangeIndex(ip, ranges) >= 0;
}

/** The index of the first of `ranges` that holds the canonical address `ip`; -1 if none does. */
export function rangeIndex(ip: string, ranges: readonly Cidr[]): number {
  // Throws on a non-address, as ipaddr.parse does (a throw is not remembered).
  const addr = parsed.get(ip, ipaddr.parse);
  return ranges.findIndex(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
}

/** The /16 (IPv4) or /64 (IPv6) around an address: a guess at the range it was allocated from. */
export function surroundingRange(ip: string): Cidr {
  const addr = ipaddr.parse(ip);
  const bits = addr.kind() === "ipv4" ? 16 : 64;
  return [ipaddr.parse(maskTo(addr, bits)), bits];
}

function maskTo(addr: ipaddr.IPv4 | ipaddr.IPv6, bits: number): string {
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

export function formatCidr([net, bits]: Cidr): string {
  return `${net.toString()}/${bits}`;
}

/** Whether the address is loopback (127.0.0.0/8 or ::1). */
export function isLoopback(ip: string): boolean {
  const c = canonicalIp(ip);
  return c !== undefined && ipaddr.parse(c).range() === "loopback";
}
