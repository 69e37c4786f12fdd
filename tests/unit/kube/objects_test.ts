/**
 * The defensive API JSON decoders of src/kube/objects.ts.
 */
import assert from "node:assert/strict";
import {
  decodeNode,
  decodePod,
  decodeService,
  decodeSlice,
  objectKey,
  resourceVersion,
} from "../../../src/kube/objects.ts";

Deno.test("objects: decodePod reads the fields routing needs", () => {
  const raw = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "web-1",
      namespace: "demo",
      uid: "5a1c0f3e-0000-4000-8000-000000000001",
      resourceVersion: "1001",
      labels: { app: "web", "pod-template-hash": "5d9f", bogus: 3 },
      deletionTimestamp: "2025-11-20T11:00:00Z",
    },
    spec: {
      nodeName: "node-a",
      containers: [
        {
          name: "main",
          ports: [
            { name: "http", containerPort: 8080, protocol: "TCP" },
            { containerPort: 9000 },
            { name: "udp", containerPort: 53, protocol: "UDP" },
            { name: "broken", containerPort: "80" },
          ],
        },
        { name: "sidecar" },
        { name: "metrics", ports: [{ name: "metrics", containerPort: 9100, protocol: "TCP" }] },
      ],
    },
    status: {
      phase: "Running",
      conditions: [
        { type: "ContainersReady", status: "True" },
        { type: "Ready", status: "True" },
      ],
      podIP: "10.244.0.5",
      podIPs: [{ ip: "10.244.0.5" }, { ip: "fd00:10:244::5" }],
    },
  };
  assert.deepEqual(decodePod(raw), {
    namespace: "demo",
    name: "web-1",
    uid: "5a1c0f3e-0000-4000-8000-000000000001",
    ips: ["10.244.0.5", "fd00:10:244::5"],
    ready: true,
    live: true,
    terminating: true,
    hostNetwork: false,
    nodeName: "node-a",
    ports: [
      { name: "http", port: 8080, protocol: "TCP" },
      { name: undefined, port: 9000, protocol: "TCP" },
      { name: "udp", port: 53, protocol: "UDP" },
      { name: "metrics", port: 9100, protocol: "TCP" },
    ],
    labels: { app: "web", "pod-template-hash": "5d9f" },
  });
  assert.equal(resourceVersion(raw), "1001");
  assert.deepEqual(objectKey(raw), { namespace: "demo", name: "web-1" });
});

Deno.test("objects: decodePod phases, readiness, podIP fallback and hostNetwork", () => {
  const pod = (phase: string | undefined, extra: Record<string, unknown> = {}) =>
    decodePod({
      metadata: { name: "p", namespace: "n" },
      spec: extra.spec ?? {},
      status: { phase, podIP: "10.0.0.1", ...(extra.status as object ?? {}) },
    });
  assert.equal(pod("Running").live, true);
  assert.equal(pod("Pending").live, true);
  assert.equal(pod("Succeeded").live, false);
  assert.equal(pod("Failed").live, false);
  assert.equal(pod("Unknown").live, false);
  assert.equal(pod(undefined).live, false);
  // podIPs missing: podIP is used.
  assert.deepEqual(pod("Running").ips, ["10.0.0.1"]);
  // Ready must be "True", not just present.
  assert.equal(
    pod("Running", { status: { conditions: [{ type: "Ready", status: "False" }] } }).ready,
    false,
  );
  assert.equal(pod("Running").ready, false);
  assert.equal(pod("Running", { spec: { hostNetwork: true } }).hostNetwork, true);
  assert.equal(pod("Running", { spec: { hostNetwork: "yes" } }).hostNetwork, false);
  assert.equal(pod("Running").terminating, false);
});

Deno.test("objects: decodeService for ClusterIP, headless and ExternalName services", () => {
  assert.deepEqual(
    decodeService({
      metadata: { name: "web", namespace: "demo" },
      spec: {
        type: "ClusterIP",
        clusterIP: "10.96.0.10",
        clusterIPs: ["10.96.0.10", "fd00:10:96::a"],
        selector: { app: "web" },
        ports: [
          { name: "http", port: 80, protocol: "TCP", targetPort: 8080 },
          { name: "admin", port: 81, targetPort: "admin-port" },
          { port: 82 },
          { name: "bad", port: "83" },
        ],
      },
    }),
    {
      namespace: "demo",
      name: "web",
      type: "ClusterIP",
      clusterIPs: ["10.96.0.10", "fd00:10:96::a"],
      headless: false,
      externalName: undefined,
      ports: [
        { name: "http", port: 80, protocol: "TCP", targetPort: 8080 },
        { name: "admin", port: 81, protocol: "TCP", targetPort: "admin-port" },
        { name: undefined, port: 82, protocol: "TCP", targetPort: undefined },
      ],
      selector: { app: "web" },
    },
  );
  const headless = decodeService({
    metadata: { name: "db", namespace: "demo" },
    spec: { clusterIP: "None", clusterIPs: ["None"], selector: {} },
  });
  assert.equal(headless.headless, true);
  assert.deepEqual(headless.clusterIPs, []);
  assert.equal(headless.type, "ClusterIP");
  assert.equal(headless.selector, undefined);
  // clusterIP alone (older objects) is read too.
  assert.deepEqual(decodeService({ spec: { clusterIP: "10.96.0.1" } }).clusterIPs, ["10.96.0.1"]);
  const external = decodeService({
    metadata: { name: "ext", namespace: "demo" },
    spec: { type: "ExternalName", externalName: "db.example.com." },
  });
  assert.equal(external.type, "ExternalName");
  assert.equal(external.externalName, "db.example.com.");
  assert.equal(external.headless, false);
  assert.deepEqual(external.clusterIPs, []);
});

Deno.test("objects: decodeSlice conditions, targetRef and port names", () => {
  assert.deepEqual(
    decodeSlice({
      metadata: {
        name: "web-abc",
        namespace: "demo",
        labels: { "kubernetes.io/service-name": "web" },
      },
      addressType: "IPv4",
      ports: [{ name: "", port: 8080, protocol: "TCP" }, { name: "admin", port: 9000 }, {
        name: "x",
      }],
      endpoints: [
        {
          addresses: ["10.244.0.5"],
          conditions: { ready: true, serving: true, terminating: false },
          hostname: "web-1",
          targetRef: { kind: "Pod", namespace: "demo", name: "web-1", uid: "u-1" },
        },
        { addresses: ["10.244.1.7"], conditions: {} },
        {
          addresses: ["10.244.2.9", 7],
          conditions: { ready: false, terminating: true },
          targetRef: { kind: "Node", name: "kind-worker" },
        },
      ],
    }),
    {
      namespace: "demo",
      name: "web-abc",
      serviceName: "web",
      ports: [
        { name: undefined, port: 8080, protocol: "TCP" },
        { name: "admin", port: 9000, protocol: "TCP" },
      ],
      endpoints: [
        {
          addresses: ["10.244.0.5"],
          ready: true,
          terminating: false,
          hostname: "web-1",
          podName: "web-1",
          podUid: "u-1",
        },
        {
          addresses: ["10.244.1.7"],
          ready: true,
          terminating: false,
          hostname: undefined,
          podName: undefined,
          podUid: undefined,
        },
        {
          addresses: ["10.244.2.9"],
          ready: false,
          terminating: true,
          hostname: undefined,
          podName: undefined,
          podUid: undefined,
        },
      ],
    },
  );
});

Deno.test("objects: decoders accept garbage without throwing", () => {
  for (const raw of [null, undefined, 42, "pod", [], { metadata: [], spec: null, status: 7 }]) {
    assert.deepEqual(decodePod(raw), {
      namespace: "",
      name: "",
      uid: undefined,
      ips: [],
      ready: false,
      live: false,
      terminating: false,
      hostNetwork: false,
      nodeName: undefined,
      ports: [],
      labels: {},
    });
    assert.deepEqual(decodeNode(raw), { name: "", podCIDRs: [] });
    assert.deepEqual(decodeService(raw), {
      namespace: "",
      name: "",
      type: "ClusterIP",
      clusterIPs: [],
      headless: false,
      externalName: undefined,
      ports: [],
      selector: undefined,
    });
    assert.deepEqual(decodeSlice(raw), {
      namespace: "",
      name: "",
      serviceName: "",
      ports: [],
      endpoints: [],
    });
    assert.equal(resourceVersion(raw), undefined);
  }
});

Deno.test("objects: decodeNode reads podCIDRs, or podCIDR alone from older servers", () => {
  const node = (spec: unknown) => decodeNode({ metadata: { name: "n" }, spec });
  assert.deepEqual(node({ podCIDR: "10.244.1.0/24", podCIDRs: ["10.244.1.0/24", "fd00::/64"] }), {
    name: "n",
    podCIDRs: ["10.244.1.0/24", "fd00::/64"],
  });
  assert.deepEqual(node({ podCIDR: "10.244.2.0/24" }).podCIDRs, ["10.244.2.0/24"]);
  assert.deepEqual(node({ podCIDRs: [7, "", null] }).podCIDRs, []);
  assert.deepEqual(node({ providerID: "aws:///i-0" }).podCIDRs, []);
});
