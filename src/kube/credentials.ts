/**
 * The kubeconfig's credentials for one cluster and user, worked out afresh for each use, in the
 * forms ktctl's connections take: {@link NativeCredentials} for Deno's fetch (API calls),
 * {@link ConnectionCredentials} for ktctl's own connections (port-forwards), and the node:tls
 * form (`options`) for the undici path (undici_fetch.ts).
 *
 * ktctl works these out itself for the ordinary kinds, field for field as
 * @kubernetes/client-node 2.0.1's `applyToHTTPSOptions` did: `certificate-authority(-data)`,
 * `client-certificate(-data)`, `client-key(-data)` (files read on every use, so renewed ones are
 * picked up), `token`, `token-file` and exec plugins (credential_source.ts: refreshed, one run
 * at a time, dropped on a 401), `username`/`password` (Basic), `as` (Impersonate-User),
 * `tls-server-name`, `insecure-skip-tls-verify`, `proxy-url`. Loading client-node costs ~0.06 s
 * of CPU and ~20-30 MB on every start (docs/performance-startup.md), so it is loaded, with
 * `import()`, only for `auth-provider` users (OIDC, Azure, GCP: client_node_credentials.ts).
 *
 * API calls use Deno's TLS where it can (Deno's `node:tls` does not survive the API server going
 * away alongside native TLS: Deno 2.9.6 crashed with SIGSEGV when both kinds broke at once),
 * else undici. Port-forwards take every kubeconfig kind through `net/server_dial.ts`.
 *
 * Two departures from client-node, both kubectl's behaviour: a context without a (known) user
 * still gets its cluster's CA and TLS settings (client-node dropped them), and a user with both a
 * token and a username gets the token on every path (client-node sent the token on API calls but
 * Basic on port-forwards).
 * @module
 */
import type { ServerTransport } from "../net/server_dial.ts";
import type { ClusterEntry, UserEntry } from "./kubeconfig_model.ts";
import {
  defaultLifecycleOptions,
  ExecSource,
  FileSource,
  type LifecycleOptions,
  type Source,
} from "./credential_source.ts";
import type { ClientNodeAuth } from "./client_node_credentials.ts";

export interface NativeCredentials {
  headers: Record<string, string>;
  tls: { caCerts?: string[]; cert?: string; key?: string };
}

/** What ktctl's own connections (port-forwards) need, for every kubeconfig kind. */
export interface ConnectionCredentials {
  headers: Record<string, string>;
  transport: ServerTransport;
}

/** The https.RequestOptions fields client-node's applyToHTTPSOptions filled in. */
export interface NodeTlsOptions {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  pfx?: unknown;
  passphrase?: unknown;
  headers?: Record<string, unknown>;
  rejectUnauthorized?: boolean;
  servername?: string;
  auth?: string;
}

/** Everything one use needs, worked out at once. */
export interface ResolvedCredentials {
  /** The node:tls form (undici, node:https). */
  options: NodeTlsOptions;
  /** The Deno form the API client takes; undefined when only node:tls can use them. */
  native?: NativeCredentials;
  /** What ktctl's own connections take, for every kubeconfig kind. */
  connection: ConnectionCredentials;
}

const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

/**
 * A file's text, else base64 data decoded, else nothing (client-node's `bufferFromFileOrString`;
 * certificates and keys are PEM text, which every TLS engine here takes as a string). Base64 is
 * read as leniently as node:buffer read it: either alphabet, characters outside it skipped, the
 * first `=` its end.
 */
function fileOrData(file: string | undefined, data: string | undefined): string | undefined {
  if (file) return Deno.readTextFileSync(file);
  if (data) return utf8Decoder.decode(decodeBase64Loosely(data));
  return undefined;
}

export function decodeBase64Loosely(data: string): Uint8Array {
  const padding = data.indexOf("=");
  let text = (padding === -1 ? data : data.slice(0, padding)).replace(/[^A-Za-z0-9+/_-]/g, "")
    .replace(/-/g, "+").replace(/_/g, "/");
  if (text.length % 4 === 1) text = text.slice(0, -1); // a lone last character carries no byte
  return Uint8Array.fromBase64(text);
}

/** The credentials of one cluster and user (the kubeconfig's picked context). */
export class KubeCredentials {
  readonly proxyUrl: string | undefined;
  #source: Source | undefined;
  #clientNode: Promise<ClientNodeAuth> | undefined;

  constructor(
    readonly server: string,
    readonly cluster: ClusterEntry,
    readonly userName: string,
    readonly user: UserEntry,
    lifecycle: LifecycleOptions = defaultLifecycleOptions,
  ) {
    this.proxyUrl = cluster.proxyUrl;
    // A literal token wins over a token file, which wins over an exec plugin (as in client-node).
    if (!user.token && user.tokenFile) this.#source = new FileSource(user.tokenFile, lifecycle);
    else if (!user.token && user.exec) {
      this.#source = new ExecSource(user.exec, lifecycle, {
        server,
        "certificate-authority-data": cluster.certificateAuthorityData,
        "insecure-skip-tls-verify": cluster.insecureSkipTlsVerify,
        "tls-server-name": cluster.tlsServerName,
        "proxy-url": cluster.proxyUrl,
      });
    }
  }

  /** Whether this user needs @kubernetes/client-node (an auth provider: OIDC, Azure, GCP). */
  get needsClientNode(): boolean {
    return this.user.authProvider !== undefined && !this.user.token && !this.#source;
  }

  /** The credentials for one use. Throws CredentialError when a plugin or token file fails. */
  async resolve(): Promise<ResolvedCredentials> {
    const o = await this.#nodeOptions();
    return {
      options: o,
      native: nativeCredentials(o, this.proxyUrl, this.server),
      connection: connectionCredentials(o, this.proxyUrl),
    };
  }

  /**
   * The server answered 401 to a request sent with `authorization` (its header): the next use
   * gets a new token (a plugin run, a file re-read). Whether a retry may meet other credentials.
   */
  rejected(authorization?: string): boolean {
    return this.#source?.rejected(authorization?.replace(/^Bearer /, "")) ?? false;
  }

  async #nodeOptions(): Promise<NodeTlsOptions> {
    const c = this.cluster;
    const u = this.user;
    const o: NodeTlsOptions = {};
    if (c.insecureSkipTlsVerify) o.rejectUnauthorized = false;
    if (c.tlsServerName) o.servername = c.tlsServerName;
    const ca = fileOrData(c.certificateAuthority, c.certificateAuthorityData);
    if (ca) o.ca = ca;
    const cert = fileOrData(u.clientCertificate, u.clientCertificateData);
    if (cert) o.cert = cert;
    const key = fileOrData(u.clientKey, u.clientKeyData);
    if (key) o.key = key;
    const headers: Record<string, unknown> = {};
    if (u.impersonate !== undefined) headers["Impersonate-User"] = u.impersonate;
    if (this.#source) {
      const m = await this.#source.get();
      if (m.token) headers["Authorization"] = `Bearer ${m.token}`;
      if (m.cert && m.key) {
        o.cert = m.cert;
        o.key = m.key;
      }
    } else if (this.needsClientNode) {
      this.#clientNode ??= import("./client_node_credentials.ts").then((m) =>
        new m.ClientNodeAuth(this.server, this.userName, this.user.authProvider!)
      );
      Object.assign(headers, await (await this.#clientNode).headers());
    }
    if (u.token) headers["Authorization"] = `Bearer ${u.token}`;
    o.headers = headers;
    // Basic only without a token (kubectl rejects a user with both).
    if (u.username && headers["Authorization"] === undefined) {
      o.auth = `${u.username}:${u.password ?? ""}`;
    }
    return o;
  }
}

/**
 * The credentials for one use (exec plugins and token files rotate): `options` gets the node:tls
 * form, `native` is the Deno form the API client takes, undefined when only node:tls can use
 * them, and `connection` is what ktctl's own connections (port-forwards) take.
 */
export async function credentialsFor<T extends object>(
  config: KubeCredentials,
  _server: string,
  options: T,
): Promise<
  { options: T & NodeTlsOptions; native?: NativeCredentials; connection: ConnectionCredentials }
> {
  const r = await config.resolve();
  return { ...r, options: Object.assign(options, r.options) };
}

/** Translates the node:tls form for ktctl's own connections (see net/server_dial.ts). */
export function connectionCredentials(
  options: unknown,
  proxyUrl: string | undefined,
): ConnectionCredentials {
  const o = options as NodeTlsOptions;
  const ca = pem(o.ca);
  const pfx = o.pfx === undefined || o.pfx === null
    ? undefined
    : typeof o.pfx === "string"
    ? utf8Encoder.encode(o.pfx)
    : new Uint8Array(o.pfx as ArrayLike<number>);
  return {
    headers: headersOf(o),
    transport: {
      caCerts: ca ? [ca] : undefined,
      cert: pem(o.cert),
      key: pem(o.key),
      pfx,
      passphrase: o.passphrase === undefined ? undefined : String(o.passphrase),
      serverName: o.servername || undefined,
      insecure: o.rejectUnauthorized === false,
      proxyUrl: proxyUrl || undefined,
    },
  };
}

function pem(v: unknown): string | undefined {
  return v === undefined || v === null
    ? undefined
    : Array.isArray(v)
    ? v.map(String).join("\n")
    : String(v);
}

function headersOf(o: NodeTlsOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.headers ?? {})) if (v !== undefined) headers[k] = String(v);
  if (o.auth) headers["Authorization"] = `Basic ${utf8Encoder.encode(o.auth).toBase64()}`;
  return headers;
}

/**
 * Translates the node:tls form; undefined when it needs what only the node:tls path offers
 * (a proxy-url, insecure-skip-tls-verify, a TLS server name, a PFX bundle).
 */
export function nativeCredentials(
  options: unknown,
  proxyUrl: string | undefined,
  server: string,
): NativeCredentials | undefined {
  const o = options as NodeTlsOptions;
  // Over plain HTTP there is no certificate to skip verifying: only TLS needs node:tls.
  const tls = !server.startsWith("http://");
  if (proxyUrl || (tls && (o.rejectUnauthorized === false || o.servername || o.pfx))) {
    return undefined;
  }
  const ca = pem(o.ca);
  return {
    headers: headersOf(o),
    tls: { caCerts: ca ? [ca] : undefined, cert: pem(o.cert), key: pem(o.key) },
  };
}
