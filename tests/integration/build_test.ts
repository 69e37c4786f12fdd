/**
 * `deno task build` either produces ktctl.exe or, where deno compile cannot fetch its denort
 * runtime (no internet, no DENORT_BIN), fails saying exactly that; and the bundle it compiles
 * works (the compiled runtime itself cannot be had offline, `deno run` of the bundle can).
 */
import assert from "node:assert/strict";
import { bundleKtctl } from "../../scripts/bundle.ts";
import { applyOneWebPod, FakeApiServer } from "../../testenv/fake_apiserver.ts";
import { httpBackend } from "../../testenv/backends.ts";
import { type KtctlProcess, startKtctl } from "../../testenv/ktctl_process.ts";
import { curl } from "../../testenv/socks_client.ts";

async function build(env: Record<string, string>, out: string) {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/build.ts", "--target", "x86_64-pc-windows-msvc", "--out", out],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: result.code, stderr: new TextDecoder().decode(result.stderr) };
}

Deno.test("build makes ktctl.exe, or says the denort runtime could not be had", async () => {
  const out = await Deno.makeTempDir();
  try {
    const env = { DENORT_BIN: "" };
    const { code, stderr } = await build(env, out);
    if (code === 0) {
      const exe = await Deno.readFile(`${out}/ktctl.exe`);
      assert.equal(String.fromCharCode(exe[0], exe[1]), "MZ");
    } else {
      assert.equal(code, 2);
      assert.match(stderr, /could not download its denort runtime for x86_64-pc-windows-msvc/);
      assert.match(stderr, /Set DENORT_BIN/);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("build refuses a DENORT_BIN that does not exist", async () => {
  const out = await Deno.makeTempDir();
  try {
    const { code, stderr } = await build({ DENORT_BIN: `${out}/no-denort` }, out);
    assert.equal(code, 2);
    assert.match(stderr, /DENORT_BIN=.*no-denort does not exist/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test(
  "the bundle that build compiles runs connect: curl reaches a pod through it",
  { sanitizeOps: false, sanitizeResources: false },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ktctl-bundle-" });
    const api = new FakeApiServer();
    const backend = httpBackend("demo/web-1");
    let ktctl: KtctlProcess | undefined;
    try {
      await bundleKtctl(`${dir}/ktctl.js`);
      applyOneWebPod(api, backend.port);
      await Deno.writeTextFile(`${dir}/kubeconfig`, api.kubeconfig("admin-token", "demo"));
      ktctl = await startKtctl(
        ["-c", `${dir}/kubeconfig`, "--method", "socks5", "--dialDirect", "127.0.0.0/8"],
        { entry: `${dir}/ktctl.js`, env: { HOME: dir, USERPROFILE: dir, NO_COLOR: "1" } },
      );
      const r = await curl(ktctl.proxyUrl, "http://web.demo/bundled");
      assert.equal(r.code, 0, `${r.stderr}\n${ktctl.output()}`);
      assert.match(r.body, /^pod=demo\/web-1\nGET \/bundled\n/);
    } finally {
      if (ktctl) assert.equal(await ktctl.stop(), 0, ktctl.output());
      await api.close();
      await backend.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
