/**
 * The credentials client-node works out from a kubeconfig (certificates, tokens, exec plugins,
 * basic auth), in the form Deno's own TLS takes. ktctl uses Deno's TLS for API calls and
 * port-forwards because Deno's `node:tls` neither pauses reads nor (with native TLS alongside)
 * survives the API server going away: Deno 2.9.6 crashed (SIGSEGV) when both kinds of
 * connection broke at once.
 * @module
 */
import type { KubeConfig } from "@kubernetes/client-node";

export interface NativeCredentials {
  headers: Record<string, string>;
  tls: { caCerts?: string[]; cert?: string; key?: string };
}

/** The https.RequestOptions fields client-node's applyToHTTPSOptions fills in. */
export interface NodeTlsOptions {
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
  pfx?: unknown;
  headers?: Record<string, unknown>;
  rejectUnauthorized?: boolean;
  servername?: string;
  auth?: string;
}

/**
 * The kubeconfig's credentials for one use, worked out afresh each time (exec plugins and token
 * files rotate): client-node fills in `options` (its node:tls form, which the fallback paths
 * take), and `native` is their Deno form, undefined when only node:tls can use them.
 */
export async function credentialsFor<T extends object>(
  config: KubeConfig,
  server: string,
  options: T,
): Promise<{ options: T; native?: NativeCredentials }> {
  await config.applyToHTTPSOptions(options);
  return {
    options,
    native: nativeCredentials(options, config.getCurrentCluster()?.proxyUrl, server),
  };
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
  const pem = (v: unknown): string | undefined =>
    v === undefined || v === null
      ? undefined
      : Array.isArray(v)
      ? v.map(String).join("\n")
      : String(v);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.headers ?? {})) if (v !== undefined) headers[k] = String(v);
  if (o.auth) headers["Authorization"] = `Basic ${btoa(o.auth)}`;
  const ca = pem(o.ca);
  return { headers, tls: { caCerts: ca ? [ca] : undefined, cert: pem(o.cert), key: pem(o.key) } };
}
