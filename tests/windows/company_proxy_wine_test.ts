/**
 * Issue 18 under Wine: a machine with a company proxy before `ktctl connect --setupGlobalProxy`.
 * ktctl reads the previous settings before changing anything (logged, recorded in the state file
 * with the LAN's WinINet per-connection settings), its PAC answers everything outside the cluster
 * as those settings did (evaluated here as a browser would, in a `node:vm` context), and Ctrl+C
 * puts every value back exactly (`reg export` of the whole key).
 *
 * Wine 8 limits (see README.md): its WinINet keeps no RAS entries (`RasEnumEntriesW` lists none
 * and nothing can create one), ignores the connection name and the auto-config URL in
 * `INTERNET_OPTION_PER_CONNECTION_OPTION`, and reports no auto-detect flag, so the RAS and
 * "automatically detect settings" cases run only in the unit tests (tests/unit/sysproxy/).
 */
import assert from "node:assert/strict";
import vm from "node:vm";
import { freePort } from "../../testenv/ktctl_process.ts";
import {
  cluster,
  type Connect,
  INET,
  interrupt,
  killQuietly,
  opts,
  readIfExists,
  regSet,
  snapshot,
  startConnect,
  stateDirOf,
} from "./sysproxy_helpers.ts";
import { assertExitedOk, createPrefix } from "./wine.ts";

await cluster();

/** FindProxyForURL of the PAC that ktctl serves on `port`, as a browser evaluates it. */
async function ktctlPac(port: number): Promise<(url: string) => string> {
  const text = await (await fetch(`http://127.0.0.1:${port}/proxy.pac`)).text();
  const context = vm.createContext({});
  vm.runInContext(
    `function shExpMatch(s, p) { return new RegExp("^" + p.replace(/[.]/g, "\\\\.").replace(/\\*/g, ".*") + "$").test(s); }
     function dnsDomainIs(h, d) { return h.length >= d.length && h.substring(h.length - d.length) == d; }
     ${text}`,
    context,
  );
  return (url) => {
    context.u = url;
    context.h = new URL(url).hostname;
    return vm.runInContext("FindProxyForURL(u, h)", context);
  };
}

Deno.test(
  `socks: a previous manual proxy with a bypass list is read, served in the PAC, and restored exactly`,
  opts,
  async () => {
    const wp = await createPrefix();
    let c: Connect | undefined;
    try {
      const stateDir = await stateDirOf(wp);
      await regSet(wp, INET, "ProxyEnable", "REG_DWORD", 1);
      await regSet(wp, INET, "ProxyServer", "REG_SZ", "http=127.0.0.1:3128;https=127.0.0.1:3129");
      await regSet(wp, INET, "ProxyOverride", "REG_SZ", "*.corp.example;<local>");
      const before = await snapshot(wp);
      const port = freePort();
      c = await startConnect(wp, port, []);
      assert.match(
        c.output(),
        /Previous proxy settings \(Windows system proxy \(LAN\)\): http: http:\/\/127\.0\.0\.1:3128, https: http:\/\/127\.0\.0\.1:3129 \(bypass \*\.corp\.example;<local>\)/,
      );
      const state = JSON.parse(
        await Deno.readTextFile(`${stateDir}/connect-127.0.0.1-${port}.json`),
      );
      assert.equal(state.version, 2);
      assert.equal(state.connections[0].connection, null);
      assert.equal(state.connections[0].set.proxyServer, `socks=127.0.0.1:${port}`);
      assert.deepEqual(state.upstream.https, { protocol: "http", host: "127.0.0.1", port: 3129 });
      assert.deepEqual(
        state.connections[0].mirror.map((m: { name: string }) => m.name),
        ["ProxyEnable", "ProxyServer", "ProxyOverride", "AutoConfigURL"],
      );
      const find = await ktctlPac(port);
      assert.equal(find("http://example.com/"), "PROXY 127.0.0.1:3128");
      assert.equal(find("https://example.com/"), "PROXY 127.0.0.1:3129");
      assert.equal(find("http://www.corp.example/"), "DIRECT");
      assert.equal(find("http://printer/"), "DIRECT");
      assert.equal(
        find("http://web.demo/"),
        `SOCKS5 127.0.0.1:${port}; SOCKS 127.0.0.1:${port}`,
      );
      const r = await interrupt(c);
      c = undefined;
      assertExitedOk(r, "connect");
      assert.deepEqual(await snapshot(wp), before);
      assert.equal(await readIfExists(`${stateDir}/connect-127.0.0.1-${port}.json`), undefined);
    } finally {
      await killQuietly(c);
      await wp.destroy();
    }
  },
);

Deno.test(
  "http: a previous PAC URL is fetched and answers outside the cluster; restored exactly",
  opts,
  async () => {
    const wp = await createPrefix();
    const company = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () =>
        new Response(
          `function FindProxyForURL(url, host) {
             if (dnsDomainIs(host, ".corp.example")) return "DIRECT";
             return "PROXY 127.0.0.1:3128";
           }`,
          { headers: { "content-type": "application/x-ns-proxy-autoconfig" } },
        ),
    );
    let c: Connect | undefined;
    try {
      const pacUrl = `http://127.0.0.1:${company.addr.port}/company.pac`;
      await regSet(wp, INET, "AutoConfigURL", "REG_SZ", pacUrl);
      const before = await snapshot(wp);
      const port = freePort();
      c = await startConnect(wp, port, ["--method", "http"]);
      assert.match(c.output(), new RegExp(`Previous proxy settings .*the PAC file ${pacUrl}`));
      const find = await ktctlPac(port);
      assert.equal(find("http://example.com/"), "PROXY 127.0.0.1:3128");
      assert.equal(find("http://intranet.corp.example/"), "DIRECT");
      assert.equal(find("http://web.demo/"), `PROXY 127.0.0.1:${port}`);
      assert.equal(find("http://10.96.250.250/"), `PROXY 127.0.0.1:${port}`);
      const r = await interrupt(c);
      c = undefined;
      assertExitedOk(r, "connect");
      assert.deepEqual(await snapshot(wp), before);
    } finally {
      await killQuietly(c);
      await company.shutdown();
      await wp.destroy();
    }
  },
);
