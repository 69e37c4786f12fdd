/**
 * Fuzzes the SPDY frame reader of `src/net/spdy_frames.ts` (every byte of it comes from the
 * network) with random bytes and with mutations of valid frame sequences.
 *
 * ```sh
 * deno run scripts/fuzz_spdy.ts --iterations 200000
 * ```
 *
 * Properties checked for each input:
 * - the reader throws nothing but SpdyProtocolError;
 * - it never holds more than one frame's worth of bytes (the limit plus a header);
 * - fed in random pieces it gives the same frames, and fails or not, as fed in one piece;
 * - a DATA piece never exceeds the frame length limit.
 * The same checks run for a few thousand iterations in `tests/unit/spdy_frames_test.ts`.
 * @module
 */
import { runSpdyFuzz } from "../tests/helpers/fuzz_spdy.ts";
import { toHex } from "../tests/helpers/fuzz.ts";

if (import.meta.main) {
  const arg = (flag: string, def: number) => {
    const i = Deno.args.indexOf(flag);
    return i >= 0 ? Number(Deno.args[i + 1]) : def;
  };
  const seed = arg("--seed", 1);
  const started = performance.now();
  const { iterations, failures } = runSpdyFuzz(seed, arg("--iterations", 100_000));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`iterations: ${iterations} in ${seconds} s (seed ${seed})`);
  for (const f of failures) {
    const hex = toHex(f.input);
    console.log(
      `FAIL ${f.property} (${f.detail})\n  input (${f.input.length} bytes): ${hex.slice(0, 240)}${
        hex.length > 240 ? " ..." : ""
      }`,
    );
  }
  console.log(failures.length === 0 ? "no failures" : `${failures.length} failure(s)`);
  Deno.exit(failures.length === 0 ? 0 : 1);
}
