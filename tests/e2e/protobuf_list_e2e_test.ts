/**
 * The real API server's protobuf encoding of Service lists, read by src/kube/protobuf.ts, must
 * give exactly what its JSON encoding gives for the fixture's services (ClusterIP, headless, named
 * target ports), page by page. One namespace: other runs may hold thousands of services.
 */
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster, WEB } from "../../testenv/cluster/mod.ts";
import { KubeApi } from "../../src/kube/api.ts";
import { loadKubeconfig } from "../../src/kube/kubeconfig.ts";
import { decodeService } from "../../src/kube/objects.ts";
import {
  decodePodAddressList,
  decodeServiceList,
  podAddressDecoder,
  podAddressesOf,
  serviceDecoder,
} from "../../src/kube/protobuf.ts";
import { getPage, listAll } from "../../src/kube/reflector.ts";

await ensureCluster();
const info = await clusterInfo();

Deno.test("the API server's protobuf Service list decodes as its JSON list does", async () => {
  const target = loadKubeconfig({ kubeconfig: info.kubeconfigs.admin });
  const api = new KubeApi(target.config, target.server);
  const path = `/api/v1/namespaces/${WEB.namespace}/services`;
  try {
    // The server does answer protobuf: otherwise this would compare JSON with JSON.
    const first = await api.getProtobufOrJson(`${path}?limit=1`);
    assert.equal(first.protobuf, true);
    const page = decodeServiceList(first.body);
    assert.equal(page.items.length, 1);
    assert.notEqual(page.continue, "");

    const byKey = (items: { namespace: string; name: string }[]) =>
      items.map((s) => ({ key: `${s.namespace}/${s.name}`, s })).sort((a, b) =>
        a.key.localeCompare(b.key)
      ).map((x) => x.s);
    const json = await listAll(api, path, "", decodeService, { pageSize: 2 });
    const proto = await listAll(
      api,
      path,
      "",
      serviceDecoder,
      { pageSize: 2 },
    );
    assert.ok(json.items.length >= 5, `${json.items.length} services`);
    assert.deepEqual(byKey(proto.items), byKey(json.items));
    assert.ok(proto.items.some((s) => s.headless), "a headless service among them");
    assert.ok(
      proto.items.some((s) => s.ports.some((p) => typeof p.targetPort === "string")),
      "a named target port among them",
    );
  } finally {
    api.close();
  }
});

Deno.test("the API server's protobuf Pod list gives the addresses and count its JSON gives", async () => {
  const target = loadKubeconfig({ kubeconfig: info.kubeconfigs.admin });
  const api = new KubeApi(target.config, target.server);
  const path = `/api/v1/namespaces/${WEB.namespace}/pods`;
  try {
    const first = await api.getProtobufOrJson(`${path}?limit=2`);
    assert.equal(first.protobuf, true);
    const proto = decodePodAddressList(first.body);
    const json = await api.get(`${path}?limit=2`) as {
      items: unknown[];
      metadata: { remainingItemCount?: number };
    };
    assert.equal(proto.items.length, 2);
    assert.deepEqual(proto.items, json.items.map(podAddressesOf));
    assert.ok(proto.items.every((p) => p.ips.length > 0), "running pods have addresses");
    assert.equal(proto.remainingItemCount, json.metadata.remainingItemCount);
    assert.ok((proto.remainingItemCount ?? 0) > 0, "the fixture has more than 2 pods");
    // getPage, as the view's sample calls it.
    const page = await getPage(api, `${path}?limit=2`, podAddressDecoder, {});
    assert.deepEqual(page.items, proto.items);
  } finally {
    api.close();
  }
});
