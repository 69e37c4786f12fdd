/**
 * What routing knows about the cluster. Services are held in full (they are few next to pods,
 * change rarely, and every name and ClusterIP resolves from them without a round trip); pods and
 * endpoint slices come from a {@link PodSource}: in ktctl the on-demand one (ondemand.ts), which
 * looks up only what connections ask for, so memory and API work do not grow with the cluster.
 * Without one, the index answers from pods and slices put into it (tests, tiny tools).
 * @module
 */
import { canonicalIp, type Cidr, surroundingRange } from "../net/ip.ts";
import type { PodInfo, ServiceInfo, SliceInfo } from "../kube/objects.ts";

export type Kind = "pods" | "services" | "slices";
type ObjectOf<K extends Kind> = K extends "pods" ? PodInfo
  : K extends "services" ? ServiceInfo
  : SliceInfo;

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

export class ClusterIndex {
  #services = new Map<string, ServiceInfo>();
  #servicesByIp = new Map<string, ServiceInfo>();
  /** Services per namespace, so that namespaces come and go with their services. */
  #serviceNamespaces = new Map<string, number>();
  /** Namespaces as listed (when the user may list them); undefined when not known. */
  #listedNamespaces: Set<string> | undefined;
  #ranges = new Map<string, Cidr>();
  #source: PodSource | undefined;
  #local = { pods: new Map<string, PodInfo>(), slices: new Map<string, SliceInfo>() };
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

  upsert<K extends Kind>(kind: K, value: ObjectOf<K>): void {
    if (kind === "services") this.#putService(value as ServiceInfo);
    else {
      const map = this.#local[kind as "pods" | "slices"] as Map<string, ObjectOf<K>>;
      map.set(key(value.namespace, value.name), value);
      const pod = value as PodInfo;
      if (kind === "pods" && !pod.hostNetwork) { for (const ip of pod.ips) this.observe(ip); }
    }
    this.#namespacesMayHaveChanged();
  }

  remove(kind: Kind, namespace: string, name: string): void {
    if (kind === "services") this.#dropService(key(namespace, name));
    else if (this.#local[kind].delete(key(namespace, name)) && kind === "pods") {
      this.podGone(namespace, name);
    }
    this.#namespacesMayHaveChanged();
  }

  /** Replaces every object of one kind (after a list). */
  replaceAll<K extends Kind>(kind: K, values: ObjectOf<K>[]): void {
    if (kind === "services") {
      const fresh = new Set(values.map((v) => key(v.namespace, v.name)));
      for (const k of [...this.#services.keys()]) if (!fresh.has(k)) this.#dropService(k);
      for (const v of values) this.#putService(v as ServiceInfo);
    } else {
      const map = this.#local[kind as "pods" | "slices"] as Map<string, ObjectOf<K>>;
      const before = [...map.keys()];
      map.clear();
      for (const v of values) this.upsert(kind, v);
      if (kind === "pods") {
        for (const k of before) {
          if (map.has(k)) continue;
          const [namespace, name] = k.split("/");
          this.podGone(namespace, name);
        }
      }
    }
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

  count(kind: Kind): number {
    if (kind === "services") return this.#services.size;
    if (kind === "pods" && this.#source) return this.#source.podCount();
    return this.#local[kind].size;
  }

  /** A pod put into the index (not looked up: the on-demand source keeps its own). */
  pod(namespace: string, name: string): PodInfo | undefined {
    return this.#local.pods.get(key(namespace, name));
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
    const pods = this.#source
      ? await this.#source.podsByIp(ip)
      : [...this.#local.pods.values()].filter((p) => p.ips.some((a) => canonicalIp(a) === ip));
    return pods.filter((p) => !p.hostNetwork);
  }

  async slicesOf(namespace: string, service: string): Promise<SliceInfo[]> {
    if (this.#source) return await this.#source.slicesOf(namespace, service);
    return [...this.#local.slices.values()].filter((s) =>
      s.namespace === namespace && s.serviceName === service
    );
  }

  async podsMatching(namespace: string, selector: Record<string, string>): Promise<PodInfo[]> {
    if (this.#source) return await this.#source.podsMatching(namespace, selector);
    const wanted = Object.entries(selector);
    return [...this.#local.pods.values()].filter((p) =>
      p.namespace === namespace && wanted.every(([k, v]) => p.labels[k] === v)
    );
  }

  /**
   * Whether the pod an endpoint names may be used. The on-demand source trusts the slice unless
   * it saw the pod go; without one, the pod must be in the index.
   */
  mayExist(namespace: string, name: string, uid?: string): boolean {
    return this.#source
      ? this.#source.mayExist(namespace, name, uid)
      : this.#local.pods.has(key(namespace, name));
  }

  /** The namespaces ktctl can see: listed ones, and those of services. Sorted. */
  namespaces(): string[] {
    const all = new Set(this.#listedNamespaces ?? []);
    for (const ns of this.#serviceNamespaces.keys()) all.add(ns);
    if (!this.#source) { for (const p of this.#local.pods.values()) all.add(p.namespace); }
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
