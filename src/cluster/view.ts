/**
 * Keeps a {@link ClusterIndex} current with list-then-watch loops (one per kind), the way
 * client-go's reflectors do: relist on 410 Gone, resume from the last resource version after a
 * clean end, back off while the API server is unreachable and carry on when it returns. The
 * index keeps its last picture while the API is away, so routing keeps working from it.
 *
 * A user who may not list cluster-wide is served within the namespace they may read.
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ApiError, type KubeApi, type WatchEvent } from "./api.ts";
import { ClusterIndex, type Kind } from "./index.ts";
import { decodePod, decodeService, decodeSlice, objectKey, resourceVersion } from "./objects.ts";

const log = getLogger(["ktctl", "cluster"]);

const RESOURCES: Record<Kind, { base: string; plural: string }> = {
  pods: { base: "/api/v1", plural: "pods" },
  services: { base: "/api/v1", plural: "services" },
  slices: { base: "/apis/discovery.k8s.io/v1", plural: "endpointslices" },
};

/** Decodes API objects of one kind into the index, replacing all of that kind. */
function replaceRaw(index: ClusterIndex, kind: Kind, items: unknown[]): void {
  if (kind === "pods") index.replaceAll(kind, items.map(decodePod));
  else if (kind === "services") index.replaceAll(kind, items.map(decodeService));
  else index.replaceAll(kind, items.map(decodeSlice));
}

function upsertRaw(index: ClusterIndex, kind: Kind, raw: unknown): void {
  if (kind === "pods") index.upsert(kind, decodePod(raw));
  else if (kind === "services") index.upsert(kind, decodeService(raw));
  else index.upsert(kind, decodeSlice(raw));
}

/** Which part of the cluster the view covers. */
export type Scope = { kind: "cluster" } | { kind: "namespace"; namespace: string };

export interface ViewOptions {
  namespace: string;
  /** Delay before retrying a failed watch; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export class ClusterView {
  #abort = new AbortController();
  #loops: Promise<void>[] = [];
  #down = new Set<Kind>();

  private constructor(
    readonly api: KubeApi,
    readonly index: ClusterIndex,
    readonly scope: Scope,
    /** Kinds that could not be read (e.g. endpointslices forbidden); routing works around them. */
    readonly missing: Kind[],
    readonly opts: ViewOptions,
  ) {}

  /**
   * Lists everything once (so the first connection is routed from a full picture), picks the
   * scope, and starts watching. Throws ApiError when the cluster cannot be read at all.
   */
  static async start(api: KubeApi, index: ClusterIndex, opts: ViewOptions): Promise<ClusterView> {
    let scope: Scope = { kind: "cluster" };
    let pods;
    try {
      pods = await list(api, "pods", scope);
    } catch (e) {
      if (!(e instanceof ApiError && e.kind === "forbidden")) throw e;
      scope = { kind: "namespace", namespace: opts.namespace };
      pods = await list(api, "pods", scope);
    }
    const services = await list(api, "services", scope);
    const missing: Kind[] = [];
    let slices;
    try {
      slices = await list(api, "slices", scope);
    } catch (e) {
      if (!(e instanceof ApiError && (e.kind === "forbidden" || e.kind === "not-found"))) throw e;
      missing.push("slices");
    }
    replaceRaw(index, "pods", pods.items);
    replaceRaw(index, "services", services.items);
    if (slices) replaceRaw(index, "slices", slices.items);
    const view = new ClusterView(api, index, scope, missing, opts);
    view.#loops.push(view.#watchLoop("pods", pods.resourceVersion));
    view.#loops.push(view.#watchLoop("services", services.resourceVersion));
    if (slices) view.#loops.push(view.#watchLoop("slices", slices.resourceVersion));
    return view;
  }

  /** Whether every watch is currently connected. */
  get healthy(): boolean {
    return this.#down.size === 0;
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled(this.#loops);
  }

  async #watchLoop(kind: Kind, startVersion: string): Promise<void> {
    const signal = this.#abort.signal;
    let version: string | undefined = startVersion;
    let backoff = this.opts.backoffMs ?? 500;
    while (!signal.aborted) {
      try {
        if (version === undefined) {
          const fresh = await list(this.api, kind, this.scope, signal);
          replaceRaw(this.index, kind, fresh.items);
          version = fresh.resourceVersion;
        }
        this.#markUp(kind);
        backoff = this.opts.backoffMs ?? 500;
        await this.api.watch(collectionPath(kind, this.scope), version, (event: WatchEvent) => {
          version = resourceVersion(event.object) ?? version;
          if (event.type === "BOOKMARK") return;
          if (event.type === "DELETED") {
            const { namespace, name } = objectKey(event.object);
            this.index.remove(kind, namespace, name);
          } else {
            upsertRaw(this.index, kind, event.object);
          }
        }, signal);
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ApiError && e.kind === "gone") {
          version = undefined;
          continue;
        }
        this.#markDown(kind, e);
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs ?? 15_000);
        version = undefined; // relist: events may have been missed while away
      }
    }
  }

  #markDown(kind: Kind, e: unknown): void {
    const first = this.#down.size === 0;
    this.#down.add(kind);
    const message = e instanceof Error ? e.message : String(e);
    if (first) {
      log.warn(`Lost the cluster watch ({message}); retrying, routing from the last known state`, {
        message,
      });
    } else log.debug(`Watch of ${kind} failed: {message}`, { message });
  }

  #markUp(kind: Kind): void {
    if (!this.#down.delete(kind)) return;
    if (this.#down.size === 0) log.info("Cluster watch is back");
  }
}

function collectionPath(kind: Kind, scope: Scope): string {
  const { base, plural } = RESOURCES[kind];
  return scope.kind === "cluster"
    ? `${base}/${plural}`
    : `${base}/namespaces/${encodeURIComponent(scope.namespace)}/${plural}`;
}

/** Lists a collection page by page. */
async function list(api: KubeApi, kind: Kind, scope: Scope, signal?: AbortSignal) {
  const items: unknown[] = [];
  let token = "";
  let version = "";
  do {
    const page = await api.get(
      `${collectionPath(kind, scope)}?limit=500${
        token ? `&continue=${encodeURIComponent(token)}` : ""
      }`,
      signal,
    ) as { items?: unknown[]; metadata?: { continue?: string; resourceVersion?: string } };
    items.push(...(page.items ?? []));
    token = page.metadata?.continue ?? "";
    version = page.metadata?.resourceVersion ?? version;
  } while (token);
  return { items, resourceVersion: version };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
