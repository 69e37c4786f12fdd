/**
 * Fuzzes the SPDY frame reader of `src/net/spdy_frames.ts` (every byte of it comes from the
 * network) with random bytes and with mutations of valid frame sequences.
 *
 * ```sh
 * deno run fuzz/run_spdy.ts --iterations 200000
 * ```
 *
 * Properties checked for each input:
 * - the reader throws nothing but SpdyProtocolError;
 * - it never holds more than one frame's worth of bytes (the limit plus a header);
 * - fed in random pieces it gives the same frames, and fails or not, as fed in one piece;
 * - a DATA piece never exceeds the frame length limit.
 * The same checks run for a few thousand iterations in `tests/unit/net/spdy_frames_test.ts`.
 * @module
 */
import { runSpdyFuzz } from "./spdy.ts";
import { fuzzCommand } from "./socks.ts";

if (import.meta.main) fuzzCommand(runSpdyFuzz);
