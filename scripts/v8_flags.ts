/**
 * The V8 flags ktctl runs with: the default of the benchmark's `--ktctl-v8-flags`. None. Flags
 * adopted here must also go to the `ktctl` task in deno.json, `deno compile --v8-flags` in
 * scripts/build.ts (embedded in the executables) and tests/helpers/ktctl_process.ts.
 *
 * Tried with `deno task bench` (200 x 4 MiB at once through one fresh ktctl; 2-core machine
 * shared with other work, so only back-to-back runs compare), at 44b8798 (SPDY transport):
 * - `--max-semi-space-size=1` / `=2` (a smaller young generation): peak RSS worse, 343-369 MB
 *   against 268-305 MB without (main.ts); with the bundle, `=2` no different (240-261 / 241-258).
 * - `--max-semi-space-size=8`: peak RSS 216 MB against 247 MB (medians of 10 runs each, bundle,
 *   every run below every run without), but aggregate and bulk throughput 6-9 % lower (download
 *   151 / 164 MB/s, upload 205 / 226 MB/s, 200 at once 219 / 233 MB/s).
 * - `--optimize-for-size`: peak RSS 247-264 MB against 294-298, throughput under load 128-155
 *   against 229-237 MB/s.
 * Under that load the JS heap holds 22-41 MB (at most ~60 MB committed, `--trace-gc`) while
 * anonymous memory grows by ~145 MB: the peak is outside the heap (buffers, Deno's own
 * per-connection memory), which young-generation flags barely reach.
 * @module
 */
export const KTCTL_V8_FLAGS: readonly string[] = [];
