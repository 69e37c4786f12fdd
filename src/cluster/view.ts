/**
 * What ktctl reads of the cluster, and for how long. At start: one small page of pods (it picks
 * the scope, counts the pods and shows where pod IPs are), every Service (compact records,
 * paginated), the namespaces when the user may list them, and whether EndpointSlices can be
 * read. Services and namespaces are then watched (see reflector.ts: resumed from the last
 * resource version, relisted only on 410); pods and slices are looked up when connections need
 * them (ondemand.ts). The index keeps its last picture while the API is away, so routing keeps
 * working from it.
 *
 * A user who may not list cluster-wide is served within the namespace they may read.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ApiError, type KubeApi } from "../kube/api.ts";
import type { ClusterIndex, Kind } from "./index.ts";
import { objectKey, type ServiceInfo } from "../kube/objects.ts";
import { OnDemand, type OnDemandOptions } from "./ondemand.ts";
import { podAddressDecoder, serviceDecoder } from "../kube/protobuf.ts";
import { getPage, Reflector, type ReflectorOptions } from "../kube/reflector.ts";
import type { Scope } from "./scope.ts";

export type { Scope } from "./scope.ts";

const log = getLogger(["ktctl", "cluster"]);

export interface ViewOptions extends ReflectorOptions {
  namespace: string;
  lookups?: OnDemandOptions;
}

/** Pods read at start: enough to see the pod ranges, and the count comes with the page. */
const POD_SAMPLE = 100;

export class ClusterView {
  #reflectors: Reflector<unknown>[] = [];
  #down = new Set<string>();

  private constructor(
    readonly api: KubeApi,
    readonly index: ClusterIndex,
    readonly scope: Scope,
    /** Kinds that could not be read (e.g. endpointslices forbidden); routing works around them. */
    readonly missing: Kind[],
    readonly lookups: OnDemand,
  ) {}

  /**
   * Reads what routing needs before the first connection (see the module doc) and starts
   * watching. Throws ApiError when the cluster cannot be read at all.
   */
  static async start(api: KubeApi, index: ClusterIndex, opts: ViewOptions): Promise<ClusterView> {
    // The sample decides the scope, but waiting for it before listing the services put two
    // round trips in a row before the banner: the services are listed cluster-wide at the same
    // time, and listed again within the namespace in the rare case the user may not list pods.
    try {
      return await ClusterView.#startIn(api, index, opts, { kind: "cluster" });
    } catch (e) {
      if (!(e instanceof PodsForbidden)) throw e;
      return await ClusterView.#startIn(api, index, opts, {
        kind: "namespace",
        namespace: opts.namespace,
      });
    }
  }

  static async #startIn(
    api: KubeApi,
    index: ClusterIndex,
    opts: ViewOptions,
    scope: Scope,
  ): Promise<ClusterView> {
    const reflectors: Reflector<unknown>[] = [];
    // Watches report to the view, which exists only once everything is read.
    const made: { view?: ClusterView } = {};
    const state = (what: string) => (up: boolean, e?: unknown) => made.view?.stateOf(what, up, e);
    const services = new Reflector<ServiceInfo>(
      api,
      collectionPath("/api/v1", "services", scope),
      "",
      // The one list that grows with the cluster at start-up: asked for in protobuf.
      serviceDecoder,
      {
        replace: (items) => index.replaceAll("services", items),
        upsert: (svc) => index.upsert("services", svc),
        remove: (svc) => index.remove("services", svc.namespace, svc.name),
      },
      opts,
      state("services"),
    );
    reflectors.push(services as Reflector<unknown>);
    const sampled = samplePods(api, scope).catch((e) => {
      if (scope.kind === "cluster" && e instanceof ApiError && e.kind === "forbidden") {
        throw new PodsForbidden();
      }
      throw e;
    });
    // The namespaces (a small list) at the same time, not after the sample: one round trip fewer
    // before the proxy serves. If the sample finds pods not listable cluster-wide, they are
    // stopped below with the rest and the namespace scope starts over without them.
    const namespaces = scope.kind === "cluster"
      ? watchNamespaces(api, index, opts, state("namespaces"))
      : Promise.resolve(undefined);
    const results = await Promise.allSettled([
      sampled,
      services.start(),
      readable(api, collectionPath("/apis/discovery.k8s.io/v1", "endpointslices", scope)),
      namespaces,
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      const ns = results[3].status === "fulfilled" ? results[3].value : undefined;
      await Promise.all([...reflectors, ...(ns ? [ns] : [])].map((r) => r.stop()));
      throw failed.reason;
    }
    const [sample, , slicesReadable, ns] = results.map((r) =>
      (r as PromiseFulfilledResult<unknown>).value
    ) as [
      { ips: string[]; count: number },
      void,
      boolean,
      Reflector<string> | undefined,
    ];
    for (const ip of sample.ips) index.observe(ip);
    if (ns) reflectors.push(ns as Reflector<unknown>);
    const lookups = new OnDemand(api, index, scope, slicesReadable, sample.count, {
      reflector: opts,
      ...opts.lookups,
    });
    index.useSource(lookups);
    const view = new ClusterView(api, index, scope, slicesReadable ? [] : ["slices"], lookups);
    view.#reflectors = reflectors;
    made.view = view;
    return view;
  }

  /** Whether every watch is currently connected. */
  get healthy(): boolean {
    return this.#down.size === 0;
  }

  /** Each watch: its path, whether it is up, its last event and how often it was opened. */
  watches(): { path: string; up: boolean; lastEventAt: number | null; opened: number }[] {
    return this.#reflectors.map((r) => ({
      path: r.path,
      up: r.up,
      lastEventAt: r.lastEventAt ?? null,
      opened: r.stats.watches,
    }));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#reflectors.map((r) => r.stop()), this.lookups.stop()]);
  }

  /** Logs a watch lost (once, however many break together) and all of them back. */
  private stateOf(what: string, up: boolean, e?: unknown): void {
    if (up) {
      if (this.#down.delete(what) && this.#down.size === 0) log.info("Cluster watch is back");
      return;
    }
    const first = this.#down.size === 0;
    this.#down.add(what);
    const message = e instanceof Error ? e.message : String(e);
    if (first) {
      log.warn(`Lost the cluster watch ({message}); retrying, routing from the last known state`, {
        message,
      });
    } else log.debug(`Watch of ${what} failed: {message}`, { message });
  }
}

/** The user may not list pods cluster-wide: start again within their namespace. */
class PodsForbidden extends Error {}

function collectionPath(base: string, plural: string, scope: Scope): string {
  return scope.kind === "cluster"
    ? `${base}/${plural}`
    : `${base}/namespaces/${encodeURIComponent(scope.namespace)}/${plural}`;
}

/**
 * One page of pods: their IPs, and how many pods there are (the page's remainingItemCount).
 * Asked for in protobuf, of which only the addresses are read: in JSON every pod of the page
 * was parsed into objects first, managedFields, annotations and env included (26.6 KB a pod as
 * the scale bench's pods come from the API server: 2.66 MB of JSON per sample, 1.0 MB in
 * protobuf).
 */
async function samplePods(api: KubeApi, scope: Scope): Promise<{ ips: string[]; count: number }> {
  const url = `${collectionPath("/api/v1", "pods", scope)}?limit=${POD_SAMPLE}`;
  const page = await getPage(api, url, podAddressDecoder, {});
  const ips = page.items.filter((p) => !p.hostNetwork).flatMap((p) => p.ips);
  return { ips, count: page.items.length + (page.remainingItemCount ?? 0) };
}

/** Whether a collection can be listed (false when forbidden or not served). */
async function readable(api: KubeApi, path: string): Promise<boolean> {
  try {
    await api.get(`${path}?limit=1`);
    return true;
  } catch (e) {
    if (e instanceof ApiError && (e.kind === "forbidden" || e.kind === "not-found")) return false;
    throw e;
  }
}

/** Lists and watches namespace names; resolves undefined when the user may not list them. */
async function watchNamespaces(
  api: KubeApi,
  index: ClusterIndex,
  opts: ReflectorOptions,
  onState: (up: boolean, e?: unknown) => void,
): Promise<Reflector<string> | undefined> {
  const names = new Set<string>();
  const reflector = new Reflector<string>(
    api,
    "/api/v1/namespaces",
    "",
    (raw) => objectKey(raw).name,
    {
      replace: (items) => {
        names.clear();
        for (const n of items) names.add(n);
        index.setNamespaces(names);
      },
      upsert: (n) => index.setNamespaces(names.add(n)),
      remove: (n) => {
        names.delete(n);
        index.setNamespaces(names);
      },
    },
    opts,
    onState,
  );
  try {
    await reflector.start();
    return reflector;
  } catch (e) {
    if (e instanceof ApiError && (e.kind === "forbidden" || e.kind === "not-found")) {
      return undefined;
    }
    throw e;
  }
}
