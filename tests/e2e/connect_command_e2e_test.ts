/**
 * `ktctl connect -- COMMAND` against the real local control plane: curl, Python's urllib and
 * Node's fetch, started by ktctl with nothing configured by hand, reach the fixture's `web.demo`
 * by name; the command's exit code is ktctl's; SIGINT to ktctl reaches the command; the
 * variables exist in the command's environment only, and ktctl's own lines stay off its stdout.
 * Needs the cluster up (`deno task cluster up`).
 */
import assert from "node:assert/strict";
import { clusterInfo, ensureCluster, WEB } from "../../testenv/cluster/mod.ts";
import { nodeWithEnvProxy } from "../helpers/reach_clients.ts";
import { runKtctl } from "../helpers/ktctl_cli.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
await ensureCluster();
const info = await clusterInfo();
const home = await Deno.makeTempDir({ prefix: "ktctl-command-home-" });
const env = { HOME: home, USERPROFILE: home };
const URL = `http://${WEB.service}.${WEB.namespace}/`;

/** `ktctl connect` on a free port, with only loopback dialled directly, running `command`. */
function connectRun(command: string[], extraEnv: Record<string, string> = {}) {
  return runKtctl([
    "connect",
    "-c",
    info.kubeconfigs.admin,
    "--dialDirect",
    "127.0.0.0/8,::1/128",
    "--proxyPort",
    "0",
    "--",
    ...command,
  ], { ...env, ...extraEnv });
}

async function assertReaches(command: string[], extraEnv: Record<string, string> = {}) {
  const k = connectRun(command, extraEnv);
  const code = await k.exited;
  assert.equal(code, 0, `${command[0]} failed:\n${k.stdout()}\n${k.stderr()}`);
  // The command's stdout is its own: the web pod's answer, and nothing of ktctl's.
  assert.match(k.stdout(), new RegExp(`^pod=${WEB.namespace}/web-\\d`));
  assert.doesNotMatch(k.stdout(), / INF /);
  assert.match(k.stderr(), /INF Proxy for /);
}

Deno.test({
  name: "connect -- curl reaches the cluster by name",
  ...opts,
  fn: () => assertReaches(["curl", "-sS", "--fail", URL]),
});

Deno.test({
  name: "connect -- python3 (urllib) reaches the cluster by name",
  ...opts,
  fn: () =>
    assertReaches([
      "python3",
      "-c",
      `import sys, urllib.request; sys.stdout.write(urllib.request.urlopen("${URL}").read().decode())`,
    ]),
});

const node = await nodeWithEnvProxy();
Deno.test({
  name: "connect -- node (fetch, Node 24) reaches the cluster by name",
  ignore: "missing" in node,
  ...opts,
  fn: () =>
    assertReaches([
      "path" in node ? node.path : "node",
      "-e",
      `fetch("${URL}").then((r) => r.text()).then((t) => process.stdout.write(t))`,
    ]),
});

Deno.test({
  name: "connect -- COMMAND: the exit code comes back; a missing program is 127",
  ...opts,
  fn: async () => {
    assert.equal(await connectRun(["sh", "-c", "exit 7"]).exited, 7);
    // A port web.demo lacks: ktctl answers 502, and curl --fail says so with its code 22.
    const failing = connectRun([
      "curl",
      "-sS",
      "--fail",
      `http://${WEB.service}.${WEB.namespace}:81/`,
    ]);
    assert.equal(await failing.exited, 22, failing.stderr());
    const missing = connectRun(["ktctl-no-such-program"]);
    assert.equal(await missing.exited, 127);
    assert.match(missing.stderr(), /ktctl-no-such-program: command not found/);
  },
});

Deno.test({
  name: "connect -- COMMAND: SIGINT to ktctl reaches the command; ktctl exits with its code",
  ...opts,
  fn: async () => {
    const k = connectRun([
      "sh",
      "-c",
      'trap "echo got-sigint; exit 42" INT; echo "ready $$"; while :; do sleep 0.05; done',
    ]);
    const [, pid] = await k.waitFor(/^ready (\d+)$/m);
    try {
      assert.equal(await k.stop("SIGINT", 15_000), 42);
      assert.equal(k.stdout(), `ready ${pid}\ngot-sigint\n`);
    } finally {
      // Should ktctl not pass the signal on, its command must not outlive the test.
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* it is gone, as it should be */ }
    }
  },
});

Deno.test({
  name: "connect -- COMMAND: the variables are the command's alone, Java's appended",
  ...opts,
  fn: async () => {
    const before = Deno.env.toObject();
    const k = connectRun(["sh", "-c", "env"], { JAVA_TOOL_OPTIONS: "-Xmx64m" });
    assert.equal(await k.exited, 0, k.stderr());
    const seen = Object.fromEntries(
      k.stdout().trim().split("\n").map((
        l,
      ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    const port = /^http:\/\/127\.0\.0\.1:(\d+)$/.exec(seen.http_proxy)?.[1];
    assert.ok(port && port !== "0", seen.http_proxy);
    const http = `http://127.0.0.1:${port}`, socks = `socks5h://127.0.0.1:${port}`;
    assert.deepEqual(
      [seen.https_proxy, seen.HTTP_PROXY, seen.HTTPS_PROXY, seen.ALL_PROXY, seen.all_proxy],
      [http, http, http, socks, socks],
    );
    assert.equal(seen.NO_PROXY, "localhost,127.0.0.1,::1");
    assert.equal(seen.no_proxy, "localhost,127.0.0.1,::1");
    assert.equal(seen.NODE_USE_ENV_PROXY, "1");
    assert.equal(
      seen.JAVA_TOOL_OPTIONS,
      `-Xmx64m -DsocksProxyHost=127.0.0.1 -DsocksProxyPort=${port} -Dhttp.proxyHost=127.0.0.1 ` +
        `-Dhttp.proxyPort=${port} -Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=${port}`,
    );
    // Nothing leaked into the parent, and nothing global was set up (no state left in HOME).
    assert.deepEqual(Deno.env.toObject(), before);
    const left: string[] = [];
    try {
      for await (const e of Deno.readDir(`${home}/.ktctl`)) left.push(e.name);
    } catch { /* never made */ }
    assert.deepEqual(left.filter((n) => n.endsWith(".json")), []);
  },
});

Deno.test({
  name: "connect COMMAND without -- is refused, as is --setupGlobalProxy with a COMMAND",
  ...opts,
  fn: async () => {
    const typo = runKtctl(["connect", "-c", info.kubeconfigs.admin, "curl", URL], env);
    assert.equal(await typo.exited, 1);
    assert.match(typo.stderr(), /put -- before a command/);
    const global = connectRun(["true"]);
    assert.equal(await global.exited, 0);
    const both = runKtctl(
      ["connect", "-c", info.kubeconfigs.admin, "--setupGlobalProxy", "--", "true"],
      env,
    );
    assert.equal(await both.exited, 1);
    assert.match(both.stderr(), /--setupGlobalProxy changes settings for every program/);
  },
});
