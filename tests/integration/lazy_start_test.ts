/**
 * What ktctl does not load: in the bundle (as the executables run it), `version`, `--help` and
 * `clean` never run @kubernetes/client-node's config module or undici's, which were most of the
 * start-up cost (docs/performance-startup.md); neither does `connect` with an ordinary
 * kubeconfig (client certificate, token), which ktctl reads itself (src/kube/kubeconfig_model.ts,
 * credentials.ts), through to a proxied request. `connect` with an `auth-provider` user loads
 * client-node (and with it undici); with `insecure-skip-tls-verify` over HTTPS, undici only.
 * The bundle (its entry and chunks) gets a line at the top of those two modules' bodies that
 * says when they run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bundleKtctl } from "../../scripts/bundle.ts";
import { loadedBy } from "../helpers/bundle_graph.ts";
import { applyOneWebPod, FakeApiServer } from "../../testenv/fake_apiserver.ts";
import { httpBackend } from "../../testenv/backends.ts";
import { startKtctl } from "../../testenv/ktctl_process.ts";
import { curl } from "../../testenv/socks_client.ts";
import { certChain, selfSignedCert } from "../../testenv/tls_cert.ts";

/**
 * Module bodies that must run only when a kubeconfig needs them: where esbuild starts each,
 * either a CommonJS wrapper (`"path"(exports, module) {`) or, for an ES module at the top level
 * of a chunk, the comment naming its file before its first statement.
 */
const HEAVY = [
  {
    name: "client-node config",
    body: new RegExp(
      String.raw`"[^"\n]*@kubernetes\/client-node\/[^"\n]*\/dist\/config\.js"\([^)]*\) \{\n|` +
        String.raw`^\/\/ [^\n]*@kubernetes\/client-node\/[^\n]*\/dist\/config\.js\n`,
      "m",
    ),
  },
  { name: "undici", body: /"[^"\n]*\/undici\/[^"\n/]+\/index\.js"\([^)]*\) \{\n/ },
];

/**
 * The bundle (its entry and chunks), with a line in each heavy module body that prints
 * `EVALUATED <name>`.
 */
async function markedBundle(dir: string): Promise<string> {
  const entry = join(dir, "ktctl.js");
  const files = await bundleKtctl(entry);
  const found = new Set<string>();
  for (const file of files) {
    let text = await Deno.readTextFile(file);
    for (const h of HEAVY) {
      const m = h.body.exec(text);
      if (!m) continue;
      found.add(h.name);
      const at = m.index + m[0].length;
      text = text.slice(0, at) + `console.error("EVALUATED ${h.name}");\n` + text.slice(at);
    }
    await Deno.writeTextFile(file, text);
  }
  for (const h of HEAVY) {
    assert.ok(found.has(h.name), `the bundle has no ${h.name} module body: still bundled so?`);
  }
  return entry;
}

async function run(bundle: string, home: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", bundle, ...args],
    env: { HOME: home, USERPROFILE: home, NO_COLOR: "1", KUBECONFIG: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

const dir = await Deno.makeTempDir({ prefix: "ktctl-lazy-" });
const bundle = await markedBundle(dir);
const home = join(dir, "home");
await Deno.mkdir(home);
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

Deno.test("version, --help and clean evaluate neither client-node nor undici", async () => {
  for (const args of [["version"], ["--help"], ["clean", "--dryRun"]]) {
    const { code, text } = await run(bundle, home, ...args);
    assert.equal(code, 0, `${args.join(" ")}: ${text}`);
    assert.doesNotMatch(text, /EVALUATED/, `ktctl ${args.join(" ")} evaluated: ${text}`);
  }
  // connect loads its path, then stops at the missing kubeconfig (before binding its port).
  const missing = join(dir, "no-such-kubeconfig");
  const { code, text } = await run(bundle, home, "connect", "-c", missing);
  assert.equal(code, 1, text);
  assert.match(text, /no-such-kubeconfig does not exist/);
  assert.doesNotMatch(text, /EVALUATED/);
});

Deno.test("connect's start path imports no node: module, so Deno's Node compatibility stays unloaded", async () => {
  // The entry, then the run step, logging and connect's chunks; not what only some kubeconfigs
  // load (client-node, undici, node:tls: the tests below show when those run).
  const { files, nodeImports } = await loadedBy(dir, "ktctl.js", ["run-", "logging-", "connect-"]);
  for (const part of ["run-", "logging-", "connect-"]) {
    assert.ok([...files.keys()].some((f) => f.startsWith(part)), `no ${part} chunk reached`);
  }
  assert.deepEqual(nodeImports, [], "node: imports on the start path");
});

/**
 * Runs connect from the marked bundle with the fake API server's kubeconfig changed by `edit`,
 * proxies one request to a pod, stops, and returns what it printed.
 */
async function connectWith(
  name: string,
  api: FakeApiServer,
  edit: (cluster: Record<string, unknown>, user: Record<string, unknown>) => void,
): Promise<string> {
  const backend = httpBackend("demo/web-1");
  applyOneWebPod(api, backend.port);
  const doc = JSON.parse(api.kubeconfig("admin-token", "demo"));
  edit(doc.clusters[0].cluster, doc.users[0].user);
  const file = join(dir, `${name}.kubeconfig`);
  await Deno.writeTextFile(file, JSON.stringify(doc));
  const ktctl = await startKtctl(
    ["-c", file, "--method", "socks5", "--dialDirect", "127.0.0.0/8"],
    { entry: bundle, asShipped: true, env: { HOME: home, USERPROFILE: home, NO_COLOR: "1" } },
  );
  try {
    const r = await curl(ktctl.proxyUrl, `http://web.demo/${name}`);
    assert.equal(r.code, 0, `${name}: ${r.stderr}\n${ktctl.output()}`);
    assert.match(r.body, /^pod=demo\/web-1\n/);
  } finally {
    assert.equal(await ktctl.stop(), 0, ktctl.output());
    await backend.close();
  }
  return ktctl.output();
}

Deno.test("connect with a token or a client certificate evaluates neither client-node nor undici", async () => {
  const api = new FakeApiServer();
  const pki = await certChain();
  const files = { cert: join(dir, "client.pem"), key: join(dir, "client.key") };
  await Deno.writeTextFile(files.cert, pki.client.cert);
  await Deno.writeTextFile(files.key, pki.client.key);
  try {
    const plain = (c: Record<string, unknown>) => delete c["insecure-skip-tls-verify"];
    const token = await connectWith("token", api, plain);
    assert.doesNotMatch(token, /EVALUATED/);
    const certificate = await connectWith("certificate", api, (c, u) => {
      plain(c);
      c["certificate-authority-data"] = btoa(pki.ca);
      u["client-certificate"] = files.cert;
      u["client-key"] = files.key;
    });
    assert.doesNotMatch(certificate, /EVALUATED/);
  } finally {
    await api.close();
  }
});

Deno.test("connect with an auth-provider user loads client-node (and undici)", async () => {
  const api = new FakeApiServer();
  try {
    const text = await connectWith("auth-provider", api, (c, u) => {
      delete c["insecure-skip-tls-verify"];
      delete u.token;
      u["auth-provider"] = { name: "azure", config: { "access-token": "admin-token" } };
    });
    for (const h of HEAVY) assert.match(text, new RegExp(`EVALUATED ${h.name}`));
  } finally {
    await api.close();
  }
});

Deno.test("connect with insecure-skip-tls-verify over HTTPS loads undici, not client-node", async () => {
  const api = new FakeApiServer(await selfSignedCert());
  try {
    const text = await connectWith("insecure", api, () => {});
    assert.match(text, /EVALUATED undici/);
    assert.doesNotMatch(text, /EVALUATED client-node/);
  } finally {
    await api.close();
  }
});
