/**
 * `deno task build` either produces ktctl.exe or, where deno compile cannot fetch its denort
 * runtime (no internet, no DENORT_BIN), fails saying exactly that.
 */
import assert from "node:assert/strict";

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
