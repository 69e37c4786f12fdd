/**
 * Fuzzes the HTTP front: its parsers (heads, request targets, body framing) with random bytes
 * and mutations of valid messages, and the forwarder's framing decisions with generated heads,
 * checking properties every answer must have (listed in `fuzz/http.ts`, which holds the engine).
 *
 * ```sh
 * deno run fuzz/run_http.ts --iterations 200000
 * deno run fuzz/run_http.ts --seconds 60 --seed 7
 * ```
 *
 * Prints the iterations run and each failure (parser, property, input in hex); exits 1 when
 * anything failed. `tests/unit/front/http/fuzz_test.ts` runs the same checks for a few thousand
 * iterations with fixed seeds.
 * @module
 */
import { runHttpFuzz } from "./http.ts";
import { toHex } from "./socks.ts";

if (import.meta.main) {
  const arg = (name: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Number(Deno.args[i + 1]) : undefined;
  };
  const seconds = arg("seconds");
  const result = runHttpFuzz({
    iterations: arg("iterations") ?? (seconds ? undefined : 100_000),
    seconds,
    seed: arg("seed") ?? Date.now() % 2 ** 31,
  });
  console.log(`${result.iterations} iterations, ${result.failures.length} failures`);
  for (const f of result.failures.slice(0, 20)) {
    console.log(`${f.parser}: ${f.property}: ${f.detail}\n  input: ${toHex(f.input)}`);
  }
  Deno.exit(result.failures.length > 0 ? 1 : 0);
}
