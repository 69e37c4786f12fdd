/**
 * What a kubeconfig's TLS settings become for ktctl's own connections, from the options
 * client-node works out: every kind gets a transport (none falls back to another path).
 */
import assert from "node:assert/strict";
import { KubeConfig } from "@kubernetes/client-node";
import { credentialsFor } from "../../../src/kube/credentials.ts";
import { tlsEngine } from "../../../src/net/server_dial.ts";

function config(cluster: Record<string, unknown>, user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443", ...cluster } }],
    users: [{ name: "u", user }],
    contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
    "current-context": "x",
  }));
  return kc;
}

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const ca = { "certificate-authority-data": btoa(CA) };
const token = { token: "secret" };

Deno.test("credentials: each kubeconfig kind maps onto one transport, on the right TLS engine", async () => {
  const url = "wss://127.0.0.1:6443/";
  const cases: [string, KubeConfig, Record<string, unknown>, string][] = [
    ["CA and token", config(ca, token), { caCerts: [CA], insecure: false }, "deno"],
    ["insecure", config({ "insecure-skip-tls-verify": true }, token), { insecure: true }, "node"],
    ["server name", config({ ...ca, "tls-server-name": "kubernetes" }, token), {
      serverName: "kubernetes",
    }, "deno"],
    ["proxy", config({ ...ca, "proxy-url": "http://127.0.0.1:3128" }, token), {
      proxyUrl: "http://127.0.0.1:3128",
    }, "deno"],
  ];
  for (const [what, kc, expected, engine] of cases) {
    const { connection, native } = await credentialsFor(kc, "https://127.0.0.1:6443", {});
    assert.equal(connection.headers.Authorization, "Bearer secret", what);
    for (const [k, v] of Object.entries(expected)) {
      assert.deepEqual((connection.transport as Record<string, unknown>)[k], v, `${what}: ${k}`);
    }
    assert.equal(tlsEngine(url, connection.transport), engine, what);
    // The API client's Deno form stays as it was: only the CA-and-token kind has one.
    assert.equal(native !== undefined, what === "CA and token", what);
  }
});
