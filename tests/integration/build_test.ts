/**
 * `deno task build` checks what it made, and these tests check that it does: a runtime that is
 * not a denort (a full `deno`, which `deno compile` takes without complaint) fails the build
 * with a message saying so, a download that cannot be made fails it saying that, and where a
 * denort is at hand the executable for this machine answers `ktctl version` and serves
 * `connect`. The bundle it compiles also runs as the executables run it (`--no-config`, the
 * embedded V8 flags) in every run, denort or not.
 */
import assert from "node:assert/strict";
import { bundleKtctl } from "../../scripts/bundle.ts";
import { applyOneWebPod, FakeApiServer } from "../../testenv/fake_apiserver.ts";
import { httpBackend } from "../../testenv/backends.ts";
import { freePort, type KtctlProcess, startKtctl } from "../../testenv/ktctl_process.ts";
import { curl } from "../../testenv/socks_client.ts";

const HOST_TARGET = Deno.build.target;
const HOST_EXE: Record<string, string> = {
  "x86_64-pc-windows-msvc": "ktctl.exe",
  "x86_64-unknown-linux-gnu": "ktctl-linux-x64",
  "aarch64-unknown-linux-gnu": "ktctl-linux-arm64",
  "x86_64-apple-darwin": "ktctl-macos-x64",
  "aarch64-apple-darwin": "ktctl-macos-arm64",
};

/** Deno's cache folder, as `deno info` reports it. */
async function denoDir(): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return JSON.parse(new TextDecoder().decode(r.stdout)).denoDir;
}

const cache = await denoDir();
/**
 * A denort for this machine: DENORT_BIN as given to the test run, or the one `deno compile`
 * downloaded into Deno's cache on an earlier build with internet access.
 */
const denortHere = Deno.env.get("DENORT_BIN") ||
  [`${cache}/dl/release/v${Deno.version.deno}/denort-${HOST_TARGET}.zip`].find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
if (!denortHere) {
  console.error(
    `build_test: IGNORED "the executable for ${HOST_TARGET} answers ktctl version": no denort ` +
      `here (set DENORT_BIN, or run \`deno task build --target ${HOST_TARGET}\` once with ` +
      `internet access)`,
  );
}

async function build(env: Record<string, string>, out: string, target = HOST_TARGET) {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/build.ts", "--target", target, "--out", out],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: result.code, stdout: text(result.stdout), stderr: text(result.stderr) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

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

Deno.test("build fails, saying so, when DENORT_BIN is a full deno rather than a denort", async () => {
  const out = await Deno.makeTempDir();
  try {
    const r = await build({ DENORT_BIN: Deno.execPath() }, out);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /does not answer `ktctl version`/);
    assert.match(r.stderr, /DENORT_BIN=.* is not a denort runtime/);
    assert.doesNotMatch(r.stdout, /build: done/);
    assert.ok(!await exists(`${out}/${HOST_EXE[HOST_TARGET]}`), "the wrong program is removed");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("build without DENORT_BIN and no way to download denort says exactly that", async () => {
  // A Deno cache of our own without the downloaded runtimes (dl/release/), sharing everything
  // else (the npm packages, esbuild for the bundle), and every download sent to a closed
  // loopback port: offline, deterministically, with or without internet access.
  const out = await Deno.makeTempDir();
  const dir = await Deno.makeTempDir({ prefix: "ktctl-denodir-" });
  try {
    for await (const entry of Deno.readDir(cache)) {
      if (entry.name !== "dl") await Deno.symlink(`${cache}/${entry.name}`, `${dir}/${entry.name}`);
    }
    await Deno.mkdir(`${dir}/dl`);
    const dl = await exists(`${cache}/dl`) ? Deno.readDir(`${cache}/dl`) : [];
    for await (const entry of dl) {
      if (entry.name !== "release") {
        await Deno.symlink(`${cache}/dl/${entry.name}`, `${dir}/dl/${entry.name}`);
      }
    }
    const closed = `http://127.0.0.1:${freePort()}`;
    const r = await build(
      { DENORT_BIN: "", DENO_DIR: dir, HTTPS_PROXY: closed, HTTP_PROXY: closed, NO_PROXY: "" },
      out,
    );
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`could not download its denort runtime for ${HOST_TARGET}`));
    assert.match(r.stderr, /Set DENORT_BIN/);
  } finally {
    await Deno.remove(out, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs connect from `launch` against a fake API server and one pod; curl must reach the pod. */
async function servesConnect(
  launch: { entry?: string; asShipped?: boolean; executable?: string },
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-shipped-" });
  const api = new FakeApiServer();
  const backend = httpBackend("demo/web-1");
  let ktctl: KtctlProcess | undefined;
  try {
    applyOneWebPod(api, backend.port);
    await Deno.writeTextFile(`${dir}/kubeconfig`, api.kubeconfig("admin-token", "demo"));
    ktctl = await startKtctl(
      ["-c", `${dir}/kubeconfig`, "--method", "socks5", "--dialDirect", "127.0.0.0/8"],
      { ...launch, env: { HOME: dir, USERPROFILE: dir, NO_COLOR: "1" } },
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
}

Deno.test(
  "the bundle, run as the executables run it (no deno.json, embedded V8 flags), serves connect",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ktctl-bundle-" });
    try {
      await bundleKtctl(`${dir}/ktctl.js`);
      await servesConnect({ entry: `${dir}/ktctl.js`, asShipped: true });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test({
  name: `the executable for ${HOST_TARGET} answers ktctl version and serves connect`,
  ignore: !denortHere,
  async fn() {
    const out = await Deno.makeTempDir();
    try {
      const r = await build(Deno.env.get("DENORT_BIN") ? {} : { DENORT_BIN: "" }, out);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const exe = `${out}/${HOST_EXE[HOST_TARGET]}`;
      const v = await new Deno.Command(exe, { args: ["version"] }).output();
      assert.match(new TextDecoder().decode(v.stdout), /^ktctl \S+ \(deno /);
      await servesConnect({ executable: exe });
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
