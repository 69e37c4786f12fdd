/**
 * Windows programs on a company network, under Wine, with the settings ktctl really writes:
 * - WinINet (sysproxy_client.exe) with the previous manual proxy (a real squid on loopback) and
 *   bypass list: while `connect --setupGlobalProxy` runs in socks mode it reads exactly what ktctl
 *   writes (`socks=`, the bypass list with `<local>`; Wine's WinINet cannot use a SOCKS proxy, see
 *   below); after Ctrl+C it reaches the outside site through squid again (squid's access log),
 *   every value as before.
 * - WinHTTP's `WinHttpGetProxyForUrl` (src/os/winhttp.ts, the PacEvaluator ktctl uses on
 *   Windows) evaluating ktctl's PAC in http mode, whose previous PAC (served here) sent the
 *   outside site to squid: Windows' own PAC engine (Wine's JScript) runs ktctl's script, with
 *   cluster destinations to ktctl and the outside site to squid.
 * - InternetSetOption's REFRESH: ktctl's call gives the same answer as a plain call from another
 *   program in the same prefix (Wine 8 answers FALSE to both; on Windows both succeed).
 */
import assert from "node:assert/strict";
import { WEB } from "../../testenv/cluster/mod.ts";
import { freePort } from "../../testenv/ktctl_process.ts";
import { startSquid } from "../../testenv/squid.ts";
import {
  cluster,
  type Connect,
  INET,
  interrupt,
  killQuietly,
  opts,
  regSet,
  snapshot,
  startConnect,
  started,
} from "./sysproxy_helpers.ts";
import { assertExitedOk, createPrefix, REPO_ROOT, type WinePrefix } from "./wine.ts";

await cluster();

/** sysproxy_client.exe wininet `url`: what it printed and how it exited. */
async function wininet(wp: WinePrefix, url: string) {
  const r = await started(() =>
    wp.wine(wp.manifest.sysproxyClientExe, ["wininet", url], { timeoutMs: 60_000 })
  );
  assert.equal(r.timedOut, false, "sysproxy_client timed out");
  return { ...r, out: r.stdout.replaceAll("\r\n", "\n") };
}

/** An HTTP site on 127.0.0.2 that squid knows as `outside.test`. */
function outsideSite() {
  return Deno.serve(
    { hostname: "127.0.0.2", port: 0, onListen: () => {} },
    () => new Response("outside-site\n"),
  );
}

Deno.test(
  "WinINet reads ktctl's socks= settings while connected, and the company proxy again after exit",
  opts,
  async () => {
    const wp = await createPrefix();
    await using squid = await startSquid({ hosts: { "outside.test": "127.0.0.2" } });
    const site = outsideSite();
    let c: Connect | undefined;
    try {
      await regSet(wp, INET, "ProxyEnable", "REG_DWORD", 1);
      await regSet(wp, INET, "ProxyServer", "REG_SZ", `127.0.0.1:${squid.port}`);
      await regSet(wp, INET, "ProxyOverride", "REG_SZ", "*.corp.example;<local>");
      const before = await snapshot(wp);
      const port = freePort();
      c = await startConnect(wp, port, []);
      // What ktctl writes in socks mode, as WinINet reads it. Wine 8's WinINet has no SOCKS
      // client: it takes a socks= entry for "no proxy" and goes DIRECT, so the cluster name does
      // not resolve (12007) and nothing leaves the machine. Windows' WinINet speaks SOCKS4 there
      // and resolves names itself, so it reaches cluster IPs but not names either; cluster names
      // need the PAC (http mode), which Wine's WinINet ignores (README.md).
      const during = await wininet(wp, `http://${WEB.service}.${WEB.namespace}/`);
      assert.match(
        during.out,
        new RegExp(
          `^proxy: type=3 server=socks=127\\.0\\.0\\.1:${port} bypass=\\*\\.corp\\.example;<local>$`,
          "m",
        ),
      );
      assert.match(during.out, /InternetOpenUrl failed: 12007/, during.out);
      const r = await interrupt(c);
      c = undefined;
      assertExitedOk(r, "connect");
      assert.deepEqual(await snapshot(wp), before);

      const outside = `http://outside.test:${site.addr.port}/after`;
      const after = await wininet(wp, outside);
      assertExitedOk(after, after.out);
      assert.match(
        after.out,
        new RegExp(`^proxy: type=3 server=127\\.0\\.0\\.1:${squid.port} `, "m"),
      );
      assert.match(after.out, /^outside-site$/m);
      await squid.waitForLog(new RegExp(`GET ${outside.replace(/\./g, "\\.")}`));
    } finally {
      await killQuietly(c);
      await site.shutdown();
      await wp.destroy();
    }
  },
);

Deno.test(
  "http mode keeps the manual proxy: WinINet reaches the outside site through squid while connected",
  opts,
  async () => {
    const wp = await createPrefix();
    await using squid = await startSquid({ hosts: { "outside.test": "127.0.0.2" } });
    const site = outsideSite();
    let c: Connect | undefined;
    try {
      await regSet(wp, INET, "ProxyEnable", "REG_DWORD", 1);
      await regSet(wp, INET, "ProxyServer", "REG_SZ", `127.0.0.1:${squid.port}`);
      const before = await snapshot(wp);
      c = await startConnect(wp, freePort(), ["--method", "http"]);
      // Wine's WinINet ignores the setup script ktctl sets (README.md) and uses the manual proxy
      // ktctl leaves in place: what Windows does when it cannot fetch the script (ktctl gone).
      const outside = `http://outside.test:${site.addr.port}/while-connected`;
      const during = await wininet(wp, outside);
      assertExitedOk(during, during.out);
      assert.match(during.out, /^outside-site$/m);
      await squid.waitForLog(new RegExp(`GET ${outside.replace(/\./g, "\\.")}`));
      assertExitedOk(await interrupt(c), "connect");
      c = undefined;
      assert.deepEqual(await snapshot(wp), before);
    } finally {
      await killQuietly(c);
      await site.shutdown();
      await wp.destroy();
    }
  },
);

Deno.test(
  "WinHTTP (ktctl's PacEvaluator) runs ktctl's PAC: cluster to ktctl, the rest as the previous PAC said",
  opts,
  async () => {
    const wp = await createPrefix();
    await using squid = await startSquid();
    const company = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () =>
        new Response(
          `function FindProxyForURL(url, host) {
             if (host == "outside.test") return "PROXY 127.0.0.1:${squid.port}";
             return "DIRECT";
           }`,
        ),
    );
    let c: Connect | undefined;
    try {
      await regSet(
        wp,
        INET,
        "AutoConfigURL",
        "REG_SZ",
        `http://127.0.0.1:${company.addr.port}/company.pac`,
      );
      const port = freePort();
      c = await startConnect(wp, port, ["--method", "http"]);
      const winhttp = wp.toWinPath(`${REPO_ROOT}/src/os/winhttp.ts`).replaceAll("\\", "/");
      const script = await wp.writeScript(
        "pac_eval.ts",
        `import { winHttpPacEvaluator } from "file:///${winhttp}";
         const pac = winHttpPacEvaluator({ pacUrl: "http://127.0.0.1:${port}/proxy.pac" });
         const answers = [];
         for (const url of ${
          JSON.stringify([
            `http://${WEB.service}.${WEB.namespace}/`,
            "http://10.96.250.250/",
            "http://outside.test/",
            "http://example.test/",
          ])
        }) answers.push(await pac.find(url, new URL(url).hostname));
         pac.close();
         console.log(JSON.stringify(answers));`,
      );
      const r = await started(() =>
        wp.runWinDeno(["run", "-A", "--no-lock", script], { cwd: REPO_ROOT, timeoutMs: 120_000 })
      );
      assertExitedOk(r, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").at(-1)!), [
        `PROXY 127.0.0.1:${port}`,
        `PROXY 127.0.0.1:${port}`,
        `PROXY 127.0.0.1:${squid.port}`,
        "DIRECT",
      ]);
      assertExitedOk(await interrupt(c), "connect");
      c = undefined;
    } finally {
      await killQuietly(c);
      await company.shutdown();
      await wp.destroy();
    }
  },
);

Deno.test(
  "REFRESH: ktctl's InternetSetOption answers as a plain call in the same prefix does",
  opts,
  async () => {
    const wp = await createPrefix();
    let c: Connect | undefined;
    try {
      const script = await wp.writeScript(
        "refresh.ts",
        `const lib = Deno.dlopen("wininet.dll", {
           InternetSetOptionW: { parameters: ["pointer", "u32", "pointer", "u32"], result: "i32" },
         });
         const changed = lib.symbols.InternetSetOptionW(null, 39, null, 0) !== 0;
         const refresh = lib.symbols.InternetSetOptionW(null, 37, null, 0) !== 0;
         console.log(JSON.stringify({ changed, refresh }));`,
      );
      const probe = await started(() =>
        wp.runWinDeno(["run", "-A", script], { timeoutMs: 120_000 })
      );
      assertExitedOk(probe, probe.stderr);
      const plain = JSON.parse(probe.stdout.trim()) as { changed: boolean; refresh: boolean };
      const word = (ok: boolean) => ok ? "ok" : "failed";
      c = await startConnect(wp, freePort(), ["-d"]);
      assert.match(
        c.output(),
        new RegExp(
          `DBG InternetSetOption SETTINGS_CHANGED: ${word(plain.changed)}, REFRESH: ${
            word(plain.refresh)
          }`,
        ),
      );
      // SETTINGS_CHANGED must work in any case (Wine 8 implements it).
      assert.equal(plain.changed, true);
      assertExitedOk(await interrupt(c), "connect");
      c = undefined;
    } finally {
      await killQuietly(c);
      await wp.destroy();
    }
  },
);
