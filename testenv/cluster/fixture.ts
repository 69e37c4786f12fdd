/**
 * The objects `deno task cluster up` applies, as constants tests and benchmarks import instead of
 * hard-coding names and ports, plus the manifest builder itself.
 *
 * Pod IPs are fake (kwok assigns them from POD_CIDR) and are never dialled: every pod port that
 * answers is a kwok `PortForward` to a loopback server run by `backends.ts`, one loopback port
 * per (pod, port) so the servers can say which pod answered.
 */

/** Name of the kwokctl cluster. */
export const CLUSTER_NAME = "ktctl";
/**
 * Fake pod IPs, never dialled: each node gets a /24 of this range as spec.podCIDR and kwok
 * assigns pod IPs from the pod's node range (or KWOK_FALLBACK_POD_CIDR). Disjoint from
 * SERVICE_CIDR.
 */
export const POD_CIDR = "10.244.0.0/16";
/** kwok-controller `--cidr`: pod IPs on a node without spec.podCIDR. */
export const KWOK_FALLBACK_POD_CIDR = "10.244.0.0/24";
/** kube-apiserver / kube-controller-manager `--service-cluster-ip-range`. */
export const SERVICE_CIDR = "10.96.0.0/16";
/** Fake nodes managed by kwok (pods are bound to them with spec.nodeName; no scheduler). */
export const NODES = ["kwok-node-0", "kwok-node-1"] as const;
/** spec.podCIDR of each node in NODES. */
export const NODE_POD_CIDRS = ["10.244.1.0/24", "10.244.2.0/24"] as const;

export const NAMESPACES = { demo: "demo", other: "other" } as const;

/** Pod ports the loopback servers implement. */
export const POD_PORTS = {
  /** HTTP: 200, body `pod=<ns>/<pod>\n<request line>\nHost: <host>\n`. */
  http: 8080,
  /** TCP echo: writes `pod=<ns>/<pod>\n`, then echoes until the client half-closes. */
  echo: 9000,
  /** Bulk source/sink: `GET <n>\n` -> n bytes then close; `PUT <n>\n` -> reads n, `OK <n>\n`. */
  bulk: 9100,
  /**
   * Bulk over HTTP/1.1 (for HTTP proxies' absolute-form requests): `GET /<n>` -> 200 with n
   * bytes; `PUT /<n>` with an n-byte body -> 200 `OK <n>\n`. Keep-alive honoured.
   */
  bulkHttp: 9180,
  /** HTTPS: the `http` server's answers over TLS, with the certificate `TLS.certNames` names. */
  https: 8443,
} as const;

/** demo/web-0..2 behind Service `web` and the headless Service `web-headless`. */
export const WEB = {
  namespace: NAMESPACES.demo,
  pods: ["web-0", "web-1", "web-2"],
  labels: { app: "web" },
  service: "web",
  headlessService: "web-headless",
  /** Service `web` port `http`: 80 -> integer targetPort 8080. */
  httpServicePort: 80,
  httpPortName: "http",
  httpTargetPort: POD_PORTS.http,
  /** Service `web` port named `tcp`: 9000 -> named targetPort `echo` (container port 9000). */
  tcpServicePort: 9000,
  tcpPortName: "tcp",
  echoContainerPortName: "echo",
  echoTargetPort: POD_PORTS.echo,
} as const;

/** demo/refuser: its port 8080 refuses connections (the forward targets a closed loopback port). */
export const REFUSER = {
  namespace: NAMESPACES.demo,
  pod: "refuser",
  service: "refuser",
  labels: { app: "refuser" },
  servicePort: 80,
  targetPort: POD_PORTS.http,
  /** Loopback port the kwok forward dials; nothing listens there (checked by `up`). */
  refusedLoopbackPort: 1,
} as const;

/** demo/empty: a Service whose selector matches no pod at all (empty EndpointSlice). */
export const EMPTY = {
  namespace: NAMESPACES.demo,
  service: "empty",
  selector: { app: "nothing-matches-this" },
  servicePort: 80,
  targetPort: POD_PORTS.http,
} as const;

/** demo/bulk: TCP source/sink on 9100 (also behind Service `bulk`, port 9100). */
export const BULK = {
  namespace: NAMESPACES.demo,
  pod: "bulk",
  service: "bulk",
  labels: { app: "bulk" },
  port: POD_PORTS.bulk,
  portName: "bulk",
} as const;

/**
 * demo/bulk-http behind Service `bulk-http` (80 -> 9180): bulk transfers over HTTP, for the
 * bench's absolute-form rows. A pod of its own rather than a port of `bulk`: pods are immutable,
 * and an older fixture applied by `up` would take a port back out of `bulk`'s objects.
 */
export const BULK_HTTP = {
  namespace: NAMESPACES.demo,
  pod: "bulk-http",
  service: "bulk-http",
  labels: { app: "bulk-http" },
  servicePort: 80,
  port: POD_PORTS.bulkHttp,
  portName: "http",
} as const;

/** other/api-0, api-1 behind Service `api` (80 -> 8080). */
export const API = {
  namespace: NAMESPACES.other,
  pods: ["api-0", "api-1"],
  labels: { app: "api" },
  service: "api",
  servicePort: 80,
  portName: "http",
  targetPort: POD_PORTS.http,
} as const;

/**
 * demo/tls behind Service `tls` (443 -> 8443): an HTTPS server, the target clients reach through
 * an HTTP proxy's CONNECT. Its certificate is issued by a CA of its own that `up` creates in the
 * run dir (`tlsFiles()` in cluster.ts; `ClusterInfo.tlsCaFile` for clients).
 */
export const TLS = {
  namespace: NAMESPACES.demo,
  pod: "tls",
  service: "tls",
  labels: { app: "tls" },
  servicePort: 443,
  portName: "https",
  targetPort: POD_PORTS.https,
  /** DNS names in the server certificate: the service's names. */
  certNames: ["tls", "tls.demo", "tls.demo.svc", "tls.demo.svc.cluster.local"],
} as const;

/** Service accounts behind `limited.kubeconfig` and `token.kubeconfig`. */
export const ACCOUNTS = {
  /** demo/limited: Role in `demo` only (get/list/watch pods, services, endpointslices; get/create pods/portforward). */
  limited: { namespace: NAMESPACES.demo, name: "limited", role: "ktctl-limited" },
  /** demo/reader: the same rules cluster-wide through a ClusterRole. */
  reader: { namespace: NAMESPACES.demo, name: "reader", clusterRole: "ktctl-reader" },
} as const;

/**
 * First loopback port of the backend servers. Ports are allocated in fixture order below the
 * Linux ephemeral range (32768+). Override with KTCTL_CLUSTER_BACKEND_BASE_PORT.
 */
export const BACKEND_BASE_PORT = 31000;

export type BackendKind = "http" | "echo" | "bulk" | "https" | "bulk-http";
export interface Backend {
  namespace: string;
  pod: string;
  /** The pod port (what a client of the API server's port-forward asks for). */
  podPort: number;
  kind: BackendKind;
  /** 127.0.0.1 port the loopback server listens on and the kwok forward dials. */
  loopbackPort: number;
}

/** Every loopback server and the pod port it stands behind. */
export function backends(basePort = backendBasePort()): Backend[] {
  const list: Omit<Backend, "loopbackPort">[] = [];
  for (const pod of WEB.pods) {
    list.push({ namespace: WEB.namespace, pod, podPort: POD_PORTS.http, kind: "http" });
    list.push({ namespace: WEB.namespace, pod, podPort: POD_PORTS.echo, kind: "echo" });
  }
  list.push({ namespace: BULK.namespace, pod: BULK.pod, podPort: POD_PORTS.bulk, kind: "bulk" });
  for (const pod of API.pods) {
    list.push({ namespace: API.namespace, pod, podPort: POD_PORTS.http, kind: "http" });
  }
  // Last, so that adding them kept every other backend's loopback port.
  list.push({ namespace: TLS.namespace, pod: TLS.pod, podPort: TLS.targetPort, kind: "https" });
  list.push({
    namespace: BULK_HTTP.namespace,
    pod: BULK_HTTP.pod,
    podPort: BULK_HTTP.port,
    kind: "bulk-http",
  });
  return list.map((b, i) => ({ ...b, loopbackPort: basePort + i }));
}

export function backendBasePort(): number {
  const v = Deno.env.get("KTCTL_CLUSTER_BACKEND_BASE_PORT");
  return v ? Number(v) : BACKEND_BASE_PORT;
}

/** The loopback server behind one pod port (throws if there is none). */
export function backendFor(namespace: string, pod: string, podPort: number): Backend {
  const b = backends().find((b) =>
    b.namespace === namespace && b.pod === pod && b.podPort === podPort
  );
  if (!b) throw new Error(`no backend for ${namespace}/${pod}:${podPort}`);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Manifests

type Obj = Record<string, unknown>;

export function pod(
  namespace: string,
  name: string,
  labels: Record<string, string>,
  node: string,
  ports: { name: string; containerPort: number }[],
  extra: Obj = {},
): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace, name, labels: { ...labels, "ktctl.dev/fixture": "true" } },
    spec: {
      nodeName: node,
      ...extra,
      containers: [{
        name: "main",
        image: "fake.invalid/ktctl-backend:1",
        ports: ports.map((p) => ({ ...p, protocol: "TCP" })),
      }],
      // kwok nodes carry no taints here; tolerate the usual kwok taint anyway.
      tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
    },
  };
}

export function service(
  namespace: string,
  name: string,
  selector: Record<string, string>,
  ports: { name: string; port: number; targetPort: number | string }[],
  headless = false,
): Obj {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace, name, labels: { "ktctl.dev/fixture": "true" } },
    spec: {
      ...(headless ? { clusterIP: "None" } : {}),
      selector,
      ports: ports.map((p) => ({ ...p, protocol: "TCP" })),
    },
  };
}

export function portForward(namespace: string, name: string, forwards: [number, number][]): Obj {
  return {
    apiVersion: "kwok.x-k8s.io/v1alpha1",
    kind: "PortForward",
    metadata: { namespace, name },
    spec: {
      forwards: forwards.map(([port, target]) => ({
        ports: [port],
        target: { address: "127.0.0.1", port: target },
      })),
    },
  };
}

const RULES = [
  { apiGroups: [""], resources: ["pods", "services"], verbs: ["get", "list", "watch"] },
  {
    apiGroups: ["discovery.k8s.io"],
    resources: ["endpointslices"],
    verbs: ["get", "list", "watch"],
  },
  { apiGroups: [""], resources: ["pods/portforward"], verbs: ["get", "create"] },
];

/** Nodes, namespaces, accounts and RBAC: applied before the pods. */
export function baseManifests(): Obj[] {
  const objs: Obj[] = [];
  for (const [i, name] of NODES.entries()) {
    objs.push({
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name,
        annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
        labels: {
          "kubernetes.io/hostname": name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/role": "agent",
          "type": "kwok",
          "ktctl.dev/fixture": "true",
        },
      },
      spec: { podCIDR: NODE_POD_CIDRS[i], podCIDRs: [NODE_POD_CIDRS[i]] },
    });
  }
  for (const ns of Object.values(NAMESPACES)) {
    objs.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  }
  const { limited, reader } = ACCOUNTS;
  for (const sa of [limited, reader]) {
    objs.push({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { namespace: sa.namespace, name: sa.name },
    });
  }
  objs.push(
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { namespace: limited.namespace, name: limited.role },
      rules: RULES,
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { namespace: limited.namespace, name: limited.role },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: limited.role },
      subjects: [{ kind: "ServiceAccount", namespace: limited.namespace, name: limited.name }],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: reader.clusterRole },
      rules: RULES,
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: reader.clusterRole },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: reader.clusterRole,
      },
      subjects: [{ kind: "ServiceAccount", namespace: reader.namespace, name: reader.name }],
    },
  );
  return objs;
}

/** Pods, services and kwok PortForwards. */
export function workloadManifests(basePort = backendBasePort()): Obj[] {
  const objs: Obj[] = [];
  const bs = backends(basePort);
  const forwardsOf = (ns: string, name: string) =>
    bs.filter((b) => b.namespace === ns && b.pod === name).map((b) =>
      [b.podPort, b.loopbackPort] as [number, number]
    );

  WEB.pods.forEach((name, i) => {
    objs.push(
      pod(WEB.namespace, name, WEB.labels, NODES[i % NODES.length], [
        { name: WEB.httpPortName, containerPort: WEB.httpTargetPort },
        { name: WEB.echoContainerPortName, containerPort: WEB.echoTargetPort },
      ], { hostname: name, subdomain: WEB.headlessService }),
      portForward(WEB.namespace, name, forwardsOf(WEB.namespace, name)),
    );
  });
  objs.push(
    service(WEB.namespace, WEB.service, WEB.labels, [
      { name: WEB.httpPortName, port: WEB.httpServicePort, targetPort: WEB.httpTargetPort },
      { name: WEB.tcpPortName, port: WEB.tcpServicePort, targetPort: WEB.echoContainerPortName },
    ]),
    service(WEB.namespace, WEB.headlessService, WEB.labels, [
      { name: WEB.httpPortName, port: WEB.httpTargetPort, targetPort: WEB.httpTargetPort },
      { name: WEB.tcpPortName, port: WEB.tcpServicePort, targetPort: WEB.echoContainerPortName },
    ], true),
  );

  objs.push(
    pod(REFUSER.namespace, REFUSER.pod, REFUSER.labels, NODES[0], [
      { name: "http", containerPort: REFUSER.targetPort },
    ]),
    portForward(REFUSER.namespace, REFUSER.pod, [[
      REFUSER.targetPort,
      REFUSER.refusedLoopbackPort,
    ]]),
    service(REFUSER.namespace, REFUSER.service, REFUSER.labels, [
      { name: "http", port: REFUSER.servicePort, targetPort: REFUSER.targetPort },
    ]),
    service(EMPTY.namespace, EMPTY.service, EMPTY.selector, [
      { name: "http", port: EMPTY.servicePort, targetPort: EMPTY.targetPort },
    ]),
  );

  objs.push(
    pod(BULK.namespace, BULK.pod, BULK.labels, NODES[1 % NODES.length], [
      { name: BULK.portName, containerPort: BULK.port },
    ]),
    portForward(BULK.namespace, BULK.pod, forwardsOf(BULK.namespace, BULK.pod)),
    service(BULK.namespace, BULK.service, BULK.labels, [
      { name: BULK.portName, port: BULK.port, targetPort: BULK.port },
    ]),
    pod(BULK_HTTP.namespace, BULK_HTTP.pod, BULK_HTTP.labels, NODES[1 % NODES.length], [
      { name: BULK_HTTP.portName, containerPort: BULK_HTTP.port },
    ]),
    portForward(BULK_HTTP.namespace, BULK_HTTP.pod, forwardsOf(BULK_HTTP.namespace, BULK_HTTP.pod)),
    service(BULK_HTTP.namespace, BULK_HTTP.service, BULK_HTTP.labels, [
      { name: BULK_HTTP.portName, port: BULK_HTTP.servicePort, targetPort: BULK_HTTP.port },
    ]),
  );

  API.pods.forEach((name, i) => {
    objs.push(
      pod(API.namespace, name, API.labels, NODES[i % NODES.length], [
        { name: API.portName, containerPort: API.targetPort },
      ]),
      portForward(API.namespace, name, forwardsOf(API.namespace, name)),
    );
  });
  objs.push(
    service(API.namespace, API.service, API.labels, [
      { name: API.portName, port: API.servicePort, targetPort: API.targetPort },
    ]),
  );

  objs.push(
    pod(TLS.namespace, TLS.pod, TLS.labels, NODES[0], [
      { name: TLS.portName, containerPort: TLS.targetPort },
    ]),
    portForward(TLS.namespace, TLS.pod, forwardsOf(TLS.namespace, TLS.pod)),
    service(TLS.namespace, TLS.service, TLS.labels, [
      { name: TLS.portName, port: TLS.servicePort, targetPort: TLS.targetPort },
    ]),
  );
  return objs;
}

/** All fixture pods as `namespace/name`. */
export function fixturePods(): string[] {
  return [
    ...WEB.pods.map((p) => `${WEB.namespace}/${p}`),
    `${REFUSER.namespace}/${REFUSER.pod}`,
    `${BULK.namespace}/${BULK.pod}`,
    ...API.pods.map((p) => `${API.namespace}/${p}`),
    `${TLS.namespace}/${TLS.pod}`,
    `${BULK_HTTP.namespace}/${BULK_HTTP.pod}`,
  ];
}

/** Expected number of ready endpoints per Service once the fixture has settled. */
export function expectedEndpoints(): { namespace: string; service: string; ready: number }[] {
  return [
    { namespace: WEB.namespace, service: WEB.service, ready: WEB.pods.length },
    { namespace: WEB.namespace, service: WEB.headlessService, ready: WEB.pods.length },
    { namespace: REFUSER.namespace, service: REFUSER.service, ready: 1 },
    { namespace: EMPTY.namespace, service: EMPTY.service, ready: 0 },
    { namespace: BULK.namespace, service: BULK.service, ready: 1 },
    { namespace: API.namespace, service: API.service, ready: API.pods.length },
    { namespace: TLS.namespace, service: TLS.service, ready: 1 },
    { namespace: BULK_HTTP.namespace, service: BULK_HTTP.service, ready: 1 },
  ];
}
