/**
 * The protobuf Service and Node list decoders of src/kube/protobuf.ts: it must give what the JSON
 * decoder gives for the same objects, and treat every byte as untrusted.
 */
import assert from "node:assert/strict";
import pb from "protobufjs/minimal";
import { decodeNode, decodeService } from "../../../src/kube/objects.ts";
import {
  decodeNodeList,
  decodePodAddressList,
  decodeServiceList,
  podAddressesOf,
  ProtoDecodeError,
  statusMessage,
  unwrap,
} from "../../../src/kube/protobuf.ts";
import {
  encodeNodeList,
  encodePodList,
  encodeServiceList,
  encodeStatus,
  envelope,
  type NodeJson,
  type PodJson,
  runProtobufFuzz,
  type ServiceJson,
} from "../../../testenv/k8s_protobuf.ts";

const services: ServiceJson[] = [
  {
    metadata: { namespace: "demo", name: "web", annotations: { note: "x".repeat(500) } },
    spec: {
      clusterIP: "10.96.0.10",
      clusterIPs: ["10.96.0.10"],
      selector: { app: "web", tier: "front" },
      ports: [
        { name: "http", port: 80, targetPort: 8080 },
        { name: "tcp", port: 9000, targetPort: "echo", protocol: "TCP" },
      ],
    },
  },
  {
    metadata: { namespace: "demo", name: "web-headless" },
    spec: {
      clusterIP: "None",
      clusterIPs: ["None"],
      selector: { app: "web" },
      ports: [{ name: "", port: 8080 }],
    },
  },
  {
    metadata: { namespace: "other", name: "dual" },
    spec: {
      clusterIP: "10.96.0.11",
      clusterIPs: ["10.96.0.11", "fd00:10:96::b"],
      ports: [{ name: "dns", port: 53, protocol: "UDP" }],
    },
  },
  {
    metadata: { namespace: "other", name: "db" },
    spec: { type: "ExternalName", externalName: "db.example.test" },
  },
  // An old server: clusterIP only.
  { metadata: { namespace: "old", name: "legacy" }, spec: { clusterIP: "10.96.0.12" } },
];

/** The JSON the API server would send for `s` (empty fields left out, defaults filled in). */
function asJson(s: ServiceJson): unknown {
  return {
    metadata: s.metadata,
    spec: {
      ...s.spec,
      type: s.spec.type ?? "ClusterIP",
      ports: s.spec.ports?.map((p) => ({
        ...(p.name ? { name: p.name } : {}),
        port: p.port,
        protocol: p.protocol ?? "TCP",
        targetPort: p.targetPort ?? p.port,
      })),
    },
  };
}

Deno.test("protobuf: a ServiceList page decodes as its JSON does, with continue and version", () => {
  const page = decodeServiceList(
    encodeServiceList(services, { resourceVersion: "4711", continue: "next-page" }),
  );
  assert.equal(page.continue, "next-page");
  assert.equal(page.resourceVersion, "4711");
  assert.deepEqual(page.items, services.map((s) => decodeService(asJson(s))));
  assert.equal(page.items[1].headless, true);
  assert.deepEqual(page.items[1].clusterIPs, []);
  assert.deepEqual(page.items[2].clusterIPs, ["10.96.0.11", "fd00:10:96::b"]);
  assert.deepEqual(page.items[4].clusterIPs, ["10.96.0.12"]);
  assert.equal(page.items[0].ports[1].targetPort, "echo");
});

Deno.test("protobuf: the last page has no continue token; an empty list has no items", () => {
  assert.deepEqual(decodeServiceList(encodeServiceList([])), {
    items: [],
    continue: "",
    resourceVersion: "100",
  });
});

Deno.test("protobuf: fields it does not know, of every wire type, are skipped", () => {
  const w = pb.Writer.create();
  w.uint32((1 << 3) | 2).fork().uint32((3 << 3) | 2).string("tok").ldelim();
  w.uint32((9 << 3) | 0).uint64(123456789); // varint
  w.uint32((10 << 3) | 1).fixed64(7); // 64-bit
  w.uint32((11 << 3) | 5).fixed32(7); // 32-bit
  w.uint32((12 << 3) | 2).bytes(new Uint8Array(100)); // length-delimited
  const page = decodeServiceList(envelope("ServiceList", w.finish()));
  assert.equal(page.continue, "tok");
  assert.deepEqual(page.items, []);
});

Deno.test("protobuf: a Status's message, for errors answered in protobuf", () => {
  assert.equal(
    statusMessage(encodeStatus('services is forbidden: User "x" cannot list')),
    'services is forbidden: User "x" cannot list',
  );
  assert.throws(() => statusMessage(encodeServiceList([])), /expected a Status/);
});

Deno.test("protobuf: what is not a Kubernetes protobuf message is refused with a reason", () => {
  const cases: [Uint8Array, RegExp][] = [
    [new TextEncoder().encode('{"kind":"ServiceList"}'), /no k8s\\0 prefix/],
    [new Uint8Array([0x6b, 0x38]), /no k8s\\0 prefix/],
    [envelope("PodList", new Uint8Array()), /expected a ServiceList, got PodList/],
    [envelope("ServiceList", new Uint8Array(), "gzip"), /content encoding gzip/],
    // A group (wire type 3), which Kubernetes never sends.
    [envelope("ServiceList", new Uint8Array([(5 << 3) | 3])), /wire type 3/],
    // An item whose length runs past the list.
    [envelope("ServiceList", new Uint8Array([(2 << 3) | 2, 50, 0])), /runs past/],
    // Field number 0.
    [envelope("ServiceList", new Uint8Array([0, 0])), /field number 0/],
    // A string field sent as a varint.
    [
      envelope("ServiceList", new Uint8Array([(1 << 3) | 2, 2, (3 << 3) | 0, 1])),
      /where a string was expected/,
    ],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => decodeServiceList(bytes), (e: unknown) => {
      assert.ok(e instanceof ProtoDecodeError, String(e));
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("protobuf: every cut of a valid page before its object ends fails", () => {
  const bytes = encodeServiceList(services, { continue: "c" });
  const { raw } = unwrap(bytes);
  const rawEnd = bytes.length - 4; // then contentEncoding "" and contentType "", 2 bytes each
  assert.equal(raw.length > 0, true);
  for (let cut = 0; cut < rawEnd; cut++) {
    assert.throws(() => decodeServiceList(bytes.subarray(0, cut)), ProtoDecodeError, `cut ${cut}`);
  }
});

Deno.test("protobuf: fuzz (fixed seed): only ProtoDecodeError, cut pages fail", () => {
  const { iterations, failures } = runProtobufFuzz(0x5eed, 1500);
  assert.equal(iterations, 1500);
  assert.deepEqual(failures.map((f) => `${f.property}: ${f.detail}`), []);
});

const nodes: NodeJson[] = [
  { metadata: { name: "n-0" }, spec: { podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24"] } },
  {
    metadata: { name: "n-dual" },
    spec: { podCIDR: "10.244.2.0/24", podCIDRs: ["10.244.2.0/24", "fd00:10:244:2::/64"] },
    images: 40,
  },
  // An old server: podCIDR only; a node with no range (IPAM outside Kubernetes).
  { metadata: { name: "n-old" }, spec: { podCIDR: "10.244.3.0/24" } },
  { metadata: { name: "n-none" }, spec: { providerID: "aws:///eu-west-1a/i-0abc" }, images: 3 },
];

Deno.test("protobuf: a NodeList page gives each node's name and pod ranges, as its JSON does", () => {
  const bytes = encodeNodeList(nodes, { resourceVersion: "9", continue: "more" });
  const page = decodeNodeList(bytes);
  assert.equal(page.resourceVersion, "9");
  assert.equal(page.continue, "more");
  assert.deepEqual(
    page.items,
    nodes.map((n) => decodeNode({ metadata: n.metadata, spec: n.spec })),
  );
  assert.deepEqual(page.items.map((n) => n.podCIDRs), [
    ["10.244.1.0/24"],
    ["10.244.2.0/24", "fd00:10:244:2::/64"],
    ["10.244.3.0/24"],
    [],
  ]);
  // The images (most of a real node) are skipped, and the kind is checked.
  assert.ok(bytes.length > 40 * 90, String(bytes.length));
  assert.throws(() => decodeServiceList(bytes), /expected a ServiceList, got NodeList/);
  assert.throws(() => decodeNodeList(encodeServiceList(services)), /expected a NodeList/);
});

Deno.test("protobuf: every cut of a NodeList page before its object ends fails", () => {
  const bytes = encodeNodeList(nodes.slice(0, 2));
  for (let cut = 0; cut < bytes.length - 4; cut++) {
    assert.throws(() => decodeNodeList(bytes.subarray(0, cut)), ProtoDecodeError, `cut ${cut}`);
  }
});

const pods: PodJson[] = [
  {
    metadata: { namespace: "demo", name: "web-0", annotations: { note: "y".repeat(600) } },
    spec: { nodeName: "n-0", env: 10 },
    status: { podIP: "10.244.1.5", podIPs: [{ ip: "10.244.1.5" }] },
  },
  {
    metadata: { namespace: "demo", name: "dual" },
    spec: { nodeName: "n-0", env: 2 },
    status: { podIP: "10.244.1.6", podIPs: [{ ip: "10.244.1.6" }, { ip: "fd00:10:244:1::6" }] },
  },
  // hostNetwork: its address is its node's.
  {
    metadata: { namespace: "kube-system", name: "proxy" },
    spec: { nodeName: "n-0", hostNetwork: true },
    status: { podIP: "192.0.2.10", podIPs: [{ ip: "192.0.2.10" }] },
  },
  // Pending: no address yet. An old server: podIP alone.
  { metadata: { namespace: "demo", name: "pending" }, spec: {}, status: { phase: "Pending" } },
  { metadata: { namespace: "old", name: "legacy" }, spec: {}, status: { podIP: "10.244.2.7" } },
];

Deno.test("protobuf: a PodList page gives each pod's addresses and the count left, as JSON does", () => {
  const bytes = encodePodList(pods, { continue: "next", remainingItemCount: 11_995 });
  const page = decodePodAddressList(bytes);
  assert.equal(page.continue, "next");
  assert.equal(page.remainingItemCount, 11_995);
  assert.deepEqual(page.items, pods.map((p) => podAddressesOf(p)));
  assert.deepEqual(page.items, [
    { ips: ["10.244.1.5"], hostNetwork: false },
    { ips: ["10.244.1.6", "fd00:10:244:1::6"], hostNetwork: false },
    { ips: ["192.0.2.10"], hostNetwork: true },
    { ips: [], hostNetwork: false },
    { ips: ["10.244.2.7"], hostNetwork: false },
  ]);
  // Without remainingItemCount (the last page): none.
  assert.equal(decodePodAddressList(encodePodList(pods.slice(0, 1))).remainingItemCount, undefined);
  assert.throws(() => decodePodAddressList(encodeServiceList(services)), /expected a PodList/);
});

Deno.test("protobuf: a pod's env, annotations and managedFields are skipped, however large", () => {
  const big: PodJson = {
    metadata: { namespace: "demo", name: "n".repeat(253), annotations: { a: "z".repeat(300_000) } },
    spec: { env: 5_000 },
    status: { podIP: "10.244.9.9", podIPs: [{ ip: "10.244.9.9" }] },
  };
  const bytes = encodePodList([big, big]);
  assert.ok(bytes.length > 600_000, String(bytes.length));
  const page = decodePodAddressList(bytes);
  assert.deepEqual(page.items, [
    { ips: ["10.244.9.9"], hostNetwork: false },
    { ips: ["10.244.9.9"], hostNetwork: false },
  ]);
  // One copy of a repeated address per page.
  assert.equal(page.items[0].ips[0], page.items[1].ips[0]);
});

Deno.test("protobuf: every cut of a PodList page before its object ends fails", () => {
  const bytes = encodePodList(pods.slice(0, 3), { remainingItemCount: 7 });
  for (let cut = 0; cut < bytes.length - 4; cut++) {
    assert.throws(
      () => decodePodAddressList(bytes.subarray(0, cut)),
      ProtoDecodeError,
      `cut ${cut}`,
    );
  }
});

Deno.test("protobuf: a pod's hostNetwork of the wrong wire type is refused", () => {
  // PodSpec field 11 as a string instead of a bool.
  const w = pb.Writer.create();
  w.uint32((2 << 3) | 2).fork(); // an item
  w.uint32((2 << 3) | 2).fork().uint32((11 << 3) | 2).string("true").ldelim();
  w.ldelim();
  const bytes = new Uint8Array([0x6b, 0x38, 0x73, 0x00, ...unwrapFree("PodList", w.finish())]);
  assert.throws(() => decodePodAddressList(bytes), /wire type 2 for hostNetwork/);
});

/** runtime.Unknown { typeMeta { kind }, raw } without the magic. */
function unwrapFree(kind: string, raw: Uint8Array): Uint8Array {
  const w = pb.Writer.create();
  w.uint32((1 << 3) | 2).fork().uint32((2 << 3) | 2).string(kind).ldelim();
  w.uint32((2 << 3) | 2).bytes(raw);
  return w.finish();
}
