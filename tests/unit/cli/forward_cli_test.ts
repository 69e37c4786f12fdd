/**
 * `ktctl forward`'s and `connect --forward` / `-- COMMAND`'s Validate step: every problem is one
 * UserError that names what to fix, before anything starts.
 */
import assert from "node:assert/strict";
import { CONNECT_DEFAULTS } from "../../helpers/cli_defaults.ts";
import { validateForward } from "../../../src/cli/forward.ts";
import { type ConnectFlags, validateConnectFlags } from "../../../src/cli/connect_options.ts";
import { parseCommandLine } from "../../../src/cli/main.ts";
import { UserError } from "../../../src/errors.ts";

const FORWARD = { address: "127.0.0.1", clusterDomain: "cluster.local" };
const CONNECT: ConnectFlags = CONNECT_DEFAULTS;

function assertUserError(f: () => unknown, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("forward cli: operands and flags become options", () => {
  const o = validateForward("svc/db.demo", ["5432", ":pg"], {
    ...FORWARD,
    address: "127.0.0.2",
    namespace: "shop",
    allowOtherUsers: true,
  });
  assert.deepEqual(o.spec, {
    target: { kind: "service", name: "db", namespace: "demo" },
    ports: [{ remote: 5432 }, { local: 0, remote: "pg" }],
  });
  assert.equal(o.address, "127.0.0.2");
  assert.equal(o.allowOtherUsers, true);
  assert.equal(o.portForward, "multiplexed");
  assert.equal(validateForward("redis", ["6379"], { ...FORWARD, address: "::1" }).address, "::1");
  assert.equal(
    validateForward("redis", ["6379"], { ...FORWARD, address: "localhost" }).address,
    "127.0.0.1",
  );
});

Deno.test("forward cli: a non-loopback --address, a bad target or port is one UserError", () => {
  for (const address of ["0.0.0.0", "10.0.0.1", "::", "example.com"]) {
    assertUserError(
      () => validateForward("redis", ["6379"], { ...FORWARD, address }),
      /^--address must be a loopback address/,
    );
  }
  assertUserError(() => validateForward("job/x", ["1"], FORWARD), /the kind must be/);
  assertUserError(() => validateForward("redis", ["70000"], FORWARD), /ports go from 1 to 65535/);
  assertUserError(
    () => validateForward("redis", ["6379"], { ...FORWARD, namespace: "Bad_NS" }),
    /-n\/--namespace/,
  );
});

Deno.test("connect cli: --forward values and -- COMMAND are validated", () => {
  const o = validateConnectFlags(
    { ...CONNECT, proxyPort: "0", forward: ["svc/db.demo:5432", "deploy/redis:16379:6379"] },
    ["java", "-jar", "app.jar"],
  );
  assert.equal(o.port, 0);
  assert.deepEqual(o.command, ["java", "-jar", "app.jar"]);
  assert.deepEqual(o.forwards?.map((f) => [f.target.kind, f.ports[0]]), [
    ["service", { remote: 5432 }],
    ["deployment", { local: 16379, remote: 6379 }],
  ]);
  assertUserError(() => validateConnectFlags({ ...CONNECT, forward: ["db"] }), /^--forward "db"/);
  assertUserError(
    () => validateConnectFlags({ ...CONNECT, setupGlobalProxy: true }, ["curl"]),
    /--setupGlobalProxy/,
  );
});

Deno.test("connect cli: --forward repeats, and words after -- are the command", () => {
  const parsed = parseCommandLine(
    ["connect", "--forward", "a:1", "--forward", "b:2", "--", "sh", "-c", "exit 3"],
  );
  assert.equal(parsed.kind, "run");
  assert.equal(parsed.command, "connect");
  assert.deepEqual(parsed.flags.forward, ["a:1", "b:2"]);
  assert.deepEqual(parsed.operands, ["sh", "-c", "exit 3"]);
});
