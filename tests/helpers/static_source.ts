/**
 * A {@link PodSource} over pods and slices put into it by a test, for routing tests that need no
 * API server: what the on-demand lookups (src/cluster/ondemand.ts) would answer, without the
 * lookups. Like them it tells the index the address ranges it sees and the pods that go, and its
 * pods' namespaces stand in for the namespace list.
 * @module
 */
import { ClusterIndex, type PodSource } from "../../src/cluster/index.ts";
import type { PodInfo, SliceInfo } from "../../src/kube/objects.ts";
import { canonicalIp, type Cidr } from "../../src/net/ip.ts";

const key = (namespace: string, name: string) => `${namespace}/${name}`;

export class StaticPodSource implements PodSource {
  #pods = new Map<string, PodInfo>();
  #slices = new Map<string, SliceInfo>();

  constructor(readonly index: ClusterIndex) {
    index.useSource(this);
  }

  /** Adds or replaces a pod; its addresses join the cluster's ranges. */
  putPod(pod: PodInfo): void {
    this.#pods.set(key(pod.namespace, pod.name), pod);
    if (!pod.hostNetwork) { for (const ip of pod.ips) this.index.observe(ip); }
    this.#namespaces();
  }

  /** Removes a pod and tells the index it is gone. */
  removePod(namespace: string, name: string): void {
    if (this.#pods.delete(key(namespace, name))) this.index.podGone(namespace, name);
    this.#namespaces();
  }

  /** Replaces every pod (as a relist would): those not listed again are gone. */
  replacePods(pods: PodInfo[]): void {
    const before = [...this.#pods.values()];
    this.#pods.clear();
    for (const p of pods) this.putPod(p);
    for (const p of before) {
      if (!this.#pods.has(key(p.namespace, p.name))) this.index.podGone(p.namespace, p.name);
    }
    this.#namespaces();
  }

  putSlice(slice: SliceInfo): void {
    this.#slices.set(key(slice.namespace, slice.name), slice);
  }

  pod(namespace: string, name: string): PodInfo | undefined {
    return this.#pods.get(key(namespace, name));
  }

  sliceCount(): number {
    return this.#slices.size;
  }

  podsByIp(ip: string): Promise<PodInfo[]> {
    return Promise.resolve(
      [...this.#pods.values()].filter((p) => p.ips.some((a) => canonicalIp(a) === ip)),
    );
  }

  slicesOf(namespace: string, service: string): Promise<SliceInfo[]> {
    return Promise.resolve(
      [...this.#slices.values()].filter((s) =>
        s.namespace === namespace && s.serviceName === service
      ),
    );
  }

  podsMatching(namespace: string, selector: Record<string, string>): Promise<PodInfo[]> {
    const wanted = Object.entries(selector);
    return Promise.resolve(
      [...this.#pods.values()].filter((p) =>
        p.namespace === namespace && wanted.every(([k, v]) => p.labels[k] === v)
      ),
    );
  }

  /** A pod must be here to be used (a static world has no pods it has not been told of). */
  mayExist(namespace: string, name: string): boolean {
    return this.#pods.has(key(namespace, name));
  }

  podCount(): number {
    return this.#pods.size;
  }

  #namespaces(): void {
    this.index.setNamespaces(new Set([...this.#pods.values()].map((p) => p.namespace)));
  }
}

/** A new index whose pods and slices come from a static source. */
export function staticIndex(
  declaredRanges: Cidr[] = [],
): { index: ClusterIndex; source: StaticPodSource } {
  const index = new ClusterIndex(declaredRanges);
  return { index, source: new StaticPodSource(index) };
}
