/**
 * Opens what routing decided (route.ts): a pod port through the cluster (spread round-robin over
 * a service's ready endpoints, the next endpoint tried when one cannot be opened), a tunnel
 * through the upstream proxy (the next hop on failure), or a direct dial to addresses already
 * checked. It makes no decision of its own.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ClusterIndex } from "../cluster/index.ts";
import type { PortForwarder } from "../portforward/forwarder.ts";
import type { PodTarget, ResolveOptions, Route } from "./resolve.ts";
import { dialAddresses, type DirectPolicy, resolveHost, TcpUpstream } from "./direct.ts";
import { DialError, type Upstream } from "../net/upstream.ts";
import { describeProxy, dialThroughProxy } from "../net/proxy_dial.ts";
import { authority } from "../net/proxy_handshake.ts";
import { withDeadline } from "../net/deadline.ts";
import { closeQuietly } from "../net/io.ts";
import { type FinalRoute, type Resolver, Router } from "./route.ts";
import type { UpstreamChooser } from "./upstream_choice.ts";

const log = getLogger(["ktctl", "connect"]);

export interface ConnectorOptions extends ResolveOptions {
  direct: DirectPolicy;
  dialTimeoutMs: number;
  /** ktctl's own listening address: ExternalName targets may not point at it. */
  selfAddress?: string;
  /** `--allowLocalTargets`: ExternalName targets may be loopback or link-local. */
  allowLocalTargets?: boolean;
  /** The upstream proxy for destinations outside the cluster (none: direct). */
  upstream?: UpstreamChooser;
  /** The system resolver (tests pass one that records what it was asked). */
  resolver?: Resolver;
}

/**
 * The fronts' `Dialer` (src/front/dialer.ts, matched structurally so this layer never imports
 * the one above it).
 */
export class ClusterConnector {
  #turn = new Map<string, number>();
  /** Open tunnels per pod ("ns/name"), closed when the pod goes away. */
  #tunnels = new Map<string, Set<Upstream>>();
  readonly router: Router;

  constructor(
    readonly index: ClusterIndex,
    readonly forwarder: Pick<PortForwarder, "open"> & Partial<Pick<PortForwarder, "podGone">>,
    readonly opts: ConnectorOptions,
  ) {
    this.router = new Router(index, opts, opts.resolver ?? resolveHost, opts.upstream);
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

  /**
   * Routes and opens `host:port`. With `httpRequest` (the HTTP front forwarding plain requests), an
   * HTTP upstream proxy is handed back as a connection to the proxy itself, for requests in
   * absolute form: proxies that refuse CONNECT to port 80 (squid's default) still serve them.
   */
  async dial(
    host: string,
    port: number,
    hint?: { httpRequest?: boolean },
  ): Promise<{
    upstream: Upstream;
    via: string;
    proxyForm?: { proxy: string; credentials?: { username: string; password: string } };
  }> {
    const route = await this.router.route(host, port, hint?.httpRequest === true);
    if (route.kind === "upstream" && hint?.httpRequest) return await this.#viaHttpProxy(route);
    return { upstream: await this.openRoute(route), via: viaOf(route) };
  }

  /** Opens a route decided by the router. */
  async openRoute(route: FinalRoute): Promise<Upstream> {
    switch (route.kind) {
      case "refused":
        throw new DialError(route.failure, route.reason);
      case "cluster":
        return await this.#openAny(route);
      case "direct":
        return await dialAddresses(
          route.host,
          route.addresses,
          route.port,
          this.opts.dialTimeoutMs,
        );
      case "upstream":
        return await this.#throughUpstream(route);
    }
  }

  /**
   * Opens one of a cluster route's pods (round-robin, the next on failure), tracked like a
   * dialled connection: for forwards (src/forward) whose targets are not a destination name.
   */
  open(route: Extract<Route, { kind: "cluster" }>): Promise<Upstream> {
    return this.#openAny(route);
  }

  /**
   * Plain HTTP requests: the first hop that works, an HTTP proxy as a plain connection to it (the
   * front then writes absolute-form requests), anything else as a tunnel.
   */
  async #viaHttpProxy(route: Extract<FinalRoute, { kind: "upstream" }>) {
    const failures: DialError[] = [];
    for (const hop of route.hops) {
      if (hop.kind === "proxy" && hop.proxy.protocol === "http") {
        const p = hop.proxy;
        try {
          const conn = await connectTo(p.host, p.port, this.opts.dialTimeoutMs, describeProxy(p));
          const credentials = p.username !== undefined
            ? { username: p.username, password: p.password ?? "" }
            : undefined;
          return {
            upstream: new TcpUpstream(conn, `upstream ${describeProxy(p)} (HTTP requests)`),
            via: `upstream ${authority(p.host, p.port)}`,
            proxyForm: { proxy: describeProxy(p), ...(credentials ? { credentials } : {}) },
          };
        } catch (e) {
          failures.push(e instanceof DialError ? e : new DialError("failed", String(e)));
          continue;
        }
      }
      try {
        const rest = { ...route, hops: [hop] };
        const prefix = route.externalName ? `${route.externalName}: ` : "";
        const via = hop.kind === "direct"
          ? `${prefix}direct`
          : `${prefix}upstream ${authority(hop.proxy.host, hop.proxy.port)}`;
        return { upstream: await this.#throughUpstream(rest), via };
      } catch (e) {
        failures.push(e instanceof DialError ? e : new DialError("failed", String(e)));
      }
    }
    throw combined(failures);
  }

  /**
   * Each hop in turn: a proxy, or DIRECT (resolved and checked like any direct route). When all
   * fail, the error tells what each one said, with the last one's kind.
   */
  async #throughUpstream(route: Extract<FinalRoute, { kind: "upstream" }>): Promise<Upstream> {
    const failures: DialError[] = [];
    for (const hop of route.hops) {
      try {
        if (hop.kind === "direct") {
          const direct = await this.router.directRoute(route.host, route.port, route.externalName);
          return await this.openRoute(direct);
        }
        const tunnel = await dialThroughProxy(
          hop.proxy,
          route.host,
          route.port,
          this.opts.dialTimeoutMs,
        );
        return new TcpUpstream(
          tunnel.conn,
          `${route.host}:${route.port} via upstream ${describeProxy(hop.proxy)}`,
          tunnel.early,
        );
      } catch (e) {
        const failure = e instanceof DialError ? e : new DialError("failed", String(e));
        failures.push(failure);
        log.debug("Upstream hop {hop} failed for {dest}: {error}", {
          hop: hop.kind === "direct" ? "DIRECT" : describeProxy(hop.proxy),
          dest: `${route.host}:${route.port}`,
          error: failure.message,
        });
      }
    }
    throw combined(failures);
  }

  async #openAny(
    route: Extract<Route, { kind: "cluster" }> | Extract<FinalRoute, { kind: "cluster" }>,
  ): Promise<Upstream> {
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

/** One error for several failed hops: each one's message, the last one's kind. */
function combined(failures: DialError[]): DialError {
  const last = failures.at(-1)!;
  if (failures.length === 1) return last;
  return new DialError(last.kind, failures.map((f) => f.message).join("; then "), {
    cause: last,
  });
}

/** A TCP connection to an HTTP proxy, within `ms`; failures name it. */
async function connectTo(host: string, port: number, ms: number, name: string) {
  try {
    return await withDeadline(
      `connecting to the upstream proxy ${name}`,
      ms,
      (signal) => Deno.connect({ hostname: host, port, signal }),
      { dispose: closeQuietly },
    );
  } catch (e) {
    if (e instanceof DialError) throw e;
    throw new DialError(
      "unreachable",
      `cannot connect to the upstream proxy ${name}: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

/** What the connection log says the destination went to. */
function viaOf(route: FinalRoute): string {
  return route.kind === "refused" ? "refused" : route.via;
}
