/**
 * ktctl as one JavaScript file (`deno bundle`, esbuild underneath), which is what
 * `deno task build` compiles. Bundling keeps only the code ktctl can reach: above all, of
 * `@kubernetes/client-node` it keeps KubeConfig and the authentication it needs, not the
 * generated API clients and models that the package's config module imports with it (~23 MB of
 * JavaScript that `deno run main.ts` loads and keeps). `deno task bench --bundle` against the
 * same without it, two back-to-back pairs (medians of 3 runs each, 2-core machine shared with
 * other work): idle RSS of `connect` 135-139 -> 89-91 MB, launch to first proxied reply
 * 622-692 -> 401-406 ms, peak RSS under 200 x 4 MiB 289-298 -> 251-261 MB.
 * @module
 */

import { fileURLToPath } from "node:url";
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
 * Bundles main.ts of `dir` (this checkout, or another one the benchmark measures) into `output`;
 * throws with deno's own message when that fails.
 */
export async function bundleKtctl(output: string, dir = REPO_ROOT): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--platform", "deno", "--output", output, "main.ts"],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    const text = new TextDecoder().decode(result.stderr) +
      new TextDecoder().decode(result.stdout);
    throw new Error(`deno bundle failed (exit ${result.code}):\n${text.trim()}`);
  }
}
