/**
 * NodeRanges on its own, with a stand-in for the one KubeApi call it makes (the cluster-view
 * tests drive it through the fake API server): addresses of both families, ranges it cannot
 * parse, one list for many questions, and failures that keep the last table.
 */
import assert from "node:assert/strict";
import { ApiError, type KubeApi } from "../../../src/kube/api.ts";
import { NodeRanges } from "../../../src/cluster/node_ranges.ts";
import { encodeNodeList, type NodeJson } from "../../../testenv/k8s_protobuf.ts";
import { waitFor } from "../../helpers/wait.ts";

/** Answers node lists from `nodes()` in protobuf, or with `fail()` when it gives an error. */
function stubApi(nodes: () => NodeJson[], fail: () => Error | undefined = () => undefined) {
  const calls: string[] = [];
  const api = {
    getProtobufOrJson(path: string) {
      calls.push(path);
      const e = fail();
      if (e) return Promise.reject(e);
      return Promise.resolve({ protobuf: true, body: encodeNodeList(nodes()) });
    },
  } as unknown as KubeApi;
  return { api, calls };
}

const node = (name: string, ...podCIDRs: string[]): NodeJson => ({
  metadata: { name },
  spec: { podCIDR: podCIDRs[0], podCIDRs },
});

Deno.test("node ranges: both families; unparsable ranges are skipped; one list for many asks", async () => {
  const { api, calls } = stubApi(() => [
    node("a", "10.244.1.0/24", "fd00:10:244:1::/64"),
    node("bad", "10.244.2/24", "not a cidr"),
    node("none"),
  ]);
  const ranges = new NodeRanges(api);
  try {
    // Not known yet: the first asks start one list between them and do not wait for it.
    assert.equal(ranges.nodeOf("10.244.1.9"), undefined);
    assert.equal(ranges.nodeOf("10.244.1.10"), undefined);
    await ranges.settled();
    assert.equal(calls.length, 1);
    assert.match(calls[0], /^\/api\/v1\/nodes\?limit=100$/);
    assert.equal(ranges.nodeOf("10.244.1.9"), "a");
    assert.equal(ranges.nodeOf("fd00:10:244:1::9"), "a");
    assert.equal(ranges.nodeOf("10.244.2.9"), undefined);
    assert.equal(ranges.nodeOf("fd00:10:244:2::9"), undefined);
    await ranges.settled();
    assert.equal(calls.length, 1, "misses within the refresh time list nothing");
  } finally {
    await ranges.stop();
  }
});

Deno.test("node ranges: a failed list keeps the last table and is tried again after a miss", async () => {
  let failing: Error | undefined;
  let nodes = [node("a", "10.244.1.0/24")];
  const { api, calls } = stubApi(() => nodes, () => failing);
  const ranges = new NodeRanges(api, { refreshMs: 20 });
  try {
    ranges.nodeOf("10.244.1.1");
    await ranges.settled();
    failing = new ApiError("unreachable", "connection refused");
    nodes = [node("a", "10.244.1.0/24"), node("b", "10.244.3.0/24")];
    await waitFor(async () => {
      ranges.nodeOf("10.244.3.1");
      await ranges.settled();
      return calls.length >= 2;
    });
    assert.equal(ranges.nodeOf("10.244.1.1"), "a", "the last table is kept");
    failing = undefined;
    await waitFor(async () => {
      const found = ranges.nodeOf("10.244.3.1");
      await ranges.settled();
      return found === "b";
    });
  } finally {
    await ranges.stop();
  }
});

Deno.test("node ranges: forbidden or distrusted means never again", async () => {
  const { api, calls } = stubApi(
    () => [node("a", "10.244.1.0/24")],
    () => new ApiError("forbidden", 'nodes is forbidden: User "dev" cannot list resource "nodes"'),
  );
  const ranges = new NodeRanges(api, { refreshMs: 0 });
  ranges.nodeOf("10.244.1.1");
  await ranges.settled();
  for (let i = 0; i < 3; i++) assert.equal(ranges.nodeOf("10.244.1.1"), undefined);
  await ranges.settled();
  assert.equal(calls.length, 1);

  const ok = stubApi(() => [node("a", "10.244.1.0/24")]);
  const trusted = new NodeRanges(ok.api);
  trusted.nodeOf("10.244.1.1");
  await trusted.settled();
  assert.equal(trusted.nodeOf("10.244.1.1"), "a");
  trusted.distrust("a pod ran off its node's range");
  assert.equal(trusted.nodeOf("10.244.1.1"), undefined);
  await trusted.stop();
});
