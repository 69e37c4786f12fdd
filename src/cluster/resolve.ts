/**
 * Decides where a SOCKS destination goes: to a pod port through the cluster, straight out from
 * this machine, or nowhere (with a reason). Pure: it reads a {@link ClusterIndex} and returns a
 * route, so every naming rule is testable without a cluster.
 *
 * Names follow the cluster DNS schema, resolved from the API instead of DNS:
 * `svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<domain>`, `host.svc.ns.svc.<domain>` (headless),
 * and `a-b-c-d.ns.pod.<domain>`. Names under the cluster domain that match nothing, and IPs in
 * the cluster's ranges that match nothing, are refused rather than sent to the outside world.
 * @module
 */
import { canonicalIp, inRanges } from "../net/ip.ts";
import type { ClusterIndex } from "./index.ts";
import type { PodInfo, ServiceInfo, ServicePort } from "./objects.ts";
import type { PodTarget } from "../portforward/target.ts";

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
  | { kind: "direct"; host: string; port: number }
  | { kind: "reject"; reason: string; failure: RejectKind };

/** Why a destination is refused; the SOCKS layer maps it to a reply code. */
export type RejectKind = "unknown-host" | "no-endpoints" | "no-port";

export interface ResolveOptions {
  /** The namespace short names are relative to. */
  namespace: string;
  clusterDomain: string;
}

/** Routes `host:port` (host as received from the client: IP literal or normalized name). */
export function resolveDestination(
  index: ClusterIndex,
  host: string,
  port: number,
  opts: ResolveOptions,
): Route {
  const ip = canonicalIp(host);
  if (ip !== undefined) return resolveIp(index, ip, port) ?? directOrReject(index, ip, port);
  return resolveName(index, host.toLowerCase().replace(/\.$/, ""), port, opts);
}

/** Routes a canonical IP that belongs to a pod or a service, or returns undefined. */
export function resolveIp(index: ClusterIndex, ip: string, port: number): Route | undefined {
  const svc = index.serviceByIp(ip);
  if (svc) return serviceRoute(index, svc, port);
  const pods = index.podsByIp(ip).filter((p) => p.live);
  if (pods.length > 0) {
    // Two live pods can briefly share an IP while one terminates; prefer the healthy one.
    const pod = pods.find((p) => p.ready && !p.terminating) ?? pods[0];
    return podRoute(pod, port);
  }
  return undefined;
}

function directOrReject(index: ClusterIndex, ip: string, port: number): Route {
  if (inRanges(ip, index.clusterRanges())) {
    return reject("unknown-host", `no pod or service in the cluster has IP ${ip}`);
  }
  return { kind: "direct", host: ip, port };
}

function resolveName(index: ClusterIndex, name: string, port: number, opts: ResolveOptions): Route {
  const domainSuffix = `.${opts.clusterDomain}`;
  const inDomain = name.endsWith(domainSuffix);
  const labels = (inDomain ? name.slice(0, -domainSuffix.length) : name).split(".");
  const unknown = () =>
    reject("unknown-host", `no service or pod in the cluster is called ${name}`);

  if (labels.at(-1) === "pod" && labels.length === 3 && inDomain) {
    return podDnsRoute(index, labels[0], labels[1], port) ?? unknown();
  }
  if (labels.at(-1) === "svc" && (labels.length === 3 || labels.length === 4)) {
    const [host, svcName, ns] = labels.length === 4 ? labels : [undefined, ...labels];
    const svc = index.service(ns!, svcName!);
    if (!svc) return unknown();
    return host === undefined
      ? serviceRoute(index, svc, port)
      : headlessHostRoute(index, svc, host, port) ?? unknown();
  }
  if (inDomain) return unknown();
  if (labels.length === 2 && index.service(labels[1], labels[0])) {
    return serviceRoute(index, index.service(labels[1], labels[0])!, port);
  }
  if (labels.length === 1 && index.service(opts.namespace, labels[0])) {
    return serviceRoute(index, index.service(opts.namespace, labels[0])!, port);
  }
  return { kind: "direct", host: name, port };
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
function podDnsRoute(index: ClusterIndex, dashed: string, ns: string, port: number) {
  const ip = canonicalIp(
    dashed.includes("-") && !dashed.includes(":") ? dashed.replaceAll("-", ".") : "",
  );
  if (!ip) return undefined;
  const pod = index.podsByIp(ip).find((p) => p.namespace === ns && p.live);
  return pod ? podRoute(pod, port) : undefined;
}

/**
 * A service and port. ExternalName services go out directly to their target name; headless ones
 * go to the requested port of a ready endpoint pod (as their DNS answers would); others map the
 * service port to the endpoint port.
 */
function serviceRoute(index: ClusterIndex, svc: ServiceInfo, port: number): Route {
  const id = `${svc.namespace}/${svc.name}`;
  if (svc.type === "ExternalName" && svc.externalName) {
    return { kind: "direct", host: svc.externalName.replace(/\.$/, ""), port };
  }
  if (svc.headless) {
    const targets = readyEndpointPods(index, svc).map((pod) => ({ ...pod, port }));
    return clusterRoute(`service ${id} (headless)`, `svc/${id}/*:${port}`, targets, id);
  }
  const svcPort = svc.ports.find((p) => p.port === port && p.protocol === "TCP");
  if (!svcPort) {
    const known = svc.ports.filter((p) => p.protocol === "TCP").map((p) => p.port).join(", ");
    return reject("no-port", `service ${id} has no TCP port ${port} (it has: ${known || "none"})`);
  }
  const targets = serviceTargets(index, svc, svcPort);
  return clusterRoute(`service ${id}:${port}`, `svc/${id}:${port}`, targets, id);
}

function clusterRoute(via: string, spreadKey: string, targets: PodTarget[], id: string): Route {
  if (targets.length === 0) return reject("no-endpoints", `service ${id} has no ready endpoints`);
  targets.sort((a, b) => (a.namespace + a.pod).localeCompare(b.namespace + b.pod));
  return { kind: "cluster", via, targets, spreadKey };
}

/** `host.svc.ns.svc`: the endpoint of a headless service whose hostname is `host`. */
function headlessHostRoute(index: ClusterIndex, svc: ServiceInfo, host: string, port: number) {
  // Cluster DNS publishes such records only for ready endpoints of headless services.
  if (!svc.headless) return undefined;
  for (const slice of index.slicesOf(svc.namespace, svc.name)) {
    for (const ep of slice.endpoints) {
      if (!ep.ready || ep.terminating) continue;
      const dashed = ep.addresses.map((a) => a.replaceAll(/[.:]/g, "-"));
      if (ep.hostname !== host && !dashed.includes(host)) continue;
      const pod = endpointPod(index, svc.namespace, ep.podName, ep.addresses);
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
function serviceTargets(index: ClusterIndex, svc: ServiceInfo, svcPort: ServicePort): PodTarget[] {
  const slices = index.slicesOf(svc.namespace, svc.name);
  if (slices.length > 0) {
    const out: PodTarget[] = [];
    for (const slice of slices) {
      const slicePort = slice.ports.find((p) => (p.name ?? "") === (svcPort.name ?? ""));
      if (!slicePort) continue;
      for (const ep of slice.endpoints) {
        if (!ep.ready || ep.terminating) continue;
        const pod = endpointPod(index, svc.namespace, ep.podName, ep.addresses);
        if (pod) out.push({ namespace: pod.namespace, pod: pod.name, port: slicePort.port });
      }
    }
    return dedupe(out);
  }
  if (!svc.selector) return [];
  return selectPods(index, svc).flatMap((pod) => {
    const port = targetPortOf(svcPort, pod);
    return port === undefined ? [] : [{ namespace: pod.namespace, pod: pod.name, port }];
  });
}

function readyEndpointPods(index: ClusterIndex, svc: ServiceInfo): Omit<PodTarget, "port">[] {
  const slices = index.slicesOf(svc.namespace, svc.name);
  const pods = slices.length > 0
    ? slices.flatMap((s) => s.endpoints.filter((e) => e.ready && !e.terminating))
      .flatMap((e) => endpointPod(index, svc.namespace, e.podName, e.addresses) ?? [])
    : svc.selector
    ? selectPods(index, svc)
    : [];
  return dedupe(pods.map((p) => ({ namespace: p.namespace, pod: p.name, port: 0 })))
    .map(({ namespace, pod }) => ({ namespace, pod }));
}

/** The pod behind an endpoint: by its targetRef, or else by its address (manual endpoints). */
function endpointPod(
  index: ClusterIndex,
  namespace: string,
  podName: string | undefined,
  addresses: string[],
): PodInfo | undefined {
  if (podName) return index.pod(namespace, podName);
  for (const a of addresses) {
    const ip = canonicalIp(a);
    const pod = ip ? index.podsByIp(ip).find((p) => p.live) : undefined;
    if (pod) return pod;
  }
  return undefined;
}

function selectPods(index: ClusterIndex, svc: ServiceInfo): PodInfo[] {
  const selector = Object.entries(svc.selector ?? {});
  return [...index.pods()].filter((p) =>
    p.namespace === svc.namespace && p.live && p.ready && !p.terminating &&
    selector.every(([k, v]) => p.labels[k] === v)
  );
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
