/**
 * `ktctl connect --setupGlobalProxy` and `ktctl clean` end to end: ktctl's shipped bundle, run by
 * the Windows deno.exe (patched for Wine) with the flags the executables embed, under Wine (each test in a fresh prefix, so a fresh registry), against the local control plane,
 * with Linux curl through the proxy it sets up. Run with the cluster up:
 * `deno task cluster up && deno task test:windows`.
 *
 * Every registry check compares whole keys as `reg export` writes them (UTF-16LE, so exact in
 * every locale: all values with their types), so "exactly as before" also means nothing was
 * added. The same tests run with Wine in an English and in a Chinese locale.
 */
import assert from "node:assert/strict";
import { freePort } from "../../testenv/ktctl_process.ts";
import {
  assertNoErrors,
  assertProxyWorks,
  cluster,
  type Connect,
  connectArgs,
  ENV,
  filesIn,
  INET,
  interrupt,
  killQuietly,
  ktctl,
  newProcessProxyEnv,
  opts,
  readIfExists,
  regSet,
  snapshot,
  startConnect,
  stateDirOf,
  type StateJson,
  typed,
  withChanges,
} from "./sysproxy_helpers.ts";

await cluster();
import { assertExitedOk, createPrefix, type WinePrefix } from "./wine.ts";

/**
 * socks mode from start to Ctrl+C: what is set while connected, that it works, and that every
 * value is exactly as before afterwards. `seed` runs first, in the fresh prefix.
 */
async function socksRoundTrip(
  wp: WinePrefix,
  seed: () => Promise<void>,
  expected: { override: string; previousHttpProxy: string | null },
): Promise<void> {
  const stateDir = await stateDirOf(wp);
  await seed();
  const before = await snapshot(wp);
  const port = freePort();
  const stateFile = `${stateDir}/connect-127.0.0.1-${port}.json`;
  let c: Connect | undefined;
  try {
    c = await startConnect(wp, port, []);
    const url = `http://127.0.0.1:${port}`;
    assert.equal(c.proxyUrl, url);
    assert.match(
      c.output(),
      new RegExp(`Set the Windows system proxy to socks=127\\.0\\.0\\.1:${port}`),
    );
    assert.deepEqual(await typed(wp, INET, "ProxyEnable"), { type: "REG_DWORD", value: 1 });
    assert.deepEqual(await typed(wp, INET, "ProxyServer"), {
      type: "REG_SZ",
      value: `socks=127.0.0.1:${port}`,
    });
    const override = await typed(wp, INET, "ProxyOverride");
    assert.equal(override?.type, "REG_SZ");
    assert.ok(String(override?.value).split(";").includes("<local>"), String(override?.value));
    assert.equal(override?.value, expected.override);
    assert.deepEqual(await typed(wp, ENV, "http_proxy"), { type: "REG_SZ", value: url });
    // Nothing else was touched.
    const during = await snapshot(wp);
    assert.deepEqual(
      during.inet,
      withChanges(before.inet, {
        ProxyEnable: { type: "REG_DWORD", value: 1 },
        ProxyServer: { type: "REG_SZ", value: `socks=127.0.0.1:${port}` },
        ProxyOverride: { type: "REG_SZ", value: expected.override },
      }),
    );
    assert.deepEqual(
      during.env,
      withChanges(before.env, {
        http_proxy: { type: "REG_SZ", value: url },
        https_proxy: { type: "REG_SZ", value: url },
      }),
    );
    assert.deepEqual(await newProcessProxyEnv(wp), [url, url]);

    const state = JSON.parse(await Deno.readTextFile(stateFile)) as StateJson;
    assert.equal(state.method, "socks");
    assert.equal(state.port, port);
    assert.deepEqual(state.values.map((v) => v.name), [
      "http_proxy",
      "https_proxy",
      "ProxyServer",
      "ProxyOverride",
      "ProxyEnable",
    ]);
    assert.deepEqual(
      state.values[0].previous,
      expected.previousHttpProxy === null
        ? null
        : { type: "REG_SZ", data: expected.previousHttpProxy },
    );
    await assertProxyWorks(c.proxyUrl);

    const r = await interrupt(c);
    assertExitedOk(r, c.output());
    assert.match(c.output(), /INF Stopped/);
    assertNoErrors(c.output());
    assert.match(
      c.output(),
      expected.previousHttpProxy === null
        ? /INF Removed HKCU\\Environment\\http_proxy \(it did not exist before\)/
        : new RegExp(
          `INF Restored HKCU\\\\Environment\\\\http_proxy to "${expected.previousHttpProxy}"`,
        ),
    );
    assert.match(c.output(), /INF (Restored|Removed) \S+Internet Settings\\ProxyEnable/);
    assert.deepEqual(await snapshot(wp), before);
    assert.equal(await readIfExists(stateFile), undefined);
    assert.deepEqual(await filesIn(stateDir), []);
    const previous = expected.previousHttpProxy;
    assert.deepEqual(await newProcessProxyEnv(wp), [previous, previous]);
  } finally {
    await killQuietly(c);
  }
}

Deno.test(
  "socks: sets and restores previous values (ProxyEnable=0, *.corp;<local>, http_proxy)",
  opts,
  async () => {
    const wp = await createPrefix();
    try {
      await socksRoundTrip(
        wp,
        async () => {
          await regSet(wp, INET, "ProxyEnable", "REG_DWORD", 0);
          await regSet(wp, INET, "ProxyServer", "REG_SZ", "http=proxy.corp:8080");
          await regSet(wp, INET, "ProxyOverride", "REG_SZ", "*.corp;<local>");
          await regSet(wp, ENV, "http_proxy", "REG_SZ", "http://old:3128");
        },
        { override: "*.corp;<local>", previousHttpProxy: "http://old:3128" },
      );
    } finally {
      await wp.destroy();
    }
  },
);

Deno.test(
  "socks: values that did not exist are removed again (fresh prefix, no http_proxy)",
  opts,
  async () => {
    const wp = await createPrefix();
    try {
      const before = await snapshot(wp);
      // A fresh prefix has no proxy values at all: each must be deleted again on stop.
      for (const name of ["ProxyEnable", "ProxyServer", "ProxyOverride"]) {
        assert.equal(before.inet.find((v) => v.name === name), undefined, name);
      }
      assert.equal(before.env.find((v) => v.name.toLowerCase() === "http_proxy"), undefined);
      await socksRoundTrip(wp, () => Promise.resolve(), {
        override: "<local>",
        previousHttpProxy: null,
      });
    } finally {
      await wp.destroy();
    }
  },
);

Deno.test("socks5: only http_proxy changes; Internet Settings stay untouched", opts, async () => {
  const wp = await createPrefix();
  let c: Connect | undefined;
  try {
    const stateDir = await stateDirOf(wp);
    await regSet(wp, INET, "ProxyEnable", "REG_DWORD", 0);
    await regSet(wp, INET, "ProxyOverride", "REG_SZ", "*.corp");
    await regSet(wp, ENV, "http_proxy", "REG_SZ", "http://old:3128");
    const before = await snapshot(wp);
    const port = freePort();
    const stateFile = `${stateDir}/connect-127.0.0.1-${port}.json`;
    c = await startConnect(wp, port, ["--method", "socks5"]);
    const url = `socks5h://127.0.0.1:${port}`;
    assert.equal(c.proxyUrl, url);
    assert.match(c.output(), /Left the Windows system proxy alone: it cannot use SOCKS5/);
    const during = await snapshot(wp);
    assert.deepEqual(during.inet, before.inet);
    assert.deepEqual(
      during.env,
      withChanges(before.env, { http_proxy: { type: "REG_SZ", value: url } }),
    );
    assert.deepEqual(await newProcessProxyEnv(wp), [url, url]);
    const state = JSON.parse(await Deno.readTextFile(stateFile)) as StateJson;
    assert.equal(state.method, "socks5");
    assert.deepEqual(state.values, [{
      key: ENV,
      name: "http_proxy",
      previous: { type: "REG_SZ", data: "http://old:3128" },
      set: { type: "REG_SZ", data: url },
    }]);
    await assertProxyWorks(c.proxyUrl);

    const r = await interrupt(c);
    assertExitedOk(r, c.output());
    assertNoErrors(c.output());
    assert.match(c.output(), /Restored HKCU\\Environment\\http_proxy to "http:\/\/old:3128"/);
    assert.deepEqual(await snapshot(wp), before);
    assert.deepEqual(await filesIn(stateDir), []);
    assert.deepEqual(await newProcessProxyEnv(wp), ["http://old:3128", "http://old:3128"]);
  } finally {
    await killQuietly(c);
    await wp.destroy();
  }
});

Deno.test(
  "SIGKILL leaves the proxy set; clean --dryRun changes nothing; clean restores",
  opts,
  async () => {
    const wp = await createPrefix();
    let c: Connect | undefined;
    try {
      const stateDir = await stateDirOf(wp);
      await regSet(wp, INET, "ProxyEnable", "REG_DWORD", 0);
      await regSet(wp, INET, "ProxyOverride", "REG_SZ", "*.corp");
      // An expandable string must come back as one, not as setx's REG_SZ.
      await regSet(wp, ENV, "http_proxy", "REG_EXPAND_SZ", "http://%USERNAME%.old:3128");
      const before = await snapshot(wp);
      const port = freePort();
      const stateFile = `${stateDir}/connect-127.0.0.1-${port}.json`;
      c = await startConnect(wp, port, []);
      const during = await snapshot(wp);
      const stateText = await Deno.readTextFile(stateFile);
      const state = JSON.parse(stateText) as StateJson;
      assert.deepEqual(state.values.find((v) => v.name === "http_proxy")?.previous, {
        type: "REG_EXPAND_SZ",
        data: "http://%USERNAME%.old:3128",
      });
      assert.equal(await typed(wp, INET, "ProxyOverride").then((v) => v?.value), "*.corp;<local>");

      c.p.kill("SIGKILL");
      const killed = await c.p.wait(30_000);
      assert.equal(killed.signal, "SIGKILL");
      assert.doesNotMatch(c.output(), /Stopping/);
      assert.deepEqual(await snapshot(wp), during);
      assert.equal(await readIfExists(stateFile), stateText);

      const dry = await ktctl(wp, ["clean", "--dryRun"]);
      const dryOut = dry.stdout + dry.stderr;
      assertExitedOk(dry, dryOut);
      const owner = `connect pid ${state.pid} \\(127\\.0\\.0\\.1:${port}\\)`;
      assert.match(dryOut, new RegExp(`${owner} is gone \\(pid ${state.pid} is not running\\)`));
      assert.match(dryOut, /Would restore \S+Internet Settings\\ProxyEnable to 0 \(REG_DWORD\)/);
      assert.match(
        dryOut,
        /Would remove \S+Internet Settings\\ProxyServer \(it did not exist before\)/,
      );
      assert.match(
        dryOut,
        /Would restore \S+Internet Settings\\ProxyOverride to "\*\.corp" \(REG_SZ\)/,
      );
      assert.match(
        dryOut,
        /Would restore HKCU\\Environment\\http_proxy to "http:\/\/%USERNAME%\.old:3128" \(REG_EXPAND_SZ\)/,
      );
      assert.match(
        dryOut,
        /Would remove C:\\users\\[^\\]+\\\.ktctl\\connect-127\.0\.0\.1-\d+\.json/,
      );
      assert.deepEqual(await snapshot(wp), during);
      assert.equal(await readIfExists(stateFile), stateText);

      const clean = await ktctl(wp, ["clean"]);
      const cleanOut = clean.stdout + clean.stderr;
      assertExitedOk(clean, cleanOut);
      assertNoErrors(cleanOut);
      assert.match(cleanOut, new RegExp(`${owner} is gone`));
      assert.match(cleanOut, /Restored \S+Internet Settings\\ProxyEnable to 0 \(REG_DWORD\)/);
      assert.match(
        cleanOut,
        /Removed \S+Internet Settings\\ProxyServer \(it did not exist before\)/,
      );
      assert.match(cleanOut, /Restored HKCU\\Environment\\http_proxy to/);
      assert.match(cleanOut, /Removed C:\\users\\[^\\]+\\\.ktctl\\connect-127\.0\.0\.1-\d+\.json/);
      assert.deepEqual(await snapshot(wp), before);
      assert.deepEqual(await filesIn(stateDir), []);

      const again = await ktctl(wp, ["clean"]);
      assertExitedOk(again, again.stdout + again.stderr);
      assert.match(again.stdout + again.stderr, /Nothing to clean in C:\\users\\[^\\]+\\\.ktctl/);
      assert.deepEqual(await snapshot(wp), before);
    } finally {
      await killQuietly(c);
      await wp.destroy();
    }
  },
);

Deno.test(
  "while connect runs: clean changes nothing; a second connect on the port is refused",
  opts,
  async () => {
    const wp = await createPrefix();
    let c: Connect | undefined;
    try {
      const stateDir = await stateDirOf(wp);
      await regSet(wp, ENV, "http_proxy", "REG_SZ", "http://old:3128");
      const before = await snapshot(wp);
      const port = freePort();
      const stateFile = `${stateDir}/connect-127.0.0.1-${port}.json`;
      c = await startConnect(wp, port, []);
      const during = await snapshot(wp);
      const stateText = await Deno.readTextFile(stateFile);
      const pid = (JSON.parse(stateText) as StateJson).pid;
      const alive = `connect pid ${pid} \\(127\\.0\\.0\\.1:${port}\\) is still running`;

      for (const dryRun of [true, false]) {
        const r = await ktctl(wp, dryRun ? ["clean", "--dryRun"] : ["clean"]);
        const out = r.stdout + r.stderr;
        assertExitedOk(r, out);
        assert.match(
          out,
          new RegExp(`${alive}; ${dryRun ? "would leave" : "left"} its state alone`),
        );
        assert.doesNotMatch(out, /Restored|Removed|Would restore|Would remove/);
        assert.deepEqual(await snapshot(wp), during);
        assert.equal(await readIfExists(stateFile), stateText);
      }

      const second = await ktctl(wp, await connectArgs(wp, port, ["--setupGlobalProxy"]));
      const secondOut = second.stdout + second.stderr;
      assert.notEqual(second.code, 0, secondOut);
      assert.match(
        secondOut,
        new RegExp(
          `ERR ktctl connect is already running on 127\\.0\\.0\\.1:${port} \\(pid ${pid}\\); ` +
            "stop it first, or choose another --proxyAddr/--proxyPort",
        ),
      );
      assert.doesNotMatch(secondOut, /Set the user environment variable/);
      assert.deepEqual(await snapshot(wp), during);
      assert.equal(await readIfExists(stateFile), stateText);
      // The first one still serves, and still cleans up after itself.
      await assertProxyWorks(c.proxyUrl);
      const r = await interrupt(c);
      assertExitedOk(r, c.output());
      assertNoErrors(c.output());
      assert.deepEqual(await snapshot(wp), before);
      assert.deepEqual(await filesIn(stateDir), []);
    } finally {
      await killQuietly(c);
      await wp.destroy();
    }
  },
);

Deno.test(
  "values the user changed while connected are left alone, with a warning",
  opts,
  async () => {
    const wp = await createPrefix();
    let c: Connect | undefined;
    try {
      const stateDir = await stateDirOf(wp);
      await regSet(wp, INET, "ProxyOverride", "REG_SZ", "*.corp");
      await regSet(wp, ENV, "http_proxy", "REG_SZ", "http://old:3128");
      const before = await snapshot(wp);
      const port = freePort();
      c = await startConnect(wp, port, []);
      await regSet(wp, INET, "ProxyServer", "REG_SZ", "socks=127.0.0.1:1080");
      await regSet(wp, ENV, "http_proxy", "REG_SZ", "http://mine:8080");

      const r = await interrupt(c);
      const out = c.output();
      assertExitedOk(r, out);
      assert.match(
        out,
        new RegExp(
          "(INF|WRN) Left \\S+Internet Settings\\\\ProxyServer as it is: it was changed to " +
            `"socks=127\\.0\\.0\\.1:1080" \\(REG_SZ\\) after ktctl set it to ` +
            `"socks=127\\.0\\.0\\.1:${port}" \\(REG_SZ\\)`,
        ),
      );
      assert.match(
        out,
        /(INF|WRN) Left HKCU\\Environment\\http_proxy as it is: it was changed to "http:\/\/mine:8080"/,
      );
      assert.match(out, /Restored \S+Internet Settings\\ProxyOverride to "\*\.corp" \(REG_SZ\)/);
      assert.match(out, /Removed \S+Internet Settings\\ProxyEnable \(it did not exist before\)/);
      assert.doesNotMatch(out, / ERR /);
      const after = await snapshot(wp);
      assert.deepEqual(
        after.inet,
        withChanges(before.inet, {
          ProxyServer: { type: "REG_SZ", value: "socks=127.0.0.1:1080" },
        }),
      );
      assert.deepEqual(
        after.env,
        withChanges(before.env, { http_proxy: { type: "REG_SZ", value: "http://mine:8080" } }),
      );
      assert.deepEqual(await filesIn(stateDir), []);
    } finally {
      await killQuietly(c);
      await wp.destroy();
    }
  },
);
