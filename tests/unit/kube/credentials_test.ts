/**
 * src/kube/credentials.ts: what a kubeconfig's cluster and user become for ktctl's connections.
 * The oracle is @kubernetes/client-node 2.0.1, which worked these out before: for each kind, its
 * `applyToHTTPSOptions` (what port-forwards took) and `applySecurityAuthentication` (the API
 * calls' headers), against ktctl's own resolver, byte for byte.
 */
import assert from "node:assert/strict";
import { KubeConfig, RequestContext } from "@kubernetes/client-node";
import {
  connectionCredentials,
  credentialsFor,
  decodeBase64Loosely,
  nativeCredentials,
} from "../../../src/kube/credentials.ts";
import { Buffer } from "node:buffer";
import { Rng } from "../../../fuzz/rng.ts";
import { loadKubeconfig } from "../../../src/kube/kubeconfig.ts";
import { tlsEngine } from "../../../src/net/server_dial.ts";
import { certChain } from "../../../testenv/tls_cert.ts";

const SERVER = "https://127.0.0.1:6443";
const pki = await certChain();
const dir = await Deno.makeTempDir({ prefix: "ktctl-credentials-" });
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
await Deno.writeTextFile(`${dir}/ca.pem`, pki.ca);
await Deno.writeTextFile(`${dir}/client.pem`, pki.client.cert);
await Deno.writeTextFile(`${dir}/client.key`, pki.client.key);
// client-node sent a token file's text as it is; ktctl trims it (as before, credential_source.ts).
await Deno.writeTextFile(`${dir}/token`, "file-token");
await Deno.writeTextFile(`${dir}/token-nl`, "file-token\n");
await Deno.writeTextFile(
  `${dir}/plugin.sh`,
  `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",` +
    `"status":{"token":"exec-token"}}'\n`,
);
await Deno.chmod(`${dir}/plugin.sh`, 0o755);

const b64 = (s: string) => btoa(s);
let n = 0;

/** Writes a one-context kubeconfig (JSON, which is YAML) and returns its path. */
async function kubeconfig(
  cluster: Record<string, unknown>,
  user: Record<string, unknown> | null,
  server = SERVER,
): Promise<string> {
  const file = `${dir}/kubeconfig-${n++}`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server, ...cluster } }],
      users: user ? [{ name: "u", user }] : [],
      contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
      "current-context": "x",
    }),
  );
  return file;
}

/** What client-node 2.0.1 made of a kubeconfig: port-forward form, Deno form, API headers. */
async function clientNode(file: string) {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  const options: Record<string, unknown> = {};
  await kc.applyToHTTPSOptions(options);
  const proxyUrl = kc.getCurrentCluster()?.proxyUrl;
  const ctx = new RequestContext(SERVER, "GET" as never);
  await kc.applySecurityAuthentication(ctx);
  return {
    connection: connectionCredentials(options, proxyUrl),
    native: nativeCredentials(options, proxyUrl, SERVER),
    apiHeaders: ctx.getHeaders(),
  };
}

/** What ktctl makes of it now. */
async function ktctl(file: string) {
  const { config, server } = loadKubeconfig({ kubeconfig: file });
  const { connection, native } = await credentialsFor(config, server, {});
  return {
    connection,
    native,
    apiHeaders: connection.headers,
    needsClientNode: config.needsClientNode,
  };
}

const caData = { "certificate-authority-data": b64(pki.ca) };
const caFile = { "certificate-authority": `${dir}/ca.pem` };
const certData = {
  "client-certificate-data": b64(pki.client.cert),
  "client-key-data": b64(pki.client.key),
};
const certFiles = { "client-certificate": `${dir}/client.pem`, "client-key": `${dir}/client.key` };

const KINDS: [string, Record<string, unknown>, Record<string, unknown>][] = [
  ["CA data, client certificate data", caData, certData],
  ["CA file, client certificate files", caFile, certFiles],
  ["CA data, token", caData, { token: "secret" }],
  ["token-file (absolute)", caData, { "token-file": `${dir}/token` }],
  ["username and password", caData, { username: "admin", password: "p\u00e4ss:word" }],
  ["impersonation", caData, { token: "secret", as: "someone" }],
  ["insecure-skip-tls-verify", { "insecure-skip-tls-verify": true }, { token: "secret" }],
  ["tls-server-name", { ...caData, "tls-server-name": "kubernetes" }, certData],
  ["proxy-url", { ...caData, "proxy-url": "http://127.0.0.1:3128" }, { token: "secret" }],
  ["socks proxy-url", { ...caData, "proxy-url": "socks5://127.0.0.1:1080" }, certFiles],
  ["exec plugin", caData, {
    exec: {
      apiVersion: "client.authentication.k8s.io/v1",
      command: `${dir}/plugin.sh`,
      interactiveMode: "Never",
    },
  }],
  ["azure auth-provider", caData, {
    "auth-provider": { name: "azure", config: { "access-token": "az" } },
  }],
  ["no credentials", caData, {}],
];

Deno.test("credentials: every kind gives exactly what client-node 2.0.1 gave", async () => {
  for (const [kind, cluster, user] of KINDS) {
    const file = await kubeconfig(cluster, user);
    const before = await clientNode(file);
    const now = await ktctl(file);
    assert.deepEqual(now.connection, before.connection, `${kind}: port-forward credentials`);
    assert.deepEqual(now.native, before.native, `${kind}: the API client's Deno form`);
    assert.deepEqual(now.apiHeaders, before.apiHeaders, `${kind}: the API calls' headers`);
    assert.equal(now.needsClientNode, kind === "azure auth-provider", `${kind}: client-node`);
  }
});

Deno.test("credentials: the headers and transport of each kind, spelled out", async () => {
  const of = async (cluster: Record<string, unknown>, user: Record<string, unknown>) =>
    (await ktctl(await kubeconfig(cluster, user))).connection;
  let c = await of(caFile, certFiles);
  assert.deepEqual(c.headers, {});
  assert.deepEqual(c.transport.caCerts, [pki.ca]);
  assert.equal(c.transport.cert, pki.client.cert);
  assert.equal(c.transport.key, pki.client.key);
  c = await of(caData, { username: "admin", password: "p\u00e4ss:word" });
  // UTF-8, then base64, as Go's SetBasicAuth and node's `auth` option do.
  assert.equal(c.headers.Authorization, "Basic YWRtaW46cMOkc3M6d29yZA==");
  c = await of(caData, { token: "secret", as: "someone" });
  assert.deepEqual(c.headers, { "Impersonate-User": "someone", Authorization: "Bearer secret" });
  c = await of(caData, { "token-file": `${dir}/token-nl` });
  assert.equal(c.headers.Authorization, "Bearer file-token");
});

Deno.test("credentials: each kubeconfig kind maps onto one transport, on the right TLS engine", async () => {
  const url = "wss://127.0.0.1:6443/";
  const token = { token: "secret" };
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string][] = [
    ["CA and token", caData, { caCerts: [pki.ca], insecure: false }, "deno"],
    ["insecure", { "insecure-skip-tls-verify": true }, { insecure: true }, "node"],
    ["server name", { ...caData, "tls-server-name": "kubernetes" }, {
      serverName: "kubernetes",
    }, "deno"],
    ["proxy", { ...caData, "proxy-url": "http://127.0.0.1:3128" }, {
      proxyUrl: "http://127.0.0.1:3128",
    }, "deno"],
  ];
  for (const [what, cluster, expected, engine] of cases) {
    const { connection, native } = await ktctl(await kubeconfig(cluster, token));
    assert.equal(connection.headers.Authorization, "Bearer secret", what);
    for (const [k, v] of Object.entries(expected)) {
      assert.deepEqual((connection.transport as Record<string, unknown>)[k], v, `${what}: ${k}`);
    }
    assert.equal(tlsEngine(url, connection.transport), engine, what);
    // The API client's Deno form: only the CA-and-token kind has one.
    assert.equal(native !== undefined, what === "CA and token", what);
  }
});

Deno.test("credentials: certificate files are read on every use, so renewed ones are picked up", async () => {
  const sub = `${dir}/renew`;
  await Deno.mkdir(sub);
  await Deno.writeTextFile(`${sub}/client.pem`, "old cert");
  await Deno.writeTextFile(`${sub}/client.key`, "old key");
  const file = await kubeconfig(caData, {
    "client-certificate": `${sub}/client.pem`,
    "client-key": `${sub}/client.key`,
  });
  const { config, server } = loadKubeconfig({ kubeconfig: file });
  assert.equal((await credentialsFor(config, server, {})).connection.transport.cert, "old cert");
  await Deno.writeTextFile(`${sub}/client.pem`, "new cert");
  await Deno.writeTextFile(`${sub}/client.key`, "new key");
  const { connection, native } = await credentialsFor(config, server, {});
  assert.equal(connection.transport.cert, "new cert");
  assert.equal(connection.transport.key, "new key");
  assert.equal(native?.tls.cert, "new cert");
});

Deno.test("credentials: where ktctl follows kubectl rather than client-node", async () => {
  // A context whose user is not defined still verifies the server with the cluster's CA
  // (client-node dropped the cluster's settings when it found no user).
  const noUser = await ktctl(await kubeconfig(caData, null));
  assert.deepEqual(noUser.connection.transport.caCerts, [pki.ca]);
  assert.deepEqual(noUser.connection.headers, {});
  // A token and a username (kubectl refuses the pair): the token, on every path.
  const both = await ktctl(await kubeconfig(caData, { token: "t", username: "a", password: "b" }));
  assert.equal(both.connection.headers.Authorization, "Bearer t");
  assert.equal(both.native?.headers.Authorization, "Bearer t");
});

Deno.test("credentials: a missing certificate file fails the use, naming the file", async () => {
  const file = await kubeconfig(caData, {
    "client-certificate": `${dir}/nope.pem`,
    "client-key": `${dir}/client.key`,
  });
  const { config, server } = loadKubeconfig({ kubeconfig: file });
  await assert.rejects(credentialsFor(config, server, {}), /nope\.pem/);
});

Deno.test("credentials: base64 data decodes as node:buffer decoded it (either alphabet, junk skipped)", () => {
  const rng = new Rng(5);
  const next = () => rng.next() / 0x1_0000_0000;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_= \n\r\t.*";
  const samples = [b64(pki.ca), b64(pki.ca).replace(/(.{64})/g, "$1\n"), "", "=", "QQ", "QQ="];
  for (let i = 0; i < 3000; i++) {
    const bytes = Uint8Array.from({ length: Math.floor(next() * 40) }, () => next() * 256);
    let text = Buffer.from(bytes).toString(next() < 0.5 ? "base64" : "base64url");
    if (next() < 0.5) {
      const at = Math.floor(next() * (text.length + 1));
      text = text.slice(0, at) + alphabet[Math.floor(next() * alphabet.length)] + text.slice(at);
    }
    samples.push(text);
  }
  for (const text of samples) {
    assert.deepEqual(
      decodeBase64Loosely(text),
      new Uint8Array(Buffer.from(text, "base64")),
      JSON.stringify(text),
    );
  }
});
