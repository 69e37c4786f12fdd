// End-to-end check of the Wine harness: the Windows deno.exe (patched for Wine), in a fresh Wine prefix.
// Run by the Linux deno: `deno task test:windows` (= deno test --allow-all tests/windows/).
import assert from "node:assert/strict";
import { CONNECT_DEFAULTS } from "../helpers/cli_defaults.ts";
import { assertExitedOk, createPrefix, parseRegQuery, REPO_ROOT, type WinePrefix } from "./wine.ts";

const INET = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings";

Deno.test("parseRegQuery parses Windows/Wine reg query output", () => {
  const out = "\r\nHKEY_CURRENT_USER\\Software\\X\r\n" +
    "    (Default)    REG_SZ    defval\r\n" +
    "    ProxyEnable    REG_DWORD    0x1\r\n" +
    "    Empty    REG_SZ    \r\n" +
    "    Two  Spaces    REG_SZ    a    b  \r\n" +
    "    Multi    REG_MULTI_SZ    a\\0b\r\n\r\n";
  assert.deepEqual(parseRegQuery(out), [
    { name: "", type: "REG_SZ", value: "defval" },
    { name: "ProxyEnable", type: "REG_DWORD", value: 1 },
    { name: "Empty", type: "REG_SZ", value: "" },
    { name: "Two  Spaces", type: "REG_SZ", value: "a    b  " },
    { name: "Multi", type: "REG_MULTI_SZ", value: ["a", "b"] },
  ]);
});

Deno.test("Windows deno.exe under Wine", async (t) => {
  const wp: WinePrefix = await createPrefix();
  try {
    await t.step("Deno.build.os is windows", async () => {
      const s = await wp.writeScript("os.ts", "console.log(Deno.build.os, Deno.cwd());");
      const r = await wp.runWinDeno(["run", s]);
      assertExitedOk(r, r.stderr);
      assert.equal(r.stdout.trim(), "windows C:\\work");
    });

    await t.step("reg.exe add/query/delete from inside the Windows deno", async () => {
      const s = await wp.writeScript(
        "reg.ts",
        `const key = ${JSON.stringify(INET)};
const reg = async (...args: string[]) => {
  const o = await new Deno.Command("reg", { args }).output();
  return { code: o.code, out: new TextDecoder().decode(o.stdout) };
};
const results = {
  add: await reg("add", key, "/v", "ProxyServer", "/t", "REG_SZ", "/d", "socks=127.0.0.1:2223", "/f"),
  addDword: await reg("add", key, "/v", "ProxyEnable", "/t", "REG_DWORD", "/d", "1", "/f"),
  query: await reg("query", key, "/v", "ProxyServer"),
  del: await reg("delete", key, "/v", "ProxyServer", "/f"),
  queryGone: await reg("query", key, "/v", "ProxyServer"),
};
console.log(JSON.stringify(results));`,
      );
      const r = await wp.runWinDeno(["run", "--allow-run", s]);
      assertExitedOk(r, r.stderr);
      const res = JSON.parse(r.stdout);
      assert.equal(res.add.code, 0);
      assert.equal(res.addDword.code, 0);
      assert.equal(res.query.code, 0);
      assert.match(res.query.out, /\r\n {4}ProxyServer {4}REG_SZ {4}socks=127\.0\.0\.1:2223\r\n/);
      assert.deepEqual(parseRegQuery(res.query.out), [
        { name: "ProxyServer", type: "REG_SZ", value: "socks=127.0.0.1:2223" },
      ]);
      assert.equal(res.del.code, 0);
      assert.equal(res.queryGone.code, 1); // missing value: exit code 1 (message text differs)
      // The Linux-side helpers see the same registry.
      assert.equal(await wp.regQuery(INET, "ProxyEnable"), 1);
      assert.equal(await wp.regQuery(INET, "ProxyServer"), undefined);
      assertExitedOk(await wp.reg(["delete", INET, "/v", "ProxyEnable", "/f"]), "");
      assert.equal(await wp.regQuery(INET, "ProxyEnable"), undefined);
    });

    await t.step("setx from the Windows deno reaches newly started processes", async () => {
      const s = await wp.writeScript(
        "setx.ts",
        `const o = await new Deno.Command("setx", { args: ["http_proxy", "socks4a://127.0.0.1:2223"] }).output();
const c = await new Deno.Command("cmd", { args: ["/c", "echo %http_proxy%"] }).output();
console.log(JSON.stringify({
  code: o.code,
  out: new TextDecoder().decode(o.stdout),
  self: Deno.env.get("http_proxy") ?? null,
  child: new TextDecoder().decode(c.stdout).trim(),
}));`,
      );
      const r = await wp.runWinDeno(["run", "--allow-run", "--allow-env", s]);
      assertExitedOk(r, r.stderr);
      const res = JSON.parse(r.stdout);
      assert.equal(res.code, 0);
      assert.equal(res.out, "\r\nSUCCESS: Specified value was saved.\r\n");
      // As on Windows: neither the running process nor a child it starts sees the change...
      assert.equal(res.self, null);
      assert.equal(res.child, "%http_proxy%");
      assert.equal(
        await wp.regQuery("HKCU\\Environment", "http_proxy"),
        "socks4a://127.0.0.1:2223",
      );
      // ...but a newly started Windows process does (Windows names are case-insensitive).
      const env = await wp.writeScript(
        "env.ts",
        `console.log(Deno.env.get("http_proxy"), Deno.env.get("HTTP_PROXY"));`,
      );
      const n = await wp.runWinDeno(["run", "--allow-env", env]);
      assertExitedOk(n, n.stderr);
      assert.equal(n.stdout.trim(), "socks4a://127.0.0.1:2223 socks4a://127.0.0.1:2223");
      // HKCU\Environment wins over a variable of the same name from the Linux side.
      const o = await wp.runWinDeno(["run", "--allow-env", env], { env: { http_proxy: "linux" } });
      assert.equal(o.stdout.trim(), "socks4a://127.0.0.1:2223 socks4a://127.0.0.1:2223");
      assert.equal(
        (await wp.reg(["delete", "HKCU\\Environment", "/v", "http_proxy", "/f"])).code,
        0,
      );
      const p = await wp.runWinDeno(["run", "--allow-env", env]);
      assert.equal(p.stdout.trim(), "undefined undefined");
    });

    await t.step("Deno.listen in the Windows deno accepts a Linux client", async () => {
      const s = await wp.writeScript(
        "listen.ts",
        `const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log("port", (l.addr as Deno.NetAddr).port);
const c = await l.accept();
await c.write(new TextEncoder().encode("hello from " + Deno.build.os + "\\n"));
c.close();
l.close();`,
      );
      const p = wp.spawnWinDeno(["run", "--allow-net", s]);
      try {
        const port = Number((await p.waitFor(/port (\d+)/)).split(" ")[1]);
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        const buf = new Uint8Array(100);
        let text = "";
        for (let n; (n = await conn.read(buf)) !== null;) {
          text += new TextDecoder().decode(buf.subarray(0, n));
        }
        conn.close();
        assert.equal(text, "hello from windows\n");
        const r = await p.wait(30_000);
        assertExitedOk(r, r.stderr);
      } finally {
        p.kill("SIGKILL");
        await p.wait(10_000);
      }
    });

    const sigScript = await wp.writeScript(
      "sig.ts",
      `const key = ${JSON.stringify(INET)};
const reg = (...args: string[]) => new Deno.Command("reg", { args, stdout: "null" }).output();
await reg("add", key, "/v", "ProxyEnable", "/t", "REG_DWORD", "/d", "1", "/f");
Deno.addSignalListener("SIGINT", async () => {
  console.log("got SIGINT");
  await reg("add", key, "/v", "ProxyEnable", "/t", "REG_DWORD", "/d", "0", "/f");
  console.log("restored");
  Deno.exit(3);
});
Deno.addSignalListener("SIGBREAK", () => console.log("got SIGBREAK"));
Deno.addSignalListener("SIGTERM", () => console.log("got SIGTERM"));
setInterval(() => {}, 1000);
console.log("ready");`,
    );

    await t.step(
      "SIGINT to the wine process reaches Deno.addSignalListener('SIGINT')",
      async () => {
        const p = wp.spawnWinDeno(["run", "--allow-run", sigScript]);
        try {
          await p.waitFor("ready");
          assert.equal(await wp.regQuery(INET, "ProxyEnable"), 1);
          p.kill("SIGINT");
          const r = await p.wait(30_000);
          assert.equal(r.timedOut, false);
          assert.equal(r.signal, null);
          assert.equal(r.code, 3); // the listener's Deno.exit(3)
          assert.equal(r.stdout, "ready\ngot SIGINT\nrestored\n");
          assert.equal(await wp.regQuery(INET, "ProxyEnable"), 0);
        } finally {
          p.kill("SIGKILL");
          await p.wait(10_000);
        }
      },
    );

    await t.step("SIGTERM kills the wine process outright: no listener runs", async () => {
      const p = wp.spawnWinDeno(["run", "--allow-run", sigScript]);
      try {
        await p.waitFor("ready");
        assert.equal(await wp.regQuery(INET, "ProxyEnable"), 1);
        p.kill("SIGTERM");
        const r = await p.wait(30_000);
        assert.equal(r.signal, "SIGTERM");
        assert.equal(r.code, 143);
        assert.equal(r.stdout, "ready\n");
        assert.equal(await wp.regQuery(INET, "ProxyEnable"), 1); // nothing restored
      } finally {
        p.kill("SIGKILL");
        await p.wait(10_000);
      }
    });

    await t.step(
      "npm packages load, cached in the persistent DENO_DIR; ktctl's parser reads the Windows command line",
      async () => {
        const module = (path: string) => wp.toWinPath(`${REPO_ROOT}/${path}`).replaceAll("\\", "/");
        const s = await wp.writeScript(
          "npm.ts",
          `import { getLogger } from "npm:@logtape/logtape@2.4.2";
import { parseArgs } from "file:///${module("src/cli/parse_args.ts")}";
import { PROGRAM } from "file:///${module("src/cli/command_spec.ts")}";
console.log(typeof getLogger(["ktctl"]).info);
console.log(JSON.stringify(parseArgs(PROGRAM, Deno.args)));`,
        );
        // Words as cmd.exe would pass them, through the C runtime's quoting and back.
        const command = ["cmd", "/c", "echo a b", "-d", "--help", 'say "hi"', "C:\\dir\\"];
        const args = ["connect", "--proxyPort", "2223", "-n=shop", "--forward", "svc/db.demo:5432"];
        const r = await wp.runWinDeno(["run", s, ...args, "--", ...command], {
          timeoutMs: 300_000,
        });
        assertExitedOk(r, r.stderr);
        const [logger, parsed] = r.stdout.trim().split("\n");
        assert.equal(logger, "function");
        assert.deepEqual(JSON.parse(parsed), {
          kind: "run",
          command: "connect",
          flags: { ...CONNECT_DEFAULTS, namespace: "shop", forward: ["svc/db.demo:5432"] },
          operands: command,
        });
        assert.match(wp.denoDir, /^Z:\\/);
        const npmDir = `${wp.toLinuxPath(wp.denoDir)}/npm/registry.npmjs.org`;
        const pkg = JSON.parse(
          await Deno.readTextFile(`${npmDir}/@logtape/logtape/2.4.2/package.json`),
        );
        assert.equal(pkg.version, "2.4.2");
        // The second run (and every later prefix) downloads nothing.
        const again = await wp.runWinDeno(["run", s, "-v"], { timeoutMs: 120_000 });
        assert.equal(again.code, 0, again.stderr);
        assert.doesNotMatch(again.stderr, /Download/);
        assert.equal(again.stdout.trim().split("\n")[1], '{"kind":"version"}');
      },
    );
  } finally {
    await wp.destroy();
  }
  await assert.rejects(Deno.stat(wp.dir));
});
