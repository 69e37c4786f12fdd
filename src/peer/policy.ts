/**
 * Who may connect, as one check the listener runs at accept:
 * - a peer on loopback is a program on this machine: its owner must be this user (the
 *   peer-owner check), unless `--allowOtherUsers` turned that check off;
 * - with `--allowFrom`, a peer must also be in those ranges, except the loopback addresses
 *   programs are told to use (127.0.0.1, ::1), which are always in;
 * - a peer beyond loopback is served only when `--allowFrom` holds it: its socket is on another
 *   machine, so no owner can be checked, and the ranges are the whole decision.
 * The address test runs first and costs no system call, so a peer outside the ranges is closed
 * for almost nothing.
 * @module
 */
import { canonicalIp, type Cidr, inRanges, isLoopback } from "../net/ip.ts";
import type { Admission, AdmissionCheck } from "./verdict.ts";

export interface AdmissionPolicy {
  /** `--allowFrom`: the ranges peers must come from (besides 127.0.0.1 and ::1). */
  allowFrom?: readonly Cidr[];
  /** The peer-owner check for loopback peers; absent with `--allowOtherUsers`. */
  owner?: AdmissionCheck;
}

/** The loopback addresses ktctl tells programs to use: in, whatever `--allowFrom` says. */
const ALWAYS_IN = new Set(["127.0.0.1", "::1"]);

const ALLOWED: Admission = { allowed: true, detail: "" };

/** The check for `policy`; undefined when every peer may connect (nothing to check). */
export function admissionCheck(policy: AdmissionPolicy): AdmissionCheck | undefined {
  const { allowFrom, owner } = policy;
  if (!allowFrom && !owner) return undefined;
  const check = (local: Deno.NetAddr, remote: Deno.NetAddr): Promise<Admission> => {
    const verdict = byAddress(remote.hostname, allowFrom);
    if (verdict !== "owner") return Promise.resolve(verdict);
    return owner ? owner(local, remote) : Promise.resolve(ALLOWED);
  };
  return Object.assign(check, { close: () => owner?.close?.() });
}

/**
 * The decision the peer's address alone makes: a verdict, or "owner" when the peer is on
 * loopback and the owner check decides. Pure.
 */
export function byAddress(
  hostname: string,
  allowFrom: readonly Cidr[] | undefined,
): Admission | "owner" {
  const ip = canonicalIp(hostname) ?? hostname;
  const loopback = isLoopback(ip);
  if (allowFrom && !ALWAYS_IN.has(ip) && !safeInRanges(ip, allowFrom)) {
    return { allowed: false, detail: `${ip} is outside --allowFrom` };
  }
  if (loopback) return "owner";
  if (!allowFrom) {
    return { allowed: false, detail: `${ip} is not on this machine and --allowFrom is not set` };
  }
  return { allowed: true, detail: `${ip} is in --allowFrom` };
}

function safeInRanges(ip: string, ranges: readonly Cidr[]): boolean {
  try {
    return inRanges(ip, ranges);
  } catch {
    return false; // not an address at all: outside every range
  }
}
