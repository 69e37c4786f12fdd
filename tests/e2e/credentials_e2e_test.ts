/**
 * Credentials that stop working while ktctl runs (issue 13.2), against a real kube-apiserver: an
 * extra one on its own loopback port (testenv/cluster/extra_apiserver.ts, the shared cluster's
 * etcd and kwok) that authenticates bearer tokens through a webhook served here, which accepts
 * each exec-plugin token for 4 s only, and a token file only while it is the current one.
 *
 * kube-apiserver keeps a token it accepted for 10 s (TokenSuccessCacheTTL, no flag) whatever the
 * webhook says later, so a refused token "really stops working" only 10 s after its last review:
 * the tests wait that out where it matters.
 */
import assert from "node:assert/strict";
import {
  clusterInfo,
  ensureCluster,
  kubectl,
  POD_PORTS,
  service,
  WEB,
} from "../../testenv/cluster/mod.ts";
import { type ExtraApiServer, startExtraApiServer } from "../../testenv/cluster/extra_apiserver.ts";
import { startTokenWebhook, webhookArgs } from "../../testenv/cluster/token_webhook.ts";
import { startKtctl } from "../../testenv/ktctl_process.ts";
import { curlWithEnv } from "../../testenv/socks_client.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = {};
await ensureCluster();
const info = await clusterInfo();
const dir = await Deno.makeTempDir({ prefix: "ktctl-cred-e2e-" });
const SAFE = ["--dialDirect", "127.0.0.0/8,::1/128"];
const LIFETIME_MS = 4_000;
/** kube-apiserver's cache of accepted tokens. */
const APISERVER_TOKEN_CACHE_MS = 10_000;
const USER = { username: "ktctl-cred-e2e", groups: ["system:masters"] };

/** Tokens the file test currently accepts. */
const fileTokens = new Set<string>();
const webhook = await startTokenWebhook((token) => {
  const exec = /^exec-\d+-(\d+)$/.exec(token);
  if (exec) return Date.now() < Number(exec[1]) ? USER : undefined;
  return fileTokens.has(token) ? USER : undefined;
}, dir);
const extra = await startExtraApiServer({ extraArgs: webhookArgs(webhook) });
addEventListener("unload", () => {
  extra.stop();
  webhook.close();
});

/** An exec plugin whose tokens the webhook accepts for LIFETIME_MS; it fails while `fail` exists. */
async function writePlugin(): Promise<string> {
  const plugin = `${dir}/plugin.sh`;
  await Deno.writeTextFile(
    plugin,
    `#!/bin/sh
n=$(($(cat "${dir}/runs" 2>/dev/null || echo 0) + 1)); echo $n > "${dir}/runs"
[ -f "${dir}/fail" ] && { echo "login required (test)" >&2; exit 1; }
exp_ms=$(($(date +%s%3N) + ${LIFETIME_MS}))
echo $exp_ms > "${dir}/last-exp"
exp=$(date -u -d @$((exp_ms / 1000)) +%Y-%m-%dT%H:%M:%SZ)
# With "silent" the plugin does not say when its token expires (allowed; client-go then keeps it
# until a 401).
[ -f "${dir}/silent" ] && exp_field="" || exp_field=',"expirationTimestamp":"'$exp'"'
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-'$n'-'$exp_ms'"'$exp_field'}}'
`,
  );
  await Deno.chmod(plugin, 0o755);
  return plugin;
}

async function kubeconfigWith(
  name: string,
  user: Record<string, unknown>,
  server = extra.server,
): Promise<string> {
  const file = `${dir}/${name}.kubeconfig`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "extra",
        cluster: { server, "certificate-authority": info.caFile },
      }],
      users: [{ name: "u", user }],
      contexts: [{
        name: "extra",
        context: { cluster: "extra", user: "u", namespace: WEB.namespace },
      }],
      "current-context": "extra",
    }),
  );
  return file;
}

const runs = async () => Number((await Deno.readTextFile(`${dir}/runs`).catch(() => "0")).trim());

/** The expiry (epoch ms) of the last token the plugin made. */
const lastExpiry = async () =>
  Number((await Deno.readTextFile(`${dir}/last-exp`).catch(() => "0")).trim());

/** The HTTP status the extra API server answers `token` with, asked directly (no ktctl). */
async function statusFor(token: string): Promise<number> {
  const out = await new Deno.Command("curl", {
    args: [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--max-time",
      "10",
      "--cacert",
      info.caFile,
      "-H",
      `Authorization: Bearer ${token}`,
      `${extra.server}/api/v1/namespaces/${WEB.namespace}/pods?limit=1`,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  return Number(new TextDecoder().decode(out.stdout));
}

async function get(proxy: string, url: string) {
  const r = await curlWithEnv(proxy, url, ["--max-time", "10"]);
  return { ok: r.code === 0 && r.body.startsWith("pod="), detail: `${r.code} ${r.stderr}` };
}

/**
 * After a restart of the extra API server (every watch breaks), a Service created afterwards
 * becomes reachable: the watches came back, with credentials good at that time.
 */
async function watchesComeBack(proxy: string, server: ExtraApiServer = extra): Promise<void> {
  await server.restart();
  const name = `watch-${Date.now().toString(36)}`;
  await kubectl(["apply", "-f", "-"], {
    stdin: JSON.stringify(
      service(WEB.namespace, name, WEB.labels, [{
        name: "http",
        port: 80,
        targetPort: POD_PORTS.http,
      }]),
    ),
  });
  try {
    await waitFor(
      async () => (await get(proxy, `http://${name}.${WEB.namespace}/`)).ok,
      60_000,
      `Service ${name} through ktctl`,
      250,
    );
  } finally {
    await kubectl(["-n", WEB.namespace, "delete", "service", name, "--wait=false"]);
  }
}

/**
 * ktctl with a kubeconfig whose user runs the plugin, one WebSocket per connection (so every
 * connection authenticates anew), and a fresh run count.
 */
async function ktctlWithPlugin(name: string) {
  await Deno.remove(`${dir}/runs`).catch(() => {});
  const kubeconfig = await kubeconfigWith(name, {
    exec: {
      apiVersion: "client.authentication.k8s.io/v1",
      command: await writePlugin(),
      interactiveMode: "Never",
    },
  });
  return await startKtctl(["-c", kubeconfig, "--portForward", "websocket", ...SAFE]);
}

/** New connections to Service web, one after another for `ms`: each must work. */
async function connectionsFor(proxy: string, ms: number, gapMs: number): Promise<number> {
  const started = Date.now();
  let made = 0;
  while (Date.now() - started < ms) {
    const r = await get(proxy, `http://${WEB.service}.${WEB.namespace}/`);
    assert.ok(r.ok, `connection ${made} at ${Date.now() - started} ms: ${r.detail}`);
    made++;
    await new Promise((r) => setTimeout(r, gapMs));
  }
  return made;
}

Deno.test(
  "an exec plugin's 4-second tokens: refreshed ahead of expiry, failures reported once",
  opts,
  async () => {
    const ktctl = await ktctlWithPlugin("exec");
    try {
      const made = await connectionsFor(ktctl.proxyUrl, 4 * LIFETIME_MS, 200);
      const accepted = new Set(
        webhook.reviews.filter((r) => r.accepted && r.token.startsWith("exec-")).map((r) =>
          r.token
        ),
      );
      assert.ok(accepted.size >= 4, `tokens used over 16 s: ${[...accepted].join(" ")}`);
      assert.ok(made >= 10, `only ${made} connections`);

      await watchesComeBack(ktctl.proxyUrl);

      // The plugin starts failing: connections fail, but it runs (and is reported) once per
      // backoff, not once per connection.
      await Deno.writeTextFile(`${dir}/fail`, "");
      const runsBefore = await runs();
      // The last good token expires (made before "fail": no later run makes one).
      const expiry = await lastExpiry();
      await waitFor(() => Date.now() > expiry, LIFETIME_MS + 5_000, "the last token's expiry", 50);
      let failed = 0;
      for (let i = 0; i < 20; i++) {
        if (!(await get(ktctl.proxyUrl, `http://${WEB.service}.${WEB.namespace}/`)).ok) failed++;
      }
      assert.ok(failed >= 15, `only ${failed} of 20 failed`);
      // Reported by its shape only: a plugin's error output may hold a secret, and is never shown.
      const reported = ktctl.output().split("\n").filter((l) =>
        / WRN credential plugin .* exited with 1 \(its error output: 1 line; .*not shown/.test(l)
      );
      assert.doesNotMatch(ktctl.output(), /login required/);
      const failedRuns = (await runs()) - runsBefore;
      assert.ok(reported.length >= 1 && reported.length <= failedRuns, reported.join("\n"));
      assert.ok(failedRuns <= 6, `${failedRuns} plugin runs for ${failed} failed connections`);

      await Deno.remove(`${dir}/fail`);
      await waitFor(
        async () => (await get(ktctl.proxyUrl, `http://${WEB.service}.${WEB.namespace}/`)).ok,
        90_000,
        "the plugin to work again",
        250,
      );
      assert.match(ktctl.output(), /INF The credential plugin \S+ works again/);
    } finally {
      assert.equal(await ktctl.stop(), 0);
    }
  },
);

Deno.test(
  "a token file swapped while the API server accepts only the new token",
  opts,
  async () => {
    const tokenFile = `${dir}/token`;
    await Deno.writeTextFile(tokenFile, "file-A\n");
    fileTokens.add("file-A");
    const kubeconfig = await kubeconfigWith("file", { "token-file": tokenFile });
    const ktctl = await startKtctl(["-c", kubeconfig, ...SAFE]);
    const pod = (name: string) =>
      `http://${name}.${WEB.headlessService}.${WEB.namespace}.svc.cluster.local:${POD_PORTS.http}/`;
    try {
      const before = await get(ktctl.proxyUrl, pod(WEB.pods[0]));
      assert.ok(before.ok, before.detail);
      // Rotated the way the kubelet does it (a new file renamed over the old one); the old token
      // is refused from now on, and really stops working once the API server's cache lets go.
      await Deno.writeTextFile(`${tokenFile}.new`, "file-B\n");
      await Deno.rename(`${tokenFile}.new`, tokenFile);
      fileTokens.clear();
      fileTokens.add("file-B");
      await waitFor(
        async () => await statusFor("file-A") === 401,
        APISERVER_TOKEN_CACHE_MS + 20_000,
        "the API server to refuse file-A",
        250,
      );
      // A pod with no session yet: a new port-forward, which must carry the new token.
      const after = await get(ktctl.proxyUrl, pod(WEB.pods[1]));
      assert.ok(after.ok, after.detail);
      assert.ok(webhook.reviews.some((r) => r.token === "file-B" && r.accepted));
      await watchesComeBack(ktctl.proxyUrl);
    } finally {
      assert.equal(await ktctl.stop(), 0);
    }
  },
);

Deno.test(
  "a plugin token without an expiry is replaced once the API server refuses it",
  opts,
  async () => {
    await Deno.remove(`${dir}/fail`).catch(() => {}); // whatever an earlier test left
    await Deno.writeTextFile(`${dir}/silent`, "");
    const ktctl = await ktctlWithPlugin("silent");
    try {
      // The first token is refused 4 s after it was made, and for real after the cache's 10 s: the
      // connection that meets the 401 gets a new token and is retried once, so none fails.
      await connectionsFor(ktctl.proxyUrl, LIFETIME_MS + APISERVER_TOKEN_CACHE_MS + 3_000, 300);
      const refused = webhook.reviews.filter((r) => !r.accepted && r.token.startsWith("exec-"));
      assert.ok(refused.length >= 1, "the first token was never refused: nothing was tested");
      assert.ok((await runs()) >= 2, `${await runs()} plugin runs`);
      // The watches, too: after a restart of the API server they relist with a token that works.
      await watchesComeBack(ktctl.proxyUrl);
    } finally {
      await Deno.remove(`${dir}/silent`).catch(() => {});
      assert.equal(await ktctl.stop(), 0);
    }
  },
);

/** Runs openssl in `dir`; throws with its stderr. */
async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A CA `name` and a client certificate it signed for a system:masters user. */
async function clientCertFrom(name: string): Promise<{ ca: string; cert: string; key: string }> {
  await Deno.writeTextFile(
    `${dir}/client-ext.cnf`,
    "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
  );
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-days",
    "1",
    "-subj",
    `/CN=ktctl-e2e-${name}`,
    "-keyout",
    `${name}-ca.key`,
    "-out",
    `${name}-ca.crt`,
  ]);
  await openssl([
    "req",
    ...ec,
    "-subj",
    "/O=system:masters/CN=ktctl-cert-e2e",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
  ]);
  await openssl([
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${name}-ca.crt`,
    "-CAkey",
    `${name}-ca.key`,
    "-CAcreateserial",
    // Extensions make it an X.509 v3 certificate: rustls (Deno's TLS) refuses v1 ones.
    "-extfile",
    "client-ext.cnf",
    "-days",
    "1",
    "-out",
    `${name}.crt`,
  ]);
  const read = (f: string) => Deno.readTextFile(`${dir}/${f}`);
  return {
    ca: await read(`${name}-ca.crt`),
    cert: await read(`${name}.crt`),
    key: await read(`${name}.key`),
  };
}

/** Writes `text` to `path` the way renewals do: a new file renamed over the old one. */
async function replaceFile(path: string, text: string): Promise<void> {
  await Deno.writeTextFile(`${path}.new`, text);
  await Deno.rename(`${path}.new`, path);
}

Deno.test(
  "a client certificate renewed on disk while the old one stops being trusted",
  opts,
  async () => {
    const [a, b] = [await clientCertFrom("cert-a"), await clientCertFrom("cert-b")];
    const clusterCa = await Deno.readTextFile(info.caFile);
    const bundle = `${dir}/client-ca.crt`;
    // The cluster's CA stays (the harness checks readiness with the admin certificate).
    await Deno.writeTextFile(bundle, clusterCa + a.ca);
    const certServer = await startExtraApiServer({ extraArgs: [`--client-ca-file=${bundle}`] });
    const [certFile, keyFile] = [`${dir}/client.crt`, `${dir}/client.key`];
    await Deno.writeTextFile(certFile, a.cert);
    await Deno.writeTextFile(keyFile, a.key);
    const kubeconfig = await kubeconfigWith(
      "cert",
      { "client-certificate": certFile, "client-key": keyFile },
      certServer.server,
    );
    const ktctl = await startKtctl(["-c", kubeconfig, ...SAFE]);
    try {
      const before = await get(ktctl.proxyUrl, `http://${WEB.service}.${WEB.namespace}/`);
      assert.ok(before.ok, before.detail);
      // Renewed: a certificate from another CA, and the API server trusts only that one after
      // the restart in watchesComeBack (every connection breaks, the old certificate is refused).
      await replaceFile(certFile, b.cert);
      await replaceFile(keyFile, b.key);
      await Deno.writeTextFile(bundle, clusterCa + b.ca);
      // The watches come back only with the new certificate.
      await watchesComeBack(ktctl.proxyUrl, certServer);
    } finally {
      assert.equal(await ktctl.stop(), 0);
      await certServer.stop();
    }
  },
);
