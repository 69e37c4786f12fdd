/**
 * API of the local control plane for tests, demos and benchmarks.
 *
 *   import { clusterInfo, ensureCluster, WEB } from "../../testenv/cluster/mod.ts";
 *   const info = await ensureCluster();          // up if not up (builds on first use)
 *   // info.kubeconfigs.admin / .token / .limited, info.server, info.runDir
 *
 * Names and ports of the fixture are exported from fixture.ts (re-exported here).
 */
import {
  apiServerReady,
  type ClusterInfo,
  type ClusterStatus,
  deletePod as deletePodImpl,
  down,
  readInfo,
  restartApiServer as restartApiServerImpl,
  restartKwok as restartKwokImpl,
  type RestartOptions,
  status,
  tlsFiles,
  up,
} from "./cluster.ts";
import { infoPath } from "./paths.ts";

export * from "./fixture.ts";
export type { ClusterInfo, ClusterStatus, RestartOptions } from "./cluster.ts";
export { kubectl, kubectlBinary } from "./cluster.ts";
export { binDir, cacheRoot, runDir } from "./paths.ts";
export * as versions from "./versions.ts";

/** The PEM file of the CA that issued the fixture's `tls` server certificate (made by `up`). */
export function tlsCaFile(): string {
  return tlsFiles().caFile;
}

/** Info written by the last successful `up`; throws when the cluster is not up. */
export async function clusterInfo(): Promise<ClusterInfo> {
  const info = await readInfo();
  if (!info) {
    throw new Error(`local cluster is not up (no ${infoPath()}); run: deno task cluster up`);
  }
  return info;
}

/** Which processes run, whether /readyz is ok, and `up` (everything running and ready). */
export function clusterStatus(): Promise<ClusterStatus> {
  return status();
}

/** True when `up` has completed and the API server answers. */
export async function isUp(): Promise<boolean> {
  return (await readInfo()) !== undefined && (await apiServerReady());
}

/**
 * Brings the cluster up if it is not (building the binaries on first use), and returns its info.
 * When it is already up this returns at once, without touching the fixture; pass
 * `{ resetFixture: true }` to re-apply it (recreating deleted fixture pods).
 */
export async function ensureCluster(
  opts: { resetFixture?: boolean } = {},
): Promise<ClusterInfo> {
  if (!opts.resetFixture) {
    const st = await status();
    if (st.up) return await clusterInfo();
  }
  return await up({ quiet: true });
}

/** Takes the cluster down (no-op when down). */
export async function teardownCluster(): Promise<void> {
  await down();
}

/**
 * Stops kube-apiserver and starts it again with the same flags; resolves once /readyz is ok.
 * `signal`: SIGTERM (default; graceful, connections are closed within ~2s) or SIGKILL (a crash).
 * `downtimeMs` keeps it stopped that long before restarting.
 */
export function restartApiServer(opts: RestartOptions = {}): Promise<void> {
  return restartApiServerImpl(opts);
}

/**
 * Stops kwok-controller (the kubelet of every node) and starts it again; resolves once the
 * fixture's port-forwards answer through a real `kubectl port-forward`. Same options.
 */
export function restartKwok(opts: RestartOptions = {}): Promise<void> {
  return restartKwokImpl(opts);
}

/** Deletes a pod and waits until it is gone. `ensureCluster({ resetFixture: true })` restores it. */
export function deletePod(
  namespace: string,
  name: string,
  opts: { wait?: boolean; gracePeriodSeconds?: number } = {},
): Promise<void> {
  return deletePodImpl(namespace, name, opts);
}
