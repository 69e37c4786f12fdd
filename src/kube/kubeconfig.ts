/**
 * Finds and loads the kubeconfig the way kubectl does (`-c/--kubeconfig`, else `$KUBECONFIG`,
 * a list of files merged first-wins, else `~/.kube/config`), picks the context and namespace,
 * and fails with a line that says what to fix. The files are parsed and merged by
 * kubeconfig_model.ts, and the credentials worked out by credentials.ts: ktctl's own code, not
 * @kubernetes/client-node's KubeConfig, whose loading costs ~0.06 s CPU and ~20-30 MB on every
 * start (docs/performance-startup.md); client-node is loaded only for `auth-provider` users.
 * @module
 */
import { path } from "../os/path.ts";
import { UserError } from "../errors.ts";
import { defaultLifecycleOptions, type LifecycleOptions } from "./credential_source.ts";
import { KubeCredentials } from "./credentials.ts";
import { mergeKubeconfigs, parseKubeconfig, selectContext } from "./kubeconfig_model.ts";

export interface KubeTarget {
  /** The picked context's credentials (what KubeApi and the port-forwarder take). */
  config: KubeCredentials;
  context: string;
  server: string;
  namespace: string;
  /** The kubeconfig files that were read, in precedence order. */
  files: string[];
}

export interface KubeconfigOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  env?: (name: string) => string | undefined;
  /** How credentials that change are refreshed (tests shorten the waits). */
  lifecycle?: LifecycleOptions;
}

/** The kubeconfig files in effect, in precedence order. */
export function kubeconfigFiles(opts: KubeconfigOptions): string[] {
  const env = opts.env ?? ((n: string) => Deno.env.get(n));
  if (opts.kubeconfig) return [opts.kubeconfig];
  const fromEnv = env("KUBECONFIG");
  if (fromEnv) return fromEnv.split(path.delimiter).filter((p) => p.length > 0);
  const home = findHomeDir(env);
  return home ? [path.join(home, ".kube", "config")] : [];
}

export function loadKubeconfig(opts: KubeconfigOptions): KubeTarget {
  const files = kubeconfigFiles(opts);
  const existing = files.filter(exists);
  if (opts.kubeconfig && existing.length === 0) {
    throw new UserError(`kubeconfig ${opts.kubeconfig} does not exist (check -c/--kubeconfig)`);
  }
  if (existing.length === 0) {
    throw new UserError(
      `no kubeconfig found (looked for ${files.join(", ") || "~/.kube/config"}): ` +
        "pass -c/--kubeconfig or set KUBECONFIG",
    );
  }
  const parsed = existing.map((file) => {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch (e) {
      throw new UserError(`cannot read kubeconfig ${file}: ${(e as Error).message}`);
    }
    return parseKubeconfig(text, file, path.dirname(file));
  });
  const selected = selectContext(mergeKubeconfigs(parsed), opts.context, existing.join(", "));
  const server = selected.cluster.server.replace(/\/+$/, "");
  return {
    config: new KubeCredentials(
      server,
      selected.cluster,
      selected.userName,
      selected.user,
      opts.lifecycle ?? defaultLifecycleOptions,
    ),
    context: selected.context,
    server,
    namespace: opts.namespace || selected.contextEntry.namespace || "default",
    files: existing,
  };
}

/**
 * The home folder kubectl looks in (client-go's `homedir.HomeDir`, as client-node 2.0.1 has it):
 * `$HOME` elsewhere; on Windows the first of HOME, HOMEDRIVE+HOMEPATH, USERPROFILE that has a
 * `.kube\config`, else the first of HOME, USERPROFILE, HOMEDRIVE+HOMEPATH that is writable, else
 * that exists, else the first that is set.
 */
export function findHomeDir(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
  platform: string = Deno.build.os,
): string | null {
  const usable = (dir: string, mode = F_OK) => accessible(dir, mode);
  if (platform !== "windows") {
    const home = env("HOME");
    return home && usable(home) ? home : null;
  }
  const drive = env("HOMEDRIVE") && env("HOMEPATH")
    ? path.join(env("HOMEDRIVE")!, env("HOMEPATH")!)
    : "";
  const home = env("HOME") ?? "";
  const profile = env("USERPROFILE") ?? "";
  const unique = (list: string[]) => list.filter((d, i) => d && list.indexOf(d) === i);
  const homeFirst = unique([home, drive, profile]);
  const profileFirst = unique([home, profile, drive]);
  return homeFirst.find((d) => usable(path.join(d, ".kube", "config"))) ??
    profileFirst.find((d) => usable(d, W_OK)) ??
    profileFirst.find((d) => usable(d)) ??
    profileFirst[0] ?? null;
}

/** Whether `file` exists (following links), as node:fs's `existsSync`. */
function exists(file: string): boolean {
  try {
    Deno.statSync(file);
    return true;
  } catch {
    return false;
  }
}

const F_OK = 0;
const W_OK = 2;

/**
 * node:fs's `accessSync` as Deno runs it (what ktctl used before): the entry itself (not a link's
 * target) exists and, where the file system reports modes, grants `mode`: the owner's bits for
 * an entry of ours, else the others' bits (on Windows always those, where modes are reported).
 */
function accessible(entry: string, mode: number): boolean {
  try {
    const info = Deno.lstatSync(entry);
    if (info.mode === null) return true;
    const own = Deno.build.os !== "windows" && info.uid === Deno.uid();
    const bits = own ? info.mode >> 6 : info.mode;
    return (mode & bits & 7) === mode;
  } catch {
    return false;
  }
}
