/**
 * An in-memory picture of the cluster's pods, services and endpoint slices, kept current by
 * watches (see `view.ts`) and queried once per proxied connection. Lookup maps are rebuilt
 * lazily after changes, so a burst of watch events costs one rebuild.
 * @module
 */
import { canonicalIp, type Cidr, surroundingRange } from "../net/ip.ts";
import type { PodInfo, ServiceInfo, SliceInfo } from "./objects.ts";

export type Kind = "pods" | "services" | "slices";
type ObjectOf<K extends Kind> = K extends "pods" ? PodInfo
  : K extends "services" ? ServiceInfo
  : SliceInfo;

interface Derived {
  podsByIp: Map<string, PodInfo[]>;
  servicesByIp: Map<string, ServiceInfo>;
  slicesByService: Map<string, SliceInfo[]>;
  namespaces: Set<string>;
  observedRanges: Cidr[];
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class ClusterIndex {
  #objects = {
    pods: new Map<string, PodInfo>(),
    services: new Map<string, ServiceInfo>(),
    slices: new Map<string, SliceInfo>(),
  };
  #derived: Derived | undefined;
  #podGone: ((namespace: string, name: string) => void)[] = [];

  /**
   * `declaredRanges`: the cluster's address ranges as the user gave them. When empty, the ranges
   * are guessed from the pod and service IPs seen (their /16 or /64).
   */
  constructor(readonly declaredRanges: Cidr[] = []) {}

  upsert<K extends Kind>(kind: K, value: ObjectOf<K>): void {
    (this.#objects[kind] as Map<string, ObjectOf<K>>).set(key(value.namespace, value.name), value);
    this.#derived = undefined;
  }

  remove(kind: Kind, namespace: string, name: string): void {
    if (this.#objects[kind].delete(key(namespace, name)) && kind === "pods") {
      for (const listener of this.#podGone) listener(namespace, name);
    }
    this.#derived = undefined;
  }

  /** Replaces every object of one kind (after a list). */
  replaceAll<K extends Kind>(kind: K, values: ObjectOf<K>[]): void {
    const map = this.#objects[kind] as Map<string, ObjectOf<K>>;
    const before = kind === "pods" ? [...map.keys()] : [];
    map.clear();
    for (const v of values) map.set(key(v.namespace, v.name), v);
    for (const k of before) {
      if (map.has(k)) continue;
      const [namespace, name] = k.split("/");
      for (const listener of this.#podGone) listener(namespace, name);
    }
    this.#derived = undefined;
  }

  /** Calls `listener` whenever a pod disappears from the picture (deleted, or gone on relist). */
  onPodGone(listener: (namespace: string, name: string) => void): void {
    this.#podGone.push(listener);
  }

  count(kind: Kind): number {
    return this.#objects[kind].size;
  }

  pod(namespace: string, name: string): PodInfo | undefined {
    return this.#objects.pods.get(key(namespace, name));
  }

  service(namespace: string, name: string): ServiceInfo | undefined {
    return this.#objects.services.get(key(namespace, name));
  }

  pods(): Iterable<PodInfo> {
    return this.#objects.pods.values();
  }

  /** Pods that own `ip` (hostNetwork pods excluded: their IP is their node's). */
  podsByIp(ip: string): PodInfo[] {
    return this.#index().podsByIp.get(ip) ?? [];
  }

  serviceByIp(ip: string): ServiceInfo | undefined {
    return this.#index().servicesByIp.get(ip);
  }

  slicesOf(namespace: string, service: string): SliceInfo[] {
    return this.#index().slicesByService.get(key(namespace, service)) ?? [];
  }

  hasNamespace(namespace: string): boolean {
    return this.#index().namespaces.has(namespace);
  }

  namespaceCount(): number {
    return this.#index().namespaces.size;
  }

  /** Every namespace that holds a pod or service, sorted (the PAC file lists them). */
  namespaces(): string[] {
    return [...this.#index().namespaces].sort();
  }

  /** The address ranges that belong to the cluster: declared, or else observed. */
  clusterRanges(): Cidr[] {
    return this.declaredRanges.length > 0 ? this.declaredRanges : this.#index().observedRanges;
  }

  #index(): Derived {
    if (this.#derived) return this.#derived;
    const d: Derived = {
      podsByIp: new Map(),
      servicesByIp: new Map(),
      slicesByService: new Map(),
      namespaces: new Set(),
      observedRanges: [],
    };
    const ranges = new Map<string, Cidr>();
    const observe = (ip: string) => {
      const r = surroundingRange(ip);
      ranges.set(`${r[0]}/${r[1]}`, r);
    };
    for (const pod of this.#objects.pods.values()) {
      d.namespaces.add(pod.namespace);
      if (pod.hostNetwork) continue;
      for (const raw of pod.ips) {
        const ip = canonicalIp(raw);
        if (!ip) continue;
        observe(ip);
        const list = d.podsByIp.get(ip) ?? [];
        list.push(pod);
        d.podsByIp.set(ip, list);
      }
    }
    for (const svc of this.#objects.services.values()) {
      d.namespaces.add(svc.namespace);
      for (const raw of svc.clusterIPs) {
        const ip = canonicalIp(raw);
        if (!ip) continue;
        observe(ip);
        d.servicesByIp.set(ip, svc);
      }
    }
    for (const slice of this.#objects.slices.values()) {
      const k = key(slice.namespace, slice.serviceName);
      const list = d.slicesByService.get(k) ?? [];
      list.push(slice);
      d.slicesByService.set(k, list);
    }
    d.observedRanges = [...ranges.values()];
    this.#derived = d;
    return d;
  }
}
