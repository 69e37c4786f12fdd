/**
 * Routing in one place: one call returns where a destination goes, the connector (connector.ts)
 * only opens it. Four outcomes:
 * - `cluster`: pods and a port (resolve.ts reads the cluster's names and addresses);
 * - `upstream`: through the proxy the machine used before ktctl, per its answer for this
 *   destination (upstream_choice.ts), hops tried in turn;
 * - `direct`: dialled from this machine, to addresses already checked against `--dialDirect`;
 * - `refused`: a DialError kind and a sentence.
 *
 * ExternalName services are their own case: their target is chosen by whoever may edit Services
 * in the namespace, so a target that is, or resolves to, this machine (loopback, ktctl's own
 * address, unspecified) or link-local (cloud metadata) is refused unless `allowLocalTargets`. A
 * name the system resolver maps into the cluster's ranges (a company DNS naming pods) is routed
 * through the cluster, or refused when nothing there has the address; it is never dialled off
 * the machine.
 * @module
 */
import ipaddr from "ipaddr.js";
import type { ClusterIndex } from "../cluster/index.ts";
import { canonicalIp, inRanges } from "../net/ip.ts";
import type { DialFailure } from "../net/upstream.ts";
import { authority } from "../net/proxy_handshake.ts";
import { describePolicy, type DirectPolicy } from "./direct.ts";
import { type PodTarget, resolveDestination, resolveIp, type ResolveOptions } from "./resolve.ts";
import type { Hop, UpstreamChooser } from "./upstream_choice.ts";

export type FinalRoute =
  | { kind: "cluster"; via: string; targets: PodTarget[]; spreadKey: string }
  | {
    kind: "upstream";
    host: string;
    port: number;
    hops: Hop[];
    via: string;
    why: string;
    /** The ExternalName this came from ("ExternalName ns/svc → target"), for a DIRECT hop. */
    externalName?: string;
  }
  | { kind: "direct"; host: string; port: number; addresses: string[]; via: string }
  | { kind: "refused"; failure: DialFailure; reason: string };

/** The system resolver: a name's addresses (canonical); throws when it has none. */
export type Resolver = (host: string) => Promise<string[]>;

export interface RouterOptions extends ResolveOptions {
  direct: DirectPolicy;
  /** ktctl's own listening address (never a destination of an ExternalName). */
  selfAddress?: string;
  /** Let ExternalName targets land on loopback, link-local and ktctl's own address. */
  allowLocalTargets?: boolean;
}

export class Router {
  constructor(
    readonly index: ClusterIndex,
    readonly opts: RouterOptions,
    readonly resolver: Resolver,
    readonly upstream?: UpstreamChooser,
  ) {}

  /**
   * The final route for `host:port` (a name as received, or a canonical IP). `http`: the
   * connection carries plain HTTP requests (the upstream may pick another proxy for them).
   */
  async route(host: string, port: number, http = false): Promise<FinalRoute> {
    const first = await resolveDestination(this.index, host, port, this.opts);
    switch (first.kind) {
      case "cluster":
        return first;
      case "reject":
        return { kind: "refused", failure: first.failure, reason: first.reason };
      case "external-name":
        return await this.#externalName(first.service, first.target, port, http);
      case "direct":
        return await this.#outside(first.host, port, undefined, http);
    }
  }

  /**
   * An ExternalName service's target: a cluster name again (one hop, as cluster DNS answers a
   * CNAME), else outside, with its addresses checked before anything is dialled.
   */
  async #externalName(
    service: string,
    target: string,
    port: number,
    http: boolean,
  ): Promise<FinalRoute> {
    const label = `ExternalName ${service} → ${target}`;
    const local = this.#localTarget(target);
    if (local) return this.#refuseLocal(label, local);
    const second = await resolveDestination(this.index, target, port, this.opts);
    switch (second.kind) {
      case "cluster":
        return { ...second, via: `${label}: ${second.via}` };
      case "reject":
        return { kind: "refused", failure: second.failure, reason: `${label}: ${second.reason}` };
      case "external-name":
        return {
          kind: "refused",
          failure: "unknown-host",
          reason: `${label}: ${second.service} is an ExternalName too (only one hop is followed)`,
        };
      case "direct":
        return await this.#outside(second.host, port, label, http);
    }
  }

  /**
   * Not the cluster's: the upstream's answer decides; DIRECT dials from here, after the system
   * resolver (whose answer may still land in the cluster) and `--dialDirect`.
   */
  async #outside(
    host: string,
    port: number,
    externalName: string | undefined,
    http: boolean,
  ): Promise<FinalRoute> {
    const prefix = externalName ? `${externalName}: ` : "";
    let choice;
    try {
      choice = await this.upstream?.choose(host, port, http);
    } catch (e) {
      return {
        kind: "refused",
        failure: "failed",
        reason: `${prefix}the upstream proxy settings could not be used for ${host}: ${
          (e as Error).message
        }`,
      };
    }
    const proxies = (choice?.hops ?? []).flatMap((h) => h.kind === "proxy" ? [h.proxy] : []);
    if (choice && proxies.length > 0) {
      return {
        kind: "upstream",
        host,
        port,
        hops: choice.hops,
        via: `${prefix}upstream ${authority(proxies[0].host, proxies[0].port)}`,
        why: choice.why,
        ...(externalName ? { externalName } : {}),
      };
    }
    return await this.directRoute(host, port, externalName);
  }

  /**
   * A direct dial from this machine: the system resolver's answer (which may land in the
   * cluster), an ExternalName's targets checked, then `--dialDirect`. Also the DIRECT hop after
   * an upstream proxy failed.
   */
  async directRoute(host: string, port: number, externalName?: string): Promise<FinalRoute> {
    const prefix = externalName ? `${externalName}: ` : "";
    let addresses: string[];
    try {
      const literal = canonicalIp(host);
      addresses = literal ? [literal] : await this.resolver(host);
    } catch (e) {
      return {
        kind: "refused",
        failure: "unknown-host",
        reason: `${prefix}cannot resolve ${host}: ${(e as Error).message}${this.#notCluster(host)}`,
      };
    }
    if (externalName && !this.opts.allowLocalTargets) {
      for (const a of addresses) {
        const local = this.#localTarget(a);
        if (local) return this.#refuseLocal(`${externalName} (${a})`, local);
      }
    }
    const inCluster = await this.#reroute(host, addresses, port);
    if (inCluster) {
      return inCluster.kind === "refused"
        ? { ...inCluster, reason: prefix + inCluster.reason }
        : inCluster;
    }
    const policy = this.opts.direct;
    const allowed = policy.kind === "all"
      ? addresses
      : policy.kind === "none"
      ? []
      : addresses.filter((a) => inRanges(a, policy.ranges));
    if (allowed.length === 0) {
      return {
        kind: "refused",
        failure: "policy",
        reason: policy.kind === "none"
          ? `${prefix}direct connections are off (--dialDirect none): ${host}`
          : `${prefix}${host} (${addresses.join(", ")}) is outside the direct-dial ranges ${
            describePolicy(policy)
          }`,
      };
    }
    return {
      kind: "direct",
      host,
      port,
      addresses: allowed,
      via: `${prefix}direct`,
    };
  }

  /** For `web.nosuchns`: the cluster has no such namespace, but `web` is somewhere. */
  #notCluster(host: string): string {
    const labels = host.split(".");
    if (labels.length !== 2) return "";
    const where = this.index.namespacesWithService(labels[0]);
    if (where.length === 0) return "";
    return ` (and no namespace ${labels[1]} in the cluster; a service ${labels[0]} is in: ${
      where.slice(0, 10).join(", ")
    })`;
  }

  /** A name resolved outside the cluster can still land in it. */
  async #reroute(host: string, addresses: string[], port: number): Promise<FinalRoute | undefined> {
    for (const a of addresses) {
      const inCluster = await resolveIp(this.index, a, port);
      if (inCluster?.kind === "cluster") return inCluster;
      if (inCluster?.kind === "reject") {
        return { kind: "refused", failure: inCluster.failure, reason: inCluster.reason };
      }
    }
    const inside = addresses.find((a) => inRanges(a, this.index.clusterRanges()));
    if (inside) {
      return {
        kind: "refused",
        failure: "unknown-host",
        reason:
          `${host} resolves to ${inside}, in the cluster's range, but no pod or service has it`,
      };
    }
    return undefined;
  }

  /** Why `target` (a name or an address) is this machine or link-local; undefined if it is not. */
  #localTarget(target: string): string | undefined {
    if (this.opts.allowLocalTargets) return undefined;
    const name = target.toLowerCase().replace(/\.$/, "");
    if (name === "localhost" || name.endsWith(".localhost")) return "this machine (localhost)";
    const ip = canonicalIp(name);
    if (!ip) return undefined;
    const range = ipaddr.parse(ip).range();
    if (range === "loopback") return "this machine (loopback)";
    if (range === "linkLocal") return "a link-local address (such as a cloud metadata service)";
    if (range === "unspecified") return "the unspecified address (this machine)";
    if (ip === this.opts.selfAddress) return "ktctl's own address";
    return undefined;
  }

  #refuseLocal(label: string, what: string): FinalRoute {
    return {
      kind: "refused",
      failure: "policy",
      reason: `${label} points at ${what}, which cluster objects may not choose; ` +
        `--allowLocalTargets allows it`,
    };
  }
}
