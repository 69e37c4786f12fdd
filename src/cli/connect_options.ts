/**
 * `ktctl connect`'s flags, checked and converted into options (kubectl's Validate step). Every
 * problem is a UserError that names the flag, before anything is started.
 * @module
 */
import { canonicalIp, type Cidr, isLoopback, parseCidr } from "../net/ip.ts";
import type { DirectPolicy } from "../route/direct.ts";
import { UserError } from "../errors.ts";
import type { GlobalFlags } from "./global_flags.ts";
import type { ProxyMethod } from "../sysproxy/types.ts";
import { type ForwardSpec, parseForwardFlag, SpecError } from "../forward/target.ts";
import type { UpstreamConfig } from "../net/proxy_config.ts";
import { parseUpstreamFlag, ProxyUrlError } from "../net/upstream_source.ts";

export interface ConnectFlags extends GlobalFlags {
  method: string;
  proxyPort: string;
  proxyAddr: string;
  setupGlobalProxy?: boolean;
  clusterDomain: string;
  dialDirect: string;
  clusterCIDR?: string;
  portForward?: string;
  allowOtherUsers?: boolean;
  allowFrom?: string;
  maxConnections?: string;
  /** `--forward TARGET:[LOCAL:]REMOTE`, repeatable. */
  forward?: string[];
  upstreamProxy?: string;
  allowLocalTargets?: boolean;
}

export interface ConnectOptions {
  method: ProxyMethod;
  address: string;
  port: number;
  setupGlobalProxy: boolean;
  clusterDomain: string;
  direct: DirectPolicy;
  clusterRanges: Cidr[];
  portForward: "multiplexed" | "websocket";
  /** Serve connections from other local users' programs too (off: only this user's). */
  allowOtherUsers?: boolean;
  /** `--allowFrom`: the only addresses (besides 127.0.0.1 and ::1) that may connect. */
  allowFrom?: Cidr[];
  /** `--maxConnections`: the most connections open at once. */
  maxConnections?: number;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  /** Forwards served alongside the proxy (`--forward`), on the proxy's address. */
  forwards?: ForwardSpec[];
  /** `-- COMMAND [ARGS...]`: run it through the proxy, then stop (undefined: serve until Ctrl+C). */
  command?: string[];
  /** `--upstreamProxy`: the proxy for destinations outside the cluster (else found). */
  upstream?: UpstreamConfig;
  /** `--allowLocalTargets`: ExternalName targets may be loopback, link-local or ktctl. */
  allowLocalTargets?: boolean;
}

export const METHODS: readonly ProxyMethod[] = ["socks", "socks5", "http"];

/**
 * Checks and converts the flags; every problem is a UserError naming the flag. `command` is what
 * followed `--`; `--proxyPort 0` picks a free port.
 */
export function validateConnectFlags(f: ConnectFlags, command: string[] = []): ConnectOptions {
  if (!(METHODS as readonly string[]).includes(f.method)) {
    throw new UserError(`--method must be socks, socks5 or http, not "${f.method}"`);
  }
  const portForward = f.portForward ?? "multiplexed";
  if (portForward !== "multiplexed" && portForward !== "websocket") {
    throw new UserError(`--portForward must be multiplexed or websocket, not "${portForward}"`);
  }
  const port = Number(f.proxyPort);
  if (!/^\d+$/.test(f.proxyPort) || port > 65535) {
    throw new UserError(
      `--proxyPort must be a port number from 1 to 65535 (0: any free port), not "${f.proxyPort}"`,
    );
  }
  const address = f.proxyAddr === "localhost" ? "127.0.0.1" : canonicalIp(f.proxyAddr);
  if (!address) throw new UserError(`--proxyAddr must be an IP address, not "${f.proxyAddr}"`);
  const domain = f.clusterDomain.toLowerCase().replace(/^\.|\.$/g, "");
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(domain)) {
    throw new UserError(`--clusterDomain "${f.clusterDomain}" is not a DNS name`);
  }
  if (f.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(f.namespace)) {
    throw new UserError(`-n/--namespace "${f.namespace}" is not a valid namespace name`);
  }
  const admission = validateAdmissionFlags(f, address);
  return {
    ...admission,
    method: f.method as ProxyMethod,
    address,
    port,
    setupGlobalProxy: f.setupGlobalProxy === true,
    clusterDomain: domain,
    direct: parseDirectPolicy(f.dialDirect),
    clusterRanges: f.clusterCIDR !== undefined ? parseClusterCidrs(f.clusterCIDR) : [],
    portForward,
    allowOtherUsers: f.allowOtherUsers === true,
    kubeconfig: f.kubeconfig,
    context: f.context,
    namespace: f.namespace,
    forwards: parseForwardFlags(f.forward ?? []),
    command: validateCommand(command, f.setupGlobalProxy === true),
    // Only when given, so the options of a plain `connect` stay as they were.
    ...(f.upstreamProxy !== undefined ? { upstream: parseUpstreamProxy(f.upstreamProxy) } : {}),
    ...(f.allowLocalTargets ? { allowLocalTargets: true } : {}),
  };
}

function parseUpstreamProxy(text: string): UpstreamConfig {
  try {
    return parseUpstreamFlag(text);
  } catch (e) {
    if (e instanceof ProxyUrlError) throw new UserError(`--upstreamProxy: ${e.message}`);
    throw e;
  }
}

/**
 * `--allowFrom` and `--maxConnections`. A listener beyond loopback is reachable from other
 * machines, whose sockets no owner check can see: without `--allowFrom` it would be an open
 * proxy into the cluster (and, with `--dialDirect all`, into this machine), so it is refused.
 */
export function validateAdmissionFlags(
  f: Pick<ConnectFlags, "allowFrom" | "maxConnections">,
  address: string,
): Pick<ConnectOptions, "allowFrom" | "maxConnections"> {
  const allowFrom = f.allowFrom !== undefined
    ? parseCidrList(f.allowFrom, "--allowFrom")
    : undefined;
  if (allowFrom?.length === 0) {
    throw new UserError(`--allowFrom needs at least one address range, such as 192.168.1.0/24`);
  }
  if (!isLoopback(address) && !allowFrom) {
    throw new UserError(
      `--proxyAddr ${address} is reachable from other machines, and anyone who reaches it ` +
        `reaches the cluster as you: pass --allowFrom with the address ranges that may connect ` +
        `(for example --allowFrom 192.168.1.0/24), or listen on 127.0.0.1`,
    );
  }
  let maxConnections: number | undefined;
  if (f.maxConnections !== undefined) {
    maxConnections = Number(f.maxConnections);
    if (!/^\d+$/.test(f.maxConnections) || maxConnections < 1 || maxConnections > 1_000_000) {
      throw new UserError(
        `--maxConnections must be a number from 1 to 1000000, not "${f.maxConnections}"`,
      );
    }
  }
  return { allowFrom, maxConnections };
}

function parseForwardFlags(values: string[]): ForwardSpec[] {
  return values.map((v) => {
    try {
      return parseForwardFlag(v);
    } catch (e) {
      if (e instanceof SpecError) throw new UserError(`--forward ${e.message}`);
      throw e;
    }
  });
}

function validateCommand(command: string[], setupGlobalProxy: boolean): string[] | undefined {
  if (command.length === 0) return undefined;
  if (command[0] === "") throw new UserError("the COMMAND after -- is empty");
  if (setupGlobalProxy) {
    throw new UserError(
      "--setupGlobalProxy changes settings for every program: leave it out when running a COMMAND, which gets its own",
    );
  }
  return command;
}

/** `all`, `none`, or a comma-separated list of CIDRs (`127.0.0.0/8,::1/128`). */
export function parseDirectPolicy(text: string): DirectPolicy {
  const t = text.trim().toLowerCase();
  if (t.split(",").every((s) => s.trim() === "")) {
    throw new UserError(
      "--dialDirect is empty: give all, none, or address ranges such as 127.0.0.0/8",
    );
  }
  if (t === "all") return { kind: "all" };
  if (t === "none" || t === "off") return { kind: "none" };
  return { kind: "ranges", ranges: parseCidrList(t, "--dialDirect") };
}

/** The cluster's ranges: each must say its prefix length (a bare address is likely a slip). */
function parseClusterCidrs(text: string): Cidr[] {
  const parts = text.split(",").map((s) => s.trim()).filter((s) => s);
  if (parts.length === 0) {
    throw new UserError("--clusterCIDR is empty: give ranges such as 10.96.0.0/12,10.244.0.0/16");
  }
  for (const p of parts) {
    if (!p.includes("/") && canonicalIp(p)) {
      throw new UserError(
        `--clusterCIDR: "${p}" has no prefix length: write the range, such as ${p}/16`,
      );
    }
  }
  return parseCidrList(parts.join(","), "--clusterCIDR");
}

function parseCidrList(text: string, flag: string): Cidr[] {
  return text.split(",").filter((s) => s.trim()).map((s) => {
    try {
      return parseCidr(s);
    } catch {
      throw new UserError(`${flag}: "${s.trim()}" is not an address range such as 10.0.0.0/8`);
    }
  });
}
