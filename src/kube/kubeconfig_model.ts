/**
 * The kubeconfig as data: one file parsed and checked field by field (a kubeconfig is the user's
 * file, so untrusted input: a wrong type is a one-line error that names the file and the field),
 * several merged by kubectl's loading rules, and the context ktctl uses picked out. Pure: no
 * I/O here (kubeconfig.ts reads the files, credentials.ts turns the picked entries into what the
 * connections take).
 *
 * kubectl's rules (client-go tools/clientcmd, `ClientConfigLoadingRules.Load` and
 * `ResolveLocalPaths`), kept here:
 * - the first file to name a cluster, user or context wins, and the entry is taken whole;
 * - `current-context` comes from the first file that sets one;
 * - relative paths (`certificate-authority`, `client-certificate`, `client-key`, `token-file`, and
 *   an exec `command` that contains a path separator) are relative to the folder of the file
 *   the entry came from;
 * - two entries with the same name in one file are an error; an empty file is an empty config.
 * @module
 */
import { load as loadYaml } from "js-yaml";
import { path as hostPath } from "../os/path.ts";
import { UserError } from "../errors.ts";
import type { ExecConfig } from "./credential_exec.ts";

export interface ClusterEntry {
  server?: string;
  certificateAuthority?: string;
  certificateAuthorityData?: string;
  insecureSkipTlsVerify: boolean;
  tlsServerName?: string;
  proxyUrl?: string;
}

export interface AuthProviderConfig {
  name: string;
  config: Record<string, string>;
}

export interface UserEntry {
  clientCertificate?: string;
  clientCertificateData?: string;
  clientKey?: string;
  clientKeyData?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  /** `as`: sent as Impersonate-User. */
  impersonate?: string;
  authProvider?: AuthProviderConfig;
  exec?: ExecConfig;
}

export interface ContextEntry {
  cluster: string;
  user?: string;
  namespace?: string;
}

/** One kubeconfig file, or several merged. Maps keep the order entries were first seen. */
export interface Kubeconfig {
  clusters: Map<string, ClusterEntry>;
  users: Map<string, UserEntry>;
  contexts: Map<string, ContextEntry>;
  currentContext?: string;
}

type Obj = Record<string, unknown>;

/** Checks one field after another, naming `file` and the field's path in every error. */
class Reader {
  constructor(readonly file: string) {}

  fail(path: string, what: string): never {
    throw new UserError(`cannot read kubeconfig ${this.file}: ${path} ${what}`);
  }

  object(v: unknown, path: string): Obj | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) this.fail(path, `must be a mapping`);
    return v as Obj;
  }

  list(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(path, "must be a list");
    return v;
  }

  /** A string; an empty one is the same as none (as in client-go, where "" is unset). */
  string(o: Obj, key: string, path: string): string | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string") this.fail(`${path}.${key}`, `must be a string, not ${kindOf(v)}`);
    return v === "" ? undefined : v;
  }

  boolean(o: Obj, key: string, path: string): boolean | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") {
      this.fail(`${path}.${key}`, `must be true or false, not ${kindOf(v)}`);
    }
    return v;
  }

  name(o: Obj, path: string): string {
    const name = this.string(o, "name", path);
    if (name === undefined) this.fail(`${path}.name`, "is missing");
    return name;
  }
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "number") return `the number ${v}`;
  if (typeof v === "boolean") return `${v}`;
  return typeof v;
}

/** Resolves `p` against `folder` unless it is absolute (client-go's ResolvePath). */
function resolvePath(folder: string, p: string | undefined): string | undefined {
  return p === undefined || hostPath.isAbsolute(p) ? p : hostPath.join(folder, p);
}

/**
 * Parses and checks one kubeconfig file's text. Relative paths become absolute against
 * `folder` (the file's folder). Throws UserError naming `file` and the field.
 */
export function parseKubeconfig(text: string, file: string, folder: string): Kubeconfig {
  let doc: unknown = null;
  try {
    doc = loadYaml(text);
  } catch (e) {
    // An empty file (or only comments) is an empty config (client-go's Load); js-yaml 5 says
    // "expected a document, but the input is empty".
    if (/input is empty/.test((e as Error).message)) doc = null;
    else {throw new UserError(
        `cannot read kubeconfig ${file}: not valid YAML: ${(e as Error).message}`,
      );}
  }
  const r = new Reader(file);
  const top = r.object(doc, "the document") ?? {};
  const config: Kubeconfig = {
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
    currentContext: r.string(top, "current-context", "the document"),
  };
  const add = <T>(map: Map<string, T>, name: string, value: T, path: string) => {
    if (map.has(name)) r.fail(`${path}.name`, `"${name}" is used twice in this file`);
    map.set(name, value);
  };

  r.list(top.clusters, "clusters").forEach((e, i) => {
    const path = `clusters[${i}]`;
    const entry = r.object(e, path) ?? r.fail(path, "is empty");
    const name = r.name(entry, path);
    const c = r.object(entry.cluster, `${path}.cluster`) ?? {};
    const p = `${path}.cluster`;
    add(config.clusters, name, {
      server: r.string(c, "server", p),
      certificateAuthority: resolvePath(folder, r.string(c, "certificate-authority", p)),
      certificateAuthorityData: r.string(c, "certificate-authority-data", p),
      insecureSkipTlsVerify: r.boolean(c, "insecure-skip-tls-verify", p) ?? false,
      tlsServerName: r.string(c, "tls-server-name", p),
      proxyUrl: r.string(c, "proxy-url", p),
    }, path);
  });

  r.list(top.users, "users").forEach((e, i) => {
    const path = `users[${i}]`;
    const entry = r.object(e, path) ?? r.fail(path, "is empty");
    const name = r.name(entry, path);
    const u = r.object(entry.user, `${path}.user`) ?? {};
    const p = `${path}.user`;
    add(config.users, name, {
      clientCertificate: resolvePath(folder, r.string(u, "client-certificate", p)),
      clientCertificateData: r.string(u, "client-certificate-data", p),
      clientKey: resolvePath(folder, r.string(u, "client-key", p)),
      clientKeyData: r.string(u, "client-key-data", p),
      token: r.string(u, "token", p),
      tokenFile: resolvePath(folder, r.string(u, "token-file", p)),
      username: r.string(u, "username", p),
      password: r.string(u, "password", p),
      impersonate: r.string(u, "as", p),
      authProvider: authProvider(r, u["auth-provider"], `${p}.auth-provider`),
      exec: execConfig(r, u.exec, `${p}.exec`, folder),
    }, path);
  });

  r.list(top.contexts, "contexts").forEach((e, i) => {
    const path = `contexts[${i}]`;
    const entry = r.object(e, path) ?? r.fail(path, "is empty");
    const name = r.name(entry, path);
    const c = r.object(entry.context, `${path}.context`) ?? {};
    const p = `${path}.context`;
    const cluster = r.string(c, "cluster", p) ?? r.fail(`${p}.cluster`, "is missing");
    add(config.contexts, name, {
      cluster,
      user: r.string(c, "user", p),
      namespace: r.string(c, "namespace", p),
    }, path);
  });
  return config;
}

function authProvider(r: Reader, v: unknown, path: string): AuthProviderConfig | undefined {
  const o = r.object(v, path);
  if (!o) return undefined;
  const name = r.string(o, "name", path) ?? r.fail(`${path}.name`, "is missing");
  const raw = r.object(o.config, `${path}.config`) ?? {};
  const config: Record<string, string> = {};
  for (const key of Object.keys(raw)) {
    const value = r.string(raw, key, `${path}.config`);
    if (value !== undefined) config[key] = value;
  }
  return { name, config };
}

const INTERACTIVE = ["Never", "IfAvailable", "Always"];

function execConfig(r: Reader, v: unknown, path: string, folder: string): ExecConfig | undefined {
  const o = r.object(v, path);
  if (!o) return undefined;
  let command = r.string(o, "command", path) ?? r.fail(`${path}.command`, "is missing");
  // A command with a path separator is a file next to the kubeconfig; a bare name is on PATH.
  if (command.includes(hostPath.sep) || command.includes("/")) {
    command = resolvePath(folder, command)!;
  }
  const args = r.list(o.args, `${path}.args`).map((a, i) => {
    if (typeof a !== "string") r.fail(`${path}.args[${i}]`, `must be a string, not ${kindOf(a)}`);
    return a;
  });
  const env = r.list(o.env, `${path}.env`).map((e, i) => {
    const p = `${path}.env[${i}]`;
    const entry = r.object(e, p) ?? r.fail(p, "is empty");
    const name = r.string(entry, "name", p) ?? r.fail(`${p}.name`, "is missing");
    return { name, value: r.string(entry, "value", p) ?? "" };
  });
  const interactiveMode = r.string(o, "interactiveMode", path);
  if (interactiveMode !== undefined && !INTERACTIVE.includes(interactiveMode)) {
    r.fail(`${path}.interactiveMode`, `must be one of ${INTERACTIVE.join(", ")}`);
  }
  return {
    command,
    args: o.args === undefined ? undefined : args,
    env: o.env === undefined ? undefined : env,
    apiVersion: r.string(o, "apiVersion", path),
    installHint: r.string(o, "installHint", path),
    interactiveMode: interactiveMode as ExecConfig["interactiveMode"],
    provideClusterInfo: r.boolean(o, "provideClusterInfo", path),
  };
}

/** Merges files given in precedence order: the first to name an entry or set a value wins. */
export function mergeKubeconfigs(files: Kubeconfig[]): Kubeconfig {
  const merged: Kubeconfig = { clusters: new Map(), users: new Map(), contexts: new Map() };
  for (const f of files) {
    for (const [name, c] of f.clusters) {
      if (!merged.clusters.has(name)) merged.clusters.set(name, c);
    }
    for (const [name, u] of f.users) if (!merged.users.has(name)) merged.users.set(name, u);
    for (const [name, c] of f.contexts) {
      if (!merged.contexts.has(name)) merged.contexts.set(name, c);
    }
    merged.currentContext ??= f.currentContext;
  }
  return merged;
}

/** The context ktctl uses, with its cluster and user. */
export interface Selection {
  context: string;
  contextEntry: ContextEntry;
  cluster: ClusterEntry & { server: string };
  /** The user's name ("" when the context names none) and entry (empty when absent). */
  userName: string;
  user: UserEntry;
}

/**
 * Picks `override` or the current context. Throws UserError with what to fix: no context, an
 * unknown one, a missing cluster or server. A context without a user (or naming an unknown one)
 * connects without credentials, as kubectl does.
 */
export function selectContext(
  config: Kubeconfig,
  override: string | undefined,
  where: string,
): Selection {
  if (override && !config.contexts.has(override)) {
    const known = [...config.contexts.keys()].join(", ") || "none";
    throw new UserError(`context "${override}" is not in the kubeconfig (known: ${known})`);
  }
  const context = override || config.currentContext;
  const contextEntry = context ? config.contexts.get(context) : undefined;
  if (!context || !contextEntry) {
    throw new UserError(
      context
        ? `kubeconfig ${where}: the current context "${context}" is not defined: pass --context`
        : `kubeconfig ${where} has no current context: pass --context`,
    );
  }
  const cluster = config.clusters.get(contextEntry.cluster);
  if (!cluster?.server) {
    throw new UserError(`context "${context}" names no cluster with a server address`);
  }
  const userName = contextEntry.user ?? "";
  return {
    context,
    contextEntry,
    cluster: { ...cluster, server: cluster.server },
    userName,
    user: config.users.get(userName) ?? {},
  };
}
