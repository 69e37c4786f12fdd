/**
 * The first connection to a pod port against the real control plane (kube-apiserver + kwok): it
 * waits for a refusal only a few round trips of its stream pair (src/portforward/multiplexed.ts,
 * `probeWaitMs`), and a refused port must still be reported as refused by the SOCKS or HTTP
 * reply (not as a connection that was made and then reset). The fixture's `refuser` pod never
 * answers, so every connection to it is a first connection and is probed.
 */
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster, kubectl, REFUSER, WEB } from "../../testenv/cluster/mod.ts";
import { startKtctl } from "../../testenv/ktctl_process.ts";
import { curl, socks5Connect } from "../../testenv/socks_client.ts";

await ensureCluster();
const info = await clusterInfo();
const home = await Deno.makeTempDir({ prefix: "ktctl-e2e-home-" });
const refuserIp = (await kubectl([
  "-n",
  REFUSER.namespace,
  "get",
  "pod",
  REFUSER.pod,
  "-o",
  "jsonpath={.status.podIP}",
])).stdout.trim();

function connect() {
  return startKtctl(
    ["-c", info.kubeconfigs.admin, "-n", WEB.namespace, "--dialDirect", "127.0.0.0/8,::1/128"],
    { env: { HOME: home, USERPROFILE: home } },
  );
}

Deno.test("a refused pod port is refused on every first connection, with the short probe", async () => {
  const ktctl = await connect();
  try {
    const host = `${REFUSER.service}.${REFUSER.namespace}`;
    for (let i = 0; i < 5; i++) {
      // SOCKS5: reply 5, "connection refused", in place of success.
      const { conn, reply } = await socks5Connect(ktctl.port, host, REFUSER.servicePort);
      conn.close();
      assert.equal(reply, 5, `try ${i}: SOCKS5 reply ${reply}`);
      // The pod port itself, by the pod's IP, through real curl.
      const pod = await curl(
        `socks5h://127.0.0.1:${ktctl.port}`,
        `http://${refuserIp}:${REFUSER.targetPort}/`,
      );
      assert.equal(pod.code, 97, `try ${i}: curl ${pod.code} ${pod.stderr}`);
      // HTTP CONNECT: an error status, not 200 then a closed tunnel.
      const tunnel = await curl(`http://127.0.0.1:${ktctl.port}`, `http://${host}/`, [
        "--proxytunnel",
      ]);
      assert.equal(tunnel.code, 56, `try ${i}: curl ${tunnel.code} ${tunnel.stderr}`);
      assert.match(tunnel.stderr, /CONNECT.*50[23]|50[23].*CONNECT/i);
    }
    // A port that answers is still reached (the short probe passes, then data flows).
    const ok = await curl(
      `socks5h://127.0.0.1:${ktctl.port}`,
      `http://${WEB.service}.${WEB.namespace}/`,
    );
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await ktctl.stop();
  }
});
