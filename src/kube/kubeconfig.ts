/**
 * Finds and loads the kubeconfig the way kubectl does (`-c/--kubeconfig`, else `$KUBECONFIG`,
 * a list of files merged first-wins, else `~/.kube/config`), picks the context and namespace,
 * and fails with a line that says what to fix. Authentication itself (certificates, tokens,
 * exec plugins, OIDC) is left to @kubernetes/client-node's KubeConfig, except for credentials
 * that change while ktctl runs (credential_source.ts).
 * @module
 */
// client-node's config module, not the package's index: the index also evaluates its kubectl
// cp, exec, attach and watch helpers (ws, tar-fs, streamx), which ktctl never calls.
import { findHomeDir, KubeConfig } from "@kubernetes/client-node/dist/config.js";
import { load as loadYaml } from "js-yaml";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { UserError } from "../errors.ts";
import { installCredentialLifecycle, type LifecycleOptions } from "./credential_source.ts";

export interface KubeTarget {
  config: KubeConfig;
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
  if (fromEnv) return fromEnv.split(delimiter).filter((p) => p.length > 0);
  const home = findHomeDir();
  return home ? [join(home, ".kube", "config")] : [];
}

export function loadKubeconfig(opts: KubeconfigOptions): KubeTarget {
  const files = kubeconfigFiles(opts);
  const existing = files.filter((f) => existsSync(f));
  if (opts.kubeconfig && existing.length === 0) {
    throw new UserError(`kubeconfig ${opts.kubeconfig} does not exist (check -c/--kubeconfig)`);
  }
  if (existing.length === 0) {
    throw new UserError(
      `no kubeconfig found (looked for ${files.join(", ") || "~/.kube/config"}): ` +
        "pass -c/--kubeconfig or set KUBECONFIG",
    );
  }
  const config = new KubeConfig();
  const tokenFiles = new Map<string, string>();
  existing.forEach((file, i) => {
    const one = new KubeConfig();
    try {
      const doc = loadYaml(readFileSync(file, "utf8"));
      for (const [user, path] of absoluteTokenFiles(doc, dirname(file))) {
        if (!tokenFiles.has(user)) tokenFiles.set(user, path);
      }
      one.loadFromString(JSON.stringify(doc ?? {}));
      one.makePathsAbsolute(dirname(file));
    } catch (e) {
      throw new UserError(`cannot read kubeconfig ${file}: ${(e as Error).message}`);
    }
    if (i === 0) config.loadFromOptions(one);
    else config.mergeConfig(one, true);
  });
  installCredentialLifecycle(config, tokenFiles, opts.lifecycle);
  if (opts.context) {
    if (!config.getContextObject(opts.context)) {
      const known = config.getContexts().map((c) => c.name).join(", ") || "none";
      throw new UserError(`context "${opts.context}" is not in the kubeconfig (known: ${known})`);
    }
    config.setCurrentContext(opts.context);
  }
  const context = config.getCurrentContext();
  const ctx = context ? config.getContextObject(context) : null;
  if (!ctx) {
    throw new UserError(
      `kubeconfig ${existing.join(", ")} has no current context: pass --context`,
    );
  }
  const cluster = config.getCurrentCluster();
  if (!cluster?.server) {
    throw new UserError(`context "${context}" names no cluster with a server address`);
  }
  return {
    config,
    context,
    server: cluster.server.replace(/\/+$/, ""),
    namespace: opts.namespace || ctx.namespace || "default",
    files: existing,
  };
}

/**
 * Makes each user's `token-file` absolute against the kubeconfig's folder (kubectl's rule;
 * client-node would read it from the working directory, and only once, at load) and returns
 * them by user name. A user with a literal `token` is left out: that one wins.
 */
export function absoluteTokenFiles(doc: unknown, folder: string): Map<string, string> {
  const found = new Map<string, string>();
  const users = (doc as { users?: unknown } | null)?.users;
  if (!Array.isArray(users)) return found;
  for (const entry of users) {
    const e = entry as { name?: unknown; user?: Record<string, unknown> } | null;
    const tokenFile = e?.user?.["token-file"];
    if (typeof e?.name !== "string" || typeof tokenFile !== "string" || !e.user) continue;
    const path = isAbsolute(tokenFile) ? tokenFile : join(folder, tokenFile);
    e.user["token-file"] = path;
    if (!e.user.token && !found.has(e.name)) found.set(e.name, path);
  }
  return found;
}
