/**
 * @kubernetes/client-node for what ktctl does not do itself: a kubeconfig user's `auth-provider`
 * (OIDC, Azure, GCP, with their token refreshes). Loaded with `import()` from credentials.ts only
 * for such users: client-node's config module also evaluates undici, socks, hpagent and its
 * generated API models (~0.06 s CPU and ~20-30 MB on every start, docs/performance-startup.md).
 * @module
 */
import { KubeConfig } from "@kubernetes/client-node/dist/config.js";
import type { AuthProviderConfig } from "./kubeconfig_model.ts";

/** One user's auth provider, behind a one-cluster, one-user KubeConfig of client-node's. */
export class ClientNodeAuth {
  #config = new KubeConfig();

  constructor(server: string, userName: string, provider: AuthProviderConfig) {
    // The provider's config is kept (and updated: OIDC stores refreshed tokens in it) by
    // client-node for as long as this object lives. Only the headers are taken from it: the
    // cluster entry is there because client-node wants one (its agent, built and dropped, would
    // refuse an http:// server unless verification is off, so it is off; ktctl's own
    // connections verify as the kubeconfig says).
    this.#config.loadFromOptions({
      clusters: [{ name: "cluster", server, skipTLSVerify: true }],
      users: [{
        name: userName || "user",
        authProvider: { name: provider.name, config: { ...provider.config } },
      }],
      contexts: [{ name: "context", cluster: "cluster", user: userName || "user" }],
      currentContext: "context",
    });
  }

  /** The headers the provider sets (Authorization), worked out afresh. */
  async headers(): Promise<Record<string, string>> {
    const options: { headers?: Record<string, unknown> } = {};
    await this.#config.applyToHTTPSOptions(options);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(options.headers ?? {})) {
      if (v !== undefined) headers[k] = String(v);
    }
    return headers;
  }
}
