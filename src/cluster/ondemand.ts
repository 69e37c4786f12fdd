/**
 * Pods and endpoint slices looked up when a connection needs them, instead of a copy of every
 * pod in the cluster: a pod IP is one list by the `status.podIP` field selector (narrowed to the
 * node whose pod range holds it, where that is known: node_ranges.ts), a service's
 * endpoints one list by the `kubernetes.io/service-name` label (or, where slices cannot be
 * read, the service's own selector). Each lookup then stays current through a watch narrowed
 * the same way, so a pod that becomes ready is used at once and one that goes is dropped, and
 * the next connection to the same destination needs no round trip. Lookups unused for a while
 * (and the oldest, beyond a cap) are dropped with their watches: memory and API work follow
 * what is in use, not the size of the cluster.
 *
 * A pod that leaves a lookup (deleted, or its endpoint gone from a slice) is checked with one
 * GET; if it no longer exists (or the name now belongs to a new pod) the index's pod-gone
 * listeners close its tunnels.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ApiError, type KubeApi } from "../kube/api.ts";
import type { ClusterIndex, PodSource } from "./index.ts";
import { decodePod, decodeSlice, type PodInfo, type SliceInfo } from "../kube/objects.ts";
import { NodeRanges, type NodeRangesOptions } from "./node_ranges.ts";
import { Reflector, type ReflectorOptions } from "../kube/reflector.ts";
import type { Scope } from "./scope.ts";

const log = getLogger(["ktctl", "cluster"]);

export interface OnDemandOptions {
  /** A lookup nobody asked for during this long is dropped (10 min unless given). */
  idleMs?: number;
  /**
   * At most this many lookups (each one watch) are kept (100 unless given); the least recently
   * used go first. Deno's fetch speaks HTTP/2 to the API server, so every watch is a stream on one
   * connection, and Go's HTTP/2 server allows 250 streams per connection unless told otherwise.
   */
  maxLookups?: number;
  reflector?: ReflectorOptions;
  /** How node ranges narrow pod-IP lookups; `false`: never (every lookup by `status.podIP`). */
  nodeRanges?: NodeRangesOptions | false;
}

/** What a lookup tells its owner as its items change. */
interface LookupHooks<T> {
  /** An item arrived or changed. */
  seen(item: T): void;
  /** An item left (deleted, or no longer selected). */
  left(item: T): void;
  /** The items changed (after seen/left). */
  changed?(): void;
}

/** One narrowed list+watch and what it holds. */
class Lookup<T extends { namespace: string; name: string }> {
  readonly items = new Map<string, T>();
  lastUsed = Date.now();
  readonly ready: Promise<void>;
  readonly reflector: Reflector<T>;

  constructor(
    api: KubeApi,
    path: string,
    query: string,
    decode: (raw: unknown) => T,
    hooks: LookupHooks<T>,
    opts: ReflectorOptions | undefined,
  ) {
    const k = (i: T) => `${i.namespace}/${i.name}`;
    this.reflector = new Reflector(api, path, query, decode, {
      replace: (items) => {
        const before = new Map(this.items);
        this.items.clear();
        for (const i of items) {
          this.items.set(k(i), i);
          hooks.seen(i);
        }
        for (const [key, old] of before) if (!this.items.has(key)) hooks.left(old);
        hooks.changed?.();
      },
      upsert: (item) => {
        this.items.set(k(item), item);
        hooks.seen(item);
        hooks.changed?.();
      },
      remove: (item) => {
        this.items.delete(k(item));
        hooks.left(item);
        hooks.changed?.();
      },
    }, opts);
    this.ready = this.reflector.start();
  }
}

type PodLookup = Lookup<PodInfo>;
type SliceLookup = Lookup<SliceInfo>;

export class OnDemand implements PodSource {
  #lookups = new Map<string, PodLookup | SliceLookup>();
  /** Pods seen to be gone ("ns/name" → uid), so that a lagging slice does not offer them. */
  #gone = new Map<string, string | undefined>();
  #checking = new Set<string>();
  #sweeper: ReturnType<typeof setInterval>;
  #stopped = false;
  /** What narrows pod-IP lookups to a node; undefined when told not to. */
  readonly nodeRanges: NodeRanges | undefined;

  constructor(
    readonly api: KubeApi,
    readonly index: ClusterIndex,
    readonly scope: Scope,
    /** Whether EndpointSlices can be read; without them services go by their selectors. */
    readonly slicesReadable: boolean,
    readonly counted: number,
    readonly opts: OnDemandOptions = {},
  ) {
    this.nodeRanges = opts.nodeRanges === false ? undefined : new NodeRanges(api, opts.nodeRanges);
    const idleMs = opts.idleMs ?? 10 * 60_000;
    this.#sweeper = setInterval(() => this.#sweep(idleMs), Math.min(60_000, idleMs));
    Deno.unrefTimer(this.#sweeper as unknown as number);
  }

  podCount(): number {
    return this.counted;
  }

  /** How many lookups (and so watches) are held. */
  get size(): number {
    return this.#lookups.size;
  }

  /**
   * The pods that have `ip`: looked up on the node whose range holds it where that is known
   * (see node_ranges.ts), and across the scope when that finds none.
   */
  async podsByIp(ip: string): Promise<PodInfo[]> {
    const byIp = (selector: string) => () =>
      this.#podLookup(podsPath(this.scope), `fieldSelector=${encodeURIComponent(selector)}`);
    const node = this.nodeRanges?.nodeOf(ip);
    if (node) {
      const narrowed = this.#lookup(
        `ip ${ip} on ${node}`,
        byIp(`spec.nodeName=${node},status.podIP=${ip}`),
      );
      const found = narrowed ? [...await this.#items(narrowed)] : [];
      if (found.length > 0) return found;
    }
    const lookup = this.#lookup(`ip ${ip}`, byIp(`status.podIP=${ip}`));
    const found = lookup ? [...await this.#items(lookup)] : [];
    const elsewhere = node && found.find((p) => p.nodeName && p.nodeName !== node);
    if (elsewhere) {
      this.nodeRanges?.distrust(
        `${elsewhere.namespace}/${elsewhere.name} has ${ip}, of node ${node}'s range, ` +
          `but runs on ${elsewhere.nodeName}`,
      );
    }
    return found;
  }

  async slicesOf(namespace: string, service: string): Promise<SliceInfo[]> {
    if (!this.slicesReadable || !this.#inScope(namespace)) return [];
    const lookup = this.#lookup(`slices ${namespace}/${service}`, () =>
      this.#sliceLookup(
        `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`,
        `labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`,
      ));
    return lookup ? [...await this.#items(lookup)] : [];
  }

  async podsMatching(namespace: string, selector: Record<string, string>): Promise<PodInfo[]> {
    const terms = Object.entries(selector).sort().map(([k, v]) => `${k}=${v}`).join(",");
    if (!terms || !this.#inScope(namespace)) return [];
    const lookup = this.#lookup(`selector ${namespace}/${terms}`, () =>
      this.#podLookup(
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
        `labelSelector=${encodeURIComponent(terms)}`,
      ));
    return lookup ? [...await this.#items(lookup)] : [];
  }

  mayExist(namespace: string, name: string, uid?: string): boolean {
    const k = `${namespace}/${name}`;
    if (!this.#gone.has(k)) return true;
    const goneUid = this.#gone.get(k);
    return uid !== undefined && goneUid !== undefined && uid !== goneUid;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#sweeper);
    const all = [...this.#lookups.values()];
    this.#lookups.clear();
    await Promise.all([...all.map((l) => l.reflector.stop()), this.nodeRanges?.stop()]);
  }

  #inScope(namespace: string): boolean {
    return this.scope.kind === "cluster" || this.scope.namespace === namespace;
  }

  #podLookup(path: string, query: string): PodLookup {
    return new Lookup<PodInfo>(this.api, path, query, decodePod, {
      seen: (pod) => this.#seenPod(pod),
      left: (pod) => this.#check(pod.namespace, pod.name, pod.uid),
    }, this.opts.reflector);
  }

  /** Slices of one service; pods that drop out of its endpoints are checked for being gone. */
  #sliceLookup(path: string, query: string): SliceLookup {
    let known = new Map<string, string | undefined>();
    const lookup: SliceLookup = new Lookup<SliceInfo>(this.api, path, query, decodeSlice, {
      seen: (slice) => {
        for (const ep of slice.endpoints) for (const a of ep.addresses) this.index.observe(a);
      },
      left: () => {},
      changed: () => {
        const now = new Map<string, string | undefined>();
        for (const slice of lookup.items.values()) {
          for (const ep of slice.endpoints) {
            if (ep.podName) now.set(`${slice.namespace}/${ep.podName}`, ep.podUid);
          }
        }
        for (const [k, uid] of known) {
          if (now.has(k)) continue;
          const [namespace, name] = k.split("/");
          this.#check(namespace, name, uid);
        }
        known = now;
      },
    }, this.opts.reflector);
    return lookup;
  }

  /** The lookup for `key`, made (and its first list started) on first use. */
  #lookup<L extends PodLookup | SliceLookup>(key: string, make: () => L): L | undefined {
    if (this.#stopped) return undefined;
    let lookup = this.#lookups.get(key) as L | undefined;
    if (lookup) {
      // Map order is recency order: move it to the end.
      this.#lookups.delete(key);
    } else {
      lookup = make();
      const made = lookup;
      const t0 = performance.now();
      made.ready.then(() => {
        log.debug("Looked up {key}: {count} found in {ms} ms", {
          key,
          count: made.items.size,
          ms: Math.round(performance.now() - t0),
        });
      }, (e) => {
        if (this.#lookups.get(key) === made) this.#lookups.delete(key);
        log.debug("Looking up {key} failed: {error}", { key, error: String(e) });
      });
    }
    lookup.lastUsed = Date.now();
    this.#lookups.set(key, lookup);
    const max = this.opts.maxLookups ?? 100;
    for (const [k, l] of this.#lookups) {
      if (this.#lookups.size <= max) break;
      this.#lookups.delete(k);
      l.reflector.stop();
    }
    return lookup;
  }

  /** The lookup's items once its first list is in; none when the API could not answer. */
  async #items<T extends { namespace: string; name: string }>(
    lookup: Lookup<T>,
  ): Promise<Iterable<T>> {
    try {
      await lookup.ready;
    } catch (e) {
      if (e instanceof ApiError) return [];
      throw e;
    }
    return lookup.items.values();
  }

  /** Remembers the cluster range a pod's address shows, and that a pod of a gone name is back. */
  #seenPod(pod: PodInfo): void {
    if (pod.hostNetwork) return;
    for (const ip of pod.ips) this.index.observe(ip);
    const k = `${pod.namespace}/${pod.name}`;
    if (this.#gone.has(k) && pod.uid !== this.#gone.get(k)) this.#gone.delete(k);
  }

  /** One GET: is the pod (this uid of it) still there? If not, it is gone. */
  async #check(namespace: string, name: string, uid: string | undefined): Promise<void> {
    const k = `${namespace}/${name}`;
    if (this.#checking.has(k) || this.#stopped) return;
    this.#checking.add(k);
    try {
      let gone = false;
      try {
        const raw = await this.api.get(
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`,
        );
        const now = decodePod(raw);
        gone = uid !== undefined && now.uid !== undefined && now.uid !== uid;
      } catch (e) {
        if (!(e instanceof ApiError && e.kind === "not-found")) return;
        gone = true;
      }
      if (!gone) return;
      if (this.#gone.size > 10_000) this.#gone.clear();
      this.#gone.set(k, uid);
      this.index.podGone(namespace, name);
    } finally {
      this.#checking.delete(k);
    }
  }

  #sweep(idleMs: number): void {
    const cutoff = Date.now() - idleMs;
    for (const [k, l] of this.#lookups) {
      if (l.lastUsed >= cutoff) continue;
      this.#lookups.delete(k);
      l.reflector.stop();
    }
  }
}

function podsPath(scope: Scope): string {
  return scope.kind === "cluster"
    ? "/api/v1/pods"
    : `/api/v1/namespaces/${encodeURIComponent(scope.namespace)}/pods`;
}
