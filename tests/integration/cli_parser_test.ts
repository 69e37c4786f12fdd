/**
 * The parser's decisions as the real CLI acts on them (`deno run main.ts ...`, no cluster): help
 * on stdout with exit 0, `ktctl` alone as help on stderr with exit 1 (commander's way, kept), the
 * two version forms, and a parse error as one ERR line on stderr, nothing on stdout, exit 1. And
 * in the bundle: what the entry loads before the words are parsed is the parser alone.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { KTCTL_V8_ARG } from "../../scripts/v8_flags.ts";
import { loadedBy } from "../helpers/bundle_graph.ts";
import { bundleKtctl } from "../../scripts/bundle.ts";

const dec = new TextDecoder();
/** Deno's cache as this process sees it, so the child with another HOME shares it. */
const denoDir = Deno.env.get("DENO_DIR") ??
  (Deno.env.get("XDG_CACHE_HOME")
    ? `${Deno.env.get("XDG_CACHE_HOME")}/deno`
    : `${Deno.env.get("HOME")}/.cache/deno`);

async function ktctl(...args: string[]) {
  const home = await Deno.makeTempDir({ prefix: "ktctl-cli-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", KTCTL_V8_ARG, "main.ts", ...args],
      env: { HOME: home, USERPROFILE: home, KUBECONFIG: `${home}/none`, DENO_DIR: denoDir },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("cli process: help, help COMMAND and COMMAND --help on stdout, exit 0", async () => {
  const main = await ktctl("--help");
  assert.equal(main.code, 0);
  assert.equal(main.stderr, "");
  assert.match(main.stdout, /^Usage: ktctl \[options\] \[command\]\n/);
  assert.deepEqual(await ktctl("help"), main);
  assert.deepEqual(await ktctl("-h"), main);
  const connect = await ktctl("connect", "--help");
  assert.equal(connect.code, 0);
  assert.match(connect.stdout, /^Usage: ktctl connect \[options\] \[-- COMMAND \[ARGS\.\.\.\]\]\n/);
  assert.deepEqual(await ktctl("help", "connect"), connect);
});

Deno.test("cli process: ktctl alone prints the help on stderr and exits 1", async () => {
  const r = await ktctl();
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr, (await ktctl("--help")).stdout);
});

Deno.test("cli process: -v prints the version, `version` the runtime too", async () => {
  const short = await ktctl("-v");
  assert.deepEqual(short, { code: 0, stdout: "0.1.0\n", stderr: "" });
  const long = await ktctl("version");
  assert.equal(long.code, 0);
  assert.match(long.stdout, /^ktctl 0\.1\.0 \(deno \d+\.\d+\.\d+, [\w-]+\)\n$/);
});

Deno.test("cli process: a parse error is one ERR line with a suggestion, exit 1", async () => {
  const r = await ktctl("connect", "--proxyport", "1");
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(
    r.stderr,
    /^\d{1,2}:\d\d[AP]M ERR unknown option '--proxyport' \(did you mean --proxyPort\?\) \(see --help\)\n$/,
  );
  const h = await ktctl("help", "bogus");
  assert.equal(h.code, 1);
  assert.match(h.stderr, /^\S+ ERR unknown command 'bogus' \(see --help\)\n$/);
});

Deno.test("bundle: the entry and its static imports hold the parser, not the run step, not node:", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ktctl-cli-bundle-" });
  try {
    const entry = join(dir, "ktctl.js");
    await bundleKtctl(entry);
    // Everything evaluated before main() runs: the entry and the chunks it imports statically.
    const { files: loaded, nodeImports } = await loadedBy(dir, "ktctl.js");
    assert.deepEqual(nodeImports, [], "node: imports before parsing");
    const sources = [...loaded.values()].join("\n");
    for (const module of ["src/cli/parse_args.ts", "src/cli/command_spec.ts", "src/cli/help.ts"]) {
      assert.match(sources, new RegExp(`^// ${module}$`, "m"), `${module} not in the start chunks`);
    }
    for (
      const later of [
        /^\/\/ src\/cli\/run\.ts$/m,
        /^\/\/ src\/cli\/logging\.ts$/m,
        /^\/\/ src\/sysproxy\//m,
        /^\/\/ [^\n]*@logtape\//m,
      ]
    ) {
      assert.doesNotMatch(sources, later, `loaded before parsing: ${later}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
