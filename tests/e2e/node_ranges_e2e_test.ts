/**
 * Pod-IP lookups narrowed by node, against the real API server: its protobuf Node list gives
 * what its JSON list gives, the fixture's pods have addresses of their node's podCIDR (kwok
 * allocates from it, as the controller manager's node IPAM and most CNIs do), and ktctl, once it
 * has listed the nodes, asks for `spec.nodeName=N,status.podIP=IP` and reaches the pod.
 */
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster, kubectl, POD_PORTS, WEB } from "../../testenv/cluster/mod.ts";
import { KubeApi } from "../../src/kube/api.ts";
import { loadKubeconfig } from "../../src/kube/kubeconfig.ts";
import { decodeNode } from "../../src/kube/objects.ts";
import { nodeDecoder } from "../../src/kube/protobuf.ts";
import { listAll } from "../../src/kube/reflector.ts";
import { inRanges, parseCidr } from "../../src/net/ip.ts";
import { startKtctl } from "../../testenv/ktctl_process.ts";
import { curl } from "../../testenv/socks_client.ts";
import { waitFor } from "../helpers/wait.ts";

await ensureCluster();
const info = await clusterInfo();
const SAFE = ["--dialDirect", "127.0.0.0/8,::1/128"];

/** The fixture's web pods with their IP and node, as the API server has them now. */
async function webPods(): Promise<{ name: string; ip: string; node: string }[]> {
  const list = JSON.parse(
    (await kubectl(["get", "pods", "-n", WEB.namespace, "-o", "json"])).stdout,
  ) as {
    items: { metadata: { name: string }; spec: { nodeName: string }; status: { podIP: string } }[];
  };
  return list.items.filter((p) => (WEB.pods as readonly string[]).includes(p.metadata.name)).map((
    p,
  ) => ({
    name: p.metadata.name,
    ip: p.status.podIP,
    node: p.spec.nodeName,
  }));
}

Deno.test("the API server's protobuf Node list decodes as its JSON list does; pods are in their node's range", async () => {
  const target = loadKubeconfig({ kubeconfig: info.kubeconfigs.admin });
  const api = new KubeApi(target.config, target.server);
  try {
    const first = await api.getProtobufOrJson("/api/v1/nodes?limit=1");
    assert.equal(first.protobuf, true);
    const byName = (items: { name: string }[]) =>
      [...items].sort((a, b) => a.name.localeCompare(b.name));
    const json = await listAll(api, "/api/v1/nodes", "", decodeNode, { pageSize: 1 });
    const proto = await listAll(api, "/api/v1/nodes", "", nodeDecoder, { pageSize: 1 });
    assert.deepEqual(byName(proto.items), byName(json.items));
    const ranges = new Map(proto.items.map((n) => [n.name, n.podCIDRs.map(parseCidr)]));
    for (const pod of await webPods()) {
      assert.ok(
        inRanges(pod.ip, ranges.get(pod.node) ?? []),
        `${pod.name} ${pod.ip} on ${pod.node}: ${
          proto.items.find((n) => n.name === pod.node)?.podCIDRs
        }`,
      );
    }
  } finally {
    api.close();
  }
});

Deno.test("ktctl looks a pod IP up on its node once it has the nodes' ranges", async () => {
  const pods = await webPods();
  const [a, b] = [pods[0], pods.find((p) => p.node !== pods[0].node)];
  assert.ok(b, `the web pods all run on ${a.node}`);
  const ktctl = await startKtctl(["-c", info.kubeconfigs.admin, "-d", ...SAFE]);
  try {
    const reach = async (p: { name: string; ip: string }) => {
      const r = await curl(ktctl.proxyUrl, `http://${p.ip}:${POD_PORTS.http}/`);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.body, new RegExp(`^pod=${WEB.namespace}/${p.name}\\n`));
    };
    // The first pod IP does not wait for the nodes; it starts their list.
    await reach(a);
    await waitFor(
      () => /Listed \d+ nodes, \d+ with pod ranges/.test(ktctl.output()),
      30_000,
      "ktctl's node list",
    );
    await reach(b);
    assert.match(
      ktctl.output(),
      new RegExp(`Looked up "?ip ${b.ip.replaceAll(".", "\\.")} on ${b.node}"?: 1 found`),
    );
    assert.doesNotMatch(
      ktctl.output(),
      new RegExp(`Looked up "?ip ${b.ip.replaceAll(".", "\\.")}"?:`),
    );
  } finally {
    assert.equal(await ktctl.stop(), 0);
  }
});
