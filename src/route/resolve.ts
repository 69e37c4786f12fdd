/**
 * The cluster's half of routing (`route.ts` decides the final route): whether a destination is a
 * pod port through the cluster, an ExternalName service's target, not the cluster's at all
 * (`direct`: the upstream or a direct dial decide then), or the cluster's but matching nothing
 * (with a reason). Pure: it reads a {@link ClusterIndex} and returns a route, so every naming
 * rule is testable without a cluster.
 *
 * Names follow the cluster DNS schema, resolved from the API instead of DNS:
 * `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<domain>`, `host.svc.ns.svc.<domain>` (headless),
 * and `a-b-c-d.ns.pod.<domain>`. Names under the cluster domain that match nothing, and IPs in
 * the cluster's ranges that match nothing, are refused rather than sent to the outside world.
 * @module
 */
import ipaddr from "ipaddr.js";
import { canonicalIp, inRanges } from "../net/ip.ts";
import type { ClusterIndex } from "../cluster/index.ts";
import type { PodInfo, ServiceInfo, ServicePort } from "../kube/objects.ts";
import type { PodTarget } from "../portforward/target.ts";
import type { DialFailure } from "../net/upstream.ts";

export type { PodTarget };

export type Route =
  | {
    kind: "cluster";
    /** What the destination matched, for logs: "service demo/web:80", "pod demo/web-1". */
    via: string;
    /** Pods to try, in a stable order; the caller rotates the start to spread load. */
    targets: PodTarget[];
    /** Identifies the set of targets, for round-robin bookkeeping. */
    spreadKey: string;
  }
  /** Not the cluster's: the upstream proxy or a direct dial decide (route.ts). */
  | { kind: "direct"; host: string; port: number }
  /** An ExternalName service: its target, a name or address the cluster's objects chose. */
  | { kind: "external-name"; service: string; target: string; port: number }
  | { kind: "reject"; reason: string; failure: RejectKind };

/**
 * Why a destination is refused: the routing kinds of {@link DialFailure} (one list of kinds),
 * which each front maps to its answer (a SOCKS reply code, an HTTP status).
 */
export type RejectKind = Extract<DialFailure, "unknown-host" | "no-endpoints" | "no-port">;

export interface ResolveOptions {
  /** The namespace short names are relative to. */
  namespace: string;
  clusterDomain: string;
}

/**
 * Routes `host:port` (host as received from the client: IP literal or normalized name). Names
 * and ClusterIPs resolve from the services in the index; endpoints and pod IPs may take one
 * lookup by the index's source.
 */
export async function resolveDestination(
  index: ClusterIndex,
  host: string,
  port: number,
  opts: ResolveOptions,
): Promise<Route> {
  const ip = canonicalIp(host);
  if (ip !== undefined) {
    return (await resolveIp(index, ip, port)) ?? directOrReject(index, ip, port);
  }
  return await resolveName(index, host.toLowerCase().replace(/\.$/, ""), port, opts);
}

/**
 * Routes a canonical IP that belongs to a pod or a service, or returns undefined. Pods are looked
 * up only for addresses that may be the cluster's: in its ranges, or private (a range not seen
 * yet); a public address that no service has goes out without asking the API server.
 */
export async function resolveIp(
  index: ClusterIndex,
  ip: string,
  port: number,
): Promise<Route | undefined> {
  const svc = index.serviceByIp(ip);
  if (svc) return await serviceRoute(index, svc, port);
  if (!inRanges(ip, index.clusterRanges()) && !isPrivate(ip)) return undefined;
  const pods = (await index.podsByIp(ip)).filter((p) => p.live);
  if (pods.length > 0) {
    // Two live pods can briefly share an IP while one terminates; prefer the healthy one.
    const pod = pods.find((p) => p.ready && !p.terminating) ?? pods[0];
    return podRoute(pod, port);
  }
  return undefined;
}

/** Private address space, where clusters allocate pod IPs (RFC 1918, RFC 6598, IPv6 ULA). */
function isPrivate(ip: string): boolean {
  return ["private", "carrierGradeNat", "uniqueLocal"].includes(ipaddr.parse(ip).range());
}

function directOrReject(index: ClusterIndex, ip: string, port: number): Route {
  if (inRanges(ip, index.clusterRanges())) {
    return reject("unknown-host", `no pod or service in the cluster has IP ${ip}`);
  }
  return { kind: "direct", host: ip, port };
}

async function resolveName(
  index: ClusterIndex,
  name: string,
  port: number,
  opts: ResolveOptions,
): Promise<Route> {
  const domainSuffix = `.${opts.clusterDomain}`;
  const inDomain = name.endsWith(domainSuffix);
  const labels = (inDomain ? name.slice(0, -domainSuffix.length) : name).split(".");
  const unknown = () =>
    reject("unknown-host", `no service or pod in the cluster is called ${name}`);

  if (labels.at(-1) === "pod" && labels.length === 3 && inDomain) {
    return (await podDnsRoute(index, labels[0], labels[1], port)) ?? unknown();
  }
  if (labels.at(-1) === "svc" && (labels.length === 3 || labels.length === 4)) {
    const [host, svcName, ns] = labels.length === 4 ? labels : [undefined, ...labels];
    const svc = index.service(ns!, svcName!);
    if (!svc) return unknown();
    return host === undefined
      ? await serviceRoute(index, svc, port)
      : (await headlessHostRoute(index, svc, host, port)) ?? unknown();
  }
  if (inDomain) return unknown();
  if (labels.length === 2) {
    const svc = index.service(labels[1], labels[0]);
    if (svc) return await serviceRoute(index, svc, port);
    // `x.demo` with a namespace demo is the cluster's, as in-cluster DNS reads it: answered
    // here, never asked of the system's DNS (which would only say "not found").
    if (index.hasNamespace(labels[1])) {
      return reject(
        "unknown-host",
        `no service ${labels[0]} in namespace ${labels[1]} (it has: ${
          listOf(index.serviceNamesIn(labels[1]))
        })`,
      );
    }
  }
  if (labels.length === 1) {
    const svc = index.service(opts.namespace, labels[0]);
    if (svc) return await serviceRoute(index, svc, port);
    const elsewhere = index.namespacesWithService(labels[0]);
    if (elsewhere.length > 0) {
      const hint = elsewhere.length === 1
        ? `did you mean ${labels[0]}.${elsewhere[0]}?`
        : `services called ${labels[0]} are in: ${listOf(elsewhere)}`;
      return reject(
        "unknown-host",
        `no service ${
          labels[0]
        } in namespace ${opts.namespace}, which short names are looked up in; ${hint}`,
      );
    }
  }
  return { kind: "direct", host: name, port };
}

/** A short list for a one-line answer: the first ten, then how many more. */
function listOf(names: string[]): string {
  if (names.length === 0) return "none";
  const shown = names.slice(0, 10).join(", ");
  return names.length > 10 ? `${shown} and ${names.length - 10} more` : shown;
}

function podRoute(pod: PodInfo, port: number): Route {
  return {
    kind: "cluster",
    via: `pod ${pod.namespace}/${pod.name}`,
    targets: [{ namespace: pod.namespace, pod: pod.name, port }],
    spreadKey: `pod/${pod.namespace}/${pod.name}`,
  };
}

/** `a-b-c-d.ns.pod.<domain>`: the pod with that IP, which must be in namespace `ns`. */
async function podDnsRoute(index: ClusterIndex, dashed: string, ns: string, port: number) {
  const ip = canonicalIp(
    dashed.includes("-") && !dashed.includes(":") ? dashed.replaceAll("-", ".") : "",
  );
  if (!ip) return undefined;
  const pod = (await index.podsByIp(ip)).find((p) => p.namespace === ns && p.live);
  return pod ? podRoute(pod, port) : undefined;
}

/**
 * A service and port. ExternalName services are their target (route.ts decides where that goes
 * and whether it may be dialled); headless ones
 * go to the requested port of a ready endpoint pod (as their DNS answers would); others map the
 * service port to the endpoint port.
 */
async function serviceRoute(index: ClusterIndex, svc: ServiceInfo, port: number): Promise<Route> {
  const id = `${svc.namespace}/${svc.name}`;
  if (svc.type === "ExternalName" && svc.externalName) {
    const target = svc.externalName.replace(/\.$/, "").toLowerCase();
    return { kind: "external-name", service: id, target, port };
  }
  if (svc.headless) {
    const targets = (await readyEndpointPods(index, svc)).map((pod) => ({ ...pod, port }));
    return clusterRoute(`service ${id} (headless)`, `svc/${id}/*:${port}`, targets, id);
  }
  const svcPort = svc.ports.find((p) => p.port === port && p.protocol === "TCP");
  if (!svcPort) {
    const known = svc.ports.filter((p) => p.protocol === "TCP").map((p) => p.port).join(", ");
    return reject("no-port", `service ${id} has no TCP port ${port} (it has: ${known || "none"})`);
  }
  const targets = await serviceTargets(index, svc, svcPort);
  return clusterRoute(`service ${id}:${port}`, `svc/${id}:${port}`, targets, id);
}

function clusterRoute(via: string, spreadKey: string, targets: PodTarget[], id: string): Route {
  if (targets.length === 0) return reject("no-endpoints", `service ${id} has no ready endpoints`);
  targets.sort((a, b) => (a.namespace + a.pod).localeCompare(b.namespace + b.pod));
  return { kind: "cluster", via, targets, spreadKey };
}

/** `host.svc.ns.svc`: the endpoint of a headless service whose hostname is `host`. */
async function headlessHostRoute(
  index: ClusterIndex,
  svc: ServiceInfo,
  host: string,
  port: number,
) {
  // Cluster DNS publishes such records only for ready endpoints of headless services.
  if (!svc.headless) return undefined;
  for (const slice of await index.slicesOf(svc.namespace, svc.name)) {
    for (const ep of slice.endpoints) {
      if (!ep.ready || ep.terminating) continue;
      const dashed = ep.addresses.map((a) => a.replaceAll(/[.:]/g, "-"));
      if (ep.hostname !== host && !dashed.includes(host)) continue;
      const pod = await endpointPod(index, svc.namespace, ep.podName, ep.addresses, ep.podUid);
      if (pod) {
        return clusterRoute(
          `${host} of service ${svc.namespace}/${svc.name}`,
          `host/${svc.namespace}/${svc.name}/${host}:${port}`,
          [{ namespace: pod.namespace, pod: pod.name, port }],
          `${svc.namespace}/${svc.name}`,
        );
      }
    }
  }
  return undefined;
}

/**
 * Endpoint pods and ports for one service port. EndpointSlices are preferred: their ports are
 * already resolved target numbers (named targetPorts included). A service whose slices cannot be
 * read falls back to its selector, resolving targetPort the way kubectl port-forward does.
 */
async function serviceTargets(
  index: ClusterIndex,
  svc: ServiceInfo,
  svcPort: ServicePort,
): Promise<PodTarget[]> {
  const slices = await index.slicesOf(svc.namespace, svc.name);
  if (slices.length > 0) {
    const out: PodTarget[] = [];
    for (const slice of slices) {
      const slicePort = slice.ports.find((p) => (p.name ?? "") === (svcPort.name ?? ""));
      if (!slicePort) continue;
      for (const ep of slice.endpoints) {
        if (!ep.ready || ep.terminating) continue;
        const pod = await endpointPod(index, svc.namespace, ep.podName, ep.addresses, ep.podUid);
        if (pod) out.push({ namespace: pod.namespace, pod: pod.name, port: slicePort.port });
      }
    }
    return dedupe(out);
  }
  if (!svc.selector) return [];
  return (await selectPods(index, svc)).flatMap((pod) => {
    const port = targetPortOf(svcPort, pod);
    return port === undefined ? [] : [{ namespace: pod.namespace, pod: pod.name, port }];
  });
}

async function readyEndpointPods(
  index: ClusterIndex,
  svc: ServiceInfo,
): Promise<Omit<PodTarget, "port">[]> {
  const slices = await index.slicesOf(svc.namespace, svc.name);
  const pods: { namespace: string; name: string }[] = [];
  if (slices.length > 0) {
    for (const e of slices.flatMap((s) => s.endpoints)) {
      if (!e.ready || e.terminating) continue;
      const pod = await endpointPod(index, svc.namespace, e.podName, e.addresses, e.podUid);
      if (pod) pods.push(pod);
    }
  } else if (svc.selector) pods.push(...await selectPods(index, svc));
  return dedupe(pods.map((p) => ({ namespace: p.namespace, pod: p.name, port: 0 })))
    .map(({ namespace, pod }) => ({ namespace, pod }));
}

/**
 * The pod behind an endpoint: by its targetRef (unless that pod is known to be gone), or else by
 * its address (manual endpoints).
 */
async function endpointPod(
  index: ClusterIndex,
  namespace: string,
  podName: string | undefined,
  addresses: string[],
  podUid?: string,
): Promise<{ namespace: string; name: string } | undefined> {
  if (podName) {
    return index.mayExist(namespace, podName, podUid) ? { namespace, name: podName } : undefined;
  }
  for (const a of addresses) {
    const ip = canonicalIp(a);
    const pod = ip ? (await index.podsByIp(ip)).find((p) => p.live) : undefined;
    if (pod) return pod;
  }
  return undefined;
}

async function selectPods(index: ClusterIndex, svc: ServiceInfo): Promise<PodInfo[]> {
  const pods = await index.podsMatching(svc.namespace, svc.selector ?? {});
  return pods.filter((p) => p.live && p.ready && !p.terminating);
}

/** Service targetPort → container port: a number as is (0 or absent: the service port), a name looked up among the pod's ports. */
export function targetPortOf(svcPort: ServicePort, pod: PodInfo): number | undefined {
  const t = svcPort.targetPort;
  if (t === undefined || t === 0 || t === "") return svcPort.port;
  if (typeof t === "number") return t;
  if (/^\d+$/.test(t)) return Number(t);
  return pod.ports.find((p) => p.name === t && p.protocol === svcPort.protocol)?.port;
}

function dedupe(targets: PodTarget[]): PodTarget[] {
  const seen = new Set<string>();
  return targets.filter((t) => {
    const k = `${t.namespace}/${t.pod}:${t.port}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

function reject(failure: RejectKind, reason: string): Route {
  return { kind: "reject", failure, reason };
}
