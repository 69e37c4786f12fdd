/**
 * A webhook token authenticator (TokenReview, authentication.k8s.io/v1) served by a test, for an
 * extra kube-apiserver (extra_apiserver.ts) started with its config file: the test decides, per
 * request, whether a bearer token is good, so tokens can really stop working (expire, be
 * rotated) while ktctl runs. The API server must not cache the answers: start it with
 * `--authentication-token-webhook-cache-ttl=0s`.
 * @module
 */

export interface TokenReviewUser {
  username: string;
  groups?: string[];
}

export interface TokenWebhook {
  /** The `--authentication-token-webhook-config-file` (a kubeconfig pointing here). */
  configFile: string;
  /** Every review so far: the token and whether it was accepted. */
  reviews: { token: string; accepted: boolean; at: number }[];
  close(): Promise<void>;
}

/** The flags an extra API server needs to ask this webhook. */
export function webhookArgs(w: TokenWebhook): string[] {
  return [
    `--authentication-token-webhook-config-file=${w.configFile}`,
    "--authentication-token-webhook-version=v1",
    "--authentication-token-webhook-cache-ttl=0s",
  ];
}

/** Serves on 127.0.0.1; `decide` returns the user a token stands for, or undefined to refuse it. */
export async function startTokenWebhook(
  decide: (token: string) => TokenReviewUser | undefined,
  dir: string,
): Promise<TokenWebhook> {
  const reviews: TokenWebhook["reviews"] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    let review: { apiVersion?: string; spec?: { token?: string } } = {};
    try {
      review = await req.json();
    } catch { /* answered as a refusal */ }
    const token = review.spec?.token ?? "";
    const user = token ? decide(token) : undefined;
    reviews.push({ token, accepted: user !== undefined, at: Date.now() });
    return Response.json({
      apiVersion: review.apiVersion ?? "authentication.k8s.io/v1",
      kind: "TokenReview",
      status: user
        ? { authenticated: true, user: { username: user.username, groups: user.groups ?? [] } }
        : { authenticated: false, error: "token not accepted by the test webhook" },
    });
  });
  const configFile = `${dir}/token-webhook.kubeconfig`;
  await Deno.writeTextFile(
    configFile,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "webhook",
        cluster: { server: `http://127.0.0.1:${server.addr.port}/authenticate` },
      }],
      users: [{ name: "apiserver", user: {} }],
      contexts: [{ name: "webhook", context: { cluster: "webhook", user: "apiserver" } }],
      "current-context": "webhook",
    }),
  );
  return { configFile, reviews, close: () => server.shutdown() };
}
