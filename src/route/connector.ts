/**
 * Turns a destination (from SOCKS, or from HTTP: CONNECT and absolute-form requests come the same
 * way) into a connected {@link Upstream}: resolves it against the cluster picture, spreads connections to a service over its ready endpoints (round-robin), tries the
 * next endpoint when one cannot be opened, and dials everything else directly within policy.
 * A name that the system resolver maps into the cluster (e.g. by a company DNS) is routed
 * through the cluster too; an address in the cluster's ranges is never dialled directly.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ClusterIndex } from "../cluster/index.ts";
import type { PortForwarder } from "../portforward/forwarder.ts";
import {
  type PodTarget,
  resolveDestination,
  resolveIp,
  type ResolveOptions,
  type Route,
} from "./resolve.ts";
import { inRanges } from "../net/ip.ts";
import { dialDirect, type DirectPolicy, resolveHost } from "./direct.ts";
import { DialError, type Upstream } from "../net/upstream.ts";

const log = getLogger(["ktctl", "connect"]);

export interface ConnectorOptions extends ResolveOptions {
  direct: DirectPolicy;
  dialTimeoutMs: number;
}

/**
 * The fronts' `Dialer` (src/front/dialer.ts, matched structurally so this layer never imports
 * the one above it): the cluster first, then direct dials within policy.
 */
export class ClusterConnector {
  #turn = new Map<string, number>();
  /** Open tunnels per pod ("ns/name"), closed when the pod goes away. */
  #tunnels = new Map<string, Set<Upstream>>();

  constructor(
    readonly index: ClusterIndex,
    readonly forwarder: Pick<PortForwarder, "open"> & Partial<Pick<PortForwarder, "podGone">>,
    readonly opts: ConnectorOptions,
  ) {
    // A deleted pod's stream may outlive it (kwok keeps forwarding; a kubelet may be slow to
    // tear down): its clients get a clean close instead of a connection to nothing.
    index.onPodGone((namespace, name) => {
      forwarder.podGone?.(namespace, name);
      const open = this.#tunnels.get(`${namespace}/${name}`);
      if (!open) return;
      log.debug("Pod {pod} is gone: closing its {count} connection(s)", {
        pod: `${namespace}/${name}`,
        count: open.size,
      });
      for (const upstream of open) upstream.close();
    });
  }

  async dial(host: string, port: number): Promise<{ upstream: Upstream; via: string }> {
    let route = await resolveDestination(this.index, host, port, this.opts);
    if (route.kind === "direct" && route.host !== host) {
      // An ExternalName service: its target may itself be a cluster name (one hop, as DNS would).
      route = await resolveDestination(this.index, route.host, route.port, this.opts);
    }
    if (route.kind === "direct") {
      const addresses = await resolveHost(route.host);
      route = (await this.#reroute(route.host, addresses, route.port)) ?? route;
      if (route.kind === "direct") {
        const upstream = await dialDirect(
          route.host,
          addresses,
          route.port,
          this.opts.direct,
          this.opts.dialTimeoutMs,
        );
        return { upstream, via: "direct" };
      }
    }
    if (route.kind === "reject") throw new DialError(route.failure, route.reason);
    return { upstream: await this.#openAny(route), via: route.via };
  }

  /**
   * Opens one of a cluster route's pods (round-robin, the next on failure), tracked like a
   * dialled connection: for forwards (src/forward) whose targets are not a destination name.
   */
  open(route: Extract<Route, { kind: "cluster" }>): Promise<Upstream> {
    return this.#openAny(route);
  }

  /** A name resolved outside the cluster can still land in it. */
  async #reroute(host: string, addresses: string[], port: number): Promise<Route | undefined> {
    for (const a of addresses) {
      const inCluster = await resolveIp(this.index, a, port);
      if (inCluster) return inCluster;
    }
    const ranges = this.index.clusterRanges();
    const inside = addresses.find((a) => inRanges(a, ranges));
    if (inside) {
      return {
        kind: "reject",
        failure: "unknown-host",
        reason:
          `${host} resolves to ${inside}, in the cluster's range, but no pod or service has it`,
      };
    }
    return undefined;
  }

  async #openAny(route: Extract<Route, { kind: "cluster" }>): Promise<Upstream> {
    const targets = this.#rotate(route.spreadKey, route.targets);
    let last: unknown;
    for (const target of targets) {
      try {
        const upstream = await this.forwarder.open(target);
        this.#track(`${target.namespace}/${target.pod}`, upstream);
        return upstream;
      } catch (e) {
        last = e;
        // Credentials or RBAC fail the same way for every pod: no point trying the rest.
        if (e instanceof DialError && e.kind === "forbidden") break;
        // The last failure is the connection's, logged once by the front with the client.
        if (target !== targets.at(-1)) {
          log.debug("Could not open {target} ({error}): trying the next pod", {
            target: describe(target),
            error: e instanceof Error ? e.message : String(e),
          });
        }
      }
    }
    throw last;
  }

  #track(pod: string, upstream: Upstream): void {
    const set = this.#tunnels.get(pod) ?? new Set();
    set.add(upstream);
    this.#tunnels.set(pod, set);
    upstream.closed.then(() => {
      set.delete(upstream);
      if (set.size === 0 && this.#tunnels.get(pod) === set) this.#tunnels.delete(pod);
    });
  }

  #rotate(key: string, targets: PodTarget[]): PodTarget[] {
    if (targets.length < 2) return targets;
    const turn = this.#turn.get(key) ?? 0;
    this.#turn.set(key, turn + 1);
    const start = turn % targets.length;
    return [...targets.slice(start), ...targets.slice(0, start)];
  }
}

function describe(t: PodTarget): string {
  return `${t.namespace}/${t.pod}:${t.port}`;
}
