/** ktctl's own API traffic picks its proxy as kubectl (client-go, Go's httpproxy) does. */
import assert from "node:assert/strict";
import { apiProxyFor, denoProxy } from "../../../src/net/api_proxy.ts";

const env = (v: Record<string, string>) => (name: string) => v[name];

Deno.test("API proxy: kubeconfig proxy-url first, then HTTPS_PROXY/NO_PROXY, never loopback", () => {
  const dead = { HTTPS_PROXY: "http://127.0.0.1:9", https_proxy: "http://other:1" };
  // Loopback and localhost API servers are never proxied (Go's httpproxy).
  for (const server of ["https://127.0.0.1:6443", "https://[::1]:6443", "https://localhost:6443"]) {
    assert.equal(apiProxyFor(server, undefined, env(dead)), undefined, server);
  }
  // Upper case first, as Go reads them.
  assert.deepEqual(apiProxyFor("https://k8s.corp:6443", undefined, env(dead)), {
    url: "http://127.0.0.1:9",
    display: "http://127.0.0.1:9",
    source: "HTTPS_PROXY",
  });
  assert.equal(
    apiProxyFor("https://k8s.corp:6443", undefined, env({ https_proxy: "proxy:3128" }))?.url,
    "http://proxy:3128",
  );
  // http:// servers use HTTP_PROXY.
  assert.equal(apiProxyFor("http://k8s.corp:8080", undefined, env(dead)), undefined);
  // NO_PROXY: suffixes and CIDRs.
  for (const noProxy of [".corp", "k8s.corp", "10.0.0.0/8,k8s.corp:6443"]) {
    assert.equal(
      apiProxyFor("https://k8s.corp:6443", undefined, env({ ...dead, NO_PROXY: noProxy })),
      undefined,
      noProxy,
    );
  }
  assert.equal(
    apiProxyFor("https://10.1.2.3:6443", undefined, env({ ...dead, no_proxy: "10.0.0.0/8" })),
    undefined,
  );
  // The kubeconfig's proxy-url wins, even for loopback (kubectl uses it as given).
  assert.deepEqual(
    apiProxyFor("https://127.0.0.1:6443", "socks5://u:p@127.0.0.1:1080", env(dead)),
    {
      url: "socks5://u:p@127.0.0.1:1080",
      display: "socks5://127.0.0.1:1080",
      source: "kubeconfig proxy-url",
    },
  );
});

Deno.test("API proxy: Deno's proxy option carries credentials as Basic auth", () => {
  assert.deepEqual(
    denoProxy({ url: "http://u%40x:p@proxy:3128", display: "", source: "" }),
    { transport: "http", url: "http://proxy:3128", basicAuth: { username: "u@x", password: "p" } },
  );
  assert.deepEqual(denoProxy({ url: "socks5://proxy:1080", display: "", source: "" }), {
    transport: "socks5",
    url: "socks5://proxy:1080",
  });
});
