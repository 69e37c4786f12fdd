/** Where the local control plane keeps its binaries and state (always outside the repository). */
import { VERSION_KEY } from "./versions.ts";

function home(): string {
  const h = Deno.env.get("HOME");
  if (!h) throw new Error("HOME is not set");
  return h;
}

/** `${KTCTL_CACHE:-$HOME/.cache/ktctl}` */
export function cacheRoot(): string {
  return Deno.env.get("KTCTL_CACHE") || `${home()}/.cache/ktctl`;
}

/** `<cacheRoot>/cluster` */
export function clusterCacheDir(): string {
  return `${cacheRoot()}/cluster`;
}

/** Built binaries for the pinned versions: `<cacheRoot>/cluster/bin-<VERSION_KEY>`. */
export function binDir(): string {
  return `${clusterCacheDir()}/bin-${VERSION_KEY}`;
}

/** Generated consumer Go modules used to build the binaries. */
export function buildDir(): string {
  return `${clusterCacheDir()}/build-${VERSION_KEY}`;
}

/** Runtime state: kwok work dir, kubeconfigs, pid files, logs, cluster.json. */
export function runDir(): string {
  return `${clusterCacheDir()}/run`;
}

/** The JSON file `up` writes and `clusterInfo()` reads. */
export function infoPath(): string {
  return `${runDir()}/cluster.json`;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
