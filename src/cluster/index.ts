/**
 * What routing knows about the cluster. Services are held in full (they are few next to pods,
 * change rarely, and every name and ClusterIP resolves from them without a round trip); pods and
 * endpoint slices come from a {@link PodSource}: in ktctl the on-demand one (ondemand.ts), which
 * looks up only what connections ask for, so memory and API work do not grow with the cluster;
 * in tests a static one (tests/helpers/static_source.ts). The index always has a source: the
 * empty one until the view hands it its lookups, so no query branches on whether there is one.
 * @module
 */
import { canonicalIp, type Cidr, surroundingRange } from "../net/ip.ts";
import type { PodInfo, ServiceInfo, SliceInfo } from "../kube/objects.ts";

export type Kind = "pods" | "services" | "slices";

/** Pods and endpoint slices, asked for one destination at a time. */
export interface PodSource {
  /** Pods whose status carries `ip` (hostNetwork pods included; the caller skips them). */
  podsByIp(ip: string): Promise<PodInfo[]>;
  /** The EndpointSlices of one service. */
  slicesOf(namespace: string, service: string): Promise<SliceInfo[]>;
  /** Pods of `namespace` whose labels match `selector` (services whose slices cannot be read). */
  podsMatching(namespace: string, selector: Record<string, string>): Promise<PodInfo[]>;
  /** False only for a pod known to be gone (a slice may still name it for a few seconds). */
  mayExist(namespace: string, name: string, uid?: string): boolean;
  /** How many pods the cluster (or scope) has, as last counted. */
  podCount(): number;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

/** The source before the view has started: no pods, no slices (nothing routes to pods yet). */
const NO_PODS_YET: PodSource = {
  podsByIp: () => Promise.resolve([]),
  slicesOf: () => Promise.resolve([]),
  podsMatching: () => Promise.resolve([]),
  mayExist: () => false,
  podCount: () => 0,
};

export class ClusterIndex {
  #services = new Map<string, ServiceInfo>();
  #servicesByIp = new Map<string, ServiceInfo>();
  /** Services per namespace, so that namespaces come and go with their services. */
  #serviceNamespaces = new Map<string, number>();
  /** Namespaces as listed (when the user may list them); undefined when not known. */
  #listedNamespaces: Set<string> | undefined;
  #ranges = new Map<string, Cidr>();
  #source: PodSource = NO_PODS_YET;
  #podGone: ((namespace: string, name: string) => void)[] = [];
  #namespacesChanged: (() => void)[] = [];
  #namespaceKey = "";

  /**
   * `declaredRanges`: the cluster's address ranges as the user gave them. When empty, the ranges
   * are guessed from the pod and service IPs seen (their /16 or /64).
   */
  constructor(readonly declaredRanges: Cidr[] = []) {}

  /** From now on pods and slices come from `source` (the view's on-demand lookups). */
  useSource(source: PodSource): void {
    this.#source = source;
  }

  /** Adds or replaces a service (from the services' watch). */
  upsert(_kind: "services", value: ServiceInfo): void {
    this.#putService(value);
    this.#namespacesMayHaveChanged();
  }

  remove(_kind: "services", namespace: string, name: string): void {
    this.#dropService(key(namespace, name));
    this.#namespacesMayHaveChanged();
  }

  /** Replaces every service (after a list). */
  replaceAll(_kind: "services", values: ServiceInfo[]): void {
    const fresh = new Set(values.map((v) => key(v.namespace, v.name)));
    for (const k of [...this.#services.keys()]) if (!fresh.has(k)) this.#dropService(k);
    for (const v of values) this.#putService(v);
    this.#namespacesMayHaveChanged();
  }

  /** Calls `listener` whenever a pod disappears from the picture (deleted, or gone on relist). */
  onPodGone(listener: (namespace: string, name: string) => void): void {
    this.#podGone.push(listener);
  }

  /** Tells the pod-gone listeners (the source calls this when a pod it knew is deleted). */
  podGone(namespace: string, name: string): void {
    for (const listener of this.#podGone) listener(namespace, name);
  }

  /** Services held; pods as the source last counted them. */
  count(kind: "pods" | "services"): number {
    return kind === "services" ? this.#services.size : this.#source.podCount();
  }

  service(namespace: string, name: string): ServiceInfo | undefined {
    return this.#services.get(key(namespace, name));
  }

  /** The names of the services in `namespace`, sorted (for "it has: ..." answers). */
  serviceNamesIn(namespace: string): string[] {
    const prefix = `${namespace}/`;
    return [...this.#services.keys()].filter((k) => k.startsWith(prefix))
      .map((k) => k.slice(prefix.length)).sort();
  }

  /** The namespaces that have a service called `name`, sorted. */
  namespacesWithService(name: string): string[] {
    return [...this.#services.values()].filter((s) => s.name === name).map((s) => s.namespace)
      .sort();
  }

  serviceByIp(ip: string): ServiceInfo | undefined {
    return this.#servicesByIp.get(ip);
  }

  /** Pods that own `ip` (hostNetwork pods excluded: their IP is their node's). */
  async podsByIp(ip: string): Promise<PodInfo[]> {
    return (await this.#source.podsByIp(ip)).filter((p) => !p.hostNetwork);
  }

  slicesOf(namespace: string, service: string): Promise<SliceInfo[]> {
    return this.#source.slicesOf(namespace, service);
  }

  podsMatching(namespace: string, selector: Record<string, string>): Promise<PodInfo[]> {
    return this.#source.podsMatching(namespace, selector);
  }

  /**
   * Whether the pod an endpoint names may be used (the on-demand source trusts the slice unless
   * it saw the pod go).
   */
  mayExist(namespace: string, name: string, uid?: string): boolean {
    return this.#source.mayExist(namespace, name, uid);
  }

  /** The namespaces ktctl can see: listed ones, and those of services. Sorted. */
  namespaces(): string[] {
    const all = new Set(this.#listedNamespaces ?? []);
    for (const ns of this.#serviceNamespaces.keys()) all.add(ns);
    return [...all].sort();
  }

  hasNamespace(namespace: string): boolean {
    return this.namespaces().includes(namespace);
  }

  namespaceCount(): number {
    return this.namespaces().length;
  }

  /** The namespaces as listed by the API (replacing the previous list). */
  setNamespaces(names: Iterable<string>): void {
    this.#listedNamespaces = new Set(names);
    this.#namespacesMayHaveChanged();
  }

  /** Calls `cb` after the set of namespaces changed. */
  onNamespacesChanged(cb: () => void): void {
    this.#namespacesChanged.push(cb);
  }

  /** The address ranges that belong to the cluster: declared, or else observed. */
  clusterRanges(): Cidr[] {
    return this.declaredRanges.length > 0 ? this.declaredRanges : [...this.#ranges.values()];
  }

  /** Adds the range around an address the cluster uses (a pod's or a service's). */
  observe(raw: string): void {
    const ip = canonicalIp(raw);
    if (!ip) return;
    const r = surroundingRange(ip);
    const k = `${r[0]}/${r[1]}`;
    if (!this.#ranges.has(k)) this.#ranges.set(k, r);
  }

  #putService(svc: ServiceInfo): void {
    const k = key(svc.namespace, svc.name);
    const old = this.#services.get(k);
    if (old) this.#unindexService(old);
    else {this.#serviceNamespaces.set(
        svc.namespace,
        (this.#serviceNamespaces.get(svc.namespace) ?? 0) + 1,
      );}
    this.#services.set(k, svc);
    for (const raw of svc.clusterIPs) {
      const ip = canonicalIp(raw);
      if (!ip) continue;
      this.observe(ip);
      this.#servicesByIp.set(ip, svc);
    }
  }

  #dropService(k: string): void {
    const old = this.#services.get(k);
    if (!old) return;
    this.#services.delete(k);
    this.#unindexService(old);
    const left = (this.#serviceNamespaces.get(old.namespace) ?? 1) - 1;
    if (left > 0) this.#serviceNamespaces.set(old.namespace, left);
    else this.#serviceNamespaces.delete(old.namespace);
  }

  #unindexService(svc: ServiceInfo): void {
    for (const raw of svc.clusterIPs) {
      const ip = canonicalIp(raw);
      if (ip && this.#servicesByIp.get(ip) === svc) this.#servicesByIp.delete(ip);
    }
  }

  #namespacesMayHaveChanged(): void {
    if (this.#namespacesChanged.length === 0) return;
    const now = this.namespaces().join(",");
    if (now === this.#namespaceKey) return;
    this.#namespaceKey = now;
    for (const cb of this.#namespacesChanged) cb();
  }
}
