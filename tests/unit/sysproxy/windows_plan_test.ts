import assert from "node:assert/strict";
import {
  environmentProxyUrl,
  mergeProxyOverride,
  pacUrl,
  proxyServerValue,
} from "../../../src/sysproxy/windows_plan.ts";
import { HTTP, SOCKS } from "./fakes.ts";

Deno.test("the system proxy points at the listen address, wildcards at loopback", () => {
  assert.equal(proxyServerValue("127.0.0.1", 2223), "socks=127.0.0.1:2223");
  assert.equal(proxyServerValue("0.0.0.0", 1080), "socks=127.0.0.1:1080");
  assert.equal(proxyServerValue("192.168.1.5", 2223), "socks=192.168.1.5:2223");
  assert.equal(proxyServerValue("::", 2223), "socks=[::1]:2223");
  assert.equal(proxyServerValue("::1", 2223), "socks=[::1]:2223");
  assert.equal(pacUrl("0.0.0.0", 2223), "http://127.0.0.1:2223/proxy.pac");
  assert.equal(pacUrl("::", 2223), "http://[::1]:2223/proxy.pac");
});

Deno.test("the environment's proxy URL takes the client host for a wildcard", () => {
  // socks mode: http:// whatever the caller passed (the port speaks HTTP in every mode).
  assert.equal(environmentProxyUrl(SOCKS), "http://127.0.0.1:2223");
  assert.equal(
    environmentProxyUrl({ ...SOCKS, address: "0.0.0.0", proxyUrl: "socks4a://0.0.0.0:2223" }),
    "http://127.0.0.1:2223",
  );
  assert.equal(
    environmentProxyUrl({ ...SOCKS, method: "socks5", proxyUrl: "socks5h://0.0.0.0:2223" }),
    "socks5h://127.0.0.1:2223",
  );
  assert.equal(
    environmentProxyUrl({ ...HTTP, address: "::", proxyUrl: "http://[::]:2223" }),
    "http://[::1]:2223",
  );
  assert.equal(environmentProxyUrl({ ...HTTP, proxyUrl: "not a url" }), "not a url");
});

Deno.test("ProxyOverride: <local> alone when there was no list", () => {
  assert.equal(mergeProxyOverride(null), "<local>");
  assert.equal(mergeProxyOverride({ type: "REG_SZ", data: "  " }), "<local>");
});

Deno.test("ProxyOverride: the user's entries are kept and <local> appended", () => {
  assert.equal(
    mergeProxyOverride({ type: "REG_SZ", data: "*.corp.example;10.*;" }),
    "*.corp.example;10.*;<local>",
  );
  assert.equal(
    mergeProxyOverride({ type: "REG_EXPAND_SZ", data: "intranet" }),
    "intranet;<local>",
  );
});

Deno.test("ProxyOverride: a list that has <local> (any case) stays byte for byte", () => {
  const data = "*.corp.example; <LOCAL> ;10.*";
  assert.equal(mergeProxyOverride({ type: "REG_SZ", data }), data);
});
