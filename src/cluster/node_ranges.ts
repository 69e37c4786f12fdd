/**
 * Which node's pod range (`spec.podCIDRs`) holds an address, so that a pod-IP lookup can name
 * the node: the API server indexes pods by `spec.nodeName` and nothing else, so a list by
 * `status.podIP` alone filters every pod in the cluster (~60 ms at 50,000 pods), while one with
 * `spec.nodeName` as well reads that node's pods only, and its watch is sent that node's events
 * only.
 *
 * A hint, never the truth: the table comes from one list of nodes, made on the first question
 * and again on a miss at most every `refreshMs`, and {@link NodeRanges.nodeOf} never waits for
 * it, so no lookup is slower than without it. Where nodes cannot be listed (RBAC), or the
 * cluster's IPAM ignores node ranges (some CNIs allocate elsewhere while the controller manager
 * still hands out podCIDRs), the caller falls back to the plain lookup and says so with
 * {@link NodeRanges.distrust}.
 *
 * ```ts
 * const ranges = new NodeRanges(api);
 * ranges.nodeOf("10.244.1.7"); // undefined at first, "node-1" once the nodes are listed
 * ```
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ApiError, type KubeApi } from "../kube/api.ts";
import { type Cidr, parseCidr, rangeIndex } from "../net/ip.ts";
import { nodeDecoder } from "../kube/protobuf.ts";
import { listAll } from "../kube/reflector.ts";

const log = getLogger(["ktctl", "cluster"]);

export interface NodeRangesOptions {
  /** After a miss, the nodes are listed again if the last list is older than this (5 min). */
  refreshMs?: number;
  /** Nodes per list page (100: a real node is 10-50 KB, most of it status). */
  pageSize?: number;
}

export class NodeRanges {
  /** Every pod range of every node, and the node each belongs to (same index). */
  #ranges: Cidr[] = [];
  #owners: string[] = [];
  #listedAt = -Infinity;
  #listing: Promise<void> | undefined;
  #off: string | undefined;
  #abort = new AbortController();

  constructor(readonly api: KubeApi, readonly opts: NodeRangesOptions = {}) {}

  /**
   * The node whose pod range holds `ip`, from the table as it is now; starts a list when there
   * is no table yet, or on a miss when the table is older than `refreshMs`.
   */
  nodeOf(ip: string): string | undefined {
    if (this.#off) return undefined;
    const i = rangeIndex(ip, this.#ranges);
    const found = i >= 0 ? this.#owners[i] : undefined;
    if (!found && !this.#listing && Date.now() - this.#listedAt >= this.#refreshMs) {
      this.#listing = this.#list().finally(() => this.#listing = undefined);
    }
    return found;
  }

  /** Settles when the list in flight (if any) is done; for tests and the benchmark. */
  async settled(): Promise<void> {
    await this.#listing;
  }

  /** Ends a list in flight; the table is not used again. */
  async stop(): Promise<void> {
    this.#off ??= "stopped";
    this.#abort.abort();
    await this.#listing;
  }

  /** Stops using node ranges: a pod was found off the node its address pointed to. */
  distrust(why: string): void {
    if (this.#off) return;
    this.#off = why;
    this.#ranges = [];
    this.#owners = [];
    log.debug("Pod-IP lookups no longer go by node ranges: {why}", { why });
  }

  get #refreshMs(): number {
    return this.opts.refreshMs ?? 5 * 60_000;
  }

  async #list(): Promise<void> {
    const t0 = performance.now();
    try {
      const { items } = await listAll(this.api, "/api/v1/nodes", "", nodeDecoder, {
        pageSize: this.opts.pageSize ?? 100,
        signal: this.#abort.signal,
      });
      if (this.#off) return;
      const ranges: Cidr[] = [], owners: string[] = [];
      for (const n of items) {
        for (const c of n.podCIDRs) {
          try {
            ranges.push(parseCidr(c));
            owners.push(n.name);
          } catch { /* not a range: skipped */ }
        }
      }
      this.#ranges = ranges;
      this.#owners = owners;
      log.debug("Listed {count} nodes, {ranged} with pod ranges, in {ms} ms", {
        count: items.length,
        ranged: new Set(owners).size,
        ms: Math.round(performance.now() - t0),
      });
    } catch (e) {
      if (this.#off) return;
      if (e instanceof ApiError && (e.kind === "forbidden" || e.kind === "not-found")) {
        this.distrust(`nodes cannot be listed (${e.message})`);
      } else log.debug("Listing nodes failed: {error}", { error: String(e) });
    } finally {
      this.#listedAt = Date.now();
    }
  }
}
