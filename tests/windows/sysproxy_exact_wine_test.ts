/**
 * Issue 11 under Wine, ktctl's shipped bundle in the Windows deno.exe: previous values with Chinese, accented
 * and other characters (some outside both code pages 1252 and 936) come back exactly with Wine
 * in an English and in a Chinese locale; the http method's values; a console close (delivered
 * as Windows delivers it: see testenv/wine/src/ctrlclose.c) restoring synchronously; the
 * WM_SETTINGCHANGE and WinINet calls; and a recycled pid. Keys are compared as `reg export`
 * writes them (UTF-16LE), never through reg.exe's console output.
 */
import assert from "node:assert/strict";
import { freePort } from "../../testenv/ktctl_process.ts";
import {
  assertNoErrors,
  ENV,
  filesIn,
  INET,
  interrupt,
  killQuietly,
  ktctl,
  newProcessEnv,
  opts,
  readIfExists,
  regSet,
  snapshot,
  spawnFixture,
  startConnect,
  stateDirOf,
  type StateJson,
  typed,
  withChanges,
} from "./sysproxy_helpers.ts";
import { assertExitedOk, createPrefix, type WinePrefix } from "./wine.ts";

const LOCALES = ["en_US.UTF-8", "zh_CN.UTF-8"];

/** Chinese, accented Latin, and ő / 🚀 / ꙮ, which neither code page 1252 nor 936 has. */
const EXOTIC = {
  ProxyOverride: "*.内网.公司;*.café.example;*.ő.test;<local>",
  ProxyServer: "http=代理.公司:8080;https=prøxy.ꙮ.example:8443",
  AutoConfigURL: "http://wpad.内网/代理.pac?ő=🚀",
  http_proxy: "http://代理.café:3128",
  https_proxy: "http://prøxy.ő🚀:3129",
};

/** The prefix's ANSI code page (GetACP): 1252 for en_US, 936 for zh_CN. */
async function activeCodePage(wp: WinePrefix): Promise<number> {
  const script = await wp.writeScript(
    "acp.ts",
    'const k = Deno.dlopen("kernel32.dll", { GetACP: { parameters: [], result: "u32" } });\n' +
      "console.log(k.symbols.GetACP());",
  );
  // Under load a deno.exe in a new prefix has been seen killed (137) before it printed anything,
  // a Wine start-up race like the ones sysproxy_helpers.ts retries: ask again, at most 3 times.
  for (let attempt = 1;; attempt++) {
    const r = await wp.runWinDeno(["run", "--allow-ffi", script], { timeoutMs: 120_000 });
    if (r.code !== 0 && r.stdout.trim() === "" && attempt < 3) continue;
    assertExitedOk(r, r.stderr);
    return Number(r.stdout.trim());
  }
}

/**
 * Writes {@link EXOTIC} (and ProxyEnable=0) the way a user would, checks they took, and that
 * reg.exe's console output cannot carry them in this locale (so the test would catch a restore
 * that read them that way).
 */
async function seedExotic(wp: WinePrefix, lang = "en_US.UTF-8"): Promise<void> {
  assert.equal(await activeCodePage(wp), lang.startsWith("zh_CN") ? 936 : 1252);
  await regSet(wp, INET, "ProxyEnable", "REG_DWORD", 0);
  for (const name of ["ProxyOverride", "ProxyServer", "AutoConfigURL"] as const) {
    await regSet(wp, INET, name, "REG_SZ", EXOTIC[name]);
    assert.deepEqual(await typed(wp, INET, name), { type: "REG_SZ", value: EXOTIC[name] });
  }
  for (const name of ["http_proxy", "https_proxy"] as const) {
    await regSet(wp, ENV, name, "REG_SZ", EXOTIC[name]);
    assert.deepEqual(await typed(wp, ENV, name), { type: "REG_SZ", value: EXOTIC[name] });
  }
  const query = await wp.reg(["query", INET, "/v", "ProxyOverride"]);
  assertExitedOk(query, query.stdout);
  assert.ok(!query.stdout.includes(EXOTIC.ProxyOverride), query.stdout);
}

for (const lang of LOCALES) {
  Deno.test(
    `socks, ${lang}: previous values, absent or non-ASCII, come back exactly`,
    opts,
    async () => {
      const wp = await createPrefix({ lang });
      let c;
      try {
        const stateDir = await stateDirOf(wp);
        // Absent values, then non-ASCII ones; the last round is killed and `ktctl clean` repairs.
        for (const [seeded, killed] of [[false, false], [true, false], [true, true]]) {
          if (seeded && !killed) await seedExotic(wp, lang);
          const before = await snapshot(wp);
          const port = freePort();
          c = await startConnect(wp, port, ["-d"]);
          const url = `http://127.0.0.1:${port}`;
          const during = await snapshot(wp);
          assert.deepEqual(
            during.inet,
            withChanges(before.inet, {
              ProxyEnable: { type: "REG_DWORD", value: 1 },
              ProxyServer: { type: "REG_SZ", value: `socks=127.0.0.1:${port}` },
              ...(seeded ? {} : { ProxyOverride: { type: "REG_SZ", value: "<local>" } }),
            }),
          );
          assert.deepEqual(
            during.env,
            withChanges(before.env, {
              http_proxy: { type: "REG_SZ", value: url },
              https_proxy: { type: "REG_SZ", value: url },
            }),
          );
          const state = JSON.parse(
            await Deno.readTextFile(`${stateDir}/connect-127.0.0.1-${port}.json`),
          ) as StateJson;
          assert.deepEqual(
            state.values.map((v) => [v.name, v.previous?.data ?? null]),
            seeded
              ? [
                ["http_proxy", EXOTIC.http_proxy],
                ["https_proxy", EXOTIC.https_proxy],
                ["ProxyServer", EXOTIC.ProxyServer],
                ["ProxyOverride", EXOTIC.ProxyOverride],
                ["ProxyEnable", 0],
              ]
              : [["http_proxy", null], ["https_proxy", null], ["ProxyServer", null], [
                "ProxyOverride",
                null,
              ], [
                "ProxyEnable",
                null,
              ]],
          );
          // The announcements were made, and succeeded as far as Wine goes.
          assert.match(c.output(), /DBG WM_SETTINGCHANGE Environment broadcast: sent/);
          // REFRESH's answer is compared with a plain call's in company_proxy_client_wine_test.ts
          // (Wine 8 answers FALSE to every caller); SETTINGS_CHANGED must succeed.
          assert.match(c.output(), /DBG InternetSetOption SETTINGS_CHANGED: ok, REFRESH: /);
          assert.match(c.output(), /DBG Console close handler registered/);

          const r = await interrupt(c);
          assertExitedOk(r, c.output());
          // The seeded AutoConfigURL names a host that does not exist: ktctl read it as the
          // previous configuration, logged it exactly, and says once that it cannot fetch it.
          const unfetchable = /WRN Could not fetch the previous PAC file (\S+) \(/;
          if (seeded) {
            assert.match(
              c.output(),
              /Previous proxy settings \(Windows system proxy \(LAN\)\): the PAC file http:\/\/wpad\.内网\/代理\.pac\?ő=🚀\n/,
            );
            assert.equal(unfetchable.exec(c.output())?.[1], EXOTIC.AutoConfigURL);
          }
          assertNoErrors(c.output().replace(unfetchable, ""));
          assert.deepEqual(await snapshot(wp), before);
          assert.deepEqual(await filesIn(stateDir), []);
          assert.deepEqual(
            await newProcessEnv(wp, ["http_proxy", "https_proxy"]),
            seeded ? [EXOTIC.http_proxy, EXOTIC.https_proxy] : [null, null],
          );
          c = undefined;
        }
      } finally {
        await killQuietly(c);
        await wp.destroy();
      }
    },
  );

  Deno.test(
    `http, ${lang}: http_proxy, https_proxy, AutoConfigURL set, restored and cleaned exactly`,
    opts,
    async () => {
      const wp = await createPrefix({ lang });
      let p;
      try {
        const stateDir = await stateDirOf(wp);
        // Absent values, then non-ASCII ones; the last round is killed and `ktctl clean` repairs.
        for (const [seeded, killed] of [[false, false], [true, false], [true, true]]) {
          if (seeded && !killed) await seedExotic(wp, lang);
          const before = await snapshot(wp);
          if (!seeded) {
            for (const name of ["http_proxy", "https_proxy"]) {
              assert.equal(before.env.find((v) => v.name === name), undefined, name);
            }
            assert.equal(before.inet.find((v) => v.name === "AutoConfigURL"), undefined);
          }
          const port = freePort();
          p = (await startConnect(wp, port, ["--method", "http"])).p;
          const url = `http://127.0.0.1:${port}`;
          const during = await snapshot(wp);
          assert.deepEqual(
            during.inet,
            withChanges(before.inet, {
              AutoConfigURL: { type: "REG_SZ", value: `${url}/proxy.pac` },
            }),
          );
          assert.deepEqual(
            during.env,
            withChanges(before.env, {
              http_proxy: { type: "REG_SZ", value: url },
              https_proxy: { type: "REG_SZ", value: url },
            }),
          );
          assert.deepEqual(await newProcessEnv(wp, ["http_proxy", "https_proxy"]), [url, url]);
          const state = JSON.parse(
            await Deno.readTextFile(`${stateDir}/connect-127.0.0.1-${port}.json`),
          ) as StateJson;
          assert.equal(state.method, "http");
          if (killed) {
            p.kill("SIGKILL");
            await p.wait(30_000);
            assert.deepEqual(await snapshot(wp), during);
            const clean = await ktctl(wp, ["clean"]);
            const out = clean.stdout + clean.stderr;
            assertExitedOk(clean, out);
            assert.match(out, /Restored \S+Internet Settings\\AutoConfigURL to "http:\/\/wpad\./);
            assert.match(out, /Restored HKCU\\Environment\\https_proxy to "http:\/\/prøxy\./);
          } else {
            p.kill("SIGINT");
            const r = await p.wait(60_000);
            assertExitedOk(r, p.stdout() + p.stderr());
            assert.match(p.stdout(), /Stopped/);
          }
          assert.deepEqual(await snapshot(wp), before);
          assert.deepEqual(await filesIn(stateDir), []);
          p = undefined;
        }
      } finally {
        p?.kill("SIGKILL");
        await p?.wait(10_000);
        await wp.destroy();
      }
    },
  );
}

Deno.test("closing the console restores before the process is ended", opts, async () => {
  const wp = await createPrefix();
  let c;
  try {
    const stateDir = await stateDirOf(wp);
    await seedExotic(wp);
    const before = await snapshot(wp);
    const port = freePort();
    c = await startConnect(wp, port, ["-d"]);
    const stateFile = `${stateDir}/connect-127.0.0.1-${port}.json`;
    const { pid } = JSON.parse(await Deno.readTextFile(stateFile)) as StateJson;
    assert.notDeepEqual(await snapshot(wp), before);

    // What Windows does on a console close: the handlers run in a new thread, and the process
    // is ended as soon as they return (ctrlclose.exe waits at most 5 s, as Windows does).
    const closed = await wp.wine(wp.manifest.ctrlcloseExe, [String(pid), "5000"], {
      timeoutMs: 60_000,
    });
    assertExitedOk(closed, `${closed.stdout}${closed.stderr}\n${c.output()}`);
    assert.match(closed.stdout, /^returned in \d+ ms/);
    const ended = await c.p.wait(30_000);
    assert.equal(ended.timedOut, false);
    assert.match(c.output(), /DBG Console control event CTRL_CLOSE/);
    assert.match(c.output(), /INF Console closed: Restored \S+Internet Settings\\ProxyEnable/);
    assert.doesNotMatch(c.output(), /Stopping/); // the normal stop never ran
    assert.deepEqual(await snapshot(wp), before);
    assert.equal(await readIfExists(stateFile), undefined);
    assert.deepEqual(await filesIn(stateDir), []);
  } finally {
    await killQuietly(c);
    await wp.destroy();
  }
});

Deno.test("a recycled pid: alive, but started after the state file was written", opts, async () => {
  const wp = await createPrefix();
  let sleeper;
  try {
    const stateDir = await stateDirOf(wp);
    sleeper = spawnFixture(wp, "sleeper.ts", []);
    const line = await sleeper.waitFor(/\{"pid":\d+,"created":"\d+"\}/, { timeoutMs: 120_000 });
    const live = JSON.parse(line) as { pid: number; created: string };
    const port = freePort();
    const url = `http://127.0.0.1:${port}`;
    await regSet(wp, ENV, "http_proxy", "REG_SZ", url);
    const stateFile = `${stateDir}/connect-127.0.0.1-${port}.json`;
    const writeState = async (processStart: string) => {
      await Deno.mkdir(stateDir, { recursive: true });
      await Deno.writeTextFile(
        stateFile,
        JSON.stringify({
          format: "ktctl-connect-state",
          version: 1,
          pid: live.pid,
          processStart,
          address: "127.0.0.1",
          port,
          method: "socks5",
          createdAt: new Date().toISOString(),
          values: [{
            key: ENV,
            name: "http_proxy",
            previous: null,
            set: { type: "REG_SZ", data: url },
          }],
        }),
      );
    };
    const owner = `connect pid ${live.pid} \\(127\\.0\\.0\\.1:${port}\\)`;

    // The pid's own identity: that is the owner, still running.
    await writeState(`started:${live.created}`);
    const alive = await ktctl(wp, ["clean"]);
    assert.match(
      alive.stdout + alive.stderr,
      new RegExp(`${owner} is still running; left its state alone`),
    );
    assert.deepEqual(await typed(wp, ENV, "http_proxy"), { type: "REG_SZ", value: url });

    // The file's owner started earlier than the process that now has its pid.
    await writeState(`started:${BigInt(live.created) - 10_000_000n}`);
    const r = await ktctl(wp, ["clean"]);
    const out = r.stdout + r.stderr;
    assertExitedOk(r, out);
    assert.match(
      out,
      new RegExp(`${owner} is gone \\(pid ${live.pid} now belongs to another program\\)`),
    );
    assert.match(out, /Removed HKCU\\Environment\\http_proxy \(it did not exist before\)/);
    assert.equal(await typed(wp, ENV, "http_proxy"), undefined);
    assert.equal(await readIfExists(stateFile), undefined);
  } finally {
    sleeper?.kill("SIGKILL");
    await sleeper?.wait(10_000);
    await wp.destroy();
  }
});
