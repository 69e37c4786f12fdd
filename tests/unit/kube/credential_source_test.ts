/**
 * src/kube/credential_{exec,source}.ts: when a plugin is run (and how often), what a failing
 * one costs and says, token files that change, and that every request path gets the same fresh
 * credentials once a kubeconfig is loaded.
 */
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import {
  CredentialError,
  type CredentialMaterial,
  describeOutput,
  execInfo,
  isInteractive,
  parseExecCredential,
  runExecPlugin,
} from "../../../src/kube/credential_exec.ts";
import {
  credentialsRejected,
  defaultLifecycleOptions,
  ExecSource,
  FileSource,
  type LifecycleOptions,
  refreshAhead,
} from "../../../src/kube/credential_source.ts";
import { loadKubeconfig } from "../../../src/kube/kubeconfig.ts";
import { credentialsFor } from "../../../src/kube/credentials.ts";

const records: LogRecord[] = [];
await configure({
  reset: true,
  sinks: { mem: (r: LogRecord) => records.push(r) },
  loggers: [
    { category: ["ktctl"], lowestLevel: "debug", sinks: ["mem"] },
    { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
  ],
});
addEventListener("unload", () => void reset());
const warnings = () => records.filter((r) => r.level === "warning").length;

Deno.test("credential_exec: an ExecCredential's token, certificate and expiry", () => {
  assert.deepEqual(
    parseExecCredential(
      JSON.stringify({
        apiVersion: "client.authentication.k8s.io/v1",
        kind: "ExecCredential",
        status: { token: "abc", expirationTimestamp: "2030-01-02T03:04:05Z" },
      }),
      "p",
    ),
    { token: "abc", cert: undefined, key: undefined, expiresAt: Date.UTC(2030, 0, 2, 3, 4, 5) },
  );
  assert.deepEqual(
    parseExecCredential(
      '{"kind":"ExecCredential","status":{"clientCertificateData":"C","clientKeyData":"K"}}',
      "p",
    ),
    { token: undefined, cert: "C", key: "K" },
  );
  for (
    const bad of [
      "not json",
      "null",
      '{"kind":"Pod","status":{"token":"x"}}',
      '{"kind":"ExecCredential","status":{}}',
      '{"kind":"ExecCredential","status":{"clientCertificateData":"C"}}',
      '{"kind":"ExecCredential","status":{"token":"x","expirationTimestamp":"soon"}}',
    ]
  ) assert.throws(() => parseExecCredential(bad, "p"), CredentialError, bad);
});

Deno.test("credential_exec: a plugin past its deadline, or missing, says so", async () => {
  const deadlines = { timeoutMs: 300, interactiveTimeoutMs: 300 };
  await assert.rejects(
    runExecPlugin({ command: "sleep", args: ["30"], interactiveMode: "Never" }, deadlines),
    /credential plugin sleep took more than 300 ms/,
  );
  await assert.rejects(
    runExecPlugin({ command: "ktctl-no-such-plugin", installHint: "get it from x\n" }, deadlines),
    /ktctl-no-such-plugin was not found \(get it from x\)/,
  );
});

Deno.test("credential_exec: interactive only when allowed; KUBERNETES_EXEC_INFO", () => {
  assert.equal(isInteractive({ command: "p", interactiveMode: "Never" }, true), false);
  assert.equal(isInteractive({ command: "p", interactiveMode: "IfAvailable" }, true), true);
  assert.equal(isInteractive({ command: "p", interactiveMode: "IfAvailable" }, false), false);
  assert.equal(isInteractive({ command: "p", interactiveMode: "Always" }, false), true);
  const cluster = { server: "https://x" };
  assert.deepEqual(JSON.parse(execInfo({ command: "p" }, false, cluster)), {
    apiVersion: "client.authentication.k8s.io/v1",
    kind: "ExecCredential",
    spec: { interactive: false },
  });
  assert.deepEqual(
    JSON.parse(execInfo({ command: "p", provideClusterInfo: true }, true, cluster)).spec,
    { interactive: true, cluster },
  );
});

Deno.test("credential_source: a fifth of a token's life ahead, at most a minute", () => {
  assert.equal(refreshAhead(5_000), 1_000);
  assert.equal(refreshAhead(15 * 60_000), 60_000);
  assert.equal(refreshAhead(-1), 0);
});

/** A plugin and a clock under the test's control. */
function fakePlugin(lifetimeMs: number | undefined) {
  const state = {
    now: 1_000_000,
    runs: 0,
    fail: undefined as string | undefined,
    gate: undefined as Promise<void> | undefined,
  };
  const opts: LifecycleOptions = {
    ...defaultLifecycleOptions,
    now: () => state.now,
    runPlugin: async (): Promise<CredentialMaterial> => {
      state.runs++;
      await state.gate;
      if (state.fail) throw new CredentialError(state.fail);
      return {
        token: `t${state.runs}`,
        expiresAt: lifetimeMs === undefined ? undefined : state.now + lifetimeMs,
      };
    },
  };
  return { state, source: new ExecSource({ command: "plugin" }, opts) };
}

Deno.test("credential_source: one plugin run for many requests, a new one ahead of expiry", async () => {
  const { state, source } = fakePlugin(10_000);
  let open!: () => void;
  state.gate = new Promise((r) => open = r);
  const first = Array.from({ length: 20 }, () => source.get());
  open();
  assert.deepEqual((await Promise.all(first)).map((m) => m.token), Array(20).fill("t1"));
  assert.equal(state.runs, 1);
  state.now += 7_999; // refresh 2 s ahead of the 10 s expiry
  assert.equal((await source.get()).token, "t1");
  assert.equal(state.runs, 1);
  state.now += 1;
  // In the window: the old token serves while one run fetches the next.
  state.gate = new Promise((r) => open = r);
  assert.equal((await source.get()).token, "t1");
  assert.equal((await source.get()).token, "t1");
  assert.equal(state.runs, 2);
  open();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal((await source.get()).token, "t2");
  // Past expiry with no refresh in between: the request waits for a new token.
  state.now += 20_000;
  state.gate = undefined;
  assert.equal((await source.get()).token, "t3");
});

Deno.test("credential_source: a token without expiry is kept until the server rejects it", async () => {
  const { state, source } = fakePlugin(undefined);
  assert.equal((await source.get()).token, "t1");
  state.now += 3_600_000;
  assert.equal((await source.get()).token, "t1");
  assert.equal(source.rejected("t0"), true); // an older token: t1 may still be good
  assert.equal((await source.get()).token, "t1");
  assert.equal(source.rejected("t1"), true);
  assert.equal((await source.get()).token, "t2");
  // Rejected again at once: the 401 is not about age, so no plugin run per request.
  assert.equal(source.rejected("t2"), false);
  assert.equal((await source.get()).token, "t2");
  assert.equal(state.runs, 2);
});

Deno.test("credential_source: a failing plugin is run and reported once per backoff", async () => {
  const { state, source } = fakePlugin(10_000);
  state.fail = "credential plugin plugin exited with 1: token expired, log in";
  const before = warnings();
  for (let i = 0; i < 50; i++) {
    await assert.rejects(source.get(), /log in/);
  }
  assert.equal(state.runs, 1);
  assert.equal(warnings() - before, 1);
  state.now += 2_000; // the first backoff
  await assert.rejects(source.get(), /log in/);
  await assert.rejects(source.get(), /log in/);
  assert.equal(state.runs, 2);
  assert.equal(warnings() - before, 2);
  state.now += 3_999; // the second backoff is 4 s
  await assert.rejects(source.get(), /log in/);
  assert.equal(state.runs, 2);
  state.fail = undefined;
  state.now += 1;
  assert.equal((await source.get()).token, "t3");
  assert.ok(records.at(-2)?.message.join("").includes("works again"));
});

Deno.test("credential_source: a token file is re-read when it changes, at once after a 401", async () => {
  let content = "first\n";
  let missing = false;
  let now = 0;
  const source = new FileSource("/tokens/t", {
    ...defaultLifecycleOptions,
    now: () => now,
    readFile: () => {
      if (missing) throw new Error("No such file");
      return content;
    },
  });
  assert.deepEqual(await source.get(), { token: "first" });
  content = "second";
  now += 500;
  assert.deepEqual(await source.get(), { token: "first" }); // looked at once a second
  now += 500;
  assert.deepEqual(await source.get(), { token: "second" });
  content = "third";
  source.rejected();
  assert.deepEqual(await source.get(), { token: "third" });
  // Mid-rotation the file is gone for a moment: the last token serves, one warning.
  missing = true;
  const before = warnings();
  for (let i = 0; i < 5; i++) {
    now += 1_000;
    assert.deepEqual(await source.get(), { token: "third" });
  }
  assert.equal(warnings() - before, 1);
});

/** A kubeconfig whose user runs `plugin.sh`, which counts its runs in a file. */
async function execKubeconfig(dir: string, lifetimeS: number): Promise<string> {
  const plugin = `${dir}/plugin.sh`;
  await Deno.writeTextFile(
    plugin,
    `#!/bin/sh
n=$(($(cat "${dir}/runs" 2>/dev/null || echo 0) + 1)); echo $n > "${dir}/runs"
[ -n "$KUBERNETES_EXEC_INFO" ] || { echo "no KUBERNETES_EXEC_INFO" >&2; exit 3; }
[ -f "${dir}/fail" ] && { echo "login required" >&2; exit 1; }
exp=$(date -u -d "+${lifetimeS} seconds" +%Y-%m-%dT%H:%M:%SZ)
echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-'$n'","expirationTimestamp":"'$exp'"}}'
`,
  );
  await Deno.chmod(plugin, 0o755);
  const file = `${dir}/kubeconfig`;
  await Deno.writeTextFile(
    file,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: x, context: {cluster: c, user: u}}, {name: f, context: {cluster: c, user: file}}]
current-context: x
users:
- name: u
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1, command: ${plugin}, interactiveMode: Never}
- name: file
  user: {token-file: token}
`,
  );
  await Deno.writeTextFile(`${dir}/token`, "file-1\n");
  return file;
}

Deno.test("credential_source: every request path gets the plugin's token, refreshed on a 401", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kubeconfig = await execKubeconfig(dir, 3600);
    const { config, server } = loadKubeconfig({
      kubeconfig,
      lifecycle: { ...defaultLifecycleOptions, minRefreshMs: 0 },
    });
    const authOf = async () =>
      (await credentialsFor(config, server, {})).native?.headers.Authorization;
    // What port-forwards send (the API client sends the same headers).
    const viaContext = async () =>
      (await credentialsFor(config, server, {})).connection.headers.Authorization;
    assert.equal(await authOf(), "Bearer exec-1");
    assert.equal(await viaContext(), "Bearer exec-1");
    assert.equal(await authOf(), "Bearer exec-1");
    assert.equal((await Deno.readTextFile(`${dir}/runs`)).trim(), "1");
    assert.equal(credentialsRejected(config, "Bearer exec-1"), true);
    assert.equal(await viaContext(), "Bearer exec-2");
    assert.equal(await authOf(), "Bearer exec-2");
    assert.equal((await Deno.readTextFile(`${dir}/runs`)).trim(), "2");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credential_source: a rotated token-file (relative to the kubeconfig) is used", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kubeconfig = await execKubeconfig(dir, 3600);
    const { config, server } = loadKubeconfig({ kubeconfig, context: "f" });
    const authOf = async () =>
      (await credentialsFor(config, server, {})).native?.headers.Authorization;
    assert.equal(await authOf(), "Bearer file-1");
    // Rotated the way kubelet does it: a new file renamed over the old one.
    await Deno.writeTextFile(`${dir}/token.new`, "file-2\n");
    await Deno.rename(`${dir}/token.new`, `${dir}/token`);
    assert.equal(credentialsRejected(config, "Bearer file-1"), true);
    assert.equal(await authOf(), "Bearer file-2");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credential_source: a real failing plugin says why, once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kubeconfig = await execKubeconfig(dir, 3600);
    await Deno.writeTextFile(`${dir}/fail`, "");
    const { config, server } = loadKubeconfig({ kubeconfig });
    const before = warnings();
    for (let i = 0; i < 10; i++) {
      await assert.rejects(
        credentialsFor(config, server, {}),
        /exited with 1 \(its error output: 1 line; the first is 14 characters of text; not shown/,
      );
    }
    assert.equal((await Deno.readTextFile(`${dir}/runs`)).trim(), "1");
    assert.equal(warnings() - before, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Every log line written so far, as text with its properties. */
const logged = () => records.map((r) => `${r.message.join("")} ${JSON.stringify(r.properties)}`);

Deno.test("credential_exec: a failing plugin's output (a token, say) is never in a message or a log line", async () => {
  const dir = await Deno.makeTempDir();
  const secret = "eyJhbGciOiJSUzI1NiJ9.SECRET-REFRESH-TOKEN";
  try {
    const cases = [
      // Exits non-zero having printed a token to both streams.
      [
        `echo "token: ${secret}"; echo "refresh=${secret}" >&2; echo more >&2; exit 2`,
        /exited with 2 \(its error output: 2 lines; the first is 49 characters of text; not shown, as it may hold a secret: run \S+ yourself to read it\)$/,
      ],
      // Exits 0 printing a bare token instead of an ExecCredential.
      [
        `echo "${secret}"`,
        /printed no ExecCredential JSON \(it printed 1 line; the first is 41 characters of text; not shown/,
      ],
      // Truncated JSON holding the token.
      [
        `printf '{"kind":"ExecCredential","status":{"token":"${secret}'`,
        /printed no ExecCredential JSON \(it printed 1 line; the first is \d+ characters of JSON;/,
      ],
    ] as const;
    for (const [script, expected] of cases) {
      const plugin = `${dir}/plugin.sh`;
      await Deno.writeTextFile(plugin, `#!/bin/sh\n${script}\n`);
      await Deno.chmod(plugin, 0o755);
      const source = new ExecSource({ command: plugin, interactiveMode: "Never" }, {
        ...defaultLifecycleOptions,
      });
      const before = records.length;
      const error = await source.get().then(() => undefined, (e: Error) => e);
      assert.ok(error instanceof CredentialError, script);
      assert.match(error.message, expected);
      assert.ok(!error.message.includes("SECRET"), error.message);
      const lines = logged().slice(before);
      assert.ok(lines.length >= 1, "the failure is logged");
      for (const line of lines) assert.ok(!line.includes("SECRET"), line);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("credential_exec: describeOutput gives the shape only", () => {
  assert.equal(describeOutput(""), "nothing");
  assert.equal(describeOutput(" \n\n"), "nothing");
  assert.equal(describeOutput("secret-token\n"), "1 line; the first is 12 characters of text");
  assert.equal(
    describeOutput('{"token":"x"}\r\nmore\n'),
    "2 lines; the first is 13 characters of JSON",
  );
  assert.equal(describeOutput("\u0001\u0002key"), "1 line; the first is 5 characters of binary");
  assert.equal(describeOutput("caf\ufffd"), "1 line; the first is 4 characters of binary");
});
