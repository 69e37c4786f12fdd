/**
 * Routing of SOCKS destinations (src/route/resolve.ts) over a ClusterIndex built from raw API
 * JSON, decoded with the same decoders the watches use.
 */
import assert from "node:assert/strict";
import type { ClusterIndex } from "../../../src/cluster/index.ts";
import { staticIndex, type StaticPodSource } from "../../helpers/static_source.ts";
import { decodePod, decodeService, decodeSlice, type PodInfo } from "../../../src/kube/objects.ts";
import {
  resolveDestination,
  resolveIp,
  type ResolveOptions,
  type Route,
  targetPortOf,
} from "../../../src/route/resolve.ts";
import { formatCidr, parseCidr } from "../../../src/net/ip.ts";

// ---------------------------------------------------------------------------------------------
// Raw API objects, shaped like `kubectl get -o json` output.

interface PodSpec {
  ns?: string;
  name: string;
  ips: string[];
  phase?: string;
  ready?: boolean;
  deleting?: boolean;
  hostNetwork?: boolean;
  labels?: Record<string, string>;
  ports?: { name?: string; containerPort: number; protocol?: string }[];
}

let uid = 0;
const nextUid = () => `0b7c3a1e-0000-4000-8000-${(++uid).toString().padStart(12, "0")}`;

function rawPod(p: PodSpec): unknown {
  const ready = p.ready ?? true;
  const condition = (type: string, status: boolean) => ({
    type,
    status: status ? "True" : "False",
    lastProbeTime: null,
    lastTransitionTime: "2025-11-20T10:00:00Z",
  });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: p.name,
      namespace: p.ns ?? "demo",
      uid: nextUid(),
      resourceVersion: "48213",
      creationTimestamp: "2025-11-20T09:59:00Z",
      labels: p.labels ?? {},
      ...(p.deleting ? { deletionTimestamp: "2025-11-20T11:00:00Z" } : {}),
    },
    spec: {
      nodeName: "kind-worker",
      ...(p.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{
        name: "main",
        image: "registry.example/app:1.0",
        ports: (p.ports ?? []).map((port) => ({ protocol: "TCP", ...port })),
      }, { name: "sidecar", image: "registry.example/sidecar:1.0" }],
    },
    status: {
      phase: p.phase ?? "Running",
      conditions: [
        condition("Initialized", true),
        condition("Ready", ready),
        condition("ContainersReady", ready),
        condition("PodScheduled", true),
      ],
      hostIP: "172.18.0.3",
      podIP: p.ips[0],
      podIPs: p.ips.map((ip) => ({ ip })),
    },
  };
}

interface ServiceSpec {
  ns?: string;
  name: string;
  type?: string;
  clusterIP?: string;
  externalName?: string;
  selector?: Record<string, string>;
  ports?: { name?: string; port: number; protocol?: string; targetPort?: number | string }[];
}

function rawService(s: ServiceSpec): unknown {
  const spec: Record<string, unknown> = {
    type: s.type ?? "ClusterIP",
    sessionAffinity: "None",
    ports: (s.ports ?? []).map((p) => ({ protocol: "TCP", ...p })),
  };
  if (s.clusterIP) {
    spec.clusterIP = s.clusterIP;
    spec.clusterIPs = [s.clusterIP];
    spec.ipFamilies = ["IPv4"];
  }
  if (s.selector) spec.selector = s.selector;
  if (s.externalName) spec.externalName = s.externalName;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: s.name, namespace: s.ns ?? "demo", uid: nextUid(), resourceVersion: "512" },
    spec,
    status: { loadBalancer: {} },
  };
}

interface EndpointSpec {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  pod?: string;
}

function rawSlice(s: {
  ns?: string;
  name: string;
  service: string;
  addressType?: string;
  ports?: { name?: string; port: number; protocol?: string }[] | null;
  endpoints: EndpointSpec[] | null;
}): unknown {
  const ns = s.ns ?? "demo";
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: s.name,
      namespace: ns,
      uid: nextUid(),
      labels: {
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        "kubernetes.io/service-name": s.service,
      },
      ownerReferences: [{ apiVersion: "v1", kind: "Service", name: s.service, uid: nextUid() }],
    },
    addressType: s.addressType ?? "IPv4",
    ports: s.ports === null ? null : (s.ports ?? []).map((p) => ({ protocol: "TCP", ...p })),
    endpoints: s.endpoints === null ? null : s.endpoints.map((e) => ({
      addresses: e.addresses,
      conditions: e.conditions ?? { ready: true, serving: true, terminating: false },
      ...(e.hostname ? { hostname: e.hostname } : {}),
      ...(e.pod ? { targetRef: { kind: "Pod", namespace: ns, name: e.pod, uid: nextUid() } } : {}),
      nodeName: "kind-worker",
      zone: "zone-a",
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// The cluster used by most tests.

const webPorts = [{ name: "http", containerPort: 8080 }, {
  name: "admin-port",
  containerPort: 9000,
}];

const PODS = [
  rawPod({
    name: "web-1",
    ips: ["10.244.0.5", "fd00:10:244::5"],
    labels: { app: "web" },
    ports: webPorts,
  }),
  rawPod({ name: "web-2", ips: ["10.244.1.7"], labels: { app: "web" }, ports: webPorts }),
  rawPod({
    name: "web-3",
    ips: ["10.244.2.9"],
    ready: false,
    labels: { app: "web" },
    ports: webPorts,
  }),
  rawPod({
    name: "web-4",
    ips: ["10.244.2.10"],
    deleting: true,
    labels: { app: "web" },
    ports: webPorts,
  }),
  rawPod({ name: "done-job", ips: ["10.244.3.3"], phase: "Succeeded", ready: false }),
  rawPod({ name: "failed-job", ips: ["10.244.3.4"], phase: "Failed", ready: false }),
  rawPod({
    ns: "monitoring",
    name: "node-exporter-x1",
    ips: ["192.168.49.2"],
    hostNetwork: true,
    ports: [{ name: "metrics", containerPort: 9100 }],
  }),
  rawPod({
    name: "api-1",
    ips: ["10.244.0.30"],
    labels: { app: "api", tier: "backend" },
    ports: [{ name: "grpc", containerPort: 9091 }, {
      name: "dns",
      containerPort: 53,
      protocol: "UDP",
    }],
  }),
  rawPod({
    name: "api-2",
    ips: ["10.244.0.31"],
    ready: false,
    labels: { app: "api", tier: "backend" },
    ports: [{ name: "grpc", containerPort: 9091 }],
  }),
  rawPod({ name: "api-other", ips: ["10.244.0.32"], labels: { app: "api", tier: "frontend" } }),
  rawPod({ ns: "other", name: "other-1", ips: ["10.244.5.5"], labels: { app: "web" } }),
];

const SERVICES = [
  rawService({
    name: "web",
    clusterIP: "10.96.0.10",
    selector: { app: "web" },
    ports: [
      { name: "http", port: 80, targetPort: 8080 },
      { name: "admin", port: 81, targetPort: "admin-port" },
    ],
  }),
  rawService({
    name: "web-headless",
    clusterIP: "None",
    selector: { app: "web" },
    ports: [{ name: "http", port: 80, targetPort: 8080 }],
  }),
  rawService({
    name: "empty",
    clusterIP: "10.96.0.20",
    selector: { app: "nothing" },
    ports: [{ port: 80, targetPort: 8080 }],
  }),
  rawService({
    name: "external",
    type: "ExternalName",
    externalName: "db.example.com.",
    ports: [{ port: 5432 }],
  }),
  rawService({
    name: "api",
    clusterIP: "10.96.0.40",
    selector: { app: "api", tier: "backend" },
    ports: [
      { name: "a", port: 80, targetPort: 9090 },
      { name: "b", port: 81, targetPort: "grpc" },
      { name: "c", port: 82 },
      { name: "d", port: 83, targetPort: "nope" },
    ],
  }),
  rawService({
    name: "api-headless",
    clusterIP: "None",
    selector: { app: "api", tier: "backend" },
  }),
  rawService({ name: "manual", clusterIP: "10.96.0.50", ports: [{ port: 5432 }] }),
  rawService({
    name: "dns",
    clusterIP: "10.96.0.53",
    selector: { app: "api" },
    ports: [{ name: "dns", port: 53, protocol: "UDP" }],
  }),
  rawService({
    ns: "other",
    name: "web",
    clusterIP: "10.96.5.5",
    selector: { app: "web" },
    ports: [{ name: "http", port: 80, targetPort: 8080 }],
  }),
];

const SLICES = [
  rawSlice({
    name: "web-abc12",
    service: "web",
    ports: [{ name: "http", port: 8080 }, { name: "admin", port: 9000 }],
    endpoints: [
      { addresses: ["10.244.1.7"], pod: "web-2" },
      { addresses: ["10.244.0.5"], pod: "web-1" },
      {
        addresses: ["10.244.2.9"],
        pod: "web-3",
        conditions: { ready: false, serving: false, terminating: false },
      },
      // Terminating, with `ready` left out (which counts as ready): only `terminating` excludes it.
      {
        addresses: ["10.244.2.10"],
        pod: "web-4",
        conditions: { serving: true, terminating: true },
      },
    ],
  }),
  rawSlice({
    name: "web-v6xyz",
    service: "web",
    addressType: "IPv6",
    ports: [{ name: "http", port: 8080 }, { name: "admin", port: 9000 }],
    endpoints: [{ addresses: ["fd00:10:244::5"], pod: "web-1" }],
  }),
  rawSlice({
    name: "web-headless-7k2p",
    service: "web-headless",
    ports: [{ name: "http", port: 8080 }],
    endpoints: [
      { addresses: ["10.244.0.5"], pod: "web-1", hostname: "host" },
      { addresses: ["10.244.1.7"], pod: "web-2" },
      {
        addresses: ["10.244.2.9"],
        pod: "web-3",
        conditions: { ready: false, serving: false, terminating: false },
      },
    ],
  }),
  rawSlice({ name: "empty-q8", service: "empty", ports: null, endpoints: null }),
  // Manual endpoints: no targetRef, only an address; the port is unnamed.
  rawSlice({
    name: "manual-1",
    service: "manual",
    ports: [{ name: "", port: 5432 }],
    endpoints: [{ addresses: ["10.244.1.7"] }],
  }),
  rawSlice({
    ns: "other",
    name: "web-zz",
    service: "web",
    ports: [{ name: "http", port: 8080 }],
    endpoints: [{ addresses: ["10.244.5.5"], pod: "other-1" }],
  }),
];

/** The static source behind each index buildIndex made. */
const sources = new WeakMap<ClusterIndex, StaticPodSource>();

function buildIndex(
  declared: string[] = [],
  order: "forward" | "reverse" = "forward",
): ClusterIndex {
  const { index, source } = staticIndex(declared.map(parseCidr));
  const arrange = <T>(items: T[]) => order === "forward" ? items : [...items].reverse();
  source.replacePods(arrange(PODS).map(decodePod));
  index.replaceAll("services", arrange(SERVICES).map(decodeService));
  for (const s of arrange(SLICES)) source.putSlice(decodeSlice(s));
  sources.set(index, source);
  return index;
}

const OPTS: ResolveOptions = { namespace: "demo", clusterDomain: "cluster.local" };

async function route(
  host: string,
  port: number,
  opts: ResolveOptions = OPTS,
  index = buildIndex(),
) {
  return await resolveDestination(index, host, port, opts);
}

const t = (pod: string, port: number, namespace = "demo") => ({ namespace, pod, port });

function podRoute(pod: string, port: number, namespace = "demo"): Route {
  return {
    kind: "cluster",
    via: `pod ${namespace}/${pod}`,
    targets: [t(pod, port, namespace)],
    spreadKey: `pod/${namespace}/${pod}`,
  };
}

const WEB_80: Route = {
  kind: "cluster",
  via: "service demo/web:80",
  targets: [t("web-1", 8080), t("web-2", 8080)],
  spreadKey: "svc/demo/web:80",
};

const unknownHost = (name: string): Route => ({
  kind: "reject",
  failure: "unknown-host",
  reason: `no service or pod in the cluster is called ${name}`,
});

const unknownIp = (ip: string): Route => ({
  kind: "reject",
  failure: "unknown-host",
  reason: `no pod or service in the cluster has IP ${ip}`,
});

// ---------------------------------------------------------------------------------------------
// IP destinations

Deno.test("resolve: a pod IP goes to that pod, on the requested port", async () => {
  assert.deepEqual(await route("10.244.0.5", 8080), podRoute("web-1", 8080));
  assert.deepEqual(await route("10.244.1.7", 3000), podRoute("web-2", 3000));
  // Not ready and terminating pods are still the owners of their IP.
  assert.deepEqual(await route("10.244.2.9", 8080), podRoute("web-3", 8080));
  assert.deepEqual(await route("10.244.2.10", 8080), podRoute("web-4", 8080));
  assert.deepEqual(await route("10.244.5.5", 8080), podRoute("other-1", 8080, "other"));
});

Deno.test("resolve: ClusterIP:port goes to the ready endpoint pods on the slice's port", async () => {
  assert.deepEqual(await route("10.96.0.10", 80), WEB_80);
  // The named targetPort "admin-port" is already resolved to 9000 in the slice.
  assert.deepEqual(await route("10.96.0.10", 81), {
    kind: "cluster",
    via: "service demo/web:81",
    targets: [t("web-1", 9000), t("web-2", 9000)],
    spreadKey: "svc/demo/web:81",
  });
  assert.deepEqual(await route("10.96.5.5", 80), {
    kind: "cluster",
    via: "service other/web:80",
    targets: [t("other-1", 8080, "other")],
    spreadKey: "svc/other/web:80",
  });
});

Deno.test("resolve: a port the service lacks is rejected as no-port", async () => {
  assert.deepEqual(await route("10.96.0.10", 443), {
    kind: "reject",
    failure: "no-port",
    reason: "service demo/web has no TCP port 443 (it has: 80, 81)",
  });
  // A UDP port is not a TCP port.
  assert.deepEqual(await route("10.96.0.53", 53), {
    kind: "reject",
    failure: "no-port",
    reason: "service demo/dns has no TCP port 53 (it has: none)",
  });
});

Deno.test("resolve: a service without ready endpoints is rejected as no-endpoints", async () => {
  const expected: Route = {
    kind: "reject",
    failure: "no-endpoints",
    reason: "service demo/empty has no ready endpoints",
  };
  assert.deepEqual(await route("10.96.0.20", 80), expected);
  assert.deepEqual(await route("empty", 80), expected);
});

Deno.test("resolve: not-ready and terminating endpoints are skipped, even when alone", async () => {
  const { index, source } = staticIndex();
  source.replacePods(
    [
      rawPod({ name: "a", ips: ["10.244.0.1"], ready: false }),
      rawPod({ name: "b", ips: ["10.244.0.2"], deleting: true }),
    ].map(decodePod),
  );
  index.upsert(
    "services",
    decodeService(rawService({ name: "s", clusterIP: "10.96.0.1", ports: [{ port: 80 }] })),
  );
  const slice = (endpoints: EndpointSpec[]) =>
    decodeSlice(rawSlice({ name: "s-1", service: "s", ports: [{ port: 80 }], endpoints }));
  source.putSlice(
    slice([
      { addresses: ["10.244.0.1"], pod: "a", conditions: { ready: false } },
      { addresses: ["10.244.0.2"], pod: "b", conditions: { ready: true, terminating: true } },
    ]),
  );
  const none: Route = {
    kind: "reject",
    failure: "no-endpoints",
    reason: "service demo/s has no ready endpoints",
  };
  assert.deepEqual(await resolveDestination(index, "10.96.0.1", 80, OPTS), none);
  // Once an endpoint turns ready, it is used.
  source.putSlice(slice([{ addresses: ["10.244.0.1"], pod: "a", conditions: {} }]));
  assert.deepEqual(await resolveDestination(index, "10.96.0.1", 80, OPTS), {
    kind: "cluster",
    via: "service demo/s:80",
    targets: [t("a", 80)],
    spreadKey: "svc/demo/s:80",
  });
});

Deno.test("resolve: IPs in the observed cluster ranges that match nothing are rejected", async () => {
  const index = buildIndex();
  assert.deepEqual(index.clusterRanges().map(formatCidr).sort(), [
    "10.244.0.0/16",
    "10.96.0.0/16",
    "fd00:10:244::/64",
  ]);
  for (const ip of ["10.244.99.99", "10.96.7.7", "10.244.255.255", "fd00:10:244::99"]) {
    assert.deepEqual(await route(ip, 80, OPTS, index), unknownIp(ip));
  }
  // Outside: straight out. The hostNetwork pod's node IP is not a cluster IP.
  for (const ip of ["10.97.0.1", "8.8.8.8", "192.168.49.2", "2001:db8::1", "127.0.0.1"]) {
    assert.deepEqual(await route(ip, 443, OPTS, index), { kind: "direct", host: ip, port: 443 });
  }
});

Deno.test("resolve: declared ranges replace the observed ones", async () => {
  const index = buildIndex(["10.96.0.0/12", "192.168.0.0/16"]);
  assert.deepEqual(index.clusterRanges().map(formatCidr), ["10.96.0.0/12", "192.168.0.0/16"]);
  // Pods and services are still found by IP, wherever they are.
  assert.deepEqual(await route("10.244.0.5", 8080, OPTS, index), podRoute("web-1", 8080));
  assert.deepEqual(await route("10.96.0.10", 80, OPTS, index), WEB_80);
  // Inside the declared ranges: refused; outside them (even if "observed"): direct.
  assert.deepEqual(await route("10.100.0.1", 80, OPTS, index), unknownIp("10.100.0.1"));
  assert.deepEqual(await route("192.168.49.2", 80, OPTS, index), unknownIp("192.168.49.2"));
  assert.deepEqual(await route("10.244.99.99", 80, OPTS, index), {
    kind: "direct",
    host: "10.244.99.99",
    port: 80,
  });
  assert.deepEqual(await route("fd00:10:244::99", 80, OPTS, index), {
    kind: "direct",
    host: "fd00:10:244::99",
    port: 80,
  });
});

Deno.test("resolve: IPv6 pod IPs and IPv4-mapped IPv6 input", async () => {
  for (const ip of ["fd00:10:244::5", "FD00:10:244:0:0:0:0:5", "[fd00:10:244::5]"]) {
    assert.deepEqual(await route(ip, 8080), podRoute("web-1", 8080), ip);
  }
  for (const ip of ["::ffff:10.244.0.5", "::ffff:af4:5", "[::FFFF:10.244.0.5]"]) {
    assert.deepEqual(await route(ip, 8080), podRoute("web-1", 8080), ip);
  }
  assert.deepEqual(await route("::ffff:10.96.0.10", 80), WEB_80);
  // A mapped address outside the cluster goes out as plain IPv4.
  assert.deepEqual(await route("::ffff:8.8.8.8", 53), {
    kind: "direct",
    host: "8.8.8.8",
    port: 53,
  });
});

Deno.test("resolve: hostNetwork pods are not matched by IP", async () => {
  const index = buildIndex();
  assert.deepEqual(await index.podsByIp("192.168.49.2"), []);
  assert.equal(await resolveIp(index, "192.168.49.2", 9100), undefined);
  assert.equal(sources.get(index)!.pod("monitoring", "node-exporter-x1")?.hostNetwork, true);
  assert.ok(index.hasNamespace("monitoring"));
});

Deno.test("resolve: Succeeded and Failed pods are not matched", async () => {
  const index = buildIndex();
  assert.equal((await index.podsByIp("10.244.3.3")).length, 1);
  assert.equal(await resolveIp(index, "10.244.3.3", 80), undefined);
  assert.deepEqual(await route("10.244.3.3", 80, OPTS, index), unknownIp("10.244.3.3"));
  assert.deepEqual(await route("10.244.3.4", 80, OPTS, index), unknownIp("10.244.3.4"));
  assert.deepEqual(
    await route("10-244-3-3.demo.pod.cluster.local", 80, OPTS, index),
    unknownHost("10-244-3-3.demo.pod.cluster.local"),
  );
});

Deno.test("resolve: of two live pods sharing an IP, the ready one wins", async () => {
  const { index, source } = staticIndex();
  source.replacePods(
    [
      rawPod({ name: "old", ips: ["10.244.0.9"], deleting: true }),
      rawPod({ name: "new", ips: ["10.244.0.9"] }),
      rawPod({ name: "gone", ips: ["10.244.0.9"], phase: "Succeeded", ready: false }),
    ].map(decodePod),
  );
  assert.deepEqual(await resolveDestination(index, "10.244.0.9", 80, OPTS), podRoute("new", 80));
});

// ---------------------------------------------------------------------------------------------
// Names

Deno.test("resolve: every name form of a service", async () => {
  for (
    const name of [
      "web",
      "web.demo",
      "web.demo.svc",
      "web.demo.svc.cluster.local",
      "web.demo.svc.cluster.local.",
      "WEB.Demo.SVC.Cluster.Local",
      "Web.",
    ]
  ) {
    assert.deepEqual(await route(name, 80), WEB_80, name);
  }
});

Deno.test("resolve: short names are relative to opts.namespace", async () => {
  const inOther = { ...OPTS, namespace: "other" };
  const otherWeb: Route = {
    kind: "cluster",
    via: "service other/web:80",
    targets: [t("other-1", 8080, "other")],
    spreadKey: "svc/other/web:80",
  };
  assert.deepEqual(await route("web", 80, inOther), otherWeb);
  assert.deepEqual(await route("web.other", 80), otherWeb);
  // Qualified names ignore the default namespace.
  assert.deepEqual(await route("web.demo", 80, inOther), WEB_80);
  // A short name of a service that only exists elsewhere is answered from the cluster, with the
  // namespace used and the name that would work.
  assert.deepEqual(await route("api", 80, inOther), {
    kind: "reject",
    failure: "unknown-host",
    reason:
      "no service api in namespace other, which short names are looked up in; did you mean api.demo?",
  });
  // A short name no namespace has goes outside.
  assert.deepEqual(await route("nothing", 80, inOther), {
    kind: "direct",
    host: "nothing",
    port: 80,
  });
});

Deno.test("resolve: a custom cluster domain", async () => {
  const opts = { namespace: "demo", clusterDomain: "corp.internal" };
  assert.deepEqual(await route("web.demo.svc.corp.internal", 80, opts), WEB_80);
  assert.deepEqual(
    await route("nope.demo.svc.corp.internal", 80, opts),
    unknownHost("nope.demo.svc.corp.internal"),
  );
  // cluster.local is nothing special then.
  assert.deepEqual(await route("x.cluster.local", 80, opts), {
    kind: "direct",
    host: "x.cluster.local",
    port: 80,
  });
});

Deno.test("resolve: host.<headless service> picks the endpoint with that hostname", async () => {
  const expected: Route = {
    kind: "cluster",
    via: "host of service demo/web-headless",
    targets: [t("web-1", 8080)],
    spreadKey: "host/demo/web-headless/host:8080",
  };
  assert.deepEqual(await route("host.web-headless.demo.svc.cluster.local", 8080), expected);
  assert.deepEqual(await route("HOST.web-headless.demo.svc.", 8080), expected);
  assert.deepEqual(
    await route("nobody.web-headless.demo.svc.cluster.local", 8080),
    unknownHost("nobody.web-headless.demo.svc.cluster.local"),
  );
});

Deno.test("resolve: the dashed IP of an endpoint of a headless service", async () => {
  assert.deepEqual(await route("10-244-1-7.web-headless.demo.svc.cluster.local", 8080), {
    kind: "cluster",
    via: "10-244-1-7 of service demo/web-headless",
    targets: [t("web-2", 8080)],
    spreadKey: "host/demo/web-headless/10-244-1-7:8080",
  });
});

Deno.test("resolve: a-b-c-d.<ns>.pod.<domain> is the pod with that IP in that namespace", async () => {
  assert.deepEqual(await route("10-244-0-5.demo.pod.cluster.local", 8080), podRoute("web-1", 8080));
  assert.deepEqual(
    await route("10-244-5-5.other.pod.cluster.local.", 80),
    podRoute("other-1", 80, "other"),
  );
  for (
    const name of [
      "10-244-0-5.other.pod.cluster.local",
      "10-244-99-99.demo.pod.cluster.local",
      "web-1.demo.pod.cluster.local",
      "10.demo.pod.cluster.local",
    ]
  ) {
    assert.deepEqual(await route(name, 8080), unknownHost(name), name);
  }
});

Deno.test("resolve: unknown names under the cluster domain are rejected", async () => {
  for (
    const name of [
      "nothing.demo.svc.cluster.local",
      "web.nowhere.svc.cluster.local",
      "nothing.demo.svc",
      "web.demo.cluster.local",
      "foo.cluster.local",
      "a.b.c.d.e.cluster.local",
    ]
  ) {
    assert.deepEqual(await route(name, 80), unknownHost(name), name);
  }
});

Deno.test("resolve: x.<namespace ktctl sees> is the cluster's, answered with what it has", async () => {
  const answer = await route("nosuch.demo", 80);
  assert.equal(answer.kind, "reject");
  assert.match(
    (answer as { reason: string }).reason,
    /^no service nosuch in namespace demo \(it has: [a-z0-9-]+(, [a-z0-9-]+)*\)$/,
  );
  assert.match((answer as { reason: string }).reason, /\bweb\b/);
});

Deno.test("resolve: unknown one- and two-label names and outside names go direct", async () => {
  for (
    const [name, host] of [
      ["nothing", "nothing"],
      ["web.nowhere", "web.nowhere"],
      ["example.com", "example.com"],
      ["Example.COM.", "example.com"],
      ["www.example.com", "www.example.com"],
    ]
  ) {
    assert.deepEqual(await route(name, 443), { kind: "direct", host, port: 443 }, name);
  }
});

Deno.test("resolve: an ExternalName service is its target, for route.ts to decide", async () => {
  const expected: Route = {
    kind: "external-name",
    service: "demo/external",
    target: "db.example.com",
    port: 5432,
  };
  assert.deepEqual(await route("external", 5432), expected);
  assert.deepEqual(await route("external.demo.svc.cluster.local", 5432), expected);
});

Deno.test("resolve: a headless service by name goes to ready endpoint pods, requested port", async () => {
  for (const port of [8080, 9999]) {
    assert.deepEqual(await route("web-headless.demo.svc.cluster.local", port), {
      kind: "cluster",
      via: "service demo/web-headless (headless)",
      targets: [t("web-1", port), t("web-2", port)],
      spreadKey: `svc/demo/web-headless/*:${port}`,
    });
  }
  // Without slices, by selector: ready pods only.
  assert.deepEqual(await route("api-headless", 7000), {
    kind: "cluster",
    via: "service demo/api-headless (headless)",
    targets: [t("api-1", 7000)],
    spreadKey: "svc/demo/api-headless/*:7000",
  });
});

Deno.test("resolve: without slices, the selector picks ready pods and targetPort is mapped", async () => {
  const api = (port: number, target: number): Route => ({
    kind: "cluster",
    via: `service demo/api:${port}`,
    targets: [t("api-1", target)],
    spreadKey: `svc/demo/api:${port}`,
  });
  assert.deepEqual(await route("api", 80), api(80, 9090)); // numeric targetPort
  assert.deepEqual(await route("api", 81), api(81, 9091)); // named: the container port "grpc"
  assert.deepEqual(await route("10.96.0.40", 82), api(82, 82)); // absent: the service port
  assert.deepEqual(await route("api", 83), {
    kind: "reject",
    failure: "no-endpoints",
    reason: "service demo/api has no ready endpoints",
  });
});

Deno.test("resolve: manual endpoints are matched to pods by address", async () => {
  assert.deepEqual(await route("manual.demo", 5432), {
    kind: "cluster",
    via: "service demo/manual:5432",
    targets: [t("web-2", 5432)],
    spreadKey: "svc/demo/manual:5432",
  });
});

Deno.test("resolve: target order does not depend on the order objects arrived in", async () => {
  const forward = buildIndex([], "forward");
  const reverse = buildIndex([], "reverse");
  for (
    const [host, port] of [
      ["web", 80],
      ["web", 81],
      ["web-headless", 8080],
      ["10.244.0.5", 80],
      ["api", 81],
    ] as const
  ) {
    const a = await resolveDestination(forward, host, port, OPTS);
    assert.deepEqual(await resolveDestination(reverse, host, port, OPTS), a);
    assert.deepEqual(await resolveDestination(forward, host, port, OPTS), a);
  }
  // The slice lists web-2 first; targets are sorted by pod name.
  const web = await resolveDestination(reverse, "web", 80, OPTS);
  if (web.kind !== "cluster") throw new Error(`not a cluster route: ${JSON.stringify(web)}`);
  assert.deepEqual(web.targets, [t("web-1", 8080), t("web-2", 8080)]);
});

Deno.test("resolve: the index follows upserts and removals", async () => {
  const index = buildIndex();
  assert.equal(index.count("pods"), PODS.length);
  assert.equal(index.count("services"), SERVICES.length);
  assert.equal(sources.get(index)!.sliceCount(), SLICES.length);
  assert.equal(index.namespaceCount(), 3);
  assert.deepEqual((await index.slicesOf("demo", "web")).map((s) => s.name).sort(), [
    "web-abc12",
    "web-v6xyz",
  ]);
  sources.get(index)!.removePod("demo", "web-1");
  assert.deepEqual(await route("10.244.0.5", 80, OPTS, index), unknownIp("10.244.0.5"));
  // The slice still names web-1, but the pod is gone.
  assert.deepEqual(await route("web", 80, OPTS, index), {
    kind: "cluster",
    via: "service demo/web:80",
    targets: [t("web-2", 8080)],
    spreadKey: "svc/demo/web:80",
  });
  sources.get(index)!.putPod(decodePod(rawPod({ name: "web-1", ips: ["10.244.0.6"] })));
  assert.deepEqual(await route("10.244.0.6", 80, OPTS, index), podRoute("web-1", 80));
  index.remove("services", "demo", "web");
  // Gone from demo, but namespace other has one: the answer says so.
  assert.deepEqual(await route("web", 80, OPTS, index), {
    kind: "reject",
    failure: "unknown-host",
    reason:
      "no service web in namespace demo, which short names are looked up in; did you mean web.other?",
  });
  assert.deepEqual(await route("10.96.0.10", 80, OPTS, index), unknownIp("10.96.0.10"));
});

// ---------------------------------------------------------------------------------------------
// targetPortOf

Deno.test("targetPortOf: numbers, names, and the service port as default", () => {
  const pod: PodInfo = decodePod(rawPod({
    name: "p",
    ips: ["10.244.0.1"],
    ports: [
      { name: "http", containerPort: 8080 },
      { name: "dns", containerPort: 5353, protocol: "UDP" },
      { name: "dns", containerPort: 5354 },
    ],
  }));
  const cases: [number | string | undefined, string, number | undefined][] = [
    [undefined, "TCP", 80],
    [0, "TCP", 80],
    ["", "TCP", 80],
    [8081, "TCP", 8081],
    ["8082", "TCP", 8082],
    ["http", "TCP", 8080],
    ["http", "UDP", undefined],
    ["dns", "UDP", 5353],
    ["dns", "TCP", 5354],
    ["missing", "TCP", undefined],
  ];
  for (const [targetPort, protocol, expected] of cases) {
    assert.equal(
      targetPortOf({ port: 80, protocol, targetPort }, pod),
      expected,
      `${targetPort}/${protocol}`,
    );
  }
});
