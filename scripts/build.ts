/**
 * `deno task build [--target <triple>]...`: one-file ktctl executables with `deno compile`,
 * into `dist/`: `ktctl.exe` for Windows, and Linux and macOS binaries. What is compiled is
 * main.ts bundled (scripts/bundle.ts: it leaves out the parts of the npm packages ktctl never
 * reaches, which `deno run main.ts` loads, ~44 MB of idle RSS), an entry and its chunks, all
 * embedded in the one executable.
 *
 * `deno compile` downloads its `denort` runtime for each target. Without internet access, set
 * `DENORT_BIN` to a local denort of the one target you build (`--target`). When neither works
 * the build stops with a message saying exactly that.
 *
 * The build checks what it made. `deno compile` accepts any executable as `DENORT_BIN`, and
 * given a full `deno` it writes a program that is Deno's CLI, not ktctl (`--help` prints Deno's
 * help). So the executable for this machine's own target must answer `ktctl version` with
 * ktctl's line, or the build fails and says the runtime was not a denort; executables for other
 * targets, which cannot run here, must at least start with their platform's magic bytes.
 * @module
 */
import { parseArgs } from "node:util";
import { basename } from "node:path";
import { bundleKtctl, SHIPPED_RUN_FLAGS } from "./bundle.ts";

export const TARGETS: Record<string, string> = {
  "x86_64-pc-windows-msvc": "ktctl.exe",
  "x86_64-unknown-linux-gnu": "ktctl-linux-x64",
  "aarch64-unknown-linux-gnu": "ktctl-linux-arm64",
  "x86_64-apple-darwin": "ktctl-macos-x64",
  "aarch64-apple-darwin": "ktctl-macos-arm64",
};

/** The first bytes of an executable for each platform: PE, ELF, Mach-O 64-bit (little-endian). */
const MAGIC: Record<string, number[]> = {
  windows: [0x4d, 0x5a],
  linux: [0x7f, 0x45, 0x4c, 0x46],
  darwin: [0xcf, 0xfa, 0xed, 0xfe],
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
let chunks: string[] = [];
try {
  chunks = (await bundleKtctl(bundle)).slice(1);
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
      // Embedded in the executable: every launch runs with them.
      ...SHIPPED_RUN_FLAGS,
      "--no-check",
      "--target",
      target,
      "--output",
      output,
      // The chunks the entry loads with import(): deno compile follows literal imports, and
      // this says so for every one of them.
      ...chunks.flatMap((chunk) => ["--include", chunk]),
      bundle,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  Deno.stdout.writeSync(result.stdout);
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.code === 0) {
    checkEmbedded(output, new TextDecoder().decode(result.stdout) + stderr, chunks);
    await checkExecutable(target, output);
    continue;
  }
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

/** Where the runtime came from, for the messages. */
function runtimeName(): string {
  return denort ? `DENORT_BIN=${denort}` : "the runtime deno compile downloaded";
}

/**
 * Fails the build unless deno compile's list of embedded files names every chunk of the bundle:
 * a chunk left out would fail only when its command runs (`connect`), not at `ktctl version`.
 */
function checkEmbedded(output: string, listing: string, chunks: string[]): void {
  const missing = chunks.map((c) => basename(c)).filter((name) => !listing.includes(name));
  if (missing.length > 0) fail(`${output} does not embed ${missing.join(", ")}`);
}

/**
 * Fails the build unless `output` is ktctl: run with `version` where it can run here (this
 * machine's target), its magic bytes elsewhere.
 */
async function checkExecutable(target: string, output: string): Promise<void> {
  const platform = target.includes("windows")
    ? "windows"
    : target.includes("linux")
    ? "linux"
    : "darwin";
  const head = new Uint8Array(4);
  const file = await Deno.open(output);
  try {
    await file.read(head);
  } finally {
    file.close();
  }
  if (!MAGIC[platform].every((b, i) => head[i] === b)) {
    fail(
      `${output} is not a ${platform} executable: ${runtimeName()} is not a denort for ${target}`,
    );
  }
  if (target !== Deno.build.target) {
    console.log(
      `build: ${output}: not run (built for ${target}, this machine is ${Deno.build.target})`,
    );
    return;
  }
  let answer = "";
  try {
    const r = await new Deno.Command(output, {
      args: ["version"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(30_000),
    }).output();
    answer = (new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr)).trim();
  } catch (e) {
    answer = `could not run it: ${(e as Error).message}`;
  }
  if (!/^ktctl \S+ \(deno /.test(answer)) {
    const said = answer.split("\n").filter((l) => l.trim()).slice(0, 2).join(" | ").slice(0, 300);
    Deno.removeSync(output);
    fail(
      `${output} does not answer \`ktctl version\` (it said: ${said || "nothing"}): ` +
        `${runtimeName()} is not a denort runtime (a full \`deno\` makes Deno's CLI, not ktctl). ` +
        `Use denort-${target}.zip from Deno's release downloads, matching Deno ${Deno.version.deno}.`,
    );
  }
  console.log(`build: ${output}: ${answer}`);
}
