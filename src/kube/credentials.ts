/**
 * The credentials client-node works out from a kubeconfig (certificates, tokens, exec plugins,
 * basic auth), in the forms ktctl's connections take. API calls use Deno's TLS where it can
 * (Deno's `node:tls` does not survive the API server going away alongside native TLS: Deno 2.9.6
 * crashed with SIGSEGV when both kinds broke at once), else undici. Port-forwards take every
 * kubeconfig kind through `net/server_dial.ts`.
 * @module
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { ServerTransport } from "../net/server_dial.ts";

export interface NativeCredentials {
  headers: Record<string, string>;
  tls: { caCerts?: string[]; cert?: string; key?: string };
}

/** What ktctl's own connections (port-forwards) need, for every kubeconfig kind. */
export interface ConnectionCredentials {
  headers: Record<string, string>;
  transport: ServerTransport;
}

/** The https.RequestOptions fields client-node's applyToHTTPSOptions fills in. */
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

/**
 * The kubeconfig's credentials for one use, worked out afresh each time (exec plugins and token
 * files rotate): client-node fills in `options` (its node:tls form, which undici takes), `native`
 * is the Deno form the API client takes, undefined when only node:tls can use them, and
 * `connection` is what ktctl's own connections (port-forwards) take, for every kubeconfig kind.
 */
export async function credentialsFor<T extends object>(
  config: KubeConfig,
  server: string,
  options: T,
): Promise<{ options: T; native?: NativeCredentials; connection: ConnectionCredentials }> {
  await config.applyToHTTPSOptions(options);
  const proxyUrl = config.getCurrentCluster()?.proxyUrl;
  return {
    options,
    native: nativeCredentials(options, proxyUrl, server),
    connection: connectionCredentials(options, proxyUrl),
  };
}

/** Translates client-node's options for ktctl's own connections (see net/server_dial.ts). */
export function connectionCredentials(
  options: unknown,
  proxyUrl: string | undefined,
): ConnectionCredentials {
  const o = options as NodeTlsOptions;
  const ca = pem(o.ca);
  const pfx = o.pfx === undefined || o.pfx === null
    ? undefined
    : typeof o.pfx === "string"
    ? new TextEncoder().encode(o.pfx)
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
  if (o.auth) headers["Authorization"] = `Basic ${btoa(o.auth)}`;
  return headers;
}

/**
 * Translates client-node's options; undefined when they need what only the node:tls path offers
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
