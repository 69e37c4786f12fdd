/**
 * `ktctl forward` and `connect --forward` / `connect -- java` against the real local control
 * plane, with real database servers behind test-owned pods: redis-server and PostgreSQL on free
 * loopback ports, each pod port a kwok PortForward to one of them, in a namespace this test
 * creates and deletes. Clients are the real redis-cli, psql and a Java program using the
 * PostgreSQL JDBC driver from Maven Central. Needs the cluster up (`deno task cluster up`).
 */
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster, kubectl, portForward } from "../../testenv/cluster/mod.ts";
import { freePort } from "../../testenv/ktctl_process.ts";
import { type DbServer, startPostgres, startRedis } from "../helpers/db_servers.ts";
import { JDBC_QUERY_SOURCE, jdbcJar } from "../helpers/jdbc.ts";
import { runKtctl } from "../helpers/ktctl_cli.ts";
import { waitFor } from "../helpers/wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
await ensureCluster();
const info = await clusterInfo();
const ns = `fwd-e2e-${crypto.randomUUID().slice(0, 8)}`;
const home = await Deno.makeTempDir({ prefix: "ktctl-forward-home-" });
const env = { HOME: home, USERPROFILE: home };
// Only loopback may ever be dialled directly: the cluster's pod IPs are fake.
const SAFE = ["--dialDirect", "127.0.0.0/8,::1/128"];
const admin = ["-c", info.kubeconfigs.admin];

type Obj = Record<string, unknown>;

/** A pod on a kwok node (no fixture label: the shared fixture's readiness wait must not see it). */
function pod(name: string, app: string, ports: { name: string; containerPort: number }[]): Obj {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: ns, name, labels: { app } },
    spec: {
      nodeName: "kwok-node-0",
      containers: [{
        name: "main",
        image: "fake.invalid/db:1",
        ports: ports.map((p) => ({ ...p, protocol: "TCP" })),
      }],
      tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }],
    },
  };
}

function service(name: string, app: string, port: Obj): Obj {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace: ns, name },
    spec: { selector: { app }, ports: [{ ...port, protocol: "TCP" }] },
  };
}

async function apply(objects: Obj[]): Promise<void> {
  await kubectl(["apply", "-f", "-"], {
    stdin: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  });
}

async function ready(...pods: string[]): Promise<void> {
  await kubectl([
    "-n",
    ns,
    "wait",
    "--for=condition=Ready",
    ...pods.map((p) => `pod/${p}`),
    "--timeout=60s",
  ]);
}

async function client(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
    .output();
  const d = new TextDecoder();
  return { code: r.code, out: (d.decode(r.stdout) + d.decode(r.stderr)).trim() };
}

const redisCli = (port: number, ...args: string[]) =>
  client("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args]);
const psql = (port: number, sql: string) =>
  client("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-tAc", sql]);

/** The redis pod: port `redis` 6379, forwarded by kwok to the redis-server. */
const redisPod = (name: string, redis: DbServer) => [
  pod(name, "redis", [{ name: "redis", containerPort: 6379 }]),
  portForward(ns, name, [[6379, redis.port]]),
];

Deno.test({
  name:
    "forward: redis, psql, pod restarts, a deployment, errors, connect --forward, -- java (JDBC)",
  ...opts,
  fn: async (t) => {
    const redis = await startRedis();
    const pg = await startPostgres();
    const running: { stop(): Promise<number> }[] = [];
    try {
      await apply([{ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }]);
      await apply([
        ...redisPod("redis-1", redis),
        // Service port `redis` 6379 → the pods' named port; `db` 5432 (`postgres`) → `pg`.
        service("redis", "redis", { name: "redis", port: 6379, targetPort: "redis" }),
        pod("db-0", "db", [{ name: "pg", containerPort: 5432 }]),
        portForward(ns, "db-0", [[5432, pg.port]]),
        service("db", "db", { name: "postgres", port: 5432, targetPort: "pg" }),
      ]);
      await ready("redis-1", "db-0");

      const redisPort = freePort();
      const fwd = runKtctl(
        ["forward", ...admin, "-n", ns, "svc/redis", `${redisPort}:6379`],
        env,
      );
      running.push(fwd);

      await t.step("ktctl forward svc/redis: one line, then redis-cli PING, SET/GET", async () => {
        const [line] = await fwd.waitFor(/\S+ → service \S+/);
        assert.equal(line, `127.0.0.1:${redisPort} → service ${ns}/redis:6379`);
        assert.deepEqual(await redisCli(redisPort, "PING"), { code: 0, out: "PONG" });
        assert.deepEqual(await redisCli(redisPort, "SET", "ktctl", "forwarded"), {
          code: 0,
          out: "OK",
        });
        assert.deepEqual(await redisCli(redisPort, "GET", "ktctl"), { code: 0, out: "forwarded" });
      });

      await t.step(
        "the redis pod deleted and recreated: the same forward works again",
        async () => {
          await kubectl(["-n", ns, "delete", "pod", "redis-1", "--wait=true"]);
          // No ready endpoint: the connection is closed, the forward says why and stays up.
          await waitFor(
            async () => (await redisCli(redisPort, "PING")).out !== "PONG",
            20_000,
            "the deleted pod to stop serving",
            200,
          );
          await fwd.waitFor(/no ready endpoints/);
          await apply(redisPod("redis-2", redis));
          await ready("redis-2");
          await waitFor(
            async () => (await redisCli(redisPort, "PING")).out === "PONG",
            20_000,
            "redis-cli through the same forward, to the new pod",
            200,
          );
          assert.deepEqual(await redisCli(redisPort, "GET", "ktctl"), {
            code: 0,
            out: "forwarded",
          });
          assert.equal(
            fwd.child.pid > 0 && (await Promise.race([fwd.exited, "running"])),
            "running",
          );
        },
      );

      await t.step("psql through ktctl forward, by service port name", async () => {
        const port = freePort();
        const k = runKtctl(["forward", ...admin, `db.${ns}`, `${port}:postgres`], env);
        running.push(k);
        const [line] = await k.waitFor(/\S+ → service \S+/);
        assert.equal(line, `127.0.0.1:${port} → service ${ns}/db:5432`);
        assert.deepEqual(await psql(port, "select 40 + 2"), { code: 0, out: "42" });
        assert.equal(await k.stop(), 0);
      });

      await t.step("pod/NAME with a named container port and a free local port", async () => {
        const k = runKtctl(["forward", ...admin, "-n", ns, "pod/db-0", ":pg"], env);
        running.push(k);
        const [, port] = await k.waitFor(/127\.0\.0\.1:(\d+) → pod \S+:5432/);
        assert.deepEqual(await psql(Number(port), "select current_user"), {
          code: 0,
          out: "postgres",
        });
        assert.equal(await k.stop(), 0);
      });

      await t.step("deployment/NAME: its ready pod, by container port name", async () => {
        const template = pod("unused", "cache", [{ name: "redis", containerPort: 6379 }]);
        await apply([{
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { namespace: ns, name: "cache" },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: "cache" } },
            template: { metadata: { labels: { app: "cache" } }, spec: template.spec },
          },
        }]);
        // The ReplicaSet names the pod; its port is then pointed at the redis-server.
        let name = "";
        await waitFor(
          async () => {
            const list = JSON.parse(
              (await kubectl(["-n", ns, "get", "pods", "-l", "app=cache", "-o", "json"])).stdout,
            ) as { items: { metadata: { name: string } }[] };
            name = list.items[0]?.metadata.name ?? "";
            return name !== "";
          },
          30_000,
          "the deployment's pod",
        );
        await apply([portForward(ns, name, [[6379, redis.port]])]);
        await ready(name);
        const k = runKtctl(["forward", ...admin, "-n", ns, "deployment/cache", ":redis"], env);
        running.push(k);
        const [line, port] = await k.waitFor(/127\.0\.0\.1:(\d+) → deployment \S+/);
        assert.equal(line, `127.0.0.1:${port} → deployment ${ns}/cache:redis`);
        assert.deepEqual(await redisCli(Number(port), "GET", "ktctl"), {
          code: 0,
          out: "forwarded",
        });
        assert.equal(await k.stop(), 0);
      });

      await t.step(
        "clear one-line errors: taken port, unknown target or port, no permission",
        async () => {
          const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
          const cases: [string[], RegExp][] = [
            [
              [...admin, "-n", ns, "svc/redis", `${taken.addr.port}:6379`],
              new RegExp(`127\\.0\\.0\\.1:${taken.addr.port} is already in use: `),
            ],
            [[...admin, "-n", ns, "svc/nope", "80"], new RegExp(`service ${ns}/nope not found`)],
            [
              [...admin, "-n", ns, "svc/redis", "6380"],
              new RegExp(`service ${ns}/redis has no TCP port 6380 \\(it has: 6379 \\(redis\\)\\)`),
            ],
            [[...admin, "-n", ns, "pod/nope", "80"], new RegExp(`pod ${ns}/nope not found`)],
            [
              ["-c", info.kubeconfigs.limited, `redis.${ns}`, "6379"],
              new RegExp(`may not port-forward to pods in namespace ${ns}`),
            ],
          ];
          try {
            for (const [args, message] of cases) {
              const k = runKtctl(["forward", ...args], env);
              assert.equal(await k.exited, 1, args.join(" "));
              const errors = k.stderr().trim().split("\n");
              assert.equal(errors.length, 1, k.stderr());
              assert.match(errors[0], message);
            }
          } finally {
            taken.close();
          }
        },
      );

      await t.step("connect --forward: the forward is up before COMMAND runs", async () => {
        const port = freePort();
        const k = runKtctl([
          "connect",
          ...admin,
          ...SAFE,
          "--proxyPort",
          "0",
          "--forward",
          `redis.${ns}:${port}:6379`,
          "--",
          "redis-cli",
          "-p",
          String(port),
          "GET",
          "ktctl",
        ], env);
        running.push(k);
        assert.equal(await k.exited, 0, k.stderr());
        assert.equal(k.stdout().trim(), "forwarded");
        assert.match(k.stderr(), new RegExp(`127\\.0\\.0\\.1:${port} → service ${ns}/redis:6379`));
      });

      await t.step({
        name: "connect -- java: a JDBC program reaches jdbc:postgresql://db.<ns>:5432 by name",
        ignore: !(await hasJava()),
        fn: async () => {
          const jar = await jdbcJar();
          if ("missing" in jar) throw new Error(jar.missing);
          const dir = await Deno.makeTempDir({ prefix: "ktctl-jdbc-" });
          await Deno.writeTextFile(`${dir}/JdbcQuery.java`, JDBC_QUERY_SOURCE);
          const k = runKtctl([
            "connect",
            ...admin,
            ...SAFE,
            "--proxyPort",
            "0",
            "--",
            "java",
            "-cp",
            jar.path,
            `${dir}/JdbcQuery.java`,
            `jdbc:postgresql://db.${ns}:5432/postgres`,
            "select 'jdbc ' || (40 + 2)",
          ], env);
          running.push(k);
          assert.equal(await k.exited, 0, k.stdout() + k.stderr());
          assert.equal(k.stdout().trim(), "result=jdbc 42");
          await Deno.remove(dir, { recursive: true });
        },
      });
    } finally {
      await Promise.all(running.map((r) => r.stop()));
      // The namespace and everything in it go; tried again while the API server is busy.
      await waitFor(
        async () =>
          (await kubectl(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"], {
            check: false,
          })).code === 0,
        30_000,
        `namespace ${ns} to be deleted`,
        1_000,
      ).catch((e) => console.error(String(e)));
      await redis.stop();
      await pg.stop();
    }
  },
});

async function hasJava(): Promise<boolean> {
  try {
    return (await new Deno.Command("java", { args: ["-version"], stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}
