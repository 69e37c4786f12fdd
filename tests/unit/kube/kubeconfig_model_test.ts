/**
 * src/kube/kubeconfig_model.ts and loadKubeconfig: kubectl's loading rules (first file wins per
 * named entry, current-context from the first file that sets one, paths relative to each file's
 * folder) and every field checked as untrusted input, with errors that name the file and field.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  mergeKubeconfigs,
  parseKubeconfig,
  selectContext,
} from "../../../src/kube/kubeconfig_model.ts";
import { findHomeDir, loadKubeconfig } from "../../../src/kube/kubeconfig.ts";
import { UserError } from "../../../src/errors.ts";

const parse = (doc: unknown, file = "/k/config") =>
  parseKubeconfig(JSON.stringify(doc), file, "/k");

function rejects(doc: unknown, message: RegExp): void {
  assert.throws(() => parse(doc), (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    assert.match(e.message, /^cannot read kubeconfig \/k\/config: /);
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("kubeconfig_model: every field read, relative paths made absolute against the file's folder", () => {
  const k = parse({
    clusters: [{
      name: "c",
      cluster: {
        server: "https://h:6443",
        "certificate-authority": "ca.pem",
        "certificate-authority-data": "Q0E=",
        "insecure-skip-tls-verify": true,
        "tls-server-name": "kubernetes",
        "proxy-url": "socks5://127.0.0.1:1080",
      },
    }],
    users: [{
      name: "u",
      user: {
        "client-certificate": "sub/c.pem",
        "client-key": "/abs/c.key",
        "client-certificate-data": "Qw==",
        "client-key-data": "Sw==",
        token: "t",
        "token-file": "../tok",
        username: "a",
        password: "b",
        as: "someone",
        "auth-provider": { name: "oidc", config: { "id-token": "x" } },
        exec: {
          command: "./bin/plugin",
          args: ["get-token"],
          env: [{ name: "A", value: "1" }],
          apiVersion: "client.authentication.k8s.io/v1",
          interactiveMode: "Never",
          provideClusterInfo: true,
        },
      },
    }],
    contexts: [{ name: "x", context: { cluster: "c", user: "u", namespace: "ns" } }],
    "current-context": "x",
  });
  assert.deepEqual(k.clusters.get("c"), {
    server: "https://h:6443",
    certificateAuthority: join("/k", "ca.pem"),
    certificateAuthorityData: "Q0E=",
    insecureSkipTlsVerify: true,
    tlsServerName: "kubernetes",
    proxyUrl: "socks5://127.0.0.1:1080",
  });
  const u = k.users.get("u")!;
  assert.equal(u.clientCertificate, join("/k", "sub/c.pem"));
  assert.equal(u.clientKey, "/abs/c.key");
  assert.equal(u.tokenFile, join("/k", "../tok"));
  assert.equal(u.impersonate, "someone");
  assert.deepEqual(u.authProvider, { name: "oidc", config: { "id-token": "x" } });
  assert.equal(u.exec?.command, join("/k", "bin/plugin"));
  assert.deepEqual(u.exec?.args, ["get-token"]);
  assert.deepEqual(u.exec?.env, [{ name: "A", value: "1" }]);
  assert.equal(u.exec?.provideClusterInfo, true);
  assert.deepEqual(k.contexts.get("x"), { cluster: "c", user: "u", namespace: "ns" });
  assert.equal(k.currentContext, "x");
  // A bare command name is looked up on PATH, not next to the kubeconfig.
  const bare = parse({ users: [{ name: "u", user: { exec: { command: "aws" } } }] });
  assert.equal(bare.users.get("u")?.exec?.command, "aws");
});

Deno.test("kubeconfig_model: an empty file, or one without lists, is an empty config", () => {
  for (const text of ["", "---\n", "# nothing yet\n", "apiVersion: v1\nkind: Config\n"]) {
    const k = parseKubeconfig(text, "/k/config", "/k");
    assert.equal(k.clusters.size + k.users.size + k.contexts.size, 0);
    assert.equal(k.currentContext, undefined);
  }
});

Deno.test("kubeconfig_model: a wrong type names the file and the field", () => {
  rejects({ clusters: { c: {} } }, /clusters must be a list/);
  rejects({ clusters: ["c"] }, /clusters\[0\] must be a mapping/);
  rejects({ clusters: [{ cluster: { server: "s" } }] }, /clusters\[0\]\.name is missing/);
  rejects(
    { clusters: [{ name: "c", cluster: { server: 6443 } }] },
    /clusters\[0\]\.cluster\.server must be a string, not the number 6443/,
  );
  rejects(
    { clusters: [{ name: "c", cluster: { "insecure-skip-tls-verify": "yes" } }] },
    /clusters\[0\]\.cluster\.insecure-skip-tls-verify must be true or false, not string/,
  );
  rejects(
    { users: [{ name: "u", user: { token: 12345 } }] },
    /users\[0\]\.user\.token must be a string, not the number 12345/,
  );
  rejects(
    { users: [{ name: "u", user: { "client-key-data": ["a"] } }] },
    /users\[0\]\.user\.client-key-data must be a string, not a list/,
  );
  rejects(
    { users: [{ name: "u", user: { exec: { command: "p", args: "get-token" } } }] },
    /users\[0\]\.user\.exec\.args must be a list/,
  );
  rejects(
    { users: [{ name: "u", user: { exec: { command: "p", args: [1] } } }] },
    /users\[0\]\.user\.exec\.args\[0\] must be a string/,
  );
  rejects(
    { users: [{ name: "u", user: { exec: { args: [] } } }] },
    /users\[0\]\.user\.exec\.command is missing/,
  );
  rejects(
    { users: [{ name: "u", user: { exec: { command: "p", interactiveMode: "Sometimes" } } }] },
    /exec\.interactiveMode must be one of Never, IfAvailable, Always/,
  );
  rejects(
    { users: [{ name: "u", user: { "auth-provider": { name: "oidc", config: { a: {} } } } }] },
    /users\[0\]\.user\.auth-provider\.config\.a must be a string, not a mapping/,
  );
  rejects(
    { contexts: [{ name: "x", context: { user: "u" } }] },
    /contexts\[0\]\.context\.cluster is missing/,
  );
  rejects({ "current-context": ["x"] }, /current-context must be a string/);
  rejects(["a"], /the document must be a mapping/);
  rejects(
    { users: [{ name: "u", user: {} }, { name: "u", user: {} }] },
    /users\[1\]\.name "u" is used twice in this file/,
  );
  assert.throws(
    () => parseKubeconfig("clusters: [", "/k/config", "/k"),
    /cannot read kubeconfig \/k\/config: not valid YAML/,
  );
});

Deno.test("kubeconfig_model: merged first-wins per named entry, whole; current-context from the first that sets it", () => {
  const first = parse({
    clusters: [{ name: "shared", cluster: { server: "https://first" } }],
    users: [{ name: "shared", user: { token: "first" } }],
    contexts: [{ name: "a", context: { cluster: "shared", user: "shared" } }],
  }, "/k/first");
  const second = parse({
    clusters: [
      { name: "shared", cluster: { server: "https://second", "tls-server-name": "n" } },
      { name: "only-second", cluster: { server: "https://only" } },
    ],
    users: [{ name: "shared", user: { username: "second" } }],
    contexts: [{ name: "a", context: { cluster: "only-second" } }, {
      name: "b",
      context: { cluster: "only-second" },
    }],
    "current-context": "b",
  }, "/k/second");
  const third = parse({ "current-context": "a" }, "/k/third");
  const m = mergeKubeconfigs([first, second, third]);
  // The whole entry of the first file: no field of the second's "shared" leaks in.
  assert.deepEqual(m.clusters.get("shared"), {
    server: "https://first",
    certificateAuthority: undefined,
    certificateAuthorityData: undefined,
    insecureSkipTlsVerify: false,
    tlsServerName: undefined,
    proxyUrl: undefined,
  });
  assert.equal(m.users.get("shared")?.token, "first");
  assert.equal(m.users.get("shared")?.username, undefined);
  assert.equal(m.contexts.get("a")?.cluster, "shared");
  assert.equal(m.contexts.get("b")?.cluster, "only-second");
  assert.ok(m.clusters.has("only-second"));
  // The first file sets none: the second's wins over the third's.
  assert.equal(m.currentContext, "b");
  assert.equal(selectContext(m, undefined, "files").cluster.server, "https://only");
  assert.equal(selectContext(m, "a", "files").user.token, "first");
});

Deno.test("kubeconfig_model: picking the context says what to fix", () => {
  const k = parse({
    clusters: [{ name: "c", cluster: { server: "https://h" } }, { name: "empty", cluster: {} }],
    contexts: [{ name: "x", context: { cluster: "c", user: "ghost" } }, {
      name: "bad",
      context: { cluster: "empty" },
    }, { name: "lost", context: { cluster: "nowhere" } }],
  });
  assert.throws(
    () => selectContext(k, undefined, "/k/config"),
    /has no current context: pass --context/,
  );
  assert.throws(
    () => selectContext(k, "nope", "/k/config"),
    /context "nope" is not in the kubeconfig \(known: x, bad, lost\)/,
  );
  assert.throws(
    () => selectContext(k, "bad", "/k/config"),
    /names no cluster with a server address/,
  );
  assert.throws(
    () => selectContext(k, "lost", "/k/config"),
    /names no cluster with a server address/,
  );
  // An unknown user connects without credentials, as kubectl does.
  const s = selectContext(k, "x", "/k/config");
  assert.equal(s.userName, "ghost");
  assert.deepEqual(s.user, {});
  const dangling = parse({ "current-context": "gone" });
  assert.throws(() => selectContext(dangling, undefined, "/k/config"), /"gone" is not defined/);
});

Deno.test("loadKubeconfig: KUBECONFIG's files merged in order, paths relative to each file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    await Deno.writeTextFile(`${dir}/b/token`, "from-b\n");
    await Deno.writeTextFile(
      `${dir}/a/config`,
      "users:\n- name: shadowed\n  user: {token: from-a}\n",
    );
    await Deno.writeTextFile(
      `${dir}/b/config`,
      [
        "clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:6443//'}",
        "users:\n- name: u\n  user: {token-file: token}\n- name: shadowed\n  user: {token: from-b}",
        "contexts:\n- name: x\n  context: {cluster: c, user: u, namespace: ns}",
        "- name: y\n  context: {cluster: c, user: shadowed}",
        "current-context: x\n",
      ].join("\n"),
    );
    const env = (name: string) =>
      name === "KUBECONFIG" ? `${dir}/a/config:${dir}/missing:${dir}/b/config` : undefined;
    const t = loadKubeconfig({ env });
    assert.deepEqual(t.files, [`${dir}/a/config`, `${dir}/b/config`]);
    assert.equal(t.server, "https://127.0.0.1:6443");
    assert.equal(t.context, "x");
    assert.equal(t.namespace, "ns");
    const auth = async (target: typeof t) =>
      (await target.config.resolve()).connection.headers.Authorization;
    assert.equal(await auth(t), "Bearer from-b");
    const y = loadKubeconfig({ env, context: "y", namespace: "other" });
    assert.equal(y.namespace, "other");
    assert.equal(await auth(y), "Bearer from-a");
    // A bad field in the second file names that file.
    await Deno.writeTextFile(`${dir}/b/config`, "clusters:\n- name: c\n  cluster: {server: 1}\n");
    assert.throws(
      () => loadKubeconfig({ env }),
      new RegExp(
        `cannot read kubeconfig ${dir}/b/config: clusters\\[0\\]\\.cluster\\.server must be a string`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findHomeDir: HOME elsewhere; on Windows the first with a .kube\\config, then writable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(findHomeDir((n) => (n === "HOME" ? dir : undefined), "linux"), dir);
    assert.equal(findHomeDir((n) => (n === "HOME" ? `${dir}/nope` : undefined), "linux"), null);
    await Deno.mkdir(`${dir}/profile/.kube`, { recursive: true });
    await Deno.writeTextFile(`${dir}/profile/.kube/config`, "");
    await Deno.mkdir(`${dir}/drive/path`, { recursive: true });
    const env = (vars: Record<string, string>) => (n: string) => vars[n];
    const win = { HOMEDRIVE: `${dir}/drive`, HOMEPATH: "path", USERPROFILE: `${dir}/profile` };
    assert.equal(findHomeDir(env(win), "windows"), `${dir}/profile`);
    await Deno.remove(`${dir}/profile/.kube`, { recursive: true });
    // No .kube/config anywhere: the first writable of HOME, USERPROFILE, HOMEDRIVE+HOMEPATH.
    assert.equal(findHomeDir(env(win), "windows"), `${dir}/profile`);
    assert.equal(
      findHomeDir(env({ ...win, USERPROFILE: `${dir}/gone` }), "windows"),
      join(`${dir}/drive`, "path"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
