/**
 * `deno task bench:scale`: how ktctl's start-up, memory and API-server load grow with the
 * cluster (issue 12). For each size N it creates N kwok pods with realistic metadata, N/5
 * services, N/250 namespaces and N/100 nodes of its own, runs ktctl (the bundle `deno task build` compiles)
 * through a counting relay to the API server, prints the figures, replaces 1,000 pods while
 * ktctl runs (churn), and deletes everything it made before the next size. Pods are fake (kwok):
 * their port 8080 is forwarded to one loopback HTTP server of this script.
 *
 *   deno task bench:scale [--sizes 1000,10000] [--no-churn] [--ktctl-dir DIR]... [--no-bundle]
 *                         [--keep]
 *
 * `--ktctl-dir` may be given more than once (e.g. a checkout of main and this one): each size's
 * pods are then created once and every checkout is measured on them in turn (each churn
 * replaces the pods the previous one left). A checkout is bundled when its turn comes, and its
 * row names its commit. Give the same directories again (A B A B) for alternating rounds.
 * `--keep` leaves the objects in place at the end, and a later `--keep` run of the same size
 * measures on them instead of deleting and creating them again (creating 12,000 pods and
 * waiting for kwok to run them takes 10-20 minutes on a 2-core machine); a run without `--keep`
 * deletes them.
 *
 * The objects are made as a real API server holds them: the server writes their managedFields
 * itself (each create names its field manager, as the controller-manager's ReplicaSet controller
 * and `kubectl apply` do; kwok then writes the pods' status as a manager of its own), pods carry
 * a controller ownerReference (to a real object, which the garbage collector checks), and the
 * EndpointSlices are the controller-manager's. Each row is printed beside the goals of issue 23
 * (steady RSS <= 120 MB and banner <= 1 s at 12,000 pods / 2,400 services) with met / not met.
 *
 * The machine is shared: creation runs in bursts and everything is deleted after each size
 * (also on Ctrl+C). With `KTCTL_CACHE` (and `KTCTL_CLUSTER_BACKEND_BASE_PORT`) set, it runs on a
 * control plane of its own that others' `cluster down` does not stop. Figures are single runs on a noisy 2-core machine; CPU times are more
 * stable than wall-clock times.
 * @module
 */
import { CLUSTER_NAME, ensureCluster, kubectl, runDir } from "../testenv/cluster/mod.ts";
import { KubeApi } from "../src/kube/api.ts";
import { loadKubeconfig } from "../src/kube/kubeconfig.ts";
import { bundleKtctl, REPO_ROOT } from "../scripts/bundle.ts";
import {
  clockTicks,
  cpuTicks,
  freePort,
  memStatus,
  pidsNamed,
  type Proc,
  stopAll,
} from "./procs.ts";
import { denoCacheDir, spawnKtctl } from "./sides.ts";
import { type Dialer, httpGet, messageOf, socks5 } from "./clients.ts";
import { relay as relayTo } from "./relay.ts";
import { median } from "./stats.ts";
import { pathToFileURL } from "node:url";
import { table } from "./table.ts";

const PREFIX = "ktctl-scale";
/**
 * Pods per node: a kubelet takes 110 at most unless told otherwise, so a 50,000-pod cluster has
 * hundreds of nodes. Each node has a /24 of 10.200.0.0/13 (disjoint from the fixture's
 * 10.244.0.0/16 and the services' 10.96.0.0/12) as its podCIDR, from which kwok gives its pods
 * their IPs.
 */
const PODS_PER_NODE = 100;
const nodeName = (k: number) => `${PREFIX}-node-${k}`;
const nodeRange = (k: number) => `10.${200 + (k >> 8)}.${k & 255}`;
const PODS_PER_SERVICE = 5;
const PODS_PER_NAMESPACE = 250;
const SAMPLES = 10;
const CREATE_CONCURRENCY = 16;

interface Config {
  sizes: number[];
  churn: boolean;
  ktctlDirs: string[];
  bundle: boolean;
  /** Keep the objects at the end (and reuse those of an earlier `--keep` run at the start). */
  keep: boolean;
}

function parseArgs(args: string[]): Config {
  const cfg: Config = {
    sizes: [1000, 10000],
    churn: true,
    ktctlDirs: [],
    bundle: true,
    keep: false,
  };
  for (let i = 0; i < args.length; i++) {
    const next = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${args[i - 1]} needs a value`);
      return v;
    };
    if (args[i] === "--sizes") cfg.sizes = next().split(",").map((s) => Number(s.trim()));
    else if (args[i] === "--no-churn") cfg.churn = false;
    else if (args[i] === "--ktctl-dir") cfg.ktctlDirs.push(next());
    else if (args[i] === "--no-bundle") cfg.bundle = false;
    else if (args[i] === "--keep") cfg.keep = true;
    else throw new Error(`unknown argument ${args[i]}`);
  }
  if (cfg.ktctlDirs.length === 0) cfg.ktctlDirs.push(REPO_ROOT);
  // Churn renames pods by round: a kept set would not match the next run's names.
  if (cfg.keep && cfg.churn) throw new Error("--keep needs --no-churn");
  if (cfg.sizes.some((n) => !Number.isInteger(n) || n < PODS_PER_SERVICE * SAMPLES * 2)) {
    throw new Error(`--sizes: whole numbers of at least ${PODS_PER_SERVICE * SAMPLES * 2}`);
  }
  return cfg;
}

function note(msg: string): void {
  console.error(`[bench:scale ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  deadlineMs: number,
): Promise<T> {
  const end = Date.now() + deadlineMs;
  while (true) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(1000);
  }
}

// ---------------------------------------------------------------------------------------------
// The objects

const namespaceOf = (ns: number) => `${PREFIX}-${ns}`;
const serviceName = (s: number) => `svc-${s}`;

interface Layout {
  pods: number;
  services: number;
  namespaces: number;
  nodes: number;
}

function layout(n: number): Layout {
  return {
    pods: n,
    services: Math.ceil(n / PODS_PER_SERVICE),
    namespaces: Math.max(1, Math.ceil(n / PODS_PER_NAMESPACE)),
    nodes: Math.ceil(n / PODS_PER_NODE),
  };
}

/** Pod i belongs to service floor(i/5), which lives in namespace (service % namespaces). */
function podPlace(l: Layout, i: number) {
  const svc = Math.floor(i / PODS_PER_SERVICE);
  return { svc, ns: namespaceOf(svc % l.namespaces) };
}

/**
 * The object every pod of a namespace names as its controller. A ReplicaSet would be the real
 * one, but its controller would then create and delete pods of its own; any object the garbage
 * collector can find keeps the pods alive, and the reference costs the same bytes.
 */
const OWNER = "scale-replicaset-owner";
/** The owner's uid in each namespace (filled by setUp). */
const ownerUids = new Map<string, string>();

/**
 * A pod as a Deployment would make it: labels, annotations, two containers with env, probes,
 * an ownerReference; created under the ReplicaSet controller's field manager.
 */
function podManifest(l: Layout, i: number, name: string, batch: string) {
  const { svc, ns } = podPlace(l, i);
  const uid = ownerUids.get(ns);
  const app = serviceName(svc);
  const env = (prefix: string) =>
    Array.from({ length: 15 }, (_, k) => ({
      name: `${prefix}_SETTING_${k}`,
      value: `value-${k}-${app}-${"x".repeat(20)}`,
    }));
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: ns,
      labels: {
        app,
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": `${app}-prod`,
        "app.kubernetes.io/component": "backend",
        "app.kubernetes.io/part-of": "scale-bench",
        "app.kubernetes.io/managed-by": "bench",
        "pod-template-hash": "5d8f7c9b6d",
        "team": "platform",
        "tier": "web",
        [`${PREFIX}/batch`]: batch,
      },
      annotations: {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
        "checksum/config": "3f1b2c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b",
        "kubectl.kubernetes.io/restartedAt": "2026-11-30T10:00:00Z",
        "description": "y".repeat(1200),
      },
      ...(uid
        ? {
          ownerReferences: [{
            apiVersion: "v1",
            kind: "ConfigMap",
            name: OWNER,
            uid,
            controller: true,
            blockOwnerDeletion: true,
          }],
        }
        : {}),
    },
    spec: {
      // Round the nodes, so that a service's pods run on different ones.
      nodeName: nodeName(i % l.nodes),
      automountServiceAccountToken: false,
      tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
      containers: ["main", "sidecar"].map((c, k) => ({
        name: c,
        image: `registry.invalid/scale/${c}:1.${k}`,
        ports: k === 0
          ? [{ name: "http", containerPort: 8080, protocol: "TCP" }, {
            name: "metrics",
            containerPort: 9090,
            protocol: "TCP",
          }]
          : [],
        env: env(c.toUpperCase()),
        resources: {
          requests: { cpu: "100m", memory: "128Mi" },
          limits: { cpu: "500m", memory: "256Mi" },
        },
        readinessProbe: { httpGet: { path: "/ready", port: 8080 }, periodSeconds: 10 },
        livenessProbe: { httpGet: { path: "/live", port: 8080 }, periodSeconds: 20 },
        volumeMounts: [{ name: "config", mountPath: "/etc/config" }, {
          name: "cache",
          mountPath: "/cache",
        }],
      })),
      volumes: [{ name: "config", configMap: { name: `${app}-config` } }, {
        name: "cache",
        emptyDir: {},
      }],
    },
  };
}

/** A service as `kubectl apply` makes it (the last-applied annotation holds the whole object). */
function serviceManifest(l: Layout, s: number) {
  const applied = serviceSpec(l, s);
  return {
    ...applied,
    metadata: {
      ...applied.metadata,
      annotations: {
        ...applied.metadata.annotations,
        "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify(applied),
      },
    },
  };
}

function serviceSpec(l: Layout, s: number) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: serviceName(s),
      namespace: namespaceOf(s % l.namespaces),
      labels: { app: serviceName(s), "app.kubernetes.io/part-of": "scale-bench" },
      annotations: { "prometheus.io/scrape": "true", "description": "z".repeat(200) },
    },
    spec: {
      selector: { app: serviceName(s) },
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }, {
        name: "metrics",
        port: 9090,
        targetPort: 9090,
        protocol: "TCP",
      }],
    },
  };
}

/** POSTs `count` objects, `CREATE_CONCURRENCY` at a time, retrying transient failures. */
async function createAll(
  api: KubeApi,
  count: number,
  make: (i: number) => { path: string; body: unknown },
): Promise<void> {
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const { path, body } = make(i);
      for (let attempt = 0;; attempt++) {
        try {
          await api.post(path, body);
          break;
        } catch (e) {
          if (/already exists/.test(messageOf(e))) break;
          if (attempt >= 20) throw e;
          await sleep(500);
        }
      }
      if (++done % 5000 === 0) note(`  ${done}/${count} created`);
    }
  };
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, worker));
  note(`  ${count} created in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

async function setUp(api: KubeApi, l: Layout): Promise<void> {
  note(
    `creating ${l.nodes} nodes, ${l.namespaces} namespaces, ${l.services} services, ` +
      `${l.pods} pods`,
  );
  await createAll(api, l.nodes, (k) => ({
    path: "/api/v1/nodes",
    body: {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: nodeName(k),
        annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
        labels: { "kubernetes.io/hostname": nodeName(k), type: "kwok", [PREFIX]: "node" },
      },
      spec: { podCIDR: `${nodeRange(k)}.0/24`, podCIDRs: [`${nodeRange(k)}.0/24`] },
    },
  }));
  for (let ns = 0; ns < l.namespaces; ns++) {
    await api.post("/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: namespaceOf(ns) },
    }).catch(ignoreExists);
  }
  for (let ns = 0; ns < l.namespaces; ns++) {
    const path = `/api/v1/namespaces/${namespaceOf(ns)}/configmaps`;
    await api.post(path, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: OWNER },
      data: { why: "the controller the benchmark's pods name in their ownerReferences" },
    }).catch(ignoreExists);
    const owner = await api.get(`${path}/${OWNER}`) as { metadata: { uid: string } };
    ownerUids.set(namespaceOf(ns), owner.metadata.uid);
  }
  await createAll(api, l.services, (s) => ({
    path: `/api/v1/namespaces/${namespaceOf(s % l.namespaces)}/services?fieldManager=${
      encodeURIComponent("kubectl-client-side-apply")
    }`,
    body: serviceManifest(l, s),
  }));
  await createPods(api, l, 0, l.pods, (i) => `p-${i}`, (i) => String(Math.floor(i / BATCH)));
}

/**
 * Whether the objects of an earlier `--keep` run of this size are all there (its last pod and
 * last service exist); fills in the owners' uids for new pods.
 */
async function kept(api: KubeApi, l: Layout): Promise<boolean> {
  const last = podPlace(l, l.pods - 1);
  const svc = l.services - 1;
  try {
    await api.get(`/api/v1/namespaces/${last.ns}/pods/p-${l.pods - 1}`);
    await api.get(
      `/api/v1/namespaces/${namespaceOf(svc % l.namespaces)}/services/${serviceName(svc)}`,
    );
    for (let ns = 0; ns < l.namespaces; ns++) {
      const owner = await api.get(
        `/api/v1/namespaces/${namespaceOf(ns)}/configmaps/${OWNER}`,
      ) as { metadata: { uid: string } };
      ownerUids.set(namespaceOf(ns), owner.metadata.uid);
    }
    return true;
  } catch {
    return false;
  }
}

/** kwok forwards the pods' port 8080 to this run's loopback server (replaced each run). */
async function forwardTo(api: KubeApi, l: Layout, backendPort: number): Promise<void> {
  await kubectl(["delete", "clusterportforward", PREFIX, "--ignore-not-found"], { check: false });
  await api.post("/apis/kwok.x-k8s.io/v1alpha1/clusterportforwards", {
    apiVersion: "kwok.x-k8s.io/v1alpha1",
    kind: "ClusterPortForward",
    metadata: { name: PREFIX },
    spec: {
      selector: { matchNamespaces: Array.from({ length: l.namespaces }, (_, i) => namespaceOf(i)) },
      forwards: [{ ports: [8080], target: { address: "127.0.0.1", port: backendPort } }],
    },
  });
}

async function createPods(
  api: KubeApi,
  l: Layout,
  from: number,
  to: number,
  name: (i: number) => string,
  batch: (i: number) => string,
): Promise<void> {
  await createAll(api, to - from, (k) => {
    const i = from + k;
    return {
      path: `/api/v1/namespaces/${podPlace(l, i).ns}/pods?fieldManager=kube-controller-manager`,
      body: podManifest(l, i, name(i), batch(i)),
    };
  });
}

function ignoreExists(e: unknown): void {
  if (!/already exists/.test(messageOf(e))) throw e;
}

/**
 * Waits until every pod of the benchmark runs (kwok gives it an IP then). Counts would need
 * `remainingItemCount`, which the API server leaves out for field-selected lists; asking for
 * one pod that is not running is as cheap at any size.
 */
async function waitRunning(api: KubeApi): Promise<void> {
  const t0 = performance.now();
  const query = `fieldSelector=${encodeURIComponent("status.phase!=Running")}&labelSelector=${
    encodeURIComponent("app.kubernetes.io/part-of=scale-bench")
  }`;
  await waitFor("every pod to run", async () => {
    const page = await api.get(`/api/v1/pods?${query}&limit=1`) as {
      items?: unknown[];
    };
    return page.items?.length === 0 ? true : undefined;
  }, 20 * 60_000);
  note(`  every pod runs, ${((performance.now() - t0) / 1000).toFixed(0)} s after creation`);
}

interface PodRef {
  ns: string;
  name: string;
  ip: string;
}

async function podsOfService(api: KubeApi, l: Layout, svc: number): Promise<PodRef[]> {
  const ns = namespaceOf(svc % l.namespaces);
  const list = await api.get(
    `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`app=${serviceName(svc)}`)}`,
  ) as { items: { metadata: { name: string }; status?: { podIP?: string } }[] };
  return list.items.filter((p) => p.status?.podIP).map((p) => ({
    ns,
    name: p.metadata.name,
    ip: p.status!.podIP!,
  }));
}

/** Waits until the EndpointSlices of `svc` list exactly the pods that serve it now, all ready. */
async function waitEndpoints(api: KubeApi, l: Layout, svc: number): Promise<void> {
  const ns = namespaceOf(svc % l.namespaces);
  await waitFor(`endpoints of ${ns}/${serviceName(svc)}`, async () => {
    const pods = (await podsOfService(api, l, svc)).map((p) => p.name).sort();
    const slices = await api.get(
      `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${
        encodeURIComponent(`kubernetes.io/service-name=${serviceName(svc)}`)
      }`,
    ) as {
      items: {
        endpoints?: { conditions?: { ready?: boolean }; targetRef?: { name?: string } }[];
      }[];
    };
    const eps = slices.items.flatMap((s) => s.endpoints ?? [])
      .filter((e) => e.conditions?.ready !== false).map((e) => e.targetRef?.name ?? "").sort();
    return pods.length === PODS_PER_SERVICE && JSON.stringify(eps) === JSON.stringify(pods)
      ? true
      : undefined;
  }, 5 * 60_000);
}

/** One DELETE of a collection (not one per pod, as `kubectl delete pods -l` makes), at once. */
async function deletePods(ns: string, labelSelector = ""): Promise<void> {
  const query = `gracePeriodSeconds=0${
    labelSelector ? `&labelSelector=${encodeURIComponent(labelSelector)}` : ""
  }`;
  await kubectl(["delete", "--raw", `/api/v1/namespaces/${ns}/pods?${query}`], { check: false });
}

async function tearDown(l: Layout): Promise<void> {
  note("deleting what the benchmark made");
  const names = Array.from({ length: l.namespaces }, (_, i) => namespaceOf(i));
  for (const ns of names) await deletePods(ns);
  await kubectl(["delete", "namespace", ...names, "--ignore-not-found", "--wait=true"], {
    check: false,
  });
  await kubectl(["delete", "node", "-l", `${PREFIX}=node`, "--ignore-not-found"], {
    check: false,
  });
  await kubectl(["delete", "clusterportforward", PREFIX, "--ignore-not-found"], { check: false });
}

// ---------------------------------------------------------------------------------------------
// Measuring ktctl

interface Figures {
  bannerMs: number;
  startBytes: number;
  apiCpuMs: number;
  ktctlCpuMs: number;
  steadyMb: number;
  peakMb: number;
  first: { service: number; pod: number };
  second: { service: number; pod: number };
  /** The second connection to a service: a session to a new pod, the lookup already done. */
  newPodKnownService: number;
  /** Median time of the lookups ktctl logged (`-d`): what a first connection waits for. */
  lookupMs: { service: number; pod: number };
  /** How long ktctl's one list of the nodes (for their pod ranges) took, if it made one. */
  nodesListedMs?: number;
  apiRoundTripMs: number;
  churn?: { steadyMb: number; peakMb: number; ok: string };
}

const mb = (bytes: number) => bytes / 1e6;

/**
 * The goals a size is held to: issue 23's at 12,000 pods / 2,400 services, issue 12's at
 * 50,000 / 10,000. Other sizes have none.
 */
const GOALS: Record<number, { steadyMb: number; bannerMs: number }> = {
  12000: { steadyMb: 120, bannerMs: 1000 },
  50000: { steadyMb: 150, bannerMs: 2000 },
};

/** "161 (goal <= 120: not met)", or the figure alone where the size has no goal. */
function judged(value: number, goal: number | undefined, text: string): string {
  if (goal === undefined || !Number.isFinite(value)) return text;
  return `${text} (goal <= ${goal}: ${value <= goal ? "met" : "not met"})`;
}

/** The median time of the lookups of one kind ("ip", "slices") that ktctl logged with `-d`. */
function loggedLookups(output: string, kind: string): number {
  const re = new RegExp(`Looked up "?${kind} [^:]*: \\d+ found in (\\d+) ms`, "g");
  return median([...output.matchAll(re)].map((m) => Number(m[1])));
}

async function connectMs(dialer: Dialer): Promise<number> {
  return await httpGet(dialer, "bench", 20_000);
}

/** SOCKS5 reply code for a CONNECT to `host:port` (0: connected). */
async function socksReply(proxyPort: number, host: string, port: number): Promise<number> {
  try {
    await connectMs(socks5(proxyPort, host, port));
    return 0;
  } catch (e) {
    const m = /reply code (\d+)/.exec(messageOf(e));
    return m ? Number(m[1]) : -1;
  }
}

function steadyRss(pid: number): Promise<number> {
  return (async () => {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(memStatus(pid).rss);
      await sleep(1000);
    }
    return median(samples);
  })();
}

/** One checkout's figures on the current pods; its churn is replacement round `round`. */
async function measure(
  env: { api: KubeApi; kubeconfig: string; home: string; denoDir: string },
  side: { dir: string; entry?: string; v8Flags: string },
  cfg: Config,
  l: Layout,
  apiserverPid: number,
  ticks: number,
  round: number,
): Promise<Figures> {
  const port = freePort();
  const apiCpu0 = cpuTicks(apiserverPid);
  const relay = relayTo(Number(new URL(env.api.server).port));
  const kubeconfig = `${env.home}/relay.kubeconfig`;
  await Deno.writeTextFile(
    kubeconfig,
    (await Deno.readTextFile(env.kubeconfig)).replace(
      env.api.server,
      `https://127.0.0.1:${relay.port}`,
    ),
  );
  const t0 = performance.now();
  const proc: Proc = spawnKtctl({
    dir: side.dir,
    kubeconfig,
    namespace: namespaceOf(0),
    method: "socks5",
    portForward: "multiplexed",
    port,
    home: env.home,
    denoDir: env.denoDir,
    v8Flags: side.v8Flags,
    entry: side.entry,
    // For the "Looked up ... in N ms" lines: a handful per run, read once after the samples.
    extraArgs: ["-d"],
  });
  try {
    await proc.waitFor(/http_proxy=/, 5 * 60_000);
    const bannerMs = performance.now() - t0;
    const startBytes = relay.down;
    const apiCpuMs = (cpuTicks(apiserverPid) - apiCpu0) / ticks * 1000;
    const ktctlCpuMs = cpuTicks(proc.pid) / ticks * 1000;
    note(`  banner after ${bannerMs.toFixed(0)} ms, ${mb(startBytes).toFixed(2)} MB read`);

    // Services 0..SAMPLES-1 (their pods are in the churned batch) and pods of the last batch.
    const services = Array.from({ length: SAMPLES }, (_, s) => s);
    const podRefs: PodRef[] = [];
    for (let k = 0; podRefs.length < SAMPLES; k++) {
      const svc = l.services - 1 - k;
      podRefs.push(...(await podsOfService(env.api, l, svc)).slice(0, 1));
    }
    const svcDialer = (s: number) =>
      socks5(port, `${serviceName(s)}.${namespaceOf(s % l.namespaces)}`, 80);
    const podDialer = (p: PodRef) => socks5(port, p.ip, 8080);
    const times = {
      fs: [] as number[],
      ss: [] as number[],
      fp: [] as number[],
      sp: [] as number[],
    };
    // Connections to a service go round the endpoints: the 6th goes to the pod the 1st went to,
    // so first and "second" differ by the lookup alone, not by a session to a new pod.
    // The 2nd goes to a pod of its own too, with the service's endpoints already known: the
    // difference between it and the 1st is the lookup; that between it and the 6th, the session.
    const s2: number[] = [];
    for (const s of services) times.fs.push(await connectMs(svcDialer(s)));
    for (let k = 0; k < PODS_PER_SERVICE - 1; k++) {
      for (const s of services) {
        const ms = await connectMs(svcDialer(s));
        if (k === 0) s2.push(ms);
      }
    }
    for (const s of services) times.ss.push(await connectMs(svcDialer(s)));
    for (const p of podRefs) times.fp.push(await connectMs(podDialer(p)));
    for (const p of podRefs) times.sp.push(await connectMs(podDialer(p)));
    const rtts: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const t = performance.now();
      await env.api.get(`/api/v1/namespaces/${namespaceOf(0)}/services/${serviceName(0)}`);
      rtts.push(performance.now() - t);
    }
    await sleep(5000);
    const steady = await steadyRss(proc.pid);
    const figures: Figures = {
      bannerMs,
      startBytes,
      apiCpuMs,
      ktctlCpuMs,
      steadyMb: mb(steady),
      peakMb: mb(memStatus(proc.pid).hwm),
      first: { service: median(times.fs), pod: median(times.fp) },
      second: { service: median(times.ss), pod: median(times.sp) },
      newPodKnownService: median(s2),
      lookupMs: {
        service: loggedLookups(proc.output(), "slices"),
        pod: loggedLookups(proc.output(), "ip"),
      },
      apiRoundTripMs: median(rtts),
      nodesListedMs: Number(
        /Listed \d+ nodes, \d+ with pod ranges, in (\d+) ms/.exec(
          proc.output(),
        )?.[1] ?? NaN,
      ),
    };
    note(
      `  steady ${
        judged(figures.steadyMb, GOALS[l.pods]?.steadyMb, figures.steadyMb.toFixed(0))
      } MB, peak ${figures.peakMb.toFixed(0)} MB, banner ${
        judged(bannerMs, GOALS[l.pods]?.bannerMs, bannerMs.toFixed(0))
      } ms`,
    );
    if (cfg.churn) figures.churn = await churn(env.api, l, port, proc, round);
    return figures;
  } finally {
    await proc.stop();
    relay.close();
  }
}

/** Pods are created in batches of this many (label `ktctl-scale/batch`); churn replaces batch 0. */
const BATCH = 1000;

/**
 * Replaces the first batch of pods (services 0.. lose all their endpoints to new pods) while
 * ktctl runs, then checks routing: services and new pod IPs connect, old pod IPs are refused.
 */
async function churn(
  api: KubeApi,
  l: Layout,
  port: number,
  proc: Proc,
  round: number,
): Promise<NonNullable<Figures["churn"]>> {
  const count = Math.min(BATCH, l.pods);
  const churned = Math.ceil(count / PODS_PER_SERVICE);
  note(`  churn: replacing ${count} pods`);
  const old = (await Promise.all(
    Array.from({ length: Math.min(churned, SAMPLES) }, (_, s) => podsOfService(api, l, s)),
  )).flat();
  const nss = [...new Set(Array.from({ length: count }, (_, i) => podPlace(l, i).ns))];
  const batch = round === 0 ? "0" : `r${round - 1}`;
  for (const ns of nss) await deletePods(ns, `${PREFIX}/batch=${batch}`);
  await createPods(api, l, 0, count, (i) => `p-${i}-r${round}`, () => `r${round}`);
  await waitRunning(api);
  for (let s = 0; s < Math.min(churned, SAMPLES); s++) await waitEndpoints(api, l, s);
  const fresh = (await Promise.all(
    Array.from({ length: Math.min(churned, SAMPLES) }, (_, s) => podsOfService(api, l, s)),
  )).flat();
  const freshIps = new Set(fresh.map((p) => p.ip));
  const problems: string[] = [];
  // kwok serves a new pod's port-forwards some seconds after the pod is ready (see
  // testenv/cluster/README.md): a new destination gets 30 s to answer.
  const connects = async (host: string, port_: number) => {
    const end = Date.now() + 30_000;
    let code = -1;
    while (Date.now() < end && (code = await socksReply(port, host, port_)) !== 0) {
      await sleep(1000);
    }
    return code;
  };
  for (let s = 0; s < Math.min(churned, SAMPLES); s++) {
    const host = `${serviceName(s)}.${namespaceOf(s % l.namespaces)}`;
    const code = await connects(host, 80);
    if (code !== 0) problems.push(`${host}: reply ${code}`);
  }
  for (const p of fresh.slice(0, SAMPLES)) {
    const code = await connects(p.ip, 8080);
    if (code !== 0) problems.push(`new pod ${p.name} ${p.ip}: reply ${code}`);
  }
  // kwok hands freed IPs to new pods: only an old IP that no pod has now must be refused.
  // kwok reuses freed IPs first; addresses from the top of a node's range are unused too.
  const spare = Array.from({ length: SAMPLES }, (_, k) => ({
    ns: "",
    name: "(never used)",
    ip: `${nodeRange(k % l.nodes)}.${254 - Math.floor(k / l.nodes)}`,
  }));
  const unused = [];
  for (const p of [...old.filter((p) => !freshIps.has(p.ip)), ...spare]) {
    if (unused.length === SAMPLES) break;
    const owners = await api.get(
      `/api/v1/pods?fieldSelector=${encodeURIComponent(`status.podIP=${p.ip}`)}`,
    ) as { items?: unknown[] };
    if ((owners.items ?? []).length === 0) unused.push(p);
  }
  for (const p of unused) {
    const code = await socksReply(port, p.ip, 8080);
    if (code === 0) problems.push(`unused pod IP ${p.ip} (${p.name}) connects`);
  }
  await sleep(10_000);
  const steady = await steadyRss(proc.pid);
  const refused = unused.filter((p) => p.ns).length;
  const ok = problems.length === 0
    ? `routing follows (${refused} old + ${unused.length - refused} never-used IPs refused)`
    : problems.join("; ");
  note(`  churn: ${ok}; steady ${mb(steady).toFixed(0)} MB`);
  return { steadyMb: mb(steady), peakMb: mb(memStatus(proc.pid).hwm), ok };
}

/**
 * The pid of this cluster's kube-apiserver (from kwokctl's pid file: another cluster may run on
 * the machine, e.g. with KTCTL_CACHE pointing elsewhere).
 */
async function apiServerPid(): Promise<number> {
  const file = `${runDir()}/kwok/clusters/${CLUSTER_NAME}/pids/kube-apiserver.pid`;
  const pid = Number((await Deno.readTextFile(file).catch(() => "")).trim());
  return pid > 0 ? pid : pidsNamed(["kube-apiserver"])[0];
}

// ---------------------------------------------------------------------------------------------

/** `git describe`-like: the short commit of `dir`, "+dirty" when it has uncommitted changes. */
async function gitCommit(dir: string): Promise<string> {
  const git = async (...args: string[]) =>
    new TextDecoder().decode(
      (await new Deno.Command("git", { args, cwd: dir, stdout: "piped", stderr: "null" }).output())
        .stdout,
    ).trim();
  const head = await git("rev-parse", "--short", "HEAD");
  return head ? `${head}${(await git("status", "--porcelain", "-uno")) ? "+dirty" : ""}` : "?";
}

async function main() {
  const cfg = parseArgs(Deno.args);
  const info = await ensureCluster();
  const target = loadKubeconfig({ kubeconfig: info.kubeconfigs.admin });
  const api = new KubeApi(target.config, target.server);
  const home = await Deno.makeTempDir({ prefix: "ktctl-bench-scale-" });
  const denoDir = await denoCacheDir();
  const ticks = await clockTicks();
  // Each checkout is bundled right before it is measured, so one still being worked on while
  // the pods are created is measured as it is then; its commit is printed with its row.
  const prepare = async (dir: string, k: number) => {
    const commit = await gitCommit(dir);
    const label = `${dir.replace(/\/$/, "").split("/").at(-1)} ${commit}`;
    // The V8 flags that checkout ships with (its scripts/v8_flags.ts), so that a change of flags
    // is measured as the executables would run it.
    const { KTCTL_V8_FLAGS } = await import(
      pathToFileURL(`${dir.replace(/\/$/, "")}/scripts/v8_flags.ts`).href
    ) as { KTCTL_V8_FLAGS: readonly string[] };
    const v8Flags = KTCTL_V8_FLAGS.join(",");
    note(`measuring ${dir} at ${commit} (V8 flags ${v8Flags})`);
    if (!cfg.bundle) return { dir, label, v8Flags };
    const entry = `${home}/ktctl-${k}.js`;
    await bundleKtctl(entry, dir);
    // The first `deno run` of a new file analyses it once; a compiled executable never does.
    await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", entry, "--help"],
      env: { DENO_DIR: denoDir, NO_COLOR: "1" },
      stdout: "null",
      stderr: "null",
    }).output();
    return { dir, label, entry, v8Flags };
  };
  const backend = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok\n"),
  );
  const rows: [number, string, Figures][] = [];
  let current: Layout | undefined;
  const cleanUp = async () => {
    await stopAll();
    if (current && !cfg.keep) await tearDown(current);
  };
  Deno.addSignalListener("SIGINT", () => {
    note("interrupted: cleaning up");
    cleanUp().finally(() => Deno.exit(130));
  });
  try {
    for (const n of cfg.sizes) {
      await ensureCluster(); // a shared cluster may have been stopped meanwhile
      const l = current = layout(n);
      if (cfg.keep && await kept(api, l)) note(`reusing the ${n} pods of an earlier --keep run`);
      else {
        await tearDown(l); // leftovers of an interrupted run
        await setUp(api, l);
      }
      await forwardTo(api, l, backend.addr.port);
      await waitRunning(api);
      for (let s = 0; s < SAMPLES; s++) await waitEndpoints(api, l, s);
      const apiserverPid = await apiServerPid();
      for (const [round, dir] of cfg.ktctlDirs.entries()) {
        const side = await prepare(dir, round);
        const env = { api, kubeconfig: info.kubeconfigs.admin, home, denoDir };
        const figures = await measure(env, side, cfg, l, apiserverPid, ticks, round);
        rows.push([n, side.label, figures]);
        // Each row as soon as it is measured: a long run that breaks keeps what it had.
        console.log(
          `BENCH_SCALE_ROW ${JSON.stringify({ pods: n, ktctl: side.label, ...figures })}`,
        );
      }
      if (!cfg.keep) await tearDown(l);
      current = undefined;
    }
  } finally {
    await cleanUp();
    await backend.shutdown();
    api.close();
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
  const f = (x: number, d = 0) => Number.isFinite(x) ? x.toFixed(d) : "-";
  console.log(table(
    [
      "pods / services / namespaces / nodes",
      "ktctl",
      "banner (ms), goal",
      "read from API at start (MB)",
      "API server CPU at start (ms)",
      "ktctl CPU at start (ms)",
      "steady RSS (MB), goal / peak RSS (MB)",
      "first / second conn, service (ms; second: same pod)",
      "first / second conn, pod IP (ms)",
      "2nd conn to a service (new pod, known endpoints) (ms)",
      "lookup, as ktctl logs it: service / pod IP (p50 ms)",
      "node list (ms)",
      "one API round trip (ms)",
      "after churn: steady / peak RSS (MB)",
      "after churn: routing",
    ],
    rows.map(([n, dir, r]) => {
      const l = layout(n);
      return [
        `${l.pods} / ${l.services} / ${l.namespaces} / ${l.nodes}`,
        dir,
        judged(r.bannerMs, GOALS[n]?.bannerMs, f(r.bannerMs)),
        f(mb(r.startBytes), 2),
        f(r.apiCpuMs),
        f(r.ktctlCpuMs),
        `${judged(r.steadyMb, GOALS[n]?.steadyMb, f(r.steadyMb))} / ${f(r.peakMb)}`,
        `${f(r.first.service, 1)} / ${f(r.second.service, 1)}`,
        `${f(r.first.pod, 1)} / ${f(r.second.pod, 1)}`,
        f(r.newPodKnownService, 1),
        `${f(r.lookupMs.service, 1)} / ${f(r.lookupMs.pod, 1)}`,
        f(r.nodesListedMs ?? NaN),
        f(r.apiRoundTripMs, 1),
        r.churn ? `${f(r.churn.steadyMb)} / ${f(r.churn.peakMb)}` : "-",
        r.churn?.ok ?? "-",
      ];
    }),
  ));
  console.log(
    `BENCH_SCALE_JSON ${
      JSON.stringify(rows.map(([pods, ktctl, figures]) => ({ pods, ktctl, ...figures })))
    }`,
  );
}

if (import.meta.main) await main();
