/**
 * Commands that need no cluster do not evaluate the connect path: in the bundle (as the
 * executables run it), `version`, `--help` and `clean` never run client-node's config module or
 * undici's, which are most of the start-up cost (docs/performance-startup.md); `connect` does.
 * The bundle gets a line at the top of those two modules' bodies that says when they run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bundleKtctl } from "../../scripts/bundle.ts";

/**
 * Module bodies that must run only on the connect path: where esbuild starts each, either a
 * CommonJS wrapper (`"path"(exports, module) {`) or, for an ES module at the top level of a chunk,
 * the comment naming its file before its first statement.
 */
const HEAVY = [
  {
    name: "client-node config",
    body: new RegExp(
      String.raw`"[^"\n]*@kubernetes\/client-node\/[^"\n]*\/dist\/config\.js"\([^)]*\) \{\n|` +
        String.raw`^\/\/ [^\n]*@kubernetes\/client-node\/[^\n]*\/dist\/config\.js\n`,
      "m",
    ),
  },
  { name: "undici", body: /"[^"\n]*\/undici\/[^"\n/]+\/index\.js"\([^)]*\) \{\n/ },
];

/**
 * The bundle (its entry and chunks), with a line in each heavy module body that prints
 * `EVALUATED <name>`.
 */
async function markedBundle(dir: string): Promise<string> {
  const entry = join(dir, "ktctl.js");
  const files = await bundleKtctl(entry);
  const found = new Set<string>();
  for (const file of files) {
    let text = await Deno.readTextFile(file);
    for (const h of HEAVY) {
      const m = h.body.exec(text);
      if (!m) continue;
      found.add(h.name);
      const at = m.index + m[0].length;
      text = text.slice(0, at) + `console.error("EVALUATED ${h.name}");\n` + text.slice(at);
    }
    await Deno.writeTextFile(file, text);
  }
  for (const h of HEAVY) {
    assert.ok(found.has(h.name), `the bundle has no ${h.name} module body: still bundled so?`);
  }
  return entry;
}

async function run(bundle: string, home: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", bundle, ...args],
    env: { HOME: home, USERPROFILE: home, NO_COLOR: "1", KUBECONFIG: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("version, --help and clean evaluate neither client-node nor undici; connect does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bundle = await markedBundle(dir);
    const home = join(dir, "home");
    await Deno.mkdir(home);
    for (const args of [["version"], ["--help"], ["clean", "--dryRun"]]) {
      const { code, text } = await run(bundle, home, ...args);
      assert.equal(code, 0, `${args.join(" ")}: ${text}`);
      assert.doesNotMatch(text, /EVALUATED/, `ktctl ${args.join(" ")} evaluated: ${text}`);
    }
    // The marks work: connect loads its path, then stops at the missing kubeconfig (before
    // binding its port).
    const missing = join(dir, "no-such-kubeconfig");
    const { code, text } = await run(bundle, home, "connect", "-c", missing);
    assert.equal(code, 1, text);
    assert.match(text, /no-such-kubeconfig does not exist/);
    for (const h of HEAVY) assert.match(text, new RegExp(`EVALUATED ${h.name}`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
