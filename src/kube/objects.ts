/**
 * The few fields of Pods, Services and EndpointSlices that routing needs, read defensively from
 * API JSON. Keeping our own small shapes (instead of the generated client types) lets list and
 * watch responses share one decoder and keeps the cache small on big clusters.
 * @module
 */

export interface ContainerPort {
  name?: string;
  port: number;
  protocol: string;
}

export interface PodInfo {
  namespace: string;
  name: string;
  uid?: string;
  ips: string[];
  ready: boolean;
  /** Running or Pending; Succeeded and Failed pods keep their IP in status but serve nothing. */
  live: boolean;
  terminating: boolean;
  hostNetwork: boolean;
  /** The node it was scheduled to, if yet. */
  nodeName?: string;
  ports: ContainerPort[];
  labels: Record<string, string>;
}

/** A node's name and the pod address ranges (`spec.podCIDRs`) it was given, if any. */
export interface NodeInfo {
  name: string;
  podCIDRs: string[];
}

export interface ServicePort {
  name?: string;
  port: number;
  protocol: string;
  targetPort?: number | string;
}

export interface ServiceInfo {
  namespace: string;
  name: string;
  type: string;
  clusterIPs: string[];
  headless: boolean;
  externalName?: string;
  ports: ServicePort[];
  selector?: Record<string, string>;
}

export interface SliceEndpoint {
  addresses: string[];
  ready: boolean;
  terminating: boolean;
  hostname?: string;
  podName?: string;
  podUid?: string;
}

export interface SliceInfo {
  namespace: string;
  name: string;
  serviceName: string;
  ports: { name?: string; port: number; protocol: string }[];
  endpoints: SliceEndpoint[];
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v as Json : {};
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isInteger(v) ? v : undefined;
}
function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(obj(v))) if (typeof val === "string") out[k] = val;
  return out;
}

/** Namespace and name of any object. */
export function objectKey(raw: unknown): { namespace: string; name: string } {
  const meta = obj(obj(raw).metadata);
  return { namespace: str(meta.namespace) ?? "", name: str(meta.name) ?? "" };
}

export function resourceVersion(raw: unknown): string | undefined {
  return str(obj(obj(raw).metadata).resourceVersion);
}

export function decodePod(raw: unknown): PodInfo {
  const o = obj(raw), meta = obj(o.metadata), spec = obj(o.spec), status = obj(o.status);
  const ips = arr(status.podIPs).map((p) => str(obj(p).ip)).filter((ip): ip is string => !!ip);
  const podIP = str(status.podIP);
  if (ips.length === 0 && podIP) ips.push(podIP);
  const phase = str(status.phase);
  return {
    ...objectKey(raw),
    uid: str(meta.uid),
    ips,
    ready: arr(status.conditions).some((c) => obj(c).type === "Ready" && obj(c).status === "True"),
    live: phase === "Running" || phase === "Pending",
    terminating: str(meta.deletionTimestamp) !== undefined,
    hostNetwork: spec.hostNetwork === true,
    nodeName: str(spec.nodeName) || undefined,
    ports: arr(spec.containers).flatMap((c) =>
      arr(obj(c).ports).flatMap((p) => {
        const port = num(obj(p).containerPort);
        return port === undefined
          ? []
          : [{ name: str(obj(p).name), port, protocol: str(obj(p).protocol) ?? "TCP" }];
      })
    ),
    labels: strMap(meta.labels),
  };
}

/** A Node's pod ranges: `podCIDRs`, or `podCIDR` alone from servers older than dual-stack. */
export function decodeNode(raw: unknown): NodeInfo {
  const spec = obj(obj(raw).spec);
  return { name: objectKey(raw).name, podCIDRs: nodeRanges(arr(spec.podCIDRs), spec.podCIDR) };
}

/** `podCIDRs` wins; `podCIDR` fills in (both encodings). */
export function nodeRanges(podCIDRs: unknown[], podCIDR: unknown): string[] {
  const all = podCIDRs.map(str).filter((c): c is string => !!c);
  const one = str(podCIDR);
  return all.length > 0 ? all : one ? [one] : [];
}

/**
 * A Service's addresses from its spec, for both encodings: `clusterIPs` wins and `clusterIP` fills
 * in for old servers; "None" means headless.
 */
export function serviceAddresses(
  clusterIPs: string[],
  clusterIP: string | undefined,
): { clusterIPs: string[]; headless: boolean } {
  const all = clusterIPs.length === 0 && clusterIP ? [clusterIP] : clusterIPs;
  return { clusterIPs: all.filter((ip) => ip !== "None"), headless: all.includes("None") };
}

export function decodeService(raw: unknown): ServiceInfo {
  const spec = obj(obj(raw).spec);
  const selector = spec.selector === undefined ? undefined : strMap(spec.selector);
  return {
    ...objectKey(raw),
    type: str(spec.type) ?? "ClusterIP",
    ...serviceAddresses(
      arr(spec.clusterIPs).map(str).filter((s): s is string => !!s),
      str(spec.clusterIP),
    ),
    externalName: str(spec.externalName),
    ports: arr(spec.ports).flatMap((p) => {
      const port = num(obj(p).port);
      const target = obj(p).targetPort;
      return port === undefined ? [] : [{
        name: str(obj(p).name),
        port,
        protocol: str(obj(p).protocol) ?? "TCP",
        targetPort: typeof target === "number" || typeof target === "string" ? target : undefined,
      }];
    }),
    selector: selector && Object.keys(selector).length > 0 ? selector : undefined,
  };
}

export function decodeSlice(raw: unknown): SliceInfo {
  const o = obj(raw);
  return {
    ...objectKey(raw),
    serviceName: strMap(obj(o.metadata).labels)["kubernetes.io/service-name"] ?? "",
    ports: arr(o.ports).flatMap((p) => {
      const port = num(obj(p).port);
      return port === undefined
        ? []
        : [{ name: str(obj(p).name) || undefined, port, protocol: str(obj(p).protocol) ?? "TCP" }];
    }),
    endpoints: arr(o.endpoints).map((e) => {
      const cond = obj(obj(e).conditions), ref = obj(obj(e).targetRef);
      return {
        addresses: arr(obj(e).addresses).map(str).filter((s): s is string => !!s),
        ready: cond.ready !== false,
        terminating: cond.terminating === true,
        hostname: str(obj(e).hostname),
        podName: ref.kind === "Pod" ? str(ref.name) : undefined,
        podUid: ref.kind === "Pod" ? str(ref.uid) : undefined,
      };
    }),
  };
}
