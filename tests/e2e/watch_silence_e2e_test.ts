/**
 * A path to the API server that goes silent (issue 13.3, the watch part): ktctl reaches the real
 * API server through a relay whose open connections stop carrying bytes without closing. The
 * watches must notice within about 30 s, reconnect, and carry on from where they were: a Service
 * created during the silence becomes known to ktctl without a restart.
 */
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster, kubectl, WEB } from "../../testenv/cluster/mod.ts";
import { startKtctl } from "../../testenv/ktctl_process.ts";
import { socks5Connect } from "../../testenv/socks_client.ts";
import { relay as relayTo } from "../../bench/relay.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = {};
await ensureCluster();
const info = await clusterInfo();

/** SOCKS5 reply code for a CONNECT (0: connected), the connection closed at once. */
async function replyFor(proxyPort: number, host: string, port: number): Promise<number> {
  const { conn, reply } = await socks5Connect(proxyPort, host, port);
  conn.close();
  return reply;
}

Deno.test("watches notice a silent path to the API server and resume", opts, async () => {
  const home = await Deno.makeTempDir({ prefix: "ktctl-e2e-silence-" });
  const relay = relayTo(Number(new URL(info.server).port));
  const kubeconfig = `${home}/relay.kubeconfig`;
  await Deno.writeTextFile(
    kubeconfig,
    (await Deno.readTextFile(info.kubeconfigs.admin)).replace(
      info.server,
      `https://127.0.0.1:${relay.port}`,
    ),
  );
  const name = `quiet-${Date.now() % 100000}`;
  const ktctl = await startKtctl(
    ["-c", kubeconfig, "-n", WEB.namespace, "--dialDirect", "127.0.0.0/8,::1/128"],
    { env: { HOME: home, USERPROFILE: home } },
  );
  try {
    // Port 81 of a service that has only port 80: "refused" (5) once ktctl knows the service,
    // "host unreachable" (4) while it does not. No port-forward is involved either way.
    assert.equal(await replyFor(ktctl.port, `${name}.${WEB.namespace}`, 81), 4);
    relay.silenceExisting();
    const silencedAt = performance.now();
    await kubectl(["-n", WEB.namespace, "create", "service", "clusterip", name, "--tcp=80:8080"]);
    await waitFor(
      async () => (await replyFor(ktctl.port, `${name}.${WEB.namespace}`, 81)) === 5,
      60_000,
      `ktctl to learn of service ${name} after the silence:\n${ktctl.output()}`,
    );
    const seconds = (performance.now() - silencedAt) / 1000;
    assert.ok(seconds < 45, `took ${seconds.toFixed(1)} s`);
    assert.match(ktctl.output(), /Lost the cluster watch \(watch went silent/);
  } finally {
    await kubectl(["-n", WEB.namespace, "delete", "service", name, "--ignore-not-found"]);
    await ktctl.stop();
    relay.close();
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});
