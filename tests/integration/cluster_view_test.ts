/**
 * The cluster view against the in-process fake API server: paginated lists (and a continue
 * token that expires mid-way), watches that resume from their resource version after a drop or
 * a silence (no relist), a relist on 410, and the on-demand lookups of pods and endpoint slices
 * (one list each, then served from the watch; invalidated by it; dropped when unused).
 */
import assert from "node:assert/strict";
import { build, FakeApiServer } from "../../testenv/fake_apiserver.ts";
import { waitFor } from "../helpers/wait.ts";
import { ApiError, KubeApi } from "../../src/kube/api.ts";
import { serviceDecoder } from "../../src/kube/protobuf.ts";
import { loadKubeconfig } from "../../src/kube/kubeconfig.ts";
import { ClusterIndex } from "../../src/cluster/index.ts";
import { decodeService, type ServiceInfo } from "../../src/kube/objects.ts";
import { listAll, Reflector } from "../../src/kube/reflector.ts";
import { ClusterView } from "../../src/cluster/view.ts";
import type { OnDemandOptions } from "../../src/cluster/ondemand.ts";
import { resolveDestination } from "../../src/route/resolve.ts";

const OPTS = { namespace: "demo", clusterDomain: "cluster.local" };

async function apiFor(fake: FakeApiServer, token?: string): Promise<KubeApi> {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-view-" });
  const file = `${dir}/config`;
  await Deno.writeTextFile(file, fake.kubeconfig(token, "demo"));
  const target = loadKubeconfig({ kubeconfig: file });
  await Deno.remove(dir, { recursive: true });
  return new KubeApi(target.config, target.server);
}

function services(fake: FakeApiServer, n: number): void {
  for (let i = 0; i < n; i++) {
    fake.apply(
      "services",
      build.service("demo", `s${i}`, `10.96.0.${i + 1}`, [{ port: 80 }], { app: `s${i}` }),
    );
  }
}

/** Runs `body` against a fake API server holding `count` services, and cleans up. */
async function withServices(
  count: number,
  body: (fake: FakeApiServer, api: KubeApi) => Promise<void>,
): Promise<void> {
  const fake = new FakeApiServer();
  const api = await apiFor(fake);
  try {
    services(fake, count);
    await body(fake, api);
  } finally {
    api.close();
    await fake.close();
  }
}

/** A reflector of services into a plain map, for the list and watch tests. */
function serviceReflector(api: KubeApi, opts = {}) {
  const seen = new Map<string, ServiceInfo>();
  const reflector = new Reflector(api, "/api/v1/services", "", decodeService, {
    replace: (items) => {
      seen.clear();
      for (const s of items) seen.set(s.name, s);
    },
    upsert: (s) => seen.set(s.name, s),
    remove: (s) => seen.delete(s.name),
  }, { backoffMs: 20, ...opts });
  return { seen, reflector };
}

Deno.test("a list is read page by page with continue", async () => {
  await withServices(7, async (fake, api) => {
    const { items } = await listAll(api, "/api/v1/services", "", decodeService, { pageSize: 3 });
    assert.deepEqual(items.map((s) => s.name).sort(), ["s0", "s1", "s2", "s3", "s4", "s5", "s6"]);
    assert.equal(fake.count("list services"), 3);
    assert.match(fake.requests.at(-1)!, /continue=6/);
  });
});

Deno.test("a continue token that expires mid-list restarts the list", async () => {
  await withServices(5, async (fake, api) => {
    fake.expireContinues = 1;
    const { items } = await listAll(api, "/api/v1/services", "", decodeService, { pageSize: 2 });
    assert.equal(items.length, 5, "no duplicates, nothing missing");
    assert.equal(new Set(items.map((s) => s.name)).size, 5);
    // Page 1, the expired page 2, then pages 1-3 again.
    assert.equal(fake.count("list services"), 5);
    fake.expireContinues = 5;
    await assert.rejects(
      listAll(api, "/api/v1/services", "", decodeService, { pageSize: 2 }),
      /too old/,
    );
  });
});

Deno.test("a protobuf list is read page by page with continue, and gives what JSON gives", async () => {
  await withServices(7, async (fake, api) => {
    const json = await listAll(api, "/api/v1/services", "", decodeService, { pageSize: 3 });
    fake.protobuf = true;
    const proto = await listAll(api, "/api/v1/services", "", serviceDecoder, { pageSize: 3 });
    assert.deepEqual(proto.items, json.items);
    assert.equal(proto.resourceVersion, json.resourceVersion);
    assert.equal(fake.count("list services"), 6, "3 pages each");
    // The JSON decoder alone does not offer protobuf, and gets JSON.
    const again = await listAll(api, "/api/v1/services", "", decodeService, { pageSize: 3 });
    assert.deepEqual(again.items, json.items);
  });
});

Deno.test("a server that answers JSON to an offer of protobuf is read as JSON", async () => {
  await withServices(4, async (_fake, api) => {
    const { items } = await listAll(api, "/api/v1/services", "", serviceDecoder, { pageSize: 3 });
    assert.deepEqual(items.map((s) => s.name), ["s0", "s1", "s2", "s3"]);
  });
});

Deno.test("protobuf: a continue token that expires mid-list restarts it; errors keep their message", async () => {
  await withServices(5, async (fake, api) => {
    fake.protobuf = true;
    fake.expireContinues = 1;
    const { items } = await listAll(api, "/api/v1/services", "", serviceDecoder, { pageSize: 2 });
    assert.equal(new Set(items.map((s) => s.name)).size, 5);
    fake.expireContinues = 5;
    await assert.rejects(
      listAll(api, "/api/v1/services", "", serviceDecoder, { pageSize: 2 }),
      (e: unknown) => e instanceof ApiError && e.kind === "gone" && /too old/.test(e.message),
    );
    fake.tokens.set("limited", { namespaces: ["demo"] });
    const limited = await apiFor(fake, "limited");
    try {
      await assert.rejects(
        listAll(limited, "/api/v1/services", "", serviceDecoder),
        (e: unknown) =>
          e instanceof ApiError && e.kind === "forbidden" &&
          /services is forbidden: cannot list services at the cluster scope/.test(e.message),
      );
    } finally {
      limited.close();
    }
  });
});

Deno.test("a dropped watch resumes from its resource version, without a relist", async () => {
  await withServices(2, async (fake, api) => {
    const { seen, reflector } = serviceReflector(api);
    try {
      await reflector.start();
      assert.equal(seen.size, 2);
      await waitFor(() => fake.count("watch services") === 1, 5_000, "the first watch");
      fake.dropWatches();
      // Changes made while no watch is open arrive when it resumes.
      fake.delete("services", "demo", "s0");
      services(fake, 3);
      await waitFor(() => seen.size === 3 && seen.has("s0"), 5_000, "the changes");
      fake.delete("services", "demo", "s1");
      await waitFor(() => !seen.has("s1"), 5_000, "the deletion");
      assert.equal(reflector.stats.lists, 1);
      assert.equal(fake.count("list services"), 1);
      assert.ok(fake.count("watch services") >= 2);
    } finally {
      await reflector.stop();
    }
  });
});

Deno.test("a watch that goes silent is given up and resumed, without a relist", async () => {
  await withServices(1, async (fake, api) => {
    const { seen, reflector } = serviceReflector(api, { silenceMs: 1_500 });
    try {
      await reflector.start();
      await waitFor(() => fake.count("watch services") === 1, 5_000, "the first watch");
      fake.stallWatches();
      fake.apply("services", build.service("demo", "late", "10.96.1.1", [{ port: 80 }], {}));
      await waitFor(() => seen.has("late"), 10_000, "the change made while the watch was silent");
      assert.equal(fake.count("list services"), 1);
      assert.equal(fake.count("watch services"), 2);
      // The server-side timeout is below the client's silence deadline.
      const timeout = Number(/timeoutSeconds=(\d+)/.exec(fake.requests.at(-1)!)?.[1]);
      assert.ok(timeout >= 1 && timeout < 1.5, `timeoutSeconds=${timeout}`);
    } finally {
      await reflector.stop();
    }
  });
});

Deno.test("a watch told 410 Gone relists", async () => {
  await withServices(1, async (fake, api) => {
    const { seen, reflector } = serviceReflector(api);
    try {
      await reflector.start();
      await waitFor(() => fake.count("watch services") === 1, 5_000, "the first watch");
      // A change the watch misses, and history compacted past it.
      fake.stallWatches();
      fake.apply("services", build.service("demo", "missed", "10.96.1.3", [{ port: 80 }], {}));
      fake.compact();
      fake.dropWatches();
      await waitFor(() => seen.has("missed"), 5_000, "the relist");
      assert.equal(reflector.stats.lists, 2);
      fake.apply("services", build.service("demo", "after", "10.96.1.2", [{ port: 80 }], {}));
      await waitFor(() => seen.has("after"), 5_000, "events after the relist");
    } finally {
      await reflector.stop();
    }
  });
});

/** A cluster with one service of two pods, its slice, and a view on it. */
async function viewWorld(
  token?: string,
  prepare: (fake: FakeApiServer) => void = () => {},
  lookups: OnDemandOptions = { idleMs: 300 },
) {
  const fake = new FakeApiServer();
  prepare(fake);
  fake.apply("pods", build.pod("demo", "web-1", "10.244.0.5"));
  fake.apply("pods", build.pod("demo", "web-2", "10.244.0.6"));
  fake.apply(
    "services",
    build.service("demo", "web", "10.96.0.10", [{ port: 80, targetPort: 8080 }], { app: "web" }),
  );
  fake.apply(
    "endpointslices",
    build.slice("demo", "web", [{ port: 8080 }], [
      { pod: "web-1", ip: "10.244.0.5" },
      { pod: "web-2", ip: "10.244.0.6" },
    ]),
  );
  const api = await apiFor(fake, token);
  const index = new ClusterIndex();
  const gone: string[] = [];
  index.onPodGone((ns, name) => gone.push(`${ns}/${name}`));
  const view = await ClusterView.start(api, index, {
    namespace: "demo",
    backoffMs: 20,
    lookups,
  });
  const route = (host: string, port = 80) => resolveDestination(index, host, port, OPTS);
  const targets = async (host: string, port = 80) => {
    const r = await route(host, port);
    return r.kind === "cluster" ? r.targets.map((t) => t.pod) : r.kind;
  };
  return {
    fake,
    index,
    view,
    gone,
    route,
    targets,
    async close() {
      await view.stop();
      api.close();
      await fake.close();
    },
  };
}

Deno.test("start reads no pods beyond one page, and no endpoint slices", async () => {
  const w = await viewWorld();
  try {
    assert.equal(w.fake.count("list pods"), 1);
    assert.match(w.fake.requests.find((r) => r.startsWith("list pods"))!, /limit=100/);
    assert.equal(w.fake.count("list endpointslices"), 1, "one probe of one item");
    assert.equal(w.index.count("pods"), 2);
    assert.equal(w.index.count("services"), 1);
    assert.deepEqual(w.index.namespaces(), ["demo"]);
  } finally {
    await w.close();
  }
});

Deno.test("the pod sample is read in protobuf when offered: the same IPs and count", async () => {
  for (const protobuf of [false, true]) {
    const w = await viewWorld(undefined, (fake) => {
      fake.protobuf = protobuf;
      // More pods than one sample page: the count comes from remainingItemCount.
      for (let i = 0; i < 150; i++) {
        fake.apply("pods", build.pod("bulk", `p-${i}`, `10.245.${i >> 8}.${i & 255}`));
      }
    });
    try {
      assert.equal(w.index.count("pods"), 152, `protobuf ${protobuf}`);
      // The sample is the first 100 pods ("bulk/..." sort first): their range, and the service's.
      assert.deepEqual(
        w.index.clusterRanges().map((r) => `${r[0]}/${r[1]}`).sort(),
        ["10.245.0.0/16", "10.96.0.0/16"],
      );
    } finally {
      await w.close();
    }
  }
});

/** Waits for `event`, or fails with `message` after 10 s (a request held until another came). */
async function heldUntil(event: Promise<void>, message: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), 10_000);
  });
  try {
    await Promise.race([event, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("the services are listed without waiting for the pod sample", async () => {
  const fake = new FakeApiServer();
  fake.protobuf = true;
  fake.apply("pods", build.pod("demo", "web-1", "10.244.0.5"));
  fake.apply(
    "services",
    build.service("demo", "web", "10.96.0.10", [{ port: 80 }], { app: "web" }),
  );
  const api = await apiFor(fake);
  const events: string[] = [];
  // The sample is held until the services' list is in: a view that waited for the sample before
  // asking for the services would never get it (and fails at the deadline).
  let servicesIn!: () => void;
  const servicesAnswered = new Promise<void>((resolve) => servicesIn = resolve);
  const original = api.getProtobufOrJson.bind(api);
  api.getProtobufOrJson = async (path: string, signal?: AbortSignal) => {
    const what = path.startsWith("/api/v1/pods") ? "sample" : path.split("?")[0];
    events.push(`${what} asked`);
    if (what === "sample") {
      await heldUntil(servicesAnswered, "the services' list never came while the sample was held");
    }
    const answer = await original(path, signal);
    events.push(`${what} answered`);
    if (what === "/api/v1/services") servicesIn();
    return answer;
  };
  const view = await ClusterView.start(api, new ClusterIndex(), { namespace: "demo" });
  try {
    assert.deepEqual(events.slice(0, 2), ["sample asked", "/api/v1/services asked"]);
    assert.ok(
      events.indexOf("/api/v1/services answered") < events.indexOf("sample answered"),
      events.join(", "),
    );
    assert.equal(view.index.count("services"), 1);
    assert.equal(view.index.count("pods"), 1);
  } finally {
    await view.stop();
    api.close();
    await fake.close();
  }
});

Deno.test("the namespaces are listed without waiting for the pod sample", async () => {
  const fake = new FakeApiServer();
  fake.protobuf = true;
  fake.apply("pods", build.pod("demo", "web-1", "10.244.0.5"));
  const api = await apiFor(fake);
  const events: string[] = [];
  // The sample is held until the namespaces are asked for: a view that lists them only after the
  // sample (one round trip more before the proxy serves) fails at the deadline.
  let namespacesAsked!: () => void;
  const asked = new Promise<void>((resolve) => namespacesAsked = resolve);
  const originalProtobuf = api.getProtobufOrJson.bind(api);
  api.getProtobufOrJson = async (path: string, signal?: AbortSignal) => {
    if (path.startsWith("/api/v1/pods")) {
      events.push("sample asked");
      await heldUntil(asked, "the namespaces were not asked for while the sample was held");
      events.push("sample answered");
    }
    return await originalProtobuf(path, signal);
  };
  const originalGet = api.get.bind(api);
  api.get = (path: string, signal?: AbortSignal) => {
    if (path.startsWith("/api/v1/namespaces?")) {
      events.push("namespaces asked");
      namespacesAsked();
    }
    return originalGet(path, signal);
  };
  const view = await ClusterView.start(api, new ClusterIndex(), { namespace: "demo" });
  try {
    assert.deepEqual(events, ["sample asked", "namespaces asked", "sample answered"]);
    assert.equal(view.scope.kind, "cluster");
    assert.equal(view.index.count("pods"), 1);
  } finally {
    await view.stop();
    api.close();
    await fake.close();
  }
});

Deno.test("a service's endpoints are looked up once, then kept current by the watch", async () => {
  const w = await viewWorld();
  try {
    assert.deepEqual(await w.targets("web"), ["web-1", "web-2"]);
    assert.deepEqual(await w.targets("10.96.0.10"), ["web-1", "web-2"]);
    assert.equal(w.fake.count("list endpointslices"), 2, "the probe and one lookup");
    assert.match(
      w.fake.requests.filter((r) => r.startsWith("list endpointslices")).at(-1)!,
      /labelSelector=kubernetes.io%2Fservice-name%3Dweb/,
    );
    // A new ready endpoint is used as soon as the slice says so.
    w.fake.apply("pods", build.pod("demo", "web-3", "10.244.0.7"));
    w.fake.apply(
      "endpointslices",
      build.slice("demo", "web", [{ port: 8080 }], [
        { pod: "web-1", ip: "10.244.0.5" },
        { pod: "web-2", ip: "10.244.0.6" },
        { pod: "web-3", ip: "10.244.0.7" },
      ]),
    );
    await waitFor(async () => (await w.targets("web")).length === 3, 5_000, "web-3");
    assert.equal(w.fake.count("list endpointslices"), 2, "served from the watch");
  } finally {
    await w.close();
  }
});

Deno.test("a pod IP is looked up by field selector once, and follows the pod", async () => {
  const w = await viewWorld();
  try {
    assert.deepEqual(await w.targets("10.244.0.5", 8080), ["web-1"]);
    assert.deepEqual(await w.targets("10.244.0.5", 8080), ["web-1"]);
    const lookups = w.fake.requests.filter((r) => /^list pods .*fieldSelector/.test(r));
    assert.equal(lookups.length, 1);
    assert.match(lookups[0], /fieldSelector=status.podIP%3D10.244.0.5/);
    // An address in the cluster's range that no pod has: refused, and a pod that takes it later
    // is used at once.
    assert.equal((await w.route("10.244.0.99")).kind, "reject");
    w.fake.apply("pods", build.pod("demo", "late", "10.244.0.99"));
    await waitFor(async () => (await w.route("10.244.0.99")).kind === "cluster", 5_000, "late");
    // A deleted pod: its tunnels are told (pod-gone), and its IP is refused again.
    w.fake.delete("pods", "demo", "web-1");
    await waitFor(() => w.gone.includes("demo/web-1"), 5_000, "pod-gone for web-1");
    assert.equal((await w.route("10.244.0.5", 8080)).kind, "reject");
    // A public address is never looked up.
    const before = w.fake.requests.length;
    assert.equal((await w.route("8.8.8.8", 53)).kind, "direct");
    assert.equal(w.fake.requests.length, before);
  } finally {
    await w.close();
  }
});

/** Two nodes with pod ranges; web-1 and web-2 (10.244.0.x) run on n-a, b-1 on n-b. */
function twoNodes(fake: FakeApiServer): void {
  fake.apply("nodes", build.node("n-a", ["10.244.0.0/24"]));
  fake.apply("nodes", build.node("n-b", ["10.244.1.0/24", "fd00:10:244:1::/64"]));
  fake.apply("pods", build.pod("demo", "b-1", "10.244.1.5", { nodeName: "n-b" }));
}

/** The pod lists that looked up `ip`, by the field selector each used. */
function ipLookups(fake: FakeApiServer, ip: string): string[] {
  return fake.requests.filter((r) => r.startsWith("list pods") && r.includes(ip))
    .map((r) => decodeURIComponent(/fieldSelector=([^&]+)/.exec(r)?.[1] ?? ""));
}

for (const protobuf of [false, true]) {
  Deno.test(`a pod IP in a node's range is looked up on that node (nodes in ${protobuf ? "protobuf" : "JSON"})`, async () => {
    const w = await viewWorld(undefined, (fake) => {
      fake.protobuf = protobuf;
      twoNodes(fake);
    });
    try {
      // The first pod-IP lookup does not wait for the nodes; it starts their list.
      assert.deepEqual(await w.targets("10.244.0.5", 8080), ["web-1"]);
      assert.deepEqual(ipLookups(w.fake, "10.244.0.5"), ["status.podIP=10.244.0.5"]);
      await w.view.lookups.nodeRanges!.settled();
      assert.equal(w.fake.count("list nodes"), 1);
      assert.deepEqual(await w.targets("10.244.1.5", 8080), ["b-1"]);
      assert.deepEqual(await w.targets("10.244.1.5", 8080), ["b-1"]);
      assert.deepEqual(ipLookups(w.fake, "10.244.1.5"), [
        "spec.nodeName=n-b,status.podIP=10.244.1.5",
      ]);
      // An address of the range that no pod has: asked on the node, then across the cluster
      // (the range is a hint), refused; a pod that takes it later is used at once.
      assert.equal((await w.route("10.244.1.99")).kind, "reject");
      assert.deepEqual(ipLookups(w.fake, "10.244.1.99"), [
        "spec.nodeName=n-b,status.podIP=10.244.1.99",
        "status.podIP=10.244.1.99",
      ]);
      w.fake.apply("pods", build.pod("demo", "late", "10.244.1.99", { nodeName: "n-b" }));
      await waitFor(async () => (await w.route("10.244.1.99")).kind === "cluster", 5_000, "late");
      // A deleted pod stops getting traffic.
      w.fake.delete("pods", "demo", "b-1");
      await waitFor(() => w.gone.includes("demo/b-1"), 5_000, "pod-gone for b-1");
      assert.equal((await w.route("10.244.1.5", 8080)).kind, "reject");
      // Misses within the refresh time list the nodes no more.
      assert.equal(w.fake.count("list nodes"), 1);
    } finally {
      await w.close();
    }
  });
}

Deno.test("node ranges that the pods do not follow are given up for plain lookups", async () => {
  const w = await viewWorld(undefined, (fake) => {
    twoNodes(fake);
    // In n-b's range, but on n-a: IPAM that ignores node ranges.
    fake.apply("pods", build.pod("demo", "stray", "10.244.1.7", { nodeName: "n-a" }));
  });
  try {
    await w.targets("10.244.0.5", 8080);
    await w.view.lookups.nodeRanges!.settled();
    assert.deepEqual(await w.targets("10.244.1.7"), ["stray"]);
    assert.deepEqual(ipLookups(w.fake, "10.244.1.7"), [
      "spec.nodeName=n-b,status.podIP=10.244.1.7",
      "status.podIP=10.244.1.7",
    ]);
    assert.deepEqual(await w.targets("10.244.1.5"), ["b-1"]);
    assert.deepEqual(ipLookups(w.fake, "10.244.1.5"), ["status.podIP=10.244.1.5"]);
  } finally {
    await w.close();
  }
});

Deno.test("a user who may not list nodes gets plain pod-IP lookups, and no more node lists", async () => {
  const w = await viewWorld("no-nodes", (fake) => {
    fake.tokens.set("no-nodes", { nodes: false });
    twoNodes(fake);
  });
  try {
    assert.equal(w.view.scope.kind, "cluster");
    assert.deepEqual(await w.targets("10.244.0.5", 8080), ["web-1"]);
    await w.view.lookups.nodeRanges!.settled();
    assert.equal((await w.route("10.244.1.99")).kind, "reject");
    assert.deepEqual(await w.targets("10.244.1.5"), ["b-1"]);
    assert.deepEqual(ipLookups(w.fake, "10.244.1.5"), ["status.podIP=10.244.1.5"]);
    assert.equal(w.fake.count("list nodes"), 1);
  } finally {
    await w.close();
  }
});

Deno.test("a miss lists the nodes again once the table is older than the refresh time", async () => {
  const w = await viewWorld(undefined, twoNodes, { idleMs: 300, nodeRanges: { refreshMs: 50 } });
  try {
    await w.targets("10.244.0.5", 8080);
    await w.view.lookups.nodeRanges!.settled();
    w.fake.apply("nodes", build.node("n-c", ["10.244.2.0/24"]));
    w.fake.apply("pods", build.pod("demo", "c-1", "10.244.2.5", { nodeName: "n-c" }));
    // A miss on the old table: the lookup goes plain, and the nodes are listed again.
    await waitFor(
      async () => {
        await w.targets(`10.244.2.${w.fake.count("list nodes") + 10}`);
        return w.fake.count("list nodes") >= 2;
      },
      5_000,
      "a second node list",
    );
    await w.view.lookups.nodeRanges!.settled();
    assert.deepEqual(await w.targets("10.244.2.5"), ["c-1"]);
    assert.deepEqual(ipLookups(w.fake, "10.244.2.5"), [
      "spec.nodeName=n-c,status.podIP=10.244.2.5",
    ]);
  } finally {
    await w.close();
  }
});

Deno.test("a pod that leaves a service's slice and is gone stops getting traffic", async () => {
  const w = await viewWorld();
  try {
    assert.deepEqual(await w.targets("web"), ["web-1", "web-2"]);
    w.fake.delete("pods", "demo", "web-2");
    w.fake.apply(
      "endpointslices",
      build.slice("demo", "web", [{ port: 8080 }], [{ pod: "web-1", ip: "10.244.0.5" }]),
    );
    await waitFor(() => w.gone.includes("demo/web-2"), 5_000, "pod-gone for web-2");
    assert.ok(w.fake.requests.some((r) => r.startsWith("get pods in demo")));
    assert.deepEqual(await w.targets("web"), ["web-1"]);
  } finally {
    await w.close();
  }
});

Deno.test("unused lookups are dropped with their watches, and looked up again", async () => {
  const w = await viewWorld();
  try {
    await w.targets("web");
    assert.equal(w.view.lookups.size, 1);
    await waitFor(() => w.view.lookups.size === 0, 5_000, "the idle lookup to go");
    assert.deepEqual(await w.targets("web"), ["web-1", "web-2"]);
    assert.equal(w.fake.count("list endpointslices"), 3);
  } finally {
    await w.close();
  }
});

Deno.test("beyond the cap, the least recently used lookup goes", async () => {
  const w = await viewWorld(undefined, () => {}, { maxLookups: 2 });
  try {
    await w.targets("10.244.0.5", 8080);
    await w.targets("10.244.0.6", 8080);
    await w.targets("10.244.0.5", 8080);
    await w.targets("web");
    assert.equal(w.view.lookups.size, 2);
    // 10.244.0.6 was the least recently used: it is listed again, 10.244.0.5 is not.
    await w.targets("10.244.0.5", 8080);
    await w.targets("10.244.0.6", 8080);
    const ipLists = (ip: string) =>
      w.fake.requests.filter((r) => r.startsWith("list pods") && r.includes(ip)).length;
    assert.equal(ipLists("10.244.0.5"), 1);
    assert.equal(ipLists("10.244.0.6"), 2);
  } finally {
    await w.close();
  }
});

Deno.test("a namespace-limited user's lookups stay in its namespace", async () => {
  const w = await viewWorld(
    "limited",
    (fake) => fake.tokens.set("limited", { namespaces: ["demo"] }),
  );
  try {
    assert.deepEqual(w.view.scope, { kind: "namespace", namespace: "demo" });
    assert.deepEqual(await w.targets("10.244.0.6", 8080), ["web-2"]);
    assert.ok(
      w.fake.requests.some((r) => /^list pods in demo .*fieldSelector/.test(r)),
      w.fake.requests.join("\n"),
    );
    assert.deepEqual(await w.targets("web"), ["web-1", "web-2"]);
  } finally {
    await w.close();
  }
});
