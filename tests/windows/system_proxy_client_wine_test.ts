/**
 * Issue 10 under Wine: a Windows program that takes its proxy from the system settings
 * (testenv/wine/src/sysproxy_client.c, WinINet, and WinHTTP as Chromium uses it) against
 * `ktctl connect --method http` on the local control plane. The auto-config form that
 * `--setupGlobalProxy --method http` writes is shown not to work under Wine 8 (neither WinINet
 * nor WinHTTP reads `AutoConfigURL`), so reaching `http://web.demo/` is tested with the manual
 * form, `ProxyServer=127.0.0.1:<port>` (tests/windows/README.md).
 */
import assert from "node:assert/strict";
import { WEB } from "../../testenv/cluster/mod.ts";
import { freePort } from "../../testenv/ktctl_process.ts";
import { pacUrl } from "../../src/sysproxy/windows_plan.ts";
import {
  connectArgs,
  ENV,
  INET,
  ktctlArgs,
  opts,
  regSet,
  snapshot,
  started,
} from "./sysproxy_helpers.ts";
import { assertExitedOk, createPrefix, type WinePrefix, type WinProcess } from "./wine.ts";

const WEB_URL = `http://${WEB.service}.${WEB.namespace}/`;

/** sysproxy_client.exe `mode` `url`: what it printed and how it exited. */
async function client(wp: WinePrefix, mode: "wininet" | "winhttp", url: string) {
  const r = await started(() =>
    wp.wine(wp.manifest.sysproxyClientExe, [mode, url], { timeoutMs: 60_000 })
  );
  assert.equal(r.timedOut, false, `sysproxy_client ${mode} timed out`);
  return { ...r, out: r.stdout.replaceAll("\r\n", "\n") };
}

Deno.test(
  "a WinINet program reaches web.demo through ktctl's HTTP proxy from the system settings",
  opts,
  async () => {
    const wp = await createPrefix();
    let p: WinProcess | undefined;
    try {
      const port = freePort();
      const args = await ktctlArgs(wp, await connectArgs(wp, port, ["--method", "http"]));
      p = wp.spawnWinDeno(args);
      const pac = pacUrl("127.0.0.1", port);
      await p.waitFor(`Browsers: proxy auto-config URL ${pac}`, { timeoutMs: 300_000 });
      // ktctl serves the script, and it sends cluster names to ktctl.
      const script = await fetch(pac).then((r) => r.text());
      assert.match(script, new RegExp(`PROXY 127\\.0\\.0\\.1:${port}`));
      const before = await snapshot(wp);

      // The auto-config form, exactly as `--setupGlobalProxy --method http` sets it: Wine 8's
      // WinINet ignores it (DIRECT, then no such host), and its WinHTTP does not even see it.
      await regSet(wp, INET, "AutoConfigURL", "REG_SZ", pac);
      const viaPac = await client(wp, "wininet", WEB_URL);
      assert.equal(viaPac.code, 1, viaPac.out);
      assert.match(viaPac.out, /^proxy: type=1 /m); // INTERNET_OPEN_TYPE_DIRECT
      assert.match(viaPac.out, /InternetOpenUrl failed: 12007/); // ERROR_INTERNET_NAME_NOT_RESOLVED
      const winhttp = await client(wp, "winhttp", WEB_URL);
      assert.match(winhttp.out, /^ie: autodetect=\d autoconfig= /m, winhttp.out);
      await wp.reg(["delete", INET, "/v", "AutoConfigURL", "/f"]);

      // The manual form: WinINet sends the request to ktctl, which reaches the pod.
      await regSet(wp, INET, "ProxyServer", "REG_SZ", `127.0.0.1:${port}`);
      await regSet(wp, INET, "ProxyEnable", "REG_DWORD", 1);
      const manual = await client(wp, "wininet", WEB_URL);
      assertExitedOk(manual, manual.out);
      assert.match(manual.out, new RegExp(`^proxy: type=3 server=127\\.0\\.0\\.1:${port} `, "m"));
      assert.match(manual.out, /^status: 200$/m);
      assert.match(manual.out, new RegExp(`^pod=${WEB.namespace}/web-\\d$`, "m"));
      assert.deepEqual((await snapshot(wp)).env, before.env);
      assert.equal(before.env.some((v) => v.name.toLowerCase() === "http_proxy"), false, ENV);
    } finally {
      p?.kill("SIGKILL");
      await p?.wait(10_000);
      await wp.destroy();
    }
  },
);
