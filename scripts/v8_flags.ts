/**
 * The V8 flags ktctl runs with, and the default of the benchmark's `--ktctl-v8-flags`. They go
 * to `deno compile --v8-flags` in scripts/build.ts (embedded in the executables), to the demo
 * and the test helper that launch ktctl, and, spelled out, to the `ktctl` task in deno.json
 * (tests/unit/v8_flags_test.ts keeps that in step).
 *
 * `--max-semi-space-size=4` (MB; V8's default grows the young generation to 16 MB per semi-space
 * under a high allocation rate): under 200 downloads at once the young generation is most of what
 * ktctl's heap grows by. 8 until the session's read limit went from 8 to 2 MiB: with it, 4
 * against 8 (bundle, 200 x 4 MiB at once, alternating, on the shared cluster with 2,400
 * services, load 8-14): peak 130.3-132.2 MB against 137.5-143.2 (downloads) and 123.9 against
 * 133.5 (uploads), CPU per MiB 2.55-3.48 against 2.63-2.94 (medians 3.05 / 2.92; on a quiet
 * machine 2.37 against 2.32, i.e. ~2 % more under 200 downloads at once), three times the
 * scavenges (120 against 48 per 800 MiB, ~1 ms each), and ~10 MB less RSS idle after
 * start-up with 2,400 services (with the fixture's 9, idle RSS unchanged: 86.3-86.7 MB against
 * 85.1-86.1). `=6` behaved as `=8` (48 scavenges, same peak).
 *
 * Earlier, with `=8` against none: `deno task bench --bundle --runs 3`, back to back, at
 * 574770f (after the download path stopped allocating a buffer per message): peak RSS
 * 136.1-137.4 MB against 150.7-155.6 without; CPU per MiB no worse (download 2.19 / 2.38 ms,
 * upload 1.45 / 1.56, 200 at once 2.36 / 2.41), new connections p50 1.79 / 1.81 ms.
 *
 * `--gc-memory-reducer-start-delay-ms=2000` (V8's default: 30,000): V8's memory reducer (the
 * full GC that gives the heap's free pages back once the program goes quiet) is not armed until
 * this long after start, as a browser tab's loading should not be slowed by it. ktctl's start-up
 * reads the cluster (lists of services, a sample of pods) and goes quiet: with the default, that
 * garbage stayed in RSS until ~30 s after start. At 2,400 services (the scale bench's objects,
 * bundle, idle after the banner): RSS 111-114 MB at +5, +10, +15 s and 91-95 MB only after
 * that, against 112 MB at +5 s and 87-95 MB from +10 s with this flag (main at 7751023, runs
 * alternated; `--memory-reducer-delay-ms=1000/2000` alone changed nothing within 15 s). The
 * reducer only runs when the allocation rate is low, so it does not run under traffic; after 30 s
 * it is armed with or without the flag. 9-pod fixture, idle, three alternating series: 82.4-83.7
 * MB 15 s after the banner against 87.8-89.8 MB; cost ~0.06-0.1 s of CPU once (its GCs), the CPU
 * to the banner unchanged within the noise. Arming it at 5 s gave the same figures.
 *
 * Tried before that change, at 44b8798, when buffers awaiting GC outside V8's heap were most of
 * the peak (bundle; 2-core machine shared with other work, so only back-to-back runs compare):
 * - `--max-semi-space-size=1` / `=2`: peak RSS worse, 343-369 MB against 268-305 MB (main.ts);
 *   with the bundle `=2` no different (240-261 / 241-258).
 * - `--max-semi-space-size=8`: peak 216 against 247 MB but throughput 6-9 % lower then.
 * - `--optimize-for-size`: peak 247-264 MB against 294-298, throughput under load 128-155
 *   against 229-237 MB/s.
 * @module
 */
export const KTCTL_V8_FLAGS: readonly string[] = [
  "--max-semi-space-size=4",
  "--gc-memory-reducer-start-delay-ms=2000",
];

/** The flags as the one `--v8-flags=` argument `deno run` and `deno compile` take. */
export const KTCTL_V8_ARG = `--v8-flags=${KTCTL_V8_FLAGS.join(",")}`;
