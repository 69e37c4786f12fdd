/**
 * ktctl as bundled JavaScript (`deno bundle`, esbuild underneath): an entry file and the chunks it
 * loads, which is what `deno task build` compiles into one executable. Bundling keeps only the
 * code ktctl can reach: above all, of `@kubernetes/client-node` it keeps KubeConfig and the
 * authentication it needs, not the generated API clients and models that the package's config module imports with it (~23 MB of
 * JavaScript that `deno run main.ts` loads and keeps). `deno task bench --bundle` against the
 * same without it, two back-to-back pairs (medians of 3 runs each, 2-core machine shared with
 * other work): idle RSS of `connect` 135-139 -> 89-91 MB, launch to first proxied reply
 * 622-692 -> 401-406 ms, peak RSS under 200 x 4 MiB 289-298 -> 251-261 MB.
 * @module
 */

import { fileURLToPath } from "node:url";
import { dirname, join, resolve } from "node:path";
import { KTCTL_V8_ARG } from "./v8_flags.ts";

/**
 * How the executables run the bundle: the flags `deno compile` embeds (scripts/build.ts), and
 * what `deno run` needs to run the bundle the same way (tests: testenv/ktctl_process.ts): all
 * permissions, no deno.json (no import map, lockfile or tasks: the bundle imports only node:
 * modules), and ktctl's V8 flags.
 */
export const SHIPPED_RUN_FLAGS: readonly string[] = [
  "--allow-all",
  "--no-config",
  // The upstream PAC file runs in a Worker without permissions (src/net/pac_sandbox.ts).
  "--unstable-worker-options",
  KTCTL_V8_ARG,
];

/** The repository's root (where main.ts is). */
export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Bundles main.ts of `dir` (this checkout, or another one the benchmark measures) into `output`,
 * with the chunks it loads written beside it; returns every file written (the entry first).
 * Throws with deno's own message when that fails.
 *
 * The bundle is split (`--code-splitting`) at ktctl's `import()`s: `version`, `--help`, `clean`
 * and `status` read, parse and link only the entry and the small chunks they need, never the
 * connect path's (the Kubernetes client, the fronts, and what only some kubeconfigs need), and the
 * `node:` modules a chunk imports are loaded only with that chunk: esbuild writes every import of
 * a file at its top, so in one file every `node:` import is loaded whatever runs. Chunk names carry
 * a hash of their content, so bundles of different checkouts can share a folder. `deno compile`
 * embeds the entry and every chunk (scripts/build.ts lists them with `--include` as well).
 */
export async function bundleKtctl(output: string, dir = REPO_ROOT): Promise<string[]> {
  const folder = dirname(resolve(output));
  await Deno.mkdir(folder, { recursive: true });
  const outdir = await Deno.makeTempDir({ dir: folder, prefix: ".ktctl-bundle-" });
  try {
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--platform", "deno", "--code-splitting", "--outdir", outdir, "main.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!result.success) {
      const text = new TextDecoder().decode(result.stderr) +
        new TextDecoder().decode(result.stdout);
      throw new Error(`deno bundle failed (exit ${result.code}):\n${text.trim()}`);
    }
    const texts = new Map<string, string>();
    for await (const entry of Deno.readDir(outdir)) {
      if (!entry.isFile || !entry.name.endsWith(".js")) continue;
      texts.set(entry.name, await Deno.readTextFile(join(outdir, entry.name)));
    }
    if (texts.size < 2 || !texts.has("main.js")) {
      throw new Error(`deno bundle wrote no main.js and chunks into ${outdir}`);
    }
    const written = [resolve(output)];
    for (const [name, text] of applyBundleFixes(texts)) {
      const target = name === "main.js" ? resolve(output) : join(folder, name);
      if (name !== "main.js") written.push(target);
      await Deno.writeTextFile(target, asciiOnly(text));
    }
    return written;
  } finally {
    await Deno.remove(outdir, { recursive: true });
  }
}

/** One rewrite of the bundler's output: why, what it finds, what it writes instead. */
export interface BundleFix {
  why: string;
  find: string;
  replace: string;
}

/**
 * Two `node:` imports that esbuild writes at the top of chunks every command loads, each of which
 * would load Deno's Node compatibility layer on every start (~5-9 MB, ~10-20 ms; measured in
 * docs/performance-startup.md) for code that `connect` with an ordinary kubeconfig never runs.
 * Each must be found exactly once, or the build fails: a new Deno or LogTape that writes them
 * differently is noticed, not silently slower.
 */
export const BUNDLE_FIXES: readonly BundleFix[] = [
  {
    why:
      "esbuild's `__require` for CommonJS modules (undici's and client-node's `require(\"node:x\")`) " +
      "lives in the chunk of helpers that every chunk with a CommonJS module imports (ipaddr.js, " +
      "protobufjs are on the start path): made lazy, node:module is loaded by the first require",
    find: 'import { createRequire as __deno_internal_createRequire } from "node:module";\n' +
      "var __require = __deno_internal_createRequire(import.meta.url);\n",
    replace: "var __require = (id) => (__require.real ??= globalThis.process.getBuiltinModule(" +
      '"node:module").createRequire(import.meta.url))(id);\n',
  },
  {
    why: "LogTape's `#util` resolves to its Node build (util.node.js, node:util) because its " +
      "package.json lists the node condition before deno; its Deno build (util.deno.js) calls " +
      "Deno.inspect, which is what LogTape's formatter uses under Deno anyway",
    find: 'import util from "node:util";\nfunction inspect(obj, options) {\n' +
      "  return util.inspect(obj, options);\n}\n",
    replace: "function inspect(obj, options) {\n  return Deno.inspect(obj, { colors: " +
      "options?.colors, depth: options?.depth ?? void 0, compact: options?.compact ?? true });\n}\n",
  },
];

/** The bundle's files with every fix applied; throws unless each fix matched exactly once. */
export function applyBundleFixes(
  files: ReadonlyMap<string, string>,
  fixes: readonly BundleFix[] = BUNDLE_FIXES,
): Map<string, string> {
  const out = new Map(files);
  for (const fix of fixes) {
    const hits = [...out].filter(([, text]) => text.split(fix.find).length > 1);
    const count = hits.reduce((n, [, text]) => n + text.split(fix.find).length - 1, 0);
    if (count !== 1) {
      throw new Error(`bundle fix found ${count} times, not once (${fix.why}):\n${fix.find}`);
    }
    const [name, text] = hits[0];
    out.set(name, text.replace(fix.find, () => fix.replace));
  }
  return out;
}

/**
 * The bundle with every character outside ASCII written as a `\uXXXX` escape. V8 keeps a
 * script's whole source in memory as one string, and a single character outside Latin-1 (the
 * bundle has a few, in comments: ’ ≤ —) makes all of it two bytes per character: ~7.5 MB of the
 * 23 MB heap of an idle `connect` instead of ~3.8 (docs/performance-startup.md). The escape
 * means the same character in a string, template, regular expression or identifier, and nothing
 * in a comment; an escaped character (`\’`, an identity escape) keeps its meaning by dropping
 * the backslash that escaped it. Characters beyond U+FFFF become their two surrogate escapes, as
 * strings and regular expressions take them.
 */
export function asciiOnly(text: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    let slashes = 0;
    while (i - slashes - 1 >= from && text.charCodeAt(i - slashes - 1) === 0x5c) slashes++;
    // An odd run of backslashes escapes this character: the escape replaces the last one.
    out += text.slice(from, slashes % 2 === 1 ? i - 1 : i);
    out += "\\u" + code.toString(16).padStart(4, "0");
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}
