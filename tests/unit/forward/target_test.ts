/**
 * The grammar of `ktctl forward TARGET [LOCAL:]REMOTE...` and `connect --forward`, and a
 * Deployment's selector: every form kubectl and kt-connect accept, and the spellings refused.
 */
import assert from "node:assert/strict";
import {
  describeTarget,
  localPortOf,
  parseForwardArgs,
  parseForwardFlag,
  parsePortSpec,
  parseTarget,
  SpecError,
} from "../../../src/forward/target.ts";
import { deploymentSelector, matchesExpressions } from "../../../src/forward/selector.ts";

Deno.test("forward target: kubectl's and kt-connect's forms", () => {
  const cases: [string, ReturnType<typeof parseTarget>][] = [
    ["redis", { kind: "service", name: "redis" }],
    ["postgres.db", { kind: "service", name: "postgres", namespace: "db" }],
    ["service/redis", { kind: "service", name: "redis" }],
    ["svc/redis", { kind: "service", name: "redis" }],
    ["services/redis.demo", { kind: "service", name: "redis", namespace: "demo" }],
    ["Svc/redis", { kind: "service", name: "redis" }],
    ["pod/redis-0", { kind: "pod", name: "redis-0" }],
    ["po/web.v2-0", { kind: "pod", name: "web.v2-0" }],
    ["pods/a", { kind: "pod", name: "a" }],
    ["deployment/api", { kind: "deployment", name: "api" }],
    ["deploy/api", { kind: "deployment", name: "api" }],
    ["deployments/api.v1", { kind: "deployment", name: "api.v1" }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseTarget(text), want, text);
});

Deno.test("forward target: wrong kinds and names are refused with the text quoted", () => {
  for (
    const text of [
      "",
      "statefulset/db",
      "/redis",
      "svc/",
      "Redis",
      "redis.demo.svc",
      "1redis",
      "redis_db",
      "redis.Demo",
      "pod/",
      "pod/-a",
      "deployment/a..b",
      "svc/redis:80",
      `pod/${"a".repeat(254)}`,
    ]
  ) {
    assert.throws(() => parseTarget(text), (e: unknown) => {
      assert.ok(e instanceof SpecError, `${text}: ${e}`);
      assert.ok(e.message.includes(`"${text}"`), e.message);
      return true;
    });
  }
});

Deno.test("forward ports: REMOTE, LOCAL:REMOTE, :REMOTE, names", () => {
  assert.deepEqual(parsePortSpec("5432"), { remote: 5432 });
  assert.deepEqual(parsePortSpec("15432:5432"), { local: 15432, remote: 5432 });
  assert.deepEqual(parsePortSpec(":5432"), { local: 0, remote: 5432 });
  assert.deepEqual(parsePortSpec("postgres"), { remote: "postgres" });
  assert.deepEqual(parsePortSpec("8080:http"), { local: 8080, remote: "http" });
  assert.deepEqual(parsePortSpec("1:65535"), { local: 1, remote: 65535 });
  for (
    const bad of [
      "",
      "0",
      "65536",
      "1:2:3",
      "x:80",
      "0:80",
      "-1",
      "80 ",
      "http_port",
      "-http",
      "a".repeat(16),
      "99999:80",
      "8.0",
    ]
  ) {
    assert.throws(() => parsePortSpec(bad), SpecError, bad);
  }
});

Deno.test("forward ports: the local port is the remote number unless given", () => {
  assert.equal(localPortOf({ remote: 5432 }, 5432), 5432);
  assert.equal(localPortOf({ remote: "pg" }, 5433), 5433);
  assert.equal(localPortOf({ local: 0, remote: 5432 }, 5432), 0);
  assert.equal(localPortOf({ local: 7000, remote: "pg" }, 5433), 7000);
});

Deno.test("forward: operands and --forward values", () => {
  assert.deepEqual(parseForwardArgs("svc/db.demo", ["5432", "16379:redis"]), {
    target: { kind: "service", name: "db", namespace: "demo" },
    ports: [{ remote: 5432 }, { local: 16379, remote: "redis" }],
  });
  assert.throws(() => parseForwardArgs("svc/db", []), /at least one/);
  assert.deepEqual(parseForwardFlag("svc/db.demo:5432"), {
    target: { kind: "service", name: "db", namespace: "demo" },
    ports: [{ remote: 5432 }],
  });
  assert.deepEqual(parseForwardFlag("deployment/redis:16379:6379"), {
    target: { kind: "deployment", name: "redis" },
    ports: [{ local: 16379, remote: 6379 }],
  });
  assert.deepEqual(parseForwardFlag("redis::6379"), {
    target: { kind: "service", name: "redis" },
    ports: [{ local: 0, remote: 6379 }],
  });
  for (const bad of ["redis", "redis:", ":6379", "svc/redis:1:2:3", "foo/x:80"]) {
    assert.throws(() => parseForwardFlag(bad), SpecError, bad);
  }
  assert.equal(describeTarget({ kind: "service", name: "db" }, "demo"), "service demo/db");
  assert.equal(
    describeTarget({ kind: "pod", name: "r-0", namespace: "x" }, "demo"),
    "pod x/r-0",
  );
});

Deno.test("forward: a Deployment's selector, matchExpressions matched client-side", () => {
  const sel = deploymentSelector({
    spec: {
      selector: {
        matchLabels: { app: "redis", n: 1 },
        matchExpressions: [
          { key: "tier", operator: "In", values: ["cache", "db"] },
          { key: "canary", operator: "DoesNotExist" },
          { key: "zone", operator: "NotIn", values: ["b"] },
          { key: "app", operator: "Exists" },
        ],
      },
    },
  });
  assert.ok(sel);
  assert.deepEqual(sel.matchLabels, { app: "redis" }, "a non-string value is dropped");
  assert.equal(matchesExpressions({ app: "redis", tier: "cache" }, sel.matchExpressions), true);
  assert.equal(
    matchesExpressions({ app: "redis", tier: "cache", zone: "a" }, sel.matchExpressions),
    true,
  );
  assert.equal(matchesExpressions({ app: "redis", tier: "web" }, sel.matchExpressions), false);
  assert.equal(matchesExpressions({ app: "redis" }, sel.matchExpressions), false);
  assert.equal(
    matchesExpressions({ app: "redis", tier: "db", canary: "" }, sel.matchExpressions),
    false,
  );
  assert.equal(
    matchesExpressions({ app: "redis", tier: "db", zone: "b" }, sel.matchExpressions),
    false,
  );
  assert.equal(deploymentSelector({ spec: {} }), undefined);
  assert.equal(deploymentSelector(null), undefined);
  assert.equal(
    deploymentSelector({
      spec: {
        selector: { matchLabels: { a: "b" }, matchExpressions: [{ key: "k", operator: "Gt" }] },
      },
    }),
    undefined,
    "an operator not known must not widen the match",
  );
});
