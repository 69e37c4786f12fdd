/**
 * The index's namespaces (for the PAC file): listed ones and those of services, with a callback
 * when the set changes; and the observed cluster ranges.
 */
import assert from "node:assert/strict";
import { ClusterIndex } from "../../../src/cluster/index.ts";
import { decodePod, decodeService } from "../../../src/kube/objects.ts";
import { StaticPodSource } from "../../helpers/static_source.ts";
import { formatCidr } from "../../../src/net/ip.ts";

const svc = (namespace: string, name: string, ip: string) =>
  decodeService({ metadata: { namespace, name }, spec: { clusterIP: ip, ports: [{ port: 80 }] } });

Deno.test("index: namespaces come and go with listings and services, with a callback", () => {
  const index = new ClusterIndex();
  let calls = 0;
  index.onNamespacesChanged(() => calls++);
  index.setNamespaces(["default", "demo"]);
  assert.deepEqual(index.namespaces(), ["default", "demo"]);
  assert.equal(calls, 1);
  index.upsert("services", svc("other", "api", "10.96.0.5"));
  assert.deepEqual(index.namespaces(), ["default", "demo", "other"]);
  assert.equal(calls, 2);
  index.upsert("services", svc("other", "api", "10.96.0.6"));
  index.upsert("services", svc("demo", "web", "10.96.0.7"));
  assert.equal(calls, 2, "no change, no call");
  index.remove("services", "other", "api");
  assert.deepEqual(index.namespaces(), ["default", "demo"]);
  assert.equal(calls, 3);
  assert.equal(index.serviceByIp("10.96.0.5"), undefined);
  assert.equal(index.serviceByIp("10.96.0.7")?.name, "web");
  assert.deepEqual(index.clusterRanges().map(formatCidr), ["10.96.0.0/16"]);
});

Deno.test("index: replacing services drops the ones not listed again", () => {
  const index = new ClusterIndex();
  index.replaceAll("services", [svc("a", "one", "10.96.0.1"), svc("b", "two", "10.96.0.2")]);
  index.replaceAll("services", [svc("b", "two", "10.96.0.3")]);
  assert.equal(index.count("services"), 1);
  assert.equal(index.serviceByIp("10.96.0.1"), undefined);
  assert.equal(index.serviceByIp("10.96.0.2"), undefined);
  assert.equal(index.service("b", "two")?.clusterIPs[0], "10.96.0.3");
  assert.deepEqual(index.namespaces(), ["b"]);
});

Deno.test("index: pods and slices come from its source, the empty one until the view hands one over", async () => {
  const index = new ClusterIndex();
  assert.deepEqual(await index.podsByIp("10.244.0.5"), []);
  assert.deepEqual(await index.slicesOf("demo", "web"), []);
  assert.equal(index.mayExist("demo", "web-1"), false);
  assert.equal(index.count("pods"), 0);
  const source = new StaticPodSource(index);
  source.putPod(decodePod({
    metadata: { namespace: "demo", name: "web-1" },
    status: { phase: "Running", podIP: "10.244.0.5", podIPs: [{ ip: "10.244.0.5" }] },
  }));
  assert.deepEqual((await index.podsByIp("10.244.0.5")).map((p) => p.name), ["web-1"]);
  assert.equal(index.mayExist("demo", "web-1"), true);
  assert.equal(index.count("pods"), 1);
  assert.deepEqual(index.clusterRanges().map(formatCidr), ["10.244.0.0/16"]);
});
