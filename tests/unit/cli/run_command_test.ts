/**
 * What `connect -- COMMAND` gives the command: every proxy convention pointed at ktctl, in the
 * command's environment only, and which signals ktctl passes on.
 */
import assert from "node:assert/strict";
import { commandEnvironment, relayedSignals } from "../../../src/cli/run_command.ts";

const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });

Deno.test("run_command: every tool's variables, http:// for HTTP, socks5h:// for ALL_PROXY, loopback exempt", () => {
  assert.deepEqual(commandEnvironment("127.0.0.1", 40123, env({})), {
    http_proxy: "http://127.0.0.1:40123",
    https_proxy: "http://127.0.0.1:40123",
    HTTP_PROXY: "http://127.0.0.1:40123",
    HTTPS_PROXY: "http://127.0.0.1:40123",
    ALL_PROXY: "socks5h://127.0.0.1:40123",
    all_proxy: "socks5h://127.0.0.1:40123",
    NO_PROXY: "localhost,127.0.0.1,::1",
    no_proxy: "localhost,127.0.0.1,::1",
    NODE_USE_ENV_PROXY: "1",
    JAVA_TOOL_OPTIONS: "-DsocksProxyHost=127.0.0.1 -DsocksProxyPort=40123 " +
      "-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=40123 " +
      "-Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=40123",
  });
});

Deno.test("run_command: JAVA_TOOL_OPTIONS is appended to, IPv6 hosts are bracketed in URLs", () => {
  const e = commandEnvironment("::1", 2223, env({ JAVA_TOOL_OPTIONS: " -Xmx64m " }));
  assert.equal(
    e.JAVA_TOOL_OPTIONS,
    "-Xmx64m -DsocksProxyHost=::1 -DsocksProxyPort=2223 -Dhttp.proxyHost=::1 " +
      "-Dhttp.proxyPort=2223 -Dhttps.proxyHost=::1 -Dhttps.proxyPort=2223",
  );
  assert.equal(e.http_proxy, "http://[::1]:2223");
  assert.equal(e.ALL_PROXY, "socks5h://[::1]:2223");
});

Deno.test("run_command: SIGINT is passed on unless a terminal already delivered it", () => {
  assert.deepEqual(relayedSignals("linux", false), {
    listen: ["SIGINT", "SIGTERM", "SIGHUP"],
    relay: ["SIGINT", "SIGTERM", "SIGHUP"],
  });
  assert.deepEqual(relayedSignals("darwin", true).relay, ["SIGTERM", "SIGHUP"]);
  assert.deepEqual(relayedSignals("windows", false), {
    listen: ["SIGINT", "SIGBREAK"],
    relay: [],
  });
});
