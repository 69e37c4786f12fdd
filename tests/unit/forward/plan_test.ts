/**
 * Planning forwards against a cluster picture: services by port number or name (the printed
 * line names the service port), pods by container port name, deployments to their ready pods
 * only, round-robin through the connector, and one-line errors for an unknown target or port.
 */
import assert from "node:assert/strict";
import { ClusterIndex } from "../../../src/cluster/index.ts";
import { StaticPodSource } from "../../helpers/static_source.ts";
import { decodePod, decodeService } from "../../../src/kube/objects.ts";
import { ApiError } from "../../../src/kube/api.ts";
import { type ForwardContext, planForward } from "../../../src/forward/plan.ts";
import { parseForwardArgs } from "../../../src/forward/target.ts";
import type { Route } from "../../../src/route/resolve.ts";
import { DialError, type Upstream } from "../../../src/net/upstream.ts";
import { UserError } from "../../../src/errors.ts";

function rawPod(name: string, labels: Record<string, string>, ready: boolean, phase = "Running") {
  return {
    metadata: { namespace: "demo", name, labels },
    spec: { containers: [{ ports: [{ name: "redis", containerPort: 6379 }] }] },
    status: {
      phase,
      podIP: "10.244.1.9",
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
    },
  };
}

function world(objects: Record<string, unknown> = {}) {
  const index = new ClusterIndex();
  const pods = new StaticPodSource(index);
  index.replaceAll("services", [
    decodeService({
      metadata: { namespace: "demo", name: "db" },
      spec: {
        clusterIP: "10.96.0.5",
        selector: { app: "db" },
        ports: [{ name: "pg", port: 5432, targetPort: "postgres", protocol: "TCP" }],
      },
    }),
    decodeService({
      metadata: { namespace: "demo", name: "ext" },
      spec: { type: "ExternalName", externalName: "example.com" },
    }),
  ]);
  pods.replacePods([
    decodePod(rawPod("redis-a", { app: "redis" }, true)),
    decodePod(rawPod("redis-b", { app: "redis" }, false)),
    decodePod(rawPod("redis-c", { app: "redis" }, true)),
  ]);
  const dialled: [string, number][] = [];
  const opened: Extract<Route, { kind: "cluster" }>[] = [];
  const upstream = { description: "fake" } as Upstream;
  const ctx: ForwardContext = {
    api: {
      get: (path: string) => {
        if (path in objects) return Promise.resolve(objects[path]);
        if (path.endsWith("/secret")) return Promise.reject(new ApiError("forbidden", "nope", 403));
        return Promise.reject(new ApiError("not-found", "not found", 404));
      },
    },
    index,
    connector: {
      dial: (host: string, port: number) => {
        dialled.push([host, port]);
        return Promise.resolve({ upstream, via: "x" });
      },
      open: (route) => {
        opened.push(route);
        return Promise.resolve(upstream);
      },
    },
    namespace: "demo",
    clusterDomain: "cluster.local",
  };
  return { ctx, dialled, opened, index, pods };
}

const plan = (ctx: ForwardContext, target: string, ...ports: string[]) =>
  planForward(parseForwardArgs(target, ports), ctx);

async function assertUserError(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    assert.match(e.message, message);
    assert.ok(!e.message.includes("\n"), "one line");
    return true;
  });
}

Deno.test("forward plan: a service by port number or name dials its cluster name per connection", async () => {
  const { ctx, dialled } = world();
  const [byNumber, byName, other] = await plan(ctx, "svc/db", "5432", "pg", "15432:5432");
  assert.equal(byNumber.describe, "service demo/db:5432");
  assert.equal(byNumber.localPort, 5432);
  assert.equal(byName.localPort, 5432, "a named port's local port is its number");
  assert.equal(other.localPort, 15432);
  await byNumber.open();
  await byName.open();
  assert.deepEqual(dialled, [["db.demo.svc.cluster.local", 5432], [
    "db.demo.svc.cluster.local",
    5432,
  ]]);
  const [qualified] = await plan({ ...ctx, namespace: "other" }, "db.demo", "5432");
  assert.equal(qualified.describe, "service demo/db:5432");
});

Deno.test("forward plan: unknown services and ports, and ExternalName services, are one line each", async () => {
  const { ctx } = world();
  await assertUserError(plan(ctx, "svc/nope", "80"), /^service demo\/nope not found/);
  await assertUserError(
    plan(ctx, "db", "5433"),
    /^service demo\/db has no TCP port 5433 \(it has: 5432 \(pg\)\)$/,
  );
  await assertUserError(plan(ctx, "db", "http"), /has no TCP port http/);
  await assertUserError(plan(ctx, "ext", "80"), /ExternalName/);
});

Deno.test("forward plan: a pod by container port name, pinned to that pod", async () => {
  const path = "/api/v1/namespaces/demo/pods/redis-a";
  const { ctx, opened } = world({ [path]: rawPod("redis-a", { app: "redis" }, true) });
  const [p] = await plan(ctx, "pod/redis-a", "redis");
  assert.equal(p.describe, "pod demo/redis-a:6379");
  assert.equal(p.localPort, 6379);
  await p.open();
  assert.deepEqual(opened[0].targets, [{ namespace: "demo", pod: "redis-a", port: 6379 }]);
  await assertUserError(plan(ctx, "pod/redis-a", "http"), /no container port named http/);
  await assertUserError(plan(ctx, "pod/gone", "80"), /^pod demo\/gone not found/);
  await assertUserError(plan(ctx, "pod/secret", "80"), /^this user may not read pod demo\/secret/);
  const done = world({ [path]: rawPod("redis-a", {}, false, "Succeeded") });
  await assertUserError(plan(done.ctx, "pod/redis-a", "6379"), /is not running/);
});

Deno.test("forward plan: a deployment goes to the ready pods its selector matches now", async () => {
  const path = "/apis/apps/v1/namespaces/demo/deployments/redis";
  const deployment = { spec: { selector: { matchLabels: { app: "redis" } } } };
  const { ctx, opened, pods } = world({ [path]: deployment });
  const [p] = await plan(ctx, "deployment/redis", "16379:redis");
  assert.equal(p.describe, "deployment demo/redis:redis");
  assert.equal(p.localPort, 16379);
  await p.open();
  assert.deepEqual(
    opened[0].targets.map((t) => `${t.pod}:${t.port}`),
    ["redis-a:6379", "redis-c:6379"],
    "the unready redis-b is never offered",
  );
  assert.equal(opened[0].spreadKey, "deploy/demo/redis:redis");
  // Every pod goes unready: the next connection fails as "no-endpoints", not to a dead pod.
  pods.replacePods([decodePod(rawPod("redis-a", { app: "redis" }, false))]);
  await assert.rejects(
    p.open(),
    (e: unknown) => e instanceof DialError && e.kind === "no-endpoints",
  );
  await assertUserError(
    plan(world({ [path]: { spec: { selector: {} } } }).ctx, "deploy/redis", "6379"),
    /no matchLabels selector/,
  );
  await assertUserError(plan(ctx, "deploy/nope", "6379"), /^deployment demo\/nope not found/);
});
