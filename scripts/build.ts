/**
 * `deno task build [--target <triple>]...`: single-file ktctl executables with `deno compile`,
 * into `dist/`: `ktctl.exe` for Windows, and Linux and macOS binaries. What is compiled is
 * main.ts bundled into one file (scripts/bundle.ts: it leaves out the parts of the npm packages
 * ktctl never reaches, which `deno run main.ts` loads, ~44 MB of idle RSS).
 *
 * `deno compile` downloads its `denort` runtime for each target. Without internet access, set
 * `DENORT_BIN` to a local denort of the one target you build (`--target`). When neither works
 * the build stops with a message saying exactly that.
 * @module
 */
import { parseArgs } from "node:util";
import { bundleKtctl } from "./bundle.ts";
import { KTCTL_V8_ARG } from "./v8_flags.ts";

export const TARGETS: Record<string, string> = {
  "x86_64-pc-windows-msvc": "ktctl.exe",
  "x86_64-unknown-linux-gnu": "ktctl-linux-x64",
  "aarch64-unknown-linux-gnu": "ktctl-linux-arm64",
  "x86_64-apple-darwin": "ktctl-macos-x64",
  "aarch64-apple-darwin": "ktctl-macos-arm64",
};

/** The temporary folder of the bundle, removed on every way out. */
let work: string | undefined = undefined;

function fail(message: string): never {
  console.error(`build: ${message}`);
  if (work) Deno.removeSync(work, { recursive: true });
  Deno.exit(2);
}

const { values } = parseArgs({
  args: Deno.args,
  options: { target: { type: "string", multiple: true }, out: { type: "string", default: "dist" } },
});
const targets = values.target ?? Object.keys(TARGETS);
for (const t of targets) {
  if (!TARGETS[t]) fail(`unknown --target ${t} (known: ${Object.keys(TARGETS).join(", ")})`);
}
const denort = Deno.env.get("DENORT_BIN");
if (!denort) Deno.env.delete("DENORT_BIN"); // an empty value would be taken as a path
if (denort) {
  if (targets.length !== 1) {
    fail("DENORT_BIN is one runtime for one target: pass exactly one --target with it");
  }
  try {
    if (!Deno.statSync(denort).isFile) fail(`DENORT_BIN=${denort} is not a file`);
  } catch {
    fail(`DENORT_BIN=${denort} does not exist`);
  }
}

await Deno.mkdir(values.out!, { recursive: true });
work = await Deno.makeTempDir({ prefix: "ktctl-build-" });
const bundle = `${work}/ktctl.js`;
console.log("build: bundling main.ts");
try {
  await bundleKtctl(bundle);
} catch (e) {
  fail((e as Error).message);
}
for (const target of targets) {
  const output = `${values.out}/${TARGETS[target]}`;
  console.log(`build: ${target} → ${output}`);
  const result = await new Deno.Command(Deno.execPath(), {
    // The bundle imports nothing but node: modules: no config, lockfile or npm snapshot needed.
    // Not type-checked again: its JSDoc names files of the packages that are not in it (the
    // sources are checked by `deno task check`).
    args: [
      "compile",
      "--allow-all",
      "--no-config",
      "--no-check",
      // The upstream PAC file runs in a Worker without permissions (src/net/pac_sandbox.ts).
      "--unstable-worker-options",
      // Embedded in the executable: every launch runs with them.
      KTCTL_V8_ARG,
      "--target",
      target,
      "--output",
      output,
      bundle,
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.code === 0) continue;
  Deno.stderr.writeSync(result.stderr);
  if (/dl\.deno\.land|error sending request|dns error/i.test(stderr) && !denort) {
    fail(
      `deno compile could not download its denort runtime for ${target} (no internet access?). ` +
        `Set DENORT_BIN to a local denort for that target (denort-${target}.zip from Deno's ` +
        `release downloads, matching Deno ${Deno.version.deno}) and pass --target ${target}.`,
    );
  }
  fail(`deno compile failed for ${target} (exit ${result.code})`);
}
Deno.removeSync(work, { recursive: true });
console.log(`build: done (${targets.length} target${targets.length === 1 ? "" : "s"})`);
